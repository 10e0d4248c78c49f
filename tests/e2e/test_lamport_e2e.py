"""`splitbrain run suites/lamport.yaml` end to end on the local backend, shortened to 18 s (one
round of its faults: a kill, a partition, a kill of a minority, a pause): the correct
pattern is valid, and with ``volatile-clock`` a killed node's restart breaks the clock
condition along its own order of events."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from suite_run import run_suite

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def run(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """suites/lamport.yaml for 18 s with seed 3; the process and its results.json."""
    return run_suite(tmp_path, "lamport", "lamport-clocks", 18, "--seed", "3", *extra)


def test_correct_lamport_clocks_are_valid_through_kills_partitions_and_pauses(tmp_path) -> None:
    p, results = run(tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert results["valid"] is True
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"kill", "start-partition", "pause"} <= applied
    lamport = results["checkers"]["lamport"]
    assert lamport["valid"] is True
    details = lamport["details"]
    assert details["messages-delivered"] > 100 and details["restarts-seen"] >= 1


def test_a_clock_that_forgets_itself_on_restart_is_caught_after_a_kill(tmp_path) -> None:
    p, results = run(tmp_path, "--bug", "volatile-clock")
    assert p.returncode == 0, p.stdout + p.stderr  # caught: a seeded-bug run expects invalid
    lamport = results["checkers"]["lamport"]
    assert lamport["valid"] is False
    broken = [
        a
        for a in lamport["anomalies"]
        if a["name"] == "clock-condition" and a["data"]["edge"] == "process-order"
    ]
    assert broken, lamport["anomalies"]
    first, second = broken[0]["data"]["first"], broken[0]["data"]["second"]
    assert second["inc"] > first["inc"] and second["c"] <= first["c"]
    assert "restarted between them" in broken[0]["explanation"]
