"""EtcdWatchClient and the watch workload on real etcd: three members on 127.0.0.1, watchers
that see every write in order, one resumed across a kill of its member; then one short
end-to-end run on the local cluster."""

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
from test_etcd_lock import Recorder

from checkers.watch import WatchChecker
from harness.generator import Context
from harness.history import Op
from harness.spec import FaultSpec, WorkloadSpec
from workloads.etcd import ETCD_BINARY, WATCH, EtcdSystem, EtcdWatchClient, WatchOps, WatchOptions

pytestmark = pytest.mark.skipif(
    shutil.which(ETCD_BINARY) is None,
    reason=f"{ETCD_BINARY} is absent: install Debian's etcd-server (./setup does)",
)


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EtcdSystem, list[HostNode]]]:
    root = tmp_path_factory.mktemp("etcd-watch")
    nodes = [HostNode(f"n{i}", root / f"n{i}") for i in range(1, 4)]
    system = EtcdSystem(free_base_port(6), nodes=nodes)
    threads = [threading.Thread(target=system.setup, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield system, nodes
    for n in nodes:
        system.teardown(n)


def opened(system: EtcdSystem, node: HostNode, **kw: Any) -> EtcdWatchClient:
    client = EtcdWatchClient(system, **{"timeout": 3.0, "stall": 1.0, "catch_up_s": 10.0, **kw})
    client.open(node)
    return client


def started(h: Recorder, watcher: EtcdWatchClient, process: int = 0) -> None:
    """Start a watch from now, and wait until its thread has read what "now" is."""
    deadline = time.monotonic() + 30  # a loaded machine's watcher thread may start late
    while time.monotonic() < deadline:
        if h.run(watcher, "watch", {"start": "now"}, process).value["start"] is not None:
            return
        time.sleep(0.1)
    raise AssertionError("the watcher never started")


def test_watchers_from_the_start_and_from_now_see_every_write_in_revision_order(etcd) -> None:
    system, nodes = etcd
    h = Recorder()
    first, late, writer = (opened(system, n) for n in nodes)
    try:
        h.run(first, "watch", {"start": "first"}, 0)
        acked = [h.run(writer, "write", [str(i % 3), i], 5) for i in range(10)]
        assert all(w.type == "ok" for w in acked)
        revisions = [w.value[1]["revision"] for w in acked]
        assert revisions == sorted(revisions) and len(set(revisions)) == 10
        started(h, late, 1)  # "now" is read by the watcher's own thread
        more = [h.run(writer, "write", [str(i % 3), i], 5) for i in range(10, 15)]
        up = h.run(first, "catch-up", {"start": "first"}, 0)
        down = h.run(late, "catch-up", {"start": "now"}, 1)
    finally:
        first.close()
        late.close()
    assert up.value["caught_up"] is True and up.value["target"] == more[-1].value[1]["revision"]
    assert down.value["start"] > revisions[-1]
    assert [e[2] for e in down.value["events"]] == list(range(10, 15))
    result = WatchChecker().check(h.ops, {})
    assert result.valid is True, result.anomalies
    assert result.details["watchers"]["n1/0"]["events"] == 15


def test_the_puts_of_a_txn_arrive_at_one_revision_in_one_watch_response(etcd) -> None:
    system, nodes = etcd
    h = Recorder()
    watcher, writer = opened(system, nodes[1]), opened(system, nodes[0])
    try:
        started(h, watcher)
        one = h.run(writer, "txn", [["w", "x", 300], ["w", "y", 301], ["w", "z", 302]], 5)
        h.run(writer, "write", ["x", 303], 5)
        up = h.run(watcher, "catch-up", {"start": "now"}, 0)
    finally:
        watcher.close()
    assert one.type == "ok"
    r = one.value["revision"]
    got = [e for e in up.value["events"] if e[0] == r]
    assert [e[1:3] for e in got] == [["x", 300], ["y", 301], ["z", 302]]
    assert len({e[3] for e in got}) == 1  # one response
    result = WatchChecker().check(h.ops, {})
    assert result.valid is True, result.anomalies
    assert result.details["writes-acknowledged"] == 4


def test_a_watch_on_a_killed_member_resumes_from_its_last_revision_and_misses_nothing(
    etcd,
) -> None:
    system, nodes = etcd
    h = Recorder()
    watcher, writer = opened(system, nodes[2]), opened(system, nodes[0])
    try:
        started(h, watcher)  # from now: the writes of earlier tests are not in this history
        for i in range(100, 105):
            h.run(writer, "write", ["k", i], 5)
        time.sleep(0.3)
        h.run(watcher, "watch", {"start": "now"}, 0)
        system.kill(nodes[2])
        for i in range(105, 110):  # while the watcher's member is down
            h.run(writer, "write", ["k", i], 5)
        system.start(nodes[2])
        up = h.run(watcher, "catch-up", {"start": "now"}, 0)
    finally:
        watcher.close()
    assert up.value["caught_up"] is True and up.value["restarts"] >= 1
    result = WatchChecker().check(h.ops, {})
    assert result.valid is True, result.anomalies
    # and the checker can fail on this very history: drop one delivered event
    for op in h.ops:
        if op.f == "catch-up" and op.type == "ok" and op.value["events"]:
            op.value["events"].pop(0)
    assert "missed-event" in WatchChecker().check(h.ops, {}).details["anomaly-counts"]


def test_a_write_to_a_killed_member_fails_and_shows_in_no_watch(etcd) -> None:
    system, nodes = etcd
    h = Recorder()
    watcher, writer = opened(system, nodes[0]), opened(system, nodes[1])
    try:
        started(h, watcher)
        system.kill(nodes[1])
        refused = h.run(writer, "write", ["k", 200], 5)
        system.start(nodes[1])
        h.run(writer, "write", ["k", 201], 6)
        up = h.run(watcher, "catch-up", {"start": "now"}, 0)
    finally:
        watcher.close()
    assert (refused.type, refused.error) == ("fail", "connection-refused")
    assert 200 not in [e[2] for e in up.value["events"]] and up.value["caught_up"] is True
    assert WatchChecker().check(h.ops, {}).valid is True


def test_watcher_threads_poll_and_the_others_write() -> None:
    import random

    spec = WorkloadSpec(name="watch", concurrency=5, rate=0, keys=2)
    ops = WatchOps(spec, WatchOptions(watchers=2, poll=0.5, late_start=3, txn=0))

    def ask(thread: int, t: float) -> Any:
        return ops.op(Context(time=t, thread=thread, process=thread, rng=random.Random(1)))

    assert ask(0, 0.0) == {"f": "watch", "value": {"start": "first"}}
    assert ask(0, 0.1).until == 0.5  # the next poll of that watcher
    assert ask(1, 0.0).until == 3.0  # a "now" watcher starts late
    assert [ask(4, 0.0)["value"][1], ask(3, 0.0)["value"][1]] == [0, 1]  # unique values
    ops.txn = 1.0  # now every write is a txn of two keys, with two fresh values
    t = ask(4, 0.0)
    assert t["f"] == "txn" and [m[0] for m in t["value"]] == ["w", "w"]
    assert {m[1] for m in t["value"]} == {"0", "1"} and [m[2] for m in t["value"]] == [2, 3]
    with pytest.raises(ValueError, match="watchers"):
        WatchOps(WorkloadSpec(name="watch", concurrency=2), WatchOptions(watchers=2))
    main, final = WATCH.generators(spec, WatchOptions())
    assert main is not None and final is not None


def invoke(client: EtcdWatchClient, f: str, value: object) -> Op:
    return client.invoke(Op("invoke", f, value, 0))


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
def test_etcd_watches_are_valid_through_kills_and_partitions_on_the_local_cluster(
    tmp_path: Path,
) -> None:
    from harness.run import run_test
    from harness.spec import ClusterSpec, NemesisSpec, SystemSpec, TestSpec

    spec = TestSpec(
        name="etcd-watch-short",
        system=SystemSpec(name="etcd", port=2379),
        cluster=ClusterSpec(nodes=3),
        workload=WorkloadSpec(
            name="watch",
            concurrency=6,
            rate=60,
            keys=3,
            timeout=2,
            options={"watchers": 3, "late_start": 2},
        ),
        nemesis=NemesisSpec(
            faults=(FaultSpec("kill"), FaultSpec("partition")),
            quiet=1,
            interval=2,
            kill_targets=("one",),
            shapes=("one",),
            recovery=2,
        ),
        time_limit=10,
        seed=7,
    )
    out = run_test(spec, results_root=tmp_path, out=open(os.devnull, "w"))
    watch = out.results["checkers"]["watch"]
    assert watch["valid"] is True, (watch["anomalies"], watch["details"].get("reason"))
    assert watch["details"]["writes-acknowledged"] > 100
    assert all(w["caught_up"] for w in watch["details"]["watchers"].values())
    assert {"kill", "start-partition"} <= {
        f["f"] for f in out.results["faults"] if f["type"] == "ok"
    }
