"""Redis' servers read alone after the writes stop (``RedisSystem.member_states``), on real
redis-server and redis-sentinel: a primary and two replicas on 127.0.0.1 reach the primary's
offset and hold the same keys; a replica made writable (``replica-read-only no``) and written
to directly holds a key its primary does not, and the members checker names it; extra_args
reach redis-server's command line and not the sentinel's."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostnode import HostNode, free_base_port

from checkers.members import MembersChecker
from harness.history import Journal
from harness.members import converged, record_member_states
from harness.registry import parse_options
from workloads.system import MemberStates

redis = pytest.importorskip("redis", reason="redis-py is absent: ./setup installs it")
pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-sentinel") is None,
    reason="redis-server / redis-sentinel are absent: ./setup installs them",
)

from workloads.redis import REDIS, RedisOptions, RedisSystem  # noqa: E402

EXTRA = ("--maxmemory", "64mb")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisSystem, list]]:
    root = tmp_path_factory.mktemp("redis-members")
    nodes = [HostNode(f"n{i}", root / f"n{i}") for i in range(1, 4)]
    options: RedisOptions = parse_options(
        REDIS.options, {"extra_args": list(EXTRA), "members_wait_s": 20}, "the redis system"
    )
    system = RedisSystem(free_base_port(6), nodes=nodes, options=options)
    threads = [threading.Thread(target=system.setup, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield system, nodes
    for n in nodes:
        system.teardown(n)


def server(system: RedisSystem, node: HostNode) -> Any:
    host, port = system.endpoint(node)
    return redis.Redis(host, port, socket_timeout=5, socket_connect_timeout=5)


def test_redis_offers_member_states_and_extra_args_reach_the_server_only(cluster) -> None:
    system, nodes = cluster
    assert isinstance(cluster[0], MemberStates) and system.members_wait_s == 20.0
    assert "members" in REDIS.checkers
    for n in nodes:  # redis-server rewrites its process title: ask the server itself
        assert system.command(n, "redis")[-2:] == list(EXTRA)
        assert "--maxmemory" not in system.command(n, "sentinel")
        assert server(system, n).config_get("maxmemory")["maxmemory"] == str(64 * 2**20)


def test_replicas_reach_the_primary_and_hold_its_keys(cluster, tmp_path: Path) -> None:
    system, nodes = cluster
    p = server(system, nodes[0])
    for i in range(5):
        p.set(f"splitbrain/{i}", i)
    p.sadd("splitbrain-set", 1, 2, 3)
    journal = Journal(tmp_path / "history.jsonl", time.monotonic_ns)
    done = record_member_states(system, nodes, journal)
    journal.close()
    assert done.type == "ok", done.error
    states = done.value
    assert len({s["index"] for s in states.values()}) == 1
    assert {s["digest"] for s in states.values()} == {states["n1"]["digest"]}
    assert states["n1"]["keys"]["splitbrain/4"] == "4"
    assert states["n1"]["keys"]["splitbrain-set"] == ["1", "2", "3"]
    # one digest: the others' keys are the first member's, not written again
    assert states["n3"]["keys"] is None and states["n3"]["info"]["keys_as"] == "n1"
    assert states["n3"]["info"]["key_count"] == len(states["n1"]["keys"])
    assert states["n2"]["info"]["role"] == "slave"
    r = MembersChecker().check(journal.ops, {})
    assert r.valid is True, r


def test_a_write_to_a_writable_replica_alone_is_named_by_member_and_key(
    cluster, tmp_path: Path
) -> None:
    system, nodes = cluster
    replica = server(system, nodes[2])
    replica.config_set("replica-read-only", "no")
    try:
        server(system, nodes[0]).set("splitbrain/shared", "1")
        deadline = time.monotonic() + 20
        while replica.get("splitbrain/shared") != b"1":  # replicated to it
            assert time.monotonic() < deadline, "the write never reached the replica"
            time.sleep(0.05)
        replica.set("splitbrain/shared", "9")  # the replica alone: never replicated
        replica.set("splitbrain/only-n3", "x")
        journal = Journal(tmp_path / "history.jsonl", time.monotonic_ns)
        done = record_member_states(system, nodes, journal)
        journal.close()
        assert done.type == "ok", done.error  # offsets match: the replica's writes are its own
        r = MembersChecker().check(journal.ops, {})
        assert r.valid is False
        named = {(a.data["member"], a.data["key"]) for a in r.anomalies}
        assert named == {("n3", "splitbrain/shared"), ("n3", "splitbrain/only-n3")}
        shared = next(a for a in r.anomalies if a.data["key"] == "splitbrain/shared")
        at = done.value["n3"]["at"]
        assert shared.explanation.startswith(
            f"n3 has key 'splitbrain/shared' = \"9\" at revision {at} while n1 and n2 have key "
            "'splitbrain/shared' = \"1\""
        )
    finally:
        replica.delete("splitbrain/shared", "splitbrain/only-n3")
        replica.config_set("replica-read-only", "yes")


def test_a_replica_that_follows_no_primary_has_no_index_until_it_is_back(cluster) -> None:
    system, nodes = cluster
    host, port = system.endpoint(nodes[0])
    replica = server(system, nodes[1])
    replica.replicaof("NO", "ONE")  # two primaries now, as a partition's old one would be
    try:
        states = system.member_states(nodes, 5.0)
        assert not converged(states)
        assert "one of 2 primaries" in states["n1"].info["not_reached"]
        assert states["n3"].index is None and states["n3"].error is None
    finally:
        replica.replicaof(host, port)
    deadline = time.monotonic() + 30
    while not converged(system.member_states(nodes, 5.0)):
        assert time.monotonic() < deadline, "the members never came back to one index"
        time.sleep(0.2)


def test_members_that_never_reach_one_index_are_recorded_and_reported(
    cluster, tmp_path: Path
) -> None:
    system, nodes = cluster
    host, port = system.endpoint(nodes[0])
    replica = server(system, nodes[1])
    saved = system.options
    system.options = dataclasses.replace(saved, members_wait_s=1.0)
    replica.replicaof("NO", "ONE")
    try:
        journal = Journal(tmp_path / "history.jsonl", time.monotonic_ns)
        t = time.monotonic()
        done = record_member_states(system, nodes, journal)
        took = time.monotonic() - t
        journal.close()
    finally:
        system.options = saved
        replica.replicaof(host, port)
    assert done.type == "info" and done.error is not None
    assert done.error.startswith("members-not-converged: after 1 s (")
    assert 1.0 <= took < 10.0
    r = MembersChecker().check(journal.ops, {})
    (a,) = [a for a in r.anomalies if a.name == "members-not-converged"]
    assert r.valid is False and "n3 at no index" in a.explanation
    deadline = time.monotonic() + 30
    while not converged(system.member_states(nodes, 5.0)):
        assert time.monotonic() < deadline, "the members never came back to one index"
        time.sleep(0.2)


def test_a_paused_server_is_an_error_within_the_timeout(cluster) -> None:
    system, nodes = cluster
    system.pause(nodes[2])
    try:
        t = time.monotonic()
        states = system.member_states(nodes, 0.5)
        took = time.monotonic() - t
    finally:
        system.resume(nodes[2])
    assert states["n3"].error is not None and "Timeout" in states["n3"].error
    assert took < 5.0  # one try of 0.5 s per request, not redis-py's retries with backoff


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
def test_a_run_with_a_failover_records_member_states_that_agree(tmp_path: Path) -> None:
    from harness.run import run_test
    from harness.spec import ClusterSpec, FaultSpec, NemesisSpec, SystemSpec, TestSpec, WorkloadSpec

    spec = TestSpec(
        name="redis-members",
        system=SystemSpec(name="redis", options={"down_after_ms": 500}),
        cluster=ClusterSpec(nodes=3),
        workload=WorkloadSpec(concurrency=6, rate=80, ops_per_key=100),
        nemesis=NemesisSpec(
            faults=(FaultSpec("kill"),), quiet=1, interval=3, kill_targets=("primaries",)
        ),
        time_limit=6,
        seed=5,
    )
    out = run_test(spec, results_root=tmp_path, out=open(os.devnull, "w"))
    members = out.results["checkers"]["members"]
    assert members["valid"] is True, members
    assert members["details"]["converged"] is True
    assert members["details"]["members"] == ["n1", "n2", "n3"]
