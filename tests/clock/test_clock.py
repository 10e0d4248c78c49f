"""Clock offsets through libfaketime, seen by real processes inside the nodes' namespaces."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from clusters import clock
from clusters.local import LocalCluster, LocalNode

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
    pytest.mark.skipif(clock.find_libfaketime() is None, reason="libfaketime is not installed"),
]

# Prints its wall clock and its monotonic clock every 20 ms. It sleeps with time.sleep, which
# in Python 3.11 is clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME): the call libfaketime
# 0.9.10 breaks when the monotonic clock is not faked, and the shim repairs.
TICKER = textwrap.dedent("""
    import time
    while True:
        print(f"{time.time():.6f} {time.monotonic():.6f}", flush=True)
        time.sleep(0.02)
""")


def offset_seen(node: LocalNode, name: str) -> float | None:
    """The offset the daemon's last line shows: its wall clock minus the true wall clock at
    the moment it printed (found through the monotonic clock, which is not faked and is the
    same for every process of the machine)."""
    lines = (Path(node.workdir) / f"{name}.log").read_text().splitlines()
    for line in reversed(lines):
        parts = line.split()
        if len(parts) == 2 and not line.startswith("---"):  # not the spawn header
            wall, mono = map(float, parts)
            true_wall = time.time() - (time.monotonic() - mono)
            return wall - true_wall
    return None


def wait_for_offset(node: LocalNode, name: str, expected: float, tol: float = 0.05) -> float:
    deadline = time.monotonic() + 5
    seen = None
    while time.monotonic() < deadline:
        seen = offset_seen(node, name)
        if seen is not None and abs(seen - expected) < tol:
            return seen
        time.sleep(0.03)
    raise AssertionError(f"{node.name}/{name} shows offset {seen}, expected {expected}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(2, workroot=tmp_path_factory.mktemp("clock"))
    try:
        c.create()
        yield c
    finally:
        c.destroy()


def test_the_offset_is_written_in_the_format_libfaketime_reads() -> None:
    assert clock.format_offset(1.5) == "+1.500000"
    assert clock.format_offset(-0.25) == "-0.250000"
    assert clock.format_offset(0) == "+0.000000"


def test_the_env_preloads_libfaketime_and_names_the_offset_file(cluster: LocalCluster) -> None:
    node = cluster.nodes[0]
    env = clock.faketime_env(node)
    preload = env["LD_PRELOAD"].split(":")
    assert preload[-1] == clock.find_libfaketime()
    assert all(Path(p).exists() for p in preload) and len(preload) == 2  # shim, libfaketime
    assert env["FAKETIME_TIMESTAMP_FILE"] == f"{node.workdir}/faketime.rc"
    assert env["FAKETIME_NO_CACHE"] == "1" and env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1"
    # libfaketime's monotonic fix would make every thread switch of a Python daemon slow
    assert env["FAKETIME_FORCE_MONOTONIC_FIX"] == "0"
    assert "FAKETIME_DONT_FAKE_MONOTONIC" not in clock.faketime_env(node, fake_monotonic=True)


def test_a_skewed_daemon_reads_the_offset_and_follows_it_without_a_restart(
    cluster: LocalCluster,
) -> None:
    node, other = cluster.nodes
    assert isinstance(node, LocalNode) and isinstance(other, LocalNode)
    clock.reset(node)
    clock.reset(other)
    pid = node.spawn("ticker", [node.python, "-c", TICKER], env=clock.faketime_env(node))
    other.spawn("ticker", [other.python, "-c", TICKER], env=clock.faketime_env(other))
    try:
        wait_for_offset(node, "ticker", 0.0)
        clock.set_offset(node, 3600.5)
        wait_for_offset(node, "ticker", 3600.5)
        wait_for_offset(other, "ticker", 0.0)  # per node: the other's clock is still true

        clock.set_offset(node, -120.25)  # back in time, fractional
        wait_for_offset(node, "ticker", -120.25)
        clock.reset(node)
        wait_for_offset(node, "ticker", 0.0)

        assert node.alive("ticker") and other.alive("ticker")
        assert int((Path(node.workdir) / "ticker.pid").read_text()) == pid  # never restarted
        # the monotonic clock went on, unmoved by the wall clock's jumps
        log = (Path(node.workdir) / "ticker.log").read_text().splitlines()
        monos = [float(ln.split()[1]) for ln in log if not ln.startswith("---")]
        gaps = [b - a for a, b in zip(monos, monos[1:], strict=False)]
        assert gaps and all(0 < g < 1.0 for g in gaps)
    finally:
        node.signal("ticker", signal.SIGKILL)
        other.signal("ticker", signal.SIGKILL)
        clock.reset(node)


def test_a_one_shot_process_reads_the_offset(cluster: LocalCluster) -> None:
    node = cast(LocalNode, cluster.nodes[1])
    env = clock.faketime_env(node)
    clock.set_offset(node, -86400)
    try:
        argv = ["env", *(f"{k}={v}" for k, v in env.items()), node.python, "-c",
                "import time; t = time.time(); time.sleep(0.01); print(t)"]  # fmt: skip
        before = time.time()
        seen = float(node.exec(argv).stdout)
        assert before - 86400 - 1 < seen < time.time() - 86400 + 0.1
    finally:
        clock.reset(node)


def test_faking_the_monotonic_clock_too_moves_it_by_the_offset(cluster: LocalCluster) -> None:
    node = cast(LocalNode, cluster.nodes[0])
    env = clock.faketime_env(node, fake_monotonic=True)
    argv = ["env", *(f"{k}={v}" for k, v in env.items()), node.python, "-c",
            "import time; print(time.monotonic())"]  # fmt: skip
    try:
        # libfaketime 0.9.10 gives a faked CLOCK_MONOTONIC the wall clock's origin, so compare
        # two readings rather than a reading with the true monotonic clock
        clock.set_offset(node, 0)
        t0 = time.monotonic()
        first = float(node.exec(argv).stdout)
        clock.set_offset(node, 1000)
        second = float(node.exec(argv).stdout)
        elapsed = time.monotonic() - t0
        assert 1000 < second - first < 1000 + elapsed
    finally:
        clock.reset(node)
