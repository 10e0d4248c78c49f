"""`splitbrain run suites/vclock.yaml` end to end on the local backend, shortened to 18 s (most
of one round of its faults: a partition, a clock fault, a kill, a second partition): the
correct store is valid, and with ``bad-merge`` a replica that merged its context with the
minimum takes back a version another one had replaced."""

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
    """suites/vclock.yaml for 18 s with seed 3; the process and its results.json."""
    return run_suite(tmp_path, "vclock", "vclock-siblings", 18, "--seed", "3", *extra)


def test_the_correct_store_is_valid_through_partitions_clock_faults_and_a_kill(tmp_path) -> None:
    p, results = run(tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert results["valid"] is True
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"start-partition", "kill"} <= applied
    assert applied & {"bump-clock", "strobe-clock"}
    vclock = results["checkers"]["vclock"]
    assert vclock["valid"] is True
    details = vclock["details"]
    assert details["acknowledged-writes"] > 200 and details["final-reads"] == 10
    assert details["causal"]["valid"] is True


def test_a_merge_that_takes_the_minimum_of_the_contexts_is_caught(tmp_path) -> None:
    p, results = run(tmp_path, "--bug", "bad-merge")
    assert p.returncode == 0, p.stdout + p.stderr  # caught: a seeded-bug run expects invalid
    vclock = results["checkers"]["vclock"]
    assert vclock["valid"] is False
    kinds = {a["name"] for a in vclock["anomalies"]}
    assert "dominated-sibling" in kinds, vclock["anomalies"]
    sibling = next(a for a in vclock["anomalies"] if a["name"] == "dominated-sibling")
    assert "should have been dropped" in sibling["explanation"]
