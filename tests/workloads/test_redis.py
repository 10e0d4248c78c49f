"""RedisSystem and RedisClient on real redis-server and redis-sentinel processes: a primary
and two replicas on 127.0.0.1, each with its sentinel, ports and work directory."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostnode import HostNode, free_base_port

from clusters.base import SetupError
from harness.history import Op
from harness.registry import NoOptions, parse_options
from harness.spec import SystemSpec, WorkloadSpec
from workloads.system import HasPrimaries, Killable, Pausable, System

redis = pytest.importorskip("redis", reason="redis-py is absent: ./setup installs it")
pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-sentinel") is None,
    reason="redis-server / redis-sentinel are absent: install Debian's redis-server and "
    "redis-sentinel (./setup does)",
)

from workloads.redis import REDIS, RedisClient, RedisOptions, RedisSystem  # noqa: E402

SUITE = Path(__file__).resolve().parents[2] / "suites" / "redis.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisSystem, list]]:
    root = tmp_path_factory.mktemp("redis")
    nodes = [HostNode(f"n{i}", root / f"n{i}") for i in range(1, 4)]
    system = RedisSystem(free_base_port(6), nodes=nodes, options=RedisOptions(down_after_ms=500))
    threads = [threading.Thread(target=system.setup, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield system, nodes
    for n in nodes:
        system.teardown(n)


def invoke(client: RedisClient, f: str, value: object) -> Op:
    return client.invoke(Op(index=0, time=0, type="invoke", process=0, f=f, value=value))


def opened(system: RedisSystem, node: HostNode) -> RedisClient:
    client = RedisClient(system, timeout=1.0)
    client.open(node)
    return client


def test_redis_system_offers_every_optional_power() -> None:
    system = RedisSystem(nodes=[])
    for power in (System, Killable, Pausable, HasPrimaries):
        assert isinstance(system, power)


def test_the_registry_makes_redis_on_its_own_port_and_its_clients_ask_the_system(
    tmp_path: Path,
) -> None:
    nodes = [HostNode(f"n{i}", tmp_path / f"n{i}") for i in range(1, 4)]
    options: RedisOptions = parse_options(REDIS.options, {"down_after_ms": 700}, "the redis system")
    system = REDIS.make(SystemSpec(name="redis"), nodes, options)
    assert REDIS.default_port == 6379 and system.options.down_after_ms == 700
    assert [system.ports(n) for n in nodes] == [(6379, 6380), (6381, 6382), (6383, 6384)]
    conf = system.config_files(nodes[2])
    assert "replicaof 127.0.0.1 6379" in conf["redis.conf"]
    assert "sentinel down-after-milliseconds splitbrain 700" in conf["sentinel.conf"]
    assert "replicaof" not in system.config_files(nodes[0])["redis.conf"]
    for workload in ("register", "set"):
        options_type = REDIS.client_options.get(workload, NoOptions)
        client = REDIS.clients[workload](WorkloadSpec(timeout=0.5), options_type(), system)
        assert (client.system, client.timeout, client.reads) == (system, 0.5, "primary")
    replica_options: Any = parse_options(
        REDIS.client_options["register"], {"reads": "replica"}, "the redis register client"
    )
    replica = REDIS.clients["register"](WorkloadSpec(), replica_options, system)
    assert replica.reads == "replica"
    with pytest.raises(SetupError, match="not made with node 'n4'"):
        opened(system, HostNode("n4", tmp_path / "n4"))


def test_every_sentinel_knows_every_replica_once_setup_returns(cluster) -> None:
    # a sentinel that knew no replica when the primary died never failed over (seen in CI)
    system, nodes = cluster
    for n in nodes:
        s = redis.Redis(n.address, system.ports(n)[1], socket_timeout=1.0)
        replicas = s.execute_command("SENTINEL", "REPLICAS", "splitbrain")
        assert len(replicas) == 2, (n.name, replicas)
        s.close()


def test_a_replica_client_follows_its_sentinel_to_the_primary(cluster) -> None:
    system, nodes = cluster
    assert [n.name for n in system.primaries(nodes)] == ["n1"]
    c = opened(system, nodes[2])  # talks to n3's sentinel, which names n1
    assert invoke(c, "read", ["a", None]).value == ["a", None]
    assert invoke(c, "write", ["a", 2]).type == "ok"
    assert invoke(c, "cas", ["a", [2, 3]]).type == "ok"
    missed = invoke(c, "cas", ["a", [2, 4]])
    assert (missed.type, missed.error) == ("fail", "cas-mismatch")
    assert invoke(opened(system, nodes[1]), "read", ["a", None]).value == ["a", 3]
    assert invoke(c, "add", 5).type == "ok" and invoke(c, "add", 6).type == "ok"
    assert invoke(c, "read", None).value == [5, 6]
    status = invoke(c, "status", None)
    assert status.value["role"] == "slave" and "acknowledged writes" in status.value["promise"]


def test_a_replica_reads_client_reads_its_own_server_and_writes_to_the_primary(cluster) -> None:
    system, nodes = cluster
    c = RedisClient(system, timeout=1.0, reads="replica")
    c.open(nodes[2])  # n3: a replica
    primary = RedisClient(system, timeout=1.0)
    primary.open(nodes[2])
    wrote = invoke(c, "write", ["r", 1])
    assert (wrote.type, wrote.extra) == ("ok", {"server": "n1"})  # through the primary
    replica = redis.Redis(*system.endpoint(nodes[2]), socket_timeout=1.0)
    deadline = time.monotonic() + 10
    while replica.get("splitbrain/r") != b"1":  # replication is asynchronous
        assert time.monotonic() < deadline, "the replica never had the write"
        time.sleep(0.05)
    # make n3's copy differ from the primary's: a read that says 99 came from n3
    replica.config_set("replica-read-only", "no")
    try:
        replica.set("splitbrain/r", 99)
        got = invoke(c, "read", ["r", None])
        assert (got.type, got.value, got.extra) == ("ok", ["r", 99], {})  # its own node's
        assert invoke(primary, "read", ["r", None]).value == ["r", 1]
    finally:
        replica.set("splitbrain/r", 1)
        replica.config_set("replica-read-only", "yes")
        replica.close()
    status = invoke(c, "status", None)
    assert (
        status.value["models"] == []
        and "none of the session guarantees" in (status.value["promise"])
    )


def test_the_replica_reads_test_claims_nothing_and_measures_what_clients_got() -> None:
    from harness.config import load_suite

    [spec] = [t for t in load_suite(SUITE).tests if t.name == "redis-replica-reads"]
    assert spec.workload.options == {"reads": "replica"}
    checkers = {c.name: c.options for c in spec.checkers}
    assert {"causal", "promises"} <= set(checkers)
    assert "read-your-writes" in checkers["causal"]["consistency_models"]
    client = REDIS.clients["register"](
        spec.workload,
        parse_options(REDIS.client_options["register"], spec.workload.options, "redis"),
        RedisSystem(nodes=[]),
    )
    assert client.reads == "replica"
    assert spec.workload.values >= 100_000 and "cas" not in spec.workload.mix


def test_sentinels_promote_a_replica_when_the_primary_dies(cluster) -> None:
    system, nodes = cluster
    c = opened(system, nodes[1])
    assert invoke(c, "write", ["b", 1]).type == "ok"
    time.sleep(0.3)  # replication is asynchronous: let the replicas have it
    system.kill(nodes[0])
    # A failover whose sentinels split their votes is retried only after 2 x failover-timeout
    # (6 s), and CI once saw none within 20 s: allow several elections.
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        primaries = system.primaries(nodes[1:])
        if primaries and invoke(c, "write", ["b", 2]).type == "ok":
            break
        time.sleep(0.2)
    tails = {
        n.name: (Path(n.workdir) / "sentinel.log").read_text().splitlines()[-15:] for n in nodes[1:]
    }
    logs = "\n".join(f"{name}: {line}" for name, lines in tails.items() for line in lines)
    assert [n.name for n in system.primaries(nodes[1:])] in (["n2"], ["n3"]), logs
    assert invoke(c, "read", ["b", None]).value == ["b", 2]


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
def test_redis_replica_reads_run_with_the_causal_verdict_and_no_model_claimed(
    tmp_path: Path,
) -> None:
    """The suite's redis-replica-reads for 15 s on 3 nodes: the causal checker's verdict is
    in results.json (either: Redis promises replica reads nothing, so it measures), the
    promises note says Redis claims no model, reads went to the clients' own nodes and writes
    to the primary."""
    import dataclasses

    from harness.config import load_suite
    from harness.run import run_test

    [spec] = [t for t in load_suite(SUITE).tests if t.name == "redis-replica-reads"]
    spec = dataclasses.replace(
        spec, cluster=dataclasses.replace(spec.cluster, nodes=3), time_limit=15, seed=3
    )
    out = run_test(spec, results_root=tmp_path, out=open(os.devnull, "w"))
    checkers = out.results["checkers"]
    assert out.results["op_counts"]["ok"] > 200
    causal = checkers["causal"]
    assert causal["valid"] in (True, False), causal  # decided, not unknown
    assert {"sequential", "read-your-writes", "monotonic-reads"} <= set(
        causal["details"]["checked"]
    )
    promises = checkers["promises"]
    assert promises["valid"] is True
    assert promises["details"]["models"] == {"redis": []} and "held" not in promises["details"]
    assert out.run_dir is not None
    ok = [
        json.loads(line)
        for line in (out.run_dir / "history.jsonl").read_text().splitlines()
        if '"type":"ok"' in line
    ]
    reads = [op for op in ok if op["f"] == "read"]
    writes = [op for op in ok if op["f"] == "write"]
    assert reads and all("server" not in op for op in reads)  # each from its own node
    assert writes and all(op["server"] == "n1" for op in writes[:5])  # the first primary
