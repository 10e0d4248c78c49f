"""The clock-synchronization pattern as real processes on 127.0.0.1, each under libfaketime so
that a test can step or drift its clock: every node vouches for an honest bound, a stepped
clock is noticed and outvoted, slow replies widen the bound, a restarted node comes back; the
mechanism of each seeded bug; then a short history through the real client, judged by the
clocksync checker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from loopback import ROOT, LoopbackCluster, clusters, wait

from checkers.clocksync import ClockSyncChecker
from clusters import clock
from clusters.base import Completed, Node
from harness.history import Op
from patterns._runtime import RpcClient, Server, ok_reply
from patterns.clocksync import Sample, agreed_interval
from workloads.clocksync import ClockSyncClient

pytestmark = pytest.mark.skipif(
    clock.find_libfaketime() is None, reason="libfaketime is not installed"
)

SLACK_US = 1000


class LocalHost:
    """Just enough of a Node for ``clusters.clock``: commands run on this host."""

    def __init__(self, name: str, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.name, self.address, self.workdir = name, "127.0.0.1", str(workdir)
        self.shares_filesystem = True

    def exec(self, argv: Sequence[str], *, timeout: float = 30, check: bool = True) -> Completed:
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"{argv} exited {p.returncode}: {p.stderr}")
        return Completed(tuple(argv), p.returncode, p.stdout, p.stderr)


class ClockSync(LoopbackCluster):
    """Clock-synchronization nodes whose wall clocks ``skew`` and ``drift`` move."""

    module = "clocksync"
    only: Sequence[str] | None = None  # start just these (the rest are stubs a test serves)

    def host(self, name: str) -> Node:
        return cast(Node, LocalHost(name, self.tmp / f"{name}-clock"))

    def start(self, name: str, *, ports: dict[str, int] | None = None) -> None:
        """As LoopbackCluster.start, with the node's clock under libfaketime."""
        host = self.host(name)
        if not Path(clock.offset_file(host)).exists():
            clock.reset(host)
        argv = [
            sys.executable, "-m", "patterns.clocksync",
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

    def start_all(self) -> ClockSync:
        for name in self.only or self.names:
            self.start(name)
        return self

    def skew(self, name: str, seconds: float) -> None:
        clock.set_offset(self.host(name), seconds)

    def now(self, name: str) -> tuple[dict[str, Any], int, int]:
        """The node's ``now`` answer, with the true time (µs) before and after it."""
        before = time.time_ns() // 1000
        reply = self.call(name, {"type": "now"})
        after = time.time_ns() // 1000
        assert reply["ok"], reply
        return reply["value"], before, after

    def synced(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for ``name`` to vouch for a time; its answer."""
        got: list[dict[str, Any]] = []

        def ready() -> bool:
            got[:] = [self.now(name)[0]]
            return got[0]["synced"]

        wait(ready, timeout, f"{name} to synchronize")
        return got[0]


def honest(answer: tuple[dict[str, Any], int, int]) -> bool:
    """Whether a synced answer's bound covers some true time within its request."""
    v, before, after = answer
    t, b = v["time_us"], v["bound_us"]
    return t - b - SLACK_US <= after and t + b + SLACK_US >= before


def error_ms(answer: tuple[dict[str, Any], int, int]) -> float:
    v, before, after = answer
    return (v["time_us"] - (before + after) / 2) / 1000


def watch(c: ClockSync, names: Sequence[str], seconds: float) -> list[tuple[str, Any]]:
    """Every node's answers for ``seconds`` (each about every 20 ms); the synced ones."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for n in names:
            a = c.now(n)
            if a[0]["synced"]:
                out.append((n, a))
        time.sleep(0.02)
    return out


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    with clusters(tmp_path, ClockSync, args=["--sync-ms", "100"]) as make:
        yield make


def test_the_marzullo_hull_keeps_what_a_majority_covers() -> None:
    s = [Sample("a", -1, 1), Sample("b", -0.5, 2), Sample("c", 5, 6)]
    assert agreed_interval(s, 2) == (-0.5, 1)
    assert agreed_interval(s, 3) is None
    # the liar alone never moves the hull; two that agree elsewhere widen it
    s += [Sample("d", 5.5, 7)]
    assert agreed_interval(s, 2) == (-0.5, 6)
    assert agreed_interval([Sample("a", 0, 1), Sample("b", 1, 2)], 2) == (1, 1)  # touching


def test_every_node_synchronizes_and_vouches_for_an_honest_small_bound(make: Any) -> None:
    c = make(3)
    for n in c.names:
        v = c.synced(n)
        assert v["bound_us"] < 50_000 and len(v["sync"]["sources"]) >= 2
    answers = watch(c, c.names, 1.0)
    assert len(answers) > 30
    assert all(honest(a) for _, a in answers), [a for _, a in answers if not honest(a)][:3]
    st = c.state("n1")
    assert st["rounds"] > 0 and st["bugs"] == []


def test_a_stepped_clock_is_noticed_and_outvoted_and_the_others_stay_honest(make: Any) -> None:
    c = make(3)
    for n in c.names:
        c.synced(n)
    c.skew("n2", 5.0)
    # n2 stops vouching at its next answer (or round), then takes the majority's time
    first = c.now("n2")
    assert not first[0]["synced"] or honest(first), first
    v = c.synced("n2")
    assert abs(v["time_us"] - v["hw_us"] + 5_000_000) < 50_000  # adj ~ -5 s
    answers = watch(c, c.names, 1.0)
    assert answers and all(honest(a) for _, a in answers)
    assert c.state("n2")["steps"] >= 1


def test_a_restarted_node_vouches_for_nothing_until_its_first_round(make: Any) -> None:
    c = make(3)
    c.synced("n3")
    c.kill("n3")
    c.start("n3")
    v = c.synced("n3")
    assert v["bound_us"] < 50_000


def test_no_drift_bound_lets_a_drifting_clock_run_out_of_its_bound(make: Any) -> None:
    for bugs, expect_lie in (((), False), (("no-drift-bound",), True)):
        c = make(3, bugs=bugs, extra=["--sync-ms", "500"])
        for n in c.names:
            c.synced(n)
        clock.set_rate(c.host("n1"), 1.08)
        answers = watch(c, ["n1"], 2.0)
        lies = [a for _, a in answers if not honest(a)]
        if expect_lie:
            assert lies, "no-drift-bound should have run out of its bound"
            assert max(abs(error_ms(a)) for a in lies) > 5
        else:
            assert answers and not lies, lies[:3]
        clock.set_rate(c.host("n1"), 1.0, 0.0)


def test_single_source_takes_a_bumped_peers_error_and_the_majority_does_not(make: Any) -> None:
    for bugs, expect_lie in (((), False), (("single-source",), True)):
        c = make(3, bugs=bugs)
        for n in c.names:
            c.synced(n)
        c.skew("n3", 2.0)
        answers = watch(c, ["n1", "n2"], 3.0)
        lies = [a for _, a in answers if not honest(a)]
        if expect_lie:
            assert lies and max(abs(error_ms(a)) for a in lies) > 1000
        else:
            assert answers and not lies, lies[:3]


class SlowPeer:
    """A peer that reads its clock at once and answers ``delay`` seconds later (the reply
    held up on the way back)."""

    def __init__(self, port: int, name: str, delay: float) -> None:
        self.delay = delay
        self.name = name
        self.server = Server(("127.0.0.1", port), self.handle)
        self.server.start()

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("type") != "clock_read":
            return ok_reply({"id": self.name})
        read = time.time_ns() // 1000
        time.sleep(self.delay)
        return ok_reply({"id": self.name, "hw_us": read, "error_us": 1000})

    def stop(self) -> None:
        self.server.stop()


def test_ignore_rtt_falls_behind_slow_replies_and_cristian_covers_them(tmp_path: Path) -> None:
    for bugs, expect_lie in (((), False), (("ignore-rtt",), True)):
        c = ClockSync(tmp_path / "-".join(bugs or ("ok",)), 3, bugs, ["--sync-ms", "100"])
        c.only = ["n1"]
        stubs = [SlowPeer(c.ports[n], n, 0.2) for n in ("n2", "n3")]
        try:
            c.start_all()
            v = c.synced("n1")
            answers = watch(c, ["n1"], 1.0)
            lies = [a for _, a in answers if not honest(a)]
            if expect_lie:
                assert lies and min(error_ms(a) for a in lies) < -150  # ~200 ms behind
            else:
                assert answers and not lies, lies[:3]
                assert v["bound_us"] > 100_000  # half the round trip at least
        finally:
            c.stop_all()
            for s in stubs:
                s.stop()
            print(c.log_tails())


def short_history(c: ClockSync) -> list[Op]:
    """Three workers asking their nodes the time for 2.5 s, n3's clock bumped by 2 s after
    0.5 s (recorded as the clock nemesis would), as the harness records a history."""
    history: list[Op] = []
    lock = threading.Lock()
    t0 = time.monotonic_ns()
    clients = {}
    for i, n in enumerate(c.names):
        clients[i] = ClockSyncClient(port=c.ports[n], timeout=2.0)
        clients[i].open(cast(Node, LocalHost(n, c.tmp / f"{n}-clock")))

    def record(op: Op) -> Op:
        with lock:
            op = replace(op, time=time.monotonic_ns() - t0, index=len(history))
            history.append(op)
        return op

    def skew() -> None:
        time.sleep(0.5)
        bump = {"nodes": ["n3"], "delta_ms": 2000}
        inv = record(Op("invoke", "bump-clock", bump, process="nemesis"))
        c.skew("n3", 2.0)
        record(inv.complete("ok", {"n3": 2.0}))

    def work(i: int) -> None:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            inv = record(Op("invoke", "now", None, process=i))
            record(clients[i].invoke(inv))
            time.sleep(0.01)

    threads = [threading.Thread(target=work, args=(i,)) for i in clients]
    threads.append(threading.Thread(target=skew))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for cl in clients.values():
        cl.close()
    return history


def test_a_history_through_the_real_client_is_valid_and_a_lie_is_caught(make: Any) -> None:
    for bugs, valid in (((), True), (("single-source",), False)):
        c = make(3, bugs=bugs)
        for n in c.names:
            c.synced(n)
        result = ClockSyncChecker().check(short_history(c), {})
        assert result.valid is valid, [a.explanation for a in result.anomalies][:2]
        assert result.details["synced"] > 50
        if not valid:
            first = result.anomalies[0]
            assert first.name == "bound-violated"
            assert "clock offsets n3 +2.000 s" in first.explanation
            assert "never trusted alone" in first.explanation
