"""Bump, strobe and reset of the nodes' clock offsets, read back from the offset files and by a
real process running under libfaketime."""

from __future__ import annotations

import os
import random
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters import clock
from clusters.base import Node
from clusters.local import LocalCluster
from harness.history import Op
from nemesis.clock import ClockNemesis

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def offset_file(node: Node) -> str:
    return Path(clock.offset_file(node)).read_text()


def invoke(nem: ClockNemesis, f: str, value: object = None) -> Op:
    return nem.invoke(Op("invoke", f, value, process="nemesis"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(2, workroot=tmp_path_factory.mktemp("clocknem"))
    try:
        c.create()
        yield c
    finally:
        c.destroy()


@pytest.fixture
def nemesis(cluster: LocalCluster) -> Iterator[ClockNemesis]:
    nem = ClockNemesis(random.Random(11), max_ms=5000)
    try:
        nem.setup(cluster)
        yield nem
    finally:
        nem.teardown()
        assert all(offset_file(n) == "+0.000000" for n in cluster.nodes)


def test_bumps_add_up_per_node_and_reset_puts_them_back(
    cluster: LocalCluster, nemesis: ClockNemesis
) -> None:
    n1, n2 = cluster.nodes
    assert offset_file(n1) == offset_file(n2) == "+0.000000"
    done = invoke(nemesis, "bump-clock", {"nodes": ["n1"], "delta_ms": 1500})
    assert (done.type, done.value) == ("ok", {"n1": 1.5})
    assert invoke(nemesis, "bump-clock", {"nodes": "n1", "delta_ms": -2250}).value == {"n1": -0.75}
    assert offset_file(n1) == "-0.750000" and offset_file(n2) == "+0.000000"
    assert invoke(nemesis, "bump-clock", {"nodes": "all", "delta_ms": 100}).value == {
        "n1": -0.65,
        "n2": 0.1,
    }
    reset = invoke(nemesis, "reset-clock")
    assert (reset.type, reset.value) == ("ok", {"n1": 0.0, "n2": 0.0})
    assert offset_file(n1) == offset_file(n2) == "+0.000000"


def test_a_bump_without_a_value_is_drawn_from_the_seed(cluster: LocalCluster) -> None:
    values = []
    for _ in range(2):
        nem = ClockNemesis(random.Random(5), max_ms=5000)
        nem.setup(cluster)
        try:
            values.append(invoke(nem, "bump-clock").value)
        finally:
            nem.teardown()
    assert values[0] == values[1] and values[0]
    assert all(abs(v) <= 5 for v in values[0].values())
    bad = invoke(ClockNemesis(random.Random(0)), "bump-clock", {"delta_ms": "soon"})
    assert bad.type == "info" and "delta_ms" in (bad.error or "")


def test_a_strobe_flips_the_offset_then_puts_it_back(
    cluster: LocalCluster, nemesis: ClockNemesis
) -> None:
    n2 = cluster.nodes[1]
    value = {"nodes": ["n2"], "delta_ms": 2000, "period_ms": 50, "duration_ms": 500}
    done = invoke(nemesis, "strobe-clock", value)
    assert done.type == "ok"
    assert done.value == {**value, "offsets": {"n2": [0.0, 2.0]}}
    # Sampled until the strobe has ended (the offset stays 0 for six periods), not for a
    # fixed 0.45 s then a fixed 0.3 s, which a loaded machine's strobe thread can outlast.
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen.append((time.monotonic(), offset_file(n2)))
        still = [o for t, o in seen if t >= seen[-1][0] - 0.3]
        if seen[-1][0] - seen[0][0] > 0.5 and set(still) == {"+0.000000"}:
            break
        time.sleep(0.01)
    assert {o for _, o in seen} == {"+0.000000", "+2.000000"}
    assert seen[-1][1] == "+0.000000", "the strobe did not end within 30 s"
    assert offset_file(cluster.nodes[0]) == "+0.000000"


def test_a_strobe_is_bounded_and_stopped_by_a_reset(cluster: LocalCluster) -> None:
    nem = ClockNemesis(random.Random(0), max_strobe_ms=60_000, min_period_ms=10)
    nem.setup(cluster)
    try:
        done = invoke(
            nem,
            "strobe-clock",
            {"nodes": "all", "delta_ms": 1000, "period_ms": 1, "duration_ms": 10**9},
        )
        assert (done.value["period_ms"], done.value["duration_ms"]) == (10, 60_000)
        t = time.monotonic()
        assert invoke(nem, "reset-clock").type == "ok"
        # not a timing: far below the 60 s a reset that waited for the strobe would take
        assert time.monotonic() - t < 30
        time.sleep(0.05)
        assert all(offset_file(n) == "+0.000000" for n in cluster.nodes)
    finally:
        nem.teardown()


TICKER = textwrap.dedent("""
    import time
    while True:
        print(f"{time.time():.6f} {time.monotonic():.6f}", flush=True)
        time.sleep(0.02)
""")


def test_a_process_started_with_the_clock_env_follows_the_bump(
    cluster: LocalCluster, nemesis: ClockNemesis
) -> None:
    if clock.find_libfaketime() is None:
        pytest.skip("libfaketime is not installed")
    node = cluster.nodes[0]
    python = getattr(node, "python", "python3")
    node.spawn("ticker", [python, "-c", TICKER], env=clock.faketime_env(node))
    try:
        invoke(nemesis, "bump-clock", {"nodes": ["n1"], "delta_ms": -30_000})
        log = Path(node.workdir) / "ticker.log"
        deadline = time.monotonic() + 5
        skew = None
        while time.monotonic() < deadline:
            last = log.read_text().splitlines()[-1].split()
            if len(last) == 2:
                wall, mono = map(float, last)
                skew = wall - (time.time() - (time.monotonic() - mono))
                if abs(skew + 30) < 0.05:
                    break
            time.sleep(0.03)
        assert skew is not None and abs(skew + 30) < 0.05
    finally:
        node.signal("ticker", signal.SIGKILL)
