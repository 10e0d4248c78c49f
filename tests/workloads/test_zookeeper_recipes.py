"""kazoo's Lock and LockingQueue recipes on real ZooKeeper servers (Debian's jars), through
ZooKeeperLockClient and ZooKeeperQueueClient: an ensemble of three on 127.0.0.1, a holder
whose session expires while its server is paused, a consumer that dies before it consumes;
then one short end-to-end run of each recipe on the local cluster."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.history import Op

pytest.importorskip("kazoo", reason="kazoo is absent: ./setup --tests installs it")

import test_zookeeper  # noqa: E402 - its ensemble fixture, HostNode and settled

from checkers.lock import LockChecker  # noqa: E402
from checkers.queue import QueueChecker  # noqa: E402
from checkers.queue_at_least_once import AT_LEAST_ONCE  # noqa: E402
from harness.registry import NoOptions  # noqa: E402
from workloads.zookeeper import (  # noqa: E402
    JAVA,
    ZOOKEEPER_JAR,
    ZooKeeperLockClient,
    ZooKeeperQueueClient,
    ZooKeeperSystem,
    token_of,
)

HostNode = test_zookeeper.HostNode
settled = test_zookeeper.settled
#: three servers on 127.0.0.1, started once for this module (test_zookeeper.py's fixture)
zk_ensemble = test_zookeeper.ensemble


def _have_zookeeper() -> bool:
    import shutil

    return os.path.exists(ZOOKEEPER_JAR) and shutil.which(JAVA) is not None


needs_zookeeper = pytest.mark.skipif(
    not _have_zookeeper(),
    reason=f"{ZOOKEEPER_JAR} or {JAVA} is absent: install Debian's zookeeper (./setup --tests "
    "does)",
)


class Recorder:
    """Invokes ops on clients and keeps the history, with times, for a checker."""

    def __init__(self) -> None:
        self.history: list[Op] = []
        self.t0 = time.monotonic_ns()

    def __call__(self, client, process: int, f: str, value: object) -> Op:
        inv = Op("invoke", f, value, process, time.monotonic_ns() - self.t0, len(self.history))
        self.history.append(inv)
        done = client.invoke(inv)
        done.time = time.monotonic_ns() - self.t0
        done.index = len(self.history)
        self.history.append(done)
        return done


# -- pure logic ----------------------------------------------------------------------------


def test_a_lock_token_is_the_sequence_number_that_ends_the_znode_name() -> None:
    assert token_of("5f0c3b8e9d2a4c7b__lock__0000000012") == 12
    assert token_of("x__lock__2147483647") == 2147483647
    with pytest.raises(ValueError, match="10-digit"):
        token_of("x__lock__12")


def test_the_at_least_once_checker_allows_a_redelivery_but_not_a_lost_message() -> None:
    def op(type_: str, f: str, value: object, process: int) -> Op:
        return Op(type_, f, value, process)

    audit = {"applied": 9, "queue": [], "inflight": []}
    redelivered = [
        op("invoke", "enqueue", 1, 0), op("ok", "enqueue", 1, 0),
        op("invoke", "dequeue", None, 1), op("ok", "dequeue", 1, 1),
        op("invoke", "dequeue", None, 2), op("ok", "dequeue", 1, 2),
        op("invoke", "audit", None, 2), op("ok", "audit", audit, 2),
    ]  # fmt: skip
    checker = AT_LEAST_ONCE.make(NoOptions())
    assert checker.name == "queue-at-least-once"
    result = checker.check(redelivered, {})
    assert result.valid is True, result.anomalies
    assert (result.details["deliveries"], result.details["delivered_values"]) == (2, 1)
    # the exactly-once queue checker calls the same history a duplicate
    strict = QueueChecker().check(redelivered, {})
    assert strict.valid is False and strict.anomalies[0].name == "delivered-twice"
    lost = redelivered[:2] + redelivered[-2:]
    result = checker.check(lost, {})
    assert result.valid is False and result.anomalies[0].name == "lost-message"


# -- on a real ensemble --------------------------------------------------------------------


def lock_client(system: ZooKeeperSystem, node: HostNode, **kw: object) -> ZooKeeperLockClient:
    client = ZooKeeperLockClient(system, timeout=3.0, **kw)  # type: ignore[arg-type]
    client.open(node)
    return client


def queue_client(system: ZooKeeperSystem, node: HostNode, **kw: object) -> ZooKeeperQueueClient:
    client = ZooKeeperQueueClient(system, timeout=3.0, **kw)  # type: ignore[arg-type]
    client.open(node)
    return client


def follower(system: ZooKeeperSystem, nodes: list[HostNode]) -> HostNode:
    leader = system.primaries(nodes)
    return next(n for n in nodes if n not in leader)


@needs_zookeeper
def test_the_lock_grants_in_sequence_order_and_its_storage_keeps_every_write(zk_ensemble) -> None:
    system, nodes = zk_ensemble
    settled(system, nodes)
    rec = Recorder()
    a, b = lock_client(system, nodes[0]), lock_client(system, nodes[1])
    try:
        got = rec(a, 0, "acquire", ["g", None])
        assert got.type == "ok", got
        first = got.value[1]["token"]
        assert rec(a, 0, "write", ["g", 1]).value == ["g", [first, 1]]
        b.timeout = 1.0
        held = rec(b, 1, "acquire", ["g", None])
        assert (held.type, held.error) == ("fail", "lock-timeout")  # a holds it
        assert rec(b, 1, "write", ["g", 2]).error == "not-holding"  # nothing sent
        assert rec(a, 0, "release", ["g", None]).value == ["g", first]
        b.timeout = 3.0
        second = rec(b, 1, "acquire", ["g", None]).value[1]["token"]
        assert second > first
        assert rec(b, 1, "write", ["g", 3]).type == "ok"
        read = rec(a, 0, "read", ["g", None])
        assert read.value == ["g", [[first, 1], [second, 3]]]
        assert rec(a, 0, "read", ["nothing-here", None]).value == ["nothing-here", []]
        assert rec(b, 1, "release", ["g", None]).type == "ok"
    finally:
        a.close()
        b.close()
    result = LockChecker().check(rec.history, {})
    assert result.valid is True, result.anomalies


def expire_holder(fencing: bool, system: ZooKeeperSystem, nodes: list[HostNode], key: str):
    """A holder on a follower writes once; its server is paused past the session timeout;
    another client acquires and writes; the server resumes and the holder writes and
    releases. Returns the history and the holder's write and release completions."""
    settled(system, nodes)
    cut = follower(system, nodes)
    other = next(n for n in nodes if n is not cut)
    rec = Recorder()
    a = lock_client(system, cut, fencing=fencing, patience=15.0)
    b = lock_client(system, other, fencing=fencing)
    try:
        token = rec(a, 0, "acquire", [key, None]).value[1]["token"]
        assert rec(a, 0, "write", [key, 1]).type == "ok"
        system.pause(cut)
        try:
            b.timeout = 10.0  # the lock passes to b when a's session (4 s) expires
            got = rec(b, 1, "acquire", [key, None])
            assert got.type == "ok", got
            assert got.value[1]["token"] > token
            assert rec(b, 1, "write", [key, 2]).type == "ok"
        finally:
            system.resume(cut)
        write = rec(a, 0, "write", [key, 3])
        release = rec(a, 0, "release", [key, None])
        assert rec(b, 1, "release", [key, None]).type == "ok"
        assert rec(b, 1, "read", [key, None]).type == "ok"
    finally:
        a.close()
        b.close()
    return rec.history, write, release


