"""Clock drift against a real process under libfaketime: the rate written to the offset file
makes the process's wall clock run fast or slow from the moment of the op without a step, the
heal puts it back to the true rate (keeping what it drifted to, or stepping back to the true
time), the history's values say which node drifted at which rate from which offset, and a
bump afterwards still works as the clock fault expects."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from clusters import clock
from clusters.base import Completed, Node
from harness.history import Op
from harness.registry import FaultInfo, lookup
from nemesis.drift import DRIFT, DriftNemesis, DriftOptions

pytestmark = pytest.mark.skipif(
    clock.find_libfaketime() is None, reason="libfaketime is not installed"
)

# Prints its wall clock (time.time()) once per line read.
CHILD = "import sys, time\nfor _ in sys.stdin:\n    print(repr(time.time()), flush=True)\n"

#: how far a clock may be from where the rate puts it: libfaketime starts a little after its
#: process, so setting or ending a rate r steps the clock by |r - 1| times that gap (measured
#: up to 16 ms at x1.1 on a busy machine), plus the reading's own round trip
TOLERANCE = 0.05


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


class Clocked:
    """A process under libfaketime on ``host``, asked for its wall clock."""

    def __init__(self, host: Node) -> None:
        env = {**os.environ, **clock.faketime_env(host)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.offset()  # started: libfaketime has read the file

    def offset(self) -> float:
        """The process's clock minus the true time (the middle of the round trip), seconds."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        before = time.time()
        seen = float(self.proc.stdout.readline())
        return seen - (before + time.time()) / 2

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


class Hosts:
    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes


@pytest.fixture
def hosts(tmp_path: Path) -> list[Node]:
    out = [cast(Node, LocalHost(f"n{i}", tmp_path / f"n{i}")) for i in (1, 2)]
    for h in out:
        clock.reset(h)
    return out


@pytest.fixture
def procs(hosts: list[Node]) -> Iterator[list[Clocked]]:
    made = [Clocked(h) for h in hosts]
    yield made
    for p in made:
        p.stop()


def invoke(nem: DriftNemesis, f: str, value: Any = None) -> Op:
    return nem.invoke(Op("invoke", f, value, process="nemesis"))


def test_a_rate_in_the_offset_file_makes_a_running_process_clock_run_fast_without_a_step(
    hosts: list[Node], procs: list[Clocked]
) -> None:
    host, proc = hosts[0], procs[0]
    time.sleep(1)  # a rate counts from libfaketime's start: one second here is 0.1 s at x1.1
    clock.set_offset(host, 2.0)
    assert abs(proc.offset() - 2.0) < TOLERANCE
    change = clock.set_rate(host, 1.1)
    assert (change.before, change.after, change.rate, change.processes) == (2.0, 2.0, 1.1, 1)
    assert change.written.endswith(" x1.100000")
    start = time.monotonic()
    assert abs(proc.offset() - 2.0) < TOLERANCE  # no step
    time.sleep(1.0)
    elapsed = time.monotonic() - start
    assert abs(proc.offset() - (2.0 + 0.1 * elapsed)) < TOLERANCE
    # back to the true rate, keeping what it drifted to
    kept = clock.set_rate(host, 1.0)
    assert kept.rate == 1.0 and kept.after == kept.before
    assert abs(kept.before - (2.0 + 0.1 * (time.monotonic() - start))) < TOLERANCE
    first = proc.offset()
    time.sleep(0.5)
    assert abs(proc.offset() - first) < 0.01  # the true rate again
    assert abs(first - kept.after) < TOLERANCE
    # slow, then back to the true time
    clock.set_rate(host, 0.9)
    time.sleep(0.5)
    assert proc.offset() < first - 0.02
    reset = clock.set_rate(host, 1.0, 0.0)
    assert reset.after == 0.0 and Path(clock.offset_file(host)).read_text() == "+0.000000 x1.000000"
    assert abs(proc.offset()) < 0.01
    # a bump afterwards (no rate written) steps the clock as the clock fault expects
    clock.set_offset(host, -3.0)
    assert abs(proc.offset() + 3.0) < 0.01
    assert clock.format_clock(-3, 1.1) == "-3.000000 x1.100000"


def test_a_rate_on_a_node_with_no_process_reading_its_clock_is_written_as_it_is(
    hosts: list[Node],
) -> None:
    change = clock.set_rate(hosts[1], 1.05, 0.5)
    assert (change.processes, change.after) == (0, 0.5)
    assert Path(clock.offset_file(hosts[1])).read_text() == "+0.500000 x1.050000"
    with pytest.raises(ValueError, match="expected a rate above 0"):
        clock.set_rate(hosts[1], 0)


