"""EtcdLockClient on real etcd: three members on 127.0.0.1, a lock with leases, a holder whose
member is paused past its lease (plain: its stale write gets in; fenced: refused), then one
short end-to-end run of the fenced lock on the local cluster."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostnode import HostNode, free_base_port

from checkers.lock import LockChecker
from harness.history import Op
from workloads.etcd import ETCD_BINARY, EtcdLockClient, EtcdSystem, member_status

pytestmark = pytest.mark.skipif(
    shutil.which(ETCD_BINARY) is None,
    reason=f"{ETCD_BINARY} is absent: install Debian's etcd-server (./setup does)",
)


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EtcdSystem, list[HostNode]]]:
    root = tmp_path_factory.mktemp("etcd-lock")
    nodes = [HostNode(f"n{i}", root / f"n{i}") for i in range(1, 4)]
    system = EtcdSystem(free_base_port(6), nodes=nodes)
    threads = [threading.Thread(target=system.setup, args=(n,)) for n in nodes]
    for t in threads:  # members start together, or none can lead
        t.start()
    for t in threads:
        t.join()
    yield system, nodes
    for n in nodes:
        system.teardown(n)


class Recorder:
    """Runs ops against clients and keeps the history, with real times."""

    def __init__(self) -> None:
        self.t0 = time.monotonic_ns()
        self.ops: list[Op] = []
        self.lock = threading.Lock()

    def run(self, client: Any, f: str, value: Any, process: int) -> Op:
        inv = Op("invoke", f, value, process, time.monotonic_ns() - self.t0)
        with self.lock:
            self.ops.append(inv)
        done = client.invoke(inv)
        done.time = time.monotonic_ns() - self.t0
        with self.lock:
            self.ops.append(done)
        return done


def opened(system: EtcdSystem, node: HostNode, **kw: Any) -> EtcdLockClient:
    client = EtcdLockClient(system, **{"timeout": 6.0, **kw})
    client.open(node)
    return client


def a_follower(system: EtcdSystem, nodes: list[HostNode]) -> tuple[HostNode, HostNode]:
    """(a member that does not lead, another member)."""
    leaders = system.primaries(nodes)
    followers = [n for n in nodes if n not in leaders]
    return followers[0], next(n for n in nodes if n is not followers[0])


def test_a_grant_carries_its_create_revision_and_blocks_the_next_client(etcd) -> None:
    system, nodes = etcd
    h = Recorder()
    a, b = opened(system, nodes[0]), opened(system, nodes[1], timeout=1.0)
    first = h.run(a, "acquire", ["blocks", None], 1)
    assert first.type == "ok"
    assert first.value[1]["lease_ms"] >= 2000 and first.value[1]["token"] > 0
    waited = h.run(b, "acquire", ["blocks", None], 2)  # waits for the lock, then gives up
    assert (waited.type, waited.error) == ("info", "timeout")
    assert h.run(a, "write", ["blocks", 1], 1).value == ["blocks", [first.value[1]["token"], 1]]
    assert h.run(a, "release", ["blocks", None], 1).type == "ok"
    b = opened(system, nodes[1])  # a worker starts afresh after an info
    second = h.run(b, "acquire", ["blocks", None], 5)
    assert second.type == "ok" and second.value[1]["token"] > first.value[1]["token"]
    assert h.run(b, "release", ["blocks", None], 5).type == "ok"
    read = h.run(a, "read", ["blocks", None], 1)
    assert read.value == ["blocks", [[first.value[1]["token"], 1]]]
    assert LockChecker().check(h.ops, {}).valid is True


def test_closing_a_client_revokes_its_lease_so_the_lock_is_free_at_once(etcd) -> None:
    system, nodes = etcd
    a, b = opened(system, nodes[0], lease_ttl=30), opened(system, nodes[2], timeout=3.0)
    assert invoke(a, "acquire", ["revoke", None]).type == "ok"
    a.close()  # otherwise the lock would stay held for 30 s
    assert invoke(b, "acquire", ["revoke", None]).type == "ok"
    b.close()


@pytest.mark.parametrize("fencing", [False, True], ids=["plain", "fenced"])
def test_a_holder_paused_past_its_lease_gets_its_write_in_only_without_fencing(
    etcd, fencing: bool
) -> None:
    system, nodes = etcd
    slow, other = a_follower(system, nodes)
    key = f"paused-{fencing}"
    h = Recorder()
    a, b = opened(system, slow, fencing=fencing), opened(system, other, fencing=fencing)
    granted = h.run(a, "acquire", [key, None], 1)
    assert granted.type == "ok"
    system.pause(slow)  # a's keepalives stop reaching the leader; its lease runs out
    late: list[Op] = []
    try:
        # the member is stopped before the write is sent (it no longer answers)
        assert member_status(*system.endpoint(slow), timeout=0.3) is None
        writer = threading.Thread(target=lambda: late.append(h.run(a, "write", [key, 1], 1)))
        writer.start()  # sent to the paused member: it waits there
        took = h.run(b, "acquire", [key, None], 2)  # granted once a's lease has run out
        assert took.type == "ok", took
        assert h.run(b, "write", [key, 2], 2).type == "ok"
        assert h.run(b, "release", [key, None], 2).type == "ok"
    finally:
        system.resume(slow)
    writer.join(10)
    released = h.run(a, "release", [key, None], 1)
    read = h.run(b, "read", [key, None], 2)
    a.close()
    b.close()
    tokens = [t for t, _ in read.value[1]]
    result = LockChecker().check(h.ops, {})
    if not fencing:  # the write committed after the newer holder's: nothing compared
        assert late[0].type == "ok" and released.type == "ok"
        assert tokens == [took.value[1]["token"], granted.value[1]["token"]], h.ops
        assert result.valid is False
        assert {"stale-write-accepted", "mutual-exclusion"} <= set(result.details["anomaly-counts"])
    else:  # the compare on the lock key's revision turns the stale holder away
        assert (late[0].type, released.type) == ("fail", "fail")
        assert str(late[0].error).startswith("lock-lost")
        assert str(released.error).startswith("lock-lost")
        assert tokens == [took.value[1]["token"]]
        assert result.valid is True, result.anomalies


def test_the_status_says_what_etcd_promises_for_each_mode(etcd) -> None:
    system, nodes = etcd
    plain = invoke(opened(system, nodes[0]), "status", None)
    fenced = invoke(opened(system, nodes[0], fencing=True), "status", None)
    assert "asking for more than etcd promises" in plain.value["promise"]
    assert "broken promise" in fenced.value["promise"]


def invoke(client: EtcdLockClient, f: str, value: object) -> Op:
    return client.invoke(Op("invoke", f, value, 0))


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
def test_the_fenced_etcd_lock_is_valid_through_pauses_on_the_local_cluster(
    tmp_path: Path,
) -> None:
    from harness.run import run_test
    from harness.spec import ClusterSpec, FaultSpec, NemesisSpec, SystemSpec, TestSpec, WorkloadSpec

    spec = TestSpec(
        name="etcd-lock-short",
        system=SystemSpec(name="etcd", port=2379),
        cluster=ClusterSpec(nodes=3),
        workload=WorkloadSpec(
            name="lock",
            concurrency=6,
            rate=60,
            keys=3,
            ops_per_key=40,
            timeout=6,
            options={"fencing": True, "hold_ms": 100},
        ),
        nemesis=NemesisSpec(
            faults=(FaultSpec("pause"),), quiet=1, interval=4, pause_targets=("one",), recovery=2
        ),
        time_limit=10,
        seed=7,
    )
    out = run_test(spec, results_root=tmp_path, out=open(os.devnull, "w"))
    lock = out.results["checkers"]["lock"]
    assert lock["details"]["grants"] > 5
    assert lock["valid"] is True, lock["anomalies"]
    assert {f["f"] for f in out.results["faults"] if f["type"] == "ok"} >= {"pause", "resume"}
    assert "broken promise" in str(out.results["checkers"]["promises"]["details"])