@needs_zookeeper
def test_a_fenced_holder_whose_session_expired_neither_writes_nor_releases(zk_ensemble) -> None:
    system, nodes = zk_ensemble
    history, write, release = expire_holder(True, system, nodes, "fenced")
    assert (write.type, write.error) == ("fail", "lock-suspended")
    assert (release.type, release.error) in (("fail", "lock-lost"), ("info", "not-connected"))
    result = LockChecker().check(history, {})
    assert result.valid is True, result.anomalies
    read = history[-1]
    assert [v for _, v in read.value[1]] == [1, 2]


@needs_zookeeper
def test_kazoos_recipe_trusted_as_it_is_lets_an_expired_holder_write_and_release(
    zk_ensemble,
) -> None:
    system, nodes = zk_ensemble
    history, write, release = expire_holder(False, system, nodes, "naive")
    # kazoo started a new session after LOST: the unfenced append went through in it, and
    # Lock.release() said True although the lock znode had gone with the old session
    assert write.type == "ok" and release.type == "ok", (write, release)
    result = LockChecker().check(history, {})
    assert result.valid is False
    names = {a.name for a in result.anomalies}
    assert {"stale-write-accepted", "mutual-exclusion"} <= names, result.anomalies


@needs_zookeeper
def test_the_queue_hands_an_entry_out_again_when_its_consumer_dies_before_consume(
    zk_ensemble,
) -> None:
    system, nodes = zk_ensemble
    settled(system, nodes)
    rec = Recorder()
    p, c1, c2 = (queue_client(system, n) for n in nodes)
    try:
        for v in (1, 2):
            assert rec(p, 0, "enqueue", v).type == "ok"
        assert rec(c1, 1, "dequeue", None).value == 1
        assert rec(c2, 2, "dequeue", None).value == 2  # 1 is taken: c2 gets the next
        c1.close()  # dies before consume: its session ends, and its taken znode with it
        deadline = time.monotonic() + 10
        while True:
            again = rec(c2, 2, "dequeue", None)
            if again.value == 1:
                break
            assert time.monotonic() < deadline, "entry 1 was not handed out again"
            time.sleep(0.2)
        acked = [rec(c2, 2, "ack", None), rec(c2, 2, "ack", None)]
        assert sorted(a.value[0] for a in acked) == [1, 2]
        assert rec(p, 0, "enqueue", 3).type == "ok"
        assert rec(c2, 2, "drain", None).value == [3]
        audit = rec(p, 0, "audit", None)
        assert (audit.value["queue"], audit.value["inflight"]) == ([], [])
    finally:
        for c in (p, c1, c2):
            c.close()
    result = AT_LEAST_ONCE.make(NoOptions()).check(rec.history, {})
    assert result.valid is True, result.anomalies
    assert result.details["deliveries"] == 4 and result.details["delivered_values"] == 3