def test_the_drift_nemesis_records_who_drifted_at_which_rate_and_where_the_heal_left_them(
    hosts: list[Node], procs: list[Clocked]
) -> None:
    nem = DriftNemesis(random.Random(4), rates=(1.1,))
    nem.setup(cast(Any, Hosts(hosts)))
    try:
        started = invoke(nem, "start-drift", {"nodes": ["n2"], "rate": 1.1})
        assert started.type == "ok", started.error
        assert started.value == {"n2": {"rate": 1.1, "offset": 0.0, "processes": 1}}
        t0 = time.monotonic()
        time.sleep(1.0)
        assert abs(procs[1].offset() - 0.1 * (time.monotonic() - t0)) < TOLERANCE
        assert abs(procs[0].offset()) < 0.01  # n1 untouched
        healed = invoke(nem, "stop-drift")
        assert healed.type == "ok" and list(healed.value) == ["n2"]
        n2 = healed.value["n2"]
        assert n2["rate"] == 1.0 and n2["offset"] == 0.0
        assert abs(n2["reached"] - 0.1 * (time.monotonic() - t0)) < TOLERANCE
        assert abs(procs[1].offset()) < 0.01  # stepped back to the true time
        drawn = invoke(nem, "start-drift")  # one random node at a rate drawn from the rates
        assert drawn.type == "ok" and len(drawn.value) == 1
        assert next(iter(drawn.value.values()))["rate"] == 1.1
    finally:
        nem.teardown()
    # the nodes it drifted are back at the true rate and time; the others were not written
    files = {h.name: Path(clock.offset_file(h)).read_text() for h in hosts}
    assert files["n2"] == "+0.000000 x1.000000"
    assert files["n1"] in ("+0.000000", "+0.000000 x1.000000")
    assert abs(procs[0].offset()) < 0.01 and abs(procs[1].offset()) < 0.01


def test_keep_offset_leaves_the_clock_where_the_drift_took_it(
    hosts: list[Node], procs: list[Clocked]
) -> None:
    nem = DriftNemesis(random.Random(1), keep_offset=True)
    nem.setup(cast(Any, Hosts(hosts)))
    try:
        assert invoke(nem, "start-drift", {"nodes": "n1", "rate": 0.9}).type == "ok"
        time.sleep(0.6)
        healed = invoke(nem, "stop-drift").value["n1"]
        assert healed["offset"] == healed["reached"] < -0.03
        assert abs(procs[0].offset() - healed["offset"]) < TOLERANCE
    finally:
        nem.teardown()
    assert abs(procs[0].offset()) < 0.01


def test_bad_values_are_infos_naming_what_is_wrong(hosts: list[Node]) -> None:
    nem = DriftNemesis(random.Random(1))
    nem.setup(cast(Any, Hosts(hosts)))
    for value, words in [
        ({"rate": -1}, "expected a rate above 0"),
        ({"speed": 2}, "unknown start-drift key"),
        ({"nodes": ["n9"], "rate": 1.1}, "unknown node"),
        ("fast", "expected null or {nodes, rate}"),
    ]:
        done = invoke(nem, "start-drift", value)
        assert done.type == "info" and words in (done.error or ""), (value, done.error)
    assert nem.touched == set()


def test_the_drift_fault_is_registered_and_picks_its_targets_in_turn_and_a_rate_by_seed() -> None:
    assert lookup(FaultInfo, "drift", "fault") is DRIFT
    assert (DRIFT.starts, DRIFT.heal) == (("start-drift",), "stop-drift")
    options = DriftOptions(rates=(0.9, 1.1), targets=("one", "all"))
    pick = DRIFT.pick
    assert pick is not None
    picks = [pick(options, turn, random.Random(7), 5.0) for turn in range(3)]
    assert [p[1]["nodes"] for p in picks] == ["one", "all", "one"]
    assert all(p[0] == "start-drift" and p[1]["rate"] in (0.9, 1.1) for p in picks)
    again = [pick(options, turn, random.Random(7), 5.0) for turn in range(3)]
    assert again == picks


def test_a_bump_or_reset_during_a_drift_ends_the_drift_at_the_new_offset(
    hosts: list[Node], procs: list[Clocked]
) -> None:
    host, proc = hosts[0], procs[0]
    time.sleep(0.5)
    clock.set_rate(host, 0.9)
    time.sleep(0.3)
    # libfaketime keeps the last rate it read: an offset alone would leave the rate running
    # from the process's start (here about 0.1 x its age behind)
    clock.set_offset(host, 0.0)
    assert Path(clock.offset_file(host)).read_text() == "+0.000000 x1.000000"
    assert abs(proc.offset()) < 0.01
    time.sleep(0.3)
    assert abs(proc.offset()) < 0.01
