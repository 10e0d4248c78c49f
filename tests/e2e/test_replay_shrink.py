"""Replay and shrink end to end, as a user runs them: a run of suites/lamport.yaml, its
schedule.json, `splitbrain run --replay` making the same faults to the same nodes, and
`splitbrain shrink` cutting a failing run whose bug needs no fault (``no-max``) down to no
fault at all, in real runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from suite_run import run_suite

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def splitbrain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def nemesis_invokes(run_dir: Path, until: float) -> list[tuple[str, object]]:
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    return [
        (op["f"], op["value"])
        for op in ops
        if op["process"] == "nemesis" and op["type"] == "invoke" and op["time"] / 1e9 < until
    ]


def test_a_replay_makes_the_recorded_faults_to_the_same_nodes(tmp_path: Path) -> None:
    p, results = run_suite(tmp_path, "lamport", "lamport-clocks", 10, "--seed", "5")
    assert p.returncode == 0, p.stdout + p.stderr
    first = next(d for d in (tmp_path / "results" / "lamport-clocks").iterdir() if d.is_dir()
                 and d.name != "latest")  # fmt: skip
    schedule = json.loads((first / "schedule.json").read_text())
    steps = [(s["f"], s["value"]) for s in schedule["steps"]]
    assert [f for f, _ in steps][:2] == ["kill", "start"]
    assert isinstance(steps[0][1], list)  # "one" pinned to the node it killed
    assert schedule["next"] is not None

    r = splitbrain("run", "suites/lamport.yaml", "--replay", str(first),
                   "--results", str(tmp_path / "results"))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    runs = sorted(d for d in first.parent.iterdir() if d.is_dir() and d.name != "latest")
    second = next(d for d in runs if d != first)
    spec = (second / "spec.yaml").read_text()
    assert "schedule:" in spec and "seed: 5" in spec
    assert nemesis_invokes(second, 10) == steps
    rerun = json.loads((second / "results.json").read_text())["rerun"]
    assert rerun.endswith(f"--replay {second}")  # run again: this schedule, not the rotation
    assert json.loads((second / "schedule.json").read_text())["explicit"] is True


def test_shrink_cuts_a_bug_that_needs_no_fault_down_to_no_fault(tmp_path: Path) -> None:
    p, results = run_suite(
        tmp_path, "lamport", "lamport-clocks", 8, "--seed", "2", "--bug", "no-max"
    )
    assert results["valid"] is False, p.stdout + p.stderr
    run_dir = next(d for d in (tmp_path / "results" / "lamport-clocks").iterdir()
                   if d.is_dir() and d.name != "latest")  # fmt: skip
    s = splitbrain("shrink", str(run_dir), "--results", str(tmp_path / "results"),
                   "--runs", "3", "--tries", "1")  # fmt: skip
    assert s.returncode == 0, s.stdout + s.stderr
    folder = next((tmp_path / "results" / "_shrink").iterdir())
    summary = json.loads((folder / "shrink.json").read_text())
    assert summary["to"]["faults"] == [], s.stderr
    assert summary["to"]["failed"] == 1 and summary["runs_used"] <= 3
    assert "replay it: splitbrain run" in s.stderr
    shrunk = (folder / "shrunk.yaml").read_text()
    assert "schedule: []" in shrunk
