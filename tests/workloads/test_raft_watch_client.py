"""RaftWatchClient and the watch workload on the reference Raft store: three real nodes on
127.0.0.1, watchers that see every write in order, a txn's puts in one reply, and a watch
resumed on another node across a kill of its own; the watch checker judges each history."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hostnode import HostNode, free_base_port
from test_etcd_lock import Recorder

from checkers.watch import WatchChecker
from harness.registry import systems
from workloads.raft import RaftSystem
from workloads.raft_watch import RaftWatchClient


@pytest.fixture(scope="module")
def raft(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RaftSystem, list[HostNode]]]:
    root = tmp_path_factory.mktemp("raft-watch")
    nodes = [HostNode(f"n{i}", root / f"n{i}") for i in range(1, 4)]
    system = RaftSystem([], port=free_base_port(3), nodes=nodes)
    for n in nodes:
        system.setup(n)
    yield system, nodes
    for n in nodes:
        n.signal("raft", signal.SIGCONT)
        system.teardown(n)


def opened(system: RaftSystem, node: HostNode) -> RaftWatchClient:
    client = RaftWatchClient(system, timeout=2.0, interval=0.05, wait_ms=300, catch_up_s=10.0)
    client.open(node)
    return client


def started(h: Recorder, watcher: RaftWatchClient, start: str, process: int = 0) -> int:
    """Start a watch, and wait until its thread has registered it: its start revision."""
    deadline = time.monotonic() + 30  # a loaded machine's watcher thread may start late
    while time.monotonic() < deadline:
        got = h.run(watcher, "watch", {"start": start}, process).value["start"]
        if got is not None:
            return int(got)
        time.sleep(0.05)
    raise AssertionError("the watcher never started")


def test_the_raft_system_registers_the_watch_client() -> None:
    assert "watch" in systems()["raft"].clients


def test_watchers_from_the_start_and_from_now_see_every_write_in_revision_order(raft) -> None:
    system, nodes = raft
    h = Recorder()
    first, late, writer = (opened(system, n) for n in nodes)
    try:
        assert started(h, first, "first", 0) == 1
        acked = [h.run(writer, "write", [str(i % 3), i], 5) for i in range(10)]
        assert all(w.type == "ok" for w in acked), acked
        revisions = [w.value[1]["revision"] for w in acked]
        assert revisions == sorted(revisions) and len(set(revisions)) == 10
        start = started(h, late, "now", 1)  # after what its node (a follower) has applied
        more = [h.run(writer, "write", [str(i % 3), i], 5) for i in range(10, 15)]
        up = h.run(first, "catch-up", {"start": "first"}, 0)
        down = h.run(late, "catch-up", {"start": "now"}, 1)
    finally:
        for c in (first, late, writer):
            c.close()
    assert up.value["caught_up"] is True and up.value["target"] >= more[-1].value[1]["revision"]
    after_start = [w.value[1] for w in acked + more if w.value[1]["revision"] >= start]
    got = [e[2] for op in h.ops if op.process == 1 and op.type == "ok" for e in op.value["events"]]
    assert got == [w["value"] for w in after_start]
    assert down.value["start"] == start and len(after_start) >= 5
    result = WatchChecker().check(h.ops, {})
    assert result.valid is True, result.anomalies
    assert result.details["watchers"]["n1/0"]["events"] == 15


def test_the_puts_of_a_txn_arrive_at_one_revision_in_one_poll_reply(raft) -> None:
    system, nodes = raft
    h = Recorder()
    watcher, writer = opened(system, nodes[1]), opened(system, nodes[0])
    try:
        started(h, watcher, "now")
        one = h.run(writer, "txn", [["w", "x", 300], ["w", "y", 301], ["w", "z", 302]], 5)
        h.run(writer, "write", ["x", 303], 5)
        up = h.run(watcher, "catch-up", {"start": "now"}, 0)
    finally:
        watcher.close()
        writer.close()
    assert one.type == "ok", one
    r = one.value["revision"]
    got = [e for e in up.value["events"] if e[0] == r]
    assert [e[1:3] for e in got] == [["x", 300], ["y", 301], ["z", 302]]
    assert len({e[3] for e in got}) == 1  # one reply
    result = WatchChecker().check(h.ops, {})
    assert result.valid is True, result.anomalies


def test_a_watch_whose_node_is_killed_resumes_on_another_node_and_misses_nothing(raft) -> None:
    system, nodes = raft
    h = Recorder()
    watcher, writer = opened(system, nodes[2]), opened(system, nodes[0])
    try:
        started(h, watcher, "now")
        for i in range(100, 105):
            h.run(writer, "write", ["k", i], 5)
        system.kill(nodes[2])
        for i in range(105, 110):  # while the watcher's node is down
            h.run(writer, "write", ["k", i], 5)
        deadline = time.monotonic() + 20
        while h.run(watcher, "watch", {"start": "now"}, 0).value["on"] == nodes[2].name:
            assert time.monotonic() < deadline, "the watch never moved to another node"
            time.sleep(0.1)
        system.start(nodes[2])  # the catch-up's revision is read through the client's node
        up = h.run(watcher, "catch-up", {"start": "now"}, 0)
    finally:
        watcher.close()
        writer.close()
    assert up.value["caught_up"] is True, up.value
    assert up.value["restarts"] >= 1
    polls = [op for op in h.ops if op.f in ("watch", "catch-up") and op.type == "ok"]
    events = [e[2] for op in polls for e in op.value["events"]]
    assert events == list(range(100, 110))
    result = WatchChecker().check(h.ops, {})
    assert result.valid is True, result.anomalies
    # and the checker can fail on this very history: drop one delivered event
    for op in h.ops:
        if op.f == "catch-up" and op.type == "ok" and op.value["events"]:
            op.value["events"].pop(0)
    assert "missed-event" in WatchChecker().check(h.ops, {}).details["anomaly-counts"]


def test_malformed_ops_fail_without_a_request(raft) -> None:
    system, nodes = raft
    client = opened(system, nodes[0])
    try:
        h = Recorder()
        bad: list[tuple[str, Any]] = [
            ("write", ["k"]),
            ("txn", [["r", "k", 1]]),
            ("watch", {"start": "later"}),
            ("cas", ["k", [1, 2]]),
        ]
        for f, value in bad:
            done = h.run(client, f, value, 0)
            assert done.type == "fail" and str(done.error).startswith("bad-op"), done
    finally:
        client.close()