# -- end to end on the local cluster --------------------------------------------------------


def _run(spec, tmp_path: Path):
    from harness.run import run_test

    return run_test(spec, results_root=tmp_path, out=open(os.devnull, "w"))


@pytest.mark.cluster
@needs_zookeeper
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
def test_the_fenced_zookeeper_lock_keeps_one_holder_through_partitions_on_the_local_cluster(
    tmp_path: Path,
) -> None:
    from harness.spec import (
        ClusterSpec,
        FaultSpec,
        NemesisSpec,
        SystemSpec,
        TestSpec,
        WorkloadSpec,
    )

    spec = TestSpec(
        name="zookeeper-lock-short",
        system=SystemSpec(name="zookeeper", port=2181, options={"tick_ms": 200}),
        cluster=ClusterSpec(nodes=3),
        workload=WorkloadSpec(
            name="lock",
            concurrency=6,
            rate=60,
            keys=2,
            ops_per_key=20,
            options={"fencing": True, "writes": 2},
        ),
        # quiet 4, not 1: a fault while a healed server still syncs can make ZooKeeper 3.8
        # lose acknowledged writes (see test_zookeeper's local-cluster run), and a loaded
        # machine stretches that sync past 1 s; the kill comes at 4 + 3 + 4 s
        nemesis=NemesisSpec(
            faults=(FaultSpec("partition"), FaultSpec("kill")),
            quiet=4,
            interval=3,
            shapes=("one",),
            kill_targets=("one",),
            recovery=3,
        ),
        time_limit=16,
        seed=11,
    )
    out = _run(spec, tmp_path)
    lock = out.results["checkers"]["lock"]
    assert lock["valid"] is True, lock
    assert lock["details"]["grants"] > 10 and lock["details"]["writes-acknowledged"] > 10
    applied = {f["f"] for f in out.results["faults"] if f["type"] == "ok"}
    assert {"kill", "start-partition"} <= applied


@pytest.mark.cluster
@needs_zookeeper
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
def test_the_zookeeper_queue_loses_nothing_through_kills_on_the_local_cluster(
    tmp_path: Path,
) -> None:
    from harness.spec import (
        CheckerSpec,
        ClusterSpec,
        FaultSpec,
        NemesisSpec,
        SystemSpec,
        TestSpec,
        WorkloadSpec,
    )

    spec = TestSpec(
        name="zookeeper-queue-short",
        system=SystemSpec(name="zookeeper", port=2181, options={"tick_ms": 200}),
        cluster=ClusterSpec(nodes=3),
        workload=WorkloadSpec(
            name="queue", concurrency=6, rate=60, mix={"enqueue": 3, "dequeue": 2, "ack": 2}
        ),
        # quiet 4, as above; the partition comes after the restart, at 4 + 3 + restart + 4 s
        nemesis=NemesisSpec(
            faults=(FaultSpec("kill"), FaultSpec("partition")),
            quiet=4,
            interval=3,
            shapes=("one",),
            kill_targets=("one",),
            recovery=3,
        ),
        time_limit=24,
        seed=5,
        checkers=(
            CheckerSpec("queue-at-least-once"),
            CheckerSpec("stats"),
            CheckerSpec("promises"),
        ),
    )
    out = _run(spec, tmp_path)
    queue = out.results["checkers"]["queue-at-least-once"]
    assert queue["valid"] is True, queue
    assert queue["details"]["enqueued_ok"] > 50
    assert queue["details"]["deliveries"] >= queue["details"]["enqueued_ok"]
