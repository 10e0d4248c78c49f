"""The HLC pattern as real processes on 127.0.0.1, each under libfaketime so that a test can
step its wall clock: timestamps that only grow, receives after their sends, c reset when l
moves on, the maximum-offset guard, a restart that keeps l, and the mechanism of each seeded
bug; then a short history through the real client, judged by the hlc checker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from loopback import ROOT, LoopbackCluster, clusters, wait

from checkers.hlc import HlcChecker
from clusters import clock
from clusters.base import Completed, Node
from harness.history import NEMESIS, Op
from patterns._runtime import RpcClient
from workloads.hlc import HlcClient

pytestmark = pytest.mark.skipif(
    clock.find_libfaketime() is None, reason="libfaketime is not installed"
)


class LocalHost:
    """Just enough of a Node for ``clusters.clock``: commands run on this host."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name, self.address, self.workdir = name, "127.0.0.1", str(workdir)
        self.shares_filesystem = True

    def exec(self, argv: Sequence[str], *, timeout: float = 30, check: bool = True) -> Completed:
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"{argv} exited {p.returncode}: {p.stderr}")
        return Completed(tuple(argv), p.returncode, p.stdout, p.stderr)


class Hlc(LoopbackCluster):
    """HLC nodes whose wall clocks ``skew`` moves (each under libfaketime)."""

    module = "hlc"

    def host(self, name: str) -> Node:
        (self.tmp / f"{name}-clock").mkdir(parents=True, exist_ok=True)
        return cast(Node, LocalHost(name, self.tmp / f"{name}-clock"))

    def start(self, name: str, *, ports: dict[str, int] | None = None) -> None:
        """As LoopbackCluster.start, with the node's clock under libfaketime."""
        host = self.host(name)
        if not Path(clock.offset_file(host)).exists():
            clock.reset(host)
        argv = [
            sys.executable, "-m", "patterns.hlc",
            "--id", name,
            "--listen", f"127.0.0.1:{self.ports[name]}",
            "--peers", self.peers(),
            "--data", str(self.tmp / name),
            *self.args,
        ]  # fmt: skip
        for b in self.bugs:
            argv += ["--bug", b]
        env = {**os.environ, **clock.faketime_env(host)}
        with open(self.tmp / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if name in self.rpcs:
            self.rpcs[name].close()
        self.rpcs[name] = RpcClient(("127.0.0.1", self.ports[name]), timeout=3.0)
        wait(lambda: self.status(name) is not None, 20, f"{name} to answer status")

    def skew(self, name: str, seconds: float) -> None:
        """Set ``name``'s wall clock ``seconds`` away from the true time."""
        clock.set_offset(self.host(name), seconds)

    def local(self, name: str) -> dict[str, Any]:
        reply = self.call(name, {"type": "local"})
        assert reply["ok"], reply
        return reply["value"]

    def send(self, a: str, b: str) -> dict[str, Any]:
        """a sends to b: the reply (ok or not)."""
        pick = [n for n in self.names if n != a].index(b)
        return self.call(a, {"type": "send", "pick": pick})

    def journal(self, name: str) -> list[dict[str, Any]]:
        reply = self.call(name, {"type": "events", "since": 0, "limit": 5000})
        return reply["value"]["events"]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    with clusters(tmp_path, Hlc) as make:
        yield make


def stamp(e: dict[str, Any]) -> tuple[int, int]:
    return (e["l"], e["c"])


def test_stamps_grow_on_each_node_and_every_receive_follows_its_send(make: Any) -> None:
    c = make()
    stamps: dict[str, list[tuple[int, int]]] = {n: [] for n in c.names}
    for i in range(30):
        a = c.names[i % 3]
        b = c.names[(i + 1) % 3]
        if i % 3 == 0:
            e = c.local(a)
            stamps[a].append(stamp(e))
            continue
        reply = c.send(a, b)
        assert reply["ok"], reply
        s, r = reply["value"]["send"], reply["value"]["receive"]
        assert reply["value"]["to"] == b and r["msg"] == s["msg"] and r["node"] == b
        assert stamp(r) > stamp(s) and (r["ml"], r["mc"]) == stamp(s)
        stamps[a].append(stamp(s))
        stamps[b].append(stamp(r))
    for n, seen in stamps.items():
        assert seen == sorted(seen) and len(set(seen)) == len(seen), n
    # the journal holds exactly what the replies reported, in the node's order
    assert [stamp(e) for e in c.journal("n1")] == stamps["n1"]


def test_a_clock_stepping_back_keeps_l_and_counts_c_up(make: Any) -> None:
    c = make()
    before = c.local("n1")
    c.skew("n1", -5.0)
    after = [c.local("n1") for _ in range(3)]
    assert [e["l"] for e in after] == [before["l"]] * 3
    assert [e["c"] for e in after] == [1, 2, 3]
    assert after[0]["pt"] < before["pt"] - 4_000_000  # the physical clock did step back
    c.skew("n1", 0.0)
    fresh = c.local("n1")
    assert fresh["l"] > before["l"] and fresh["c"] == 0  # l moved on: c is reset


def test_physical_only_stamps_below_earlier_events_when_the_clock_steps_back(make: Any) -> None:
    c = make(bugs=("physical-only",))
    before = c.local("n1")
    c.skew("n1", -5.0)
    after = c.local("n1")
    assert stamp(after) < stamp(before)
    c.skew("n1", 0.0)
    # a receiver 300 ms behind the sender (within the maximum offset) stamps the receive
    # below the send
    c.skew("n2", -0.3)
    reply = c.send("n1", "n2")
    assert stamp(reply["value"]["receive"]) < stamp(reply["value"]["send"])


def test_no_c_reset_counts_c_up_although_l_moves_on(make: Any) -> None:
    c = make(bugs=("no-c-reset",))
    events = [c.local("n1") for _ in range(4)]
    assert [e["l"] for e in events] == sorted({e["l"] for e in events})  # l advanced each time
    assert [e["c"] for e in events] == [1, 2, 3, 4]


@pytest.mark.parametrize("bug", [None, "no-offset-guard"])
def test_a_message_from_a_clock_far_ahead_is_refused_only_with_the_guard(
    make: Any, bug: str | None
) -> None:
    c = make(bugs=(bug,) if bug else ())
    c.skew("n1", 5.0)
    reply = c.send("n1", "n2")
    later = c.local("n2")
    true_us = time.time_ns() // 1000
    if bug:
        assert reply["ok"], reply
        assert later["l"] > true_us + 4_000_000  # n2's l was dragged 5 s into the future
    else:
        assert not reply["ok"] and reply["error"] == "offset-exceeded" and reply["definite"]
        assert reply["refused"]["kind"] == "refuse" and reply["refused"]["max_offset_ms"] == 500
        assert later["l"] < true_us + 500_000  # n2's clock did not move
        assert [e["kind"] for e in c.journal("n2")] == ["refuse", "local"]


def test_a_restarted_node_waits_until_its_clock_has_passed_every_l_it_stamped(
    make: Any,
) -> None:
    c = make(extra=("--max-offset-ms", "0"))
    c.skew("n1", 1.5)
    last = c.local("n1")
    c.skew("n1", 0.0)
    c.kill("n1")
    c.start("n1")  # waits ~1.5 s for its clock to pass the persisted bound
    first = c.local("n1")
    assert first["boot"] != last["boot"] and first["seq"] == 1
    assert stamp(first) > stamp(last)


def test_a_short_history_through_the_client_is_valid_and_physical_only_is_caught(
    make: Any,
) -> None:
    for bug, expected in ((None, True), ("physical-only", False)):
        c = make(bugs=(bug,) if bug else ())
        history = drive(c)
        r = HlcChecker().check(history, {})
        assert r.valid is expected, (bug, [a.explanation for a in r.anomalies], r.details)
        assert r.details["events"] > 50 and r.details["c-rule-unchecked"] == 0
        if bug:
            assert {a.name for a in r.anomalies} & {"not-monotonic", "causality-broken"}


def drive(c: Hlc) -> list[Op]:
    """Sends and local events through HlcClient (one per node), n2's clock bumped 2 s
    forward and then reset mid-way (recorded as the nemesis would), then every journal."""
    t0 = time.monotonic_ns()
    history: list[Op] = []

    def record(op: Op) -> Op:
        op.time, op.index = time.monotonic_ns() - t0, len(history)
        history.append(op)
        return op

    clients = {}
    for name in c.names:
        client = HlcClient(port=c.ports[name], timeout=2.0)
        client.open(cast(Node, LocalHost(name, c.tmp)))
        clients[name] = client

    def run(p: int, name: str, f: str, value: Any = None) -> None:
        inv = record(Op("invoke", f, value, p, node=name))
        record(clients[name].invoke(inv))

    def nemesis(f: str, value: dict[str, float], offset: float) -> None:
        record(Op("invoke", f, None, NEMESIS))
        c.skew("n2", offset)
        record(Op("ok", f, value, NEMESIS))

    for i in range(60):
        if i == 20:
            nemesis("bump-clock", {"n2": 2.0}, 2.0)
        if i == 40:
            nemesis("reset-clock", {"n2": 0.0}, 0.0)
        p = i % 3
        run(p, c.names[p], "local" if i % 4 == 0 else "send", {"pick": i})
    for p, name in enumerate(c.names):
        run(p, name, "events")
    for client in clients.values():
        client.close()
    return history
