"""`splitbrain run suites/hlc.yaml` end to end, shortened: the correct HLC is valid with its
clock faults applied, and ``physical-only`` is caught by the first clock fault."""

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
    """suites/hlc.yaml for 15 s; the process and its results.json."""
    return run_suite(tmp_path, "hlc", "hlc-clocks", 15, *extra)


def test_the_correct_hlc_is_valid_through_clock_skew_a_pause_and_a_partition(
    tmp_path: Path,
) -> None:
    p, results = run(tmp_path, "--seed", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    hlc = results["checkers"]["hlc"]
    assert hlc["valid"] is True, hlc["anomalies"]
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert applied & {"bump-clock", "strobe-clock"} and "pause" in applied
    details = hlc["details"]
    assert details["events"] > 500 and details["nodes"] == 5
    assert details["c-rule-unchecked"] == 0  # the final journal reads saw every event


def test_physical_only_timestamps_go_back_when_a_clock_steps_back(tmp_path: Path) -> None:
    p, results = run(tmp_path, "--seed", "3", "--bug", "physical-only")
    assert p.returncode == 0, p.stdout + p.stderr  # caught: a seeded-bug run expects invalid
    hlc = results["checkers"]["hlc"]
    assert hlc["valid"] is False
    names = {a["name"] for a in hlc["anomalies"]}
    assert "not-monotonic" in names, names
    first = next(a for a in hlc["anomalies"] if a["name"] == "not-monotonic")
    assert "its timestamps went back by" in first["explanation"]
    assert "l = max(l, pt)" in first["explanation"]
