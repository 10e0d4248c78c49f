"""`splitbrain run suites/clocksync.yaml` end to end, shortened: the correct pattern is valid
through a drift, a delay on every node (NFQUEUE on this kernel) and a clock strobe or bump,
and ``ignore-rtt`` is caught by the delay."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from suite_run import run_suite

from nemesis.delay import host_support

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
    pytest.mark.skipif(
        all(ok is False for ok, _ in host_support().values()),
        reason="this kernel can delay packets neither with netem nor with NFQUEUE",
    ),
]


def run(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """suites/clocksync.yaml for 16 s; the process and its results.json."""
    return run_suite(tmp_path, "clocksync", "clocksync-clocks", 16, *extra)


def test_the_correct_pattern_is_valid_through_drift_delay_and_clock_faults(
    tmp_path: Path,
) -> None:
    p, results = run(tmp_path, "--seed", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    cs = results["checkers"]["clocksync"]
    assert cs["valid"] is True, cs["anomalies"]
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"start-drift", "start-delay", "stop-delay"} <= applied
    assert applied & {"bump-clock", "strobe-clock"}
    delay = next(f for f in results["faults"] if f["f"] == "start-delay" and f["type"] == "ok")
    assert set(delay["value"]["method"].values()) <= {"netem", "nfqueue"}
    details = cs["details"]
    assert details["synced"] > 1000 and len(details["nodes"]) == 5
    assert details["recoveries"]["judged"] > 0
    assert details["recoveries"]["recovered"] == details["recoveries"]["judged"]


def test_ignore_rtt_is_caught_under_the_delay(tmp_path: Path) -> None:
    p, results = run(tmp_path, "--seed", "3", "--bug", "ignore-rtt")
    assert p.returncode == 0, p.stdout + p.stderr  # caught: a seeded-bug run expects invalid
    cs = results["checkers"]["clocksync"]
    assert cs["valid"] is False
    first = cs["anomalies"][0]
    assert first["name"] == "bound-violated"
    assert "delay on n1, n2, n3, n4, n5 (100 ± 2 ms)" in first["explanation"]
    assert "half the round trip" in first["explanation"]
    assert first["data"]["error_ms"] < -50  # behind by about the reply's delay
