"""`splitbrain run` end to end on the local backend: real namespaces, real Raft, real faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.history import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]

SUITE = """
suite: e2e
tests:
  - name: raft-e2e
    system: {name: raft}
    cluster: {backend: local, nodes: 3}
    workload: {name: register, concurrency: 6, rate: 60, keys: 3, ops_per_key: 100, timeout: 1.5}
    nemesis:
      faults: [partition, kill, pause, clock]
      quiet: 0.5
      interval: 2
      shapes: [leader, one]
      kill_targets: [one, primaries]
      pause_targets: [one]
      clock_max_ms: 5000
      recovery: 2
    time_limit: 12
"""


def leftovers(run: Path) -> dict[str, list[str]]:
    """What of this run's cluster still exists: found by its prefix and its directory, so
    that other clusters alive on the machine at the same time do not count."""
    prefix = json.loads((run / "cluster.json").read_text())["prefix"]
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    procs = subprocess.run(["pgrep", "-f", str(run.resolve())], capture_output=True, text=True)
    link_names = [line.split(":")[1].strip() for line in links.splitlines()]
    return {
        "namespaces": [n for n in ns.splitlines() if n.startswith(prefix)],
        "links": [name for name in link_names if name.startswith(prefix)],
        "rules": [r for r in rules.splitlines() if prefix in r],
        "processes": procs.stdout.split(),
    }


NOTHING: dict[str, list[str]] = {"namespaces": [], "links": [], "rules": [], "processes": []}


def start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    (tmp_path / "e2e.yaml").write_text(SUITE)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(tmp_path / "e2e.yaml"),
            "--results",
            str(tmp_path / "results"),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def only_run_dir(tmp_path: Path) -> Path:
    runs = list((tmp_path / "results" / "raft-e2e").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_a_correct_raft_store_is_valid_with_every_fault_applied_and_nothing_left(tmp_path):
    p = start(tmp_path, "--seed", "7")
    out, _ = p.communicate(timeout=240)
    assert p.returncode == 0, out
    assert "raft-e2e: VALID" in out
    run = only_run_dir(tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is True and results["seed"] == 7
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"start-partition", "kill", "pause"} <= applied
    assert applied & {"bump-clock", "strobe-clock"}
    assert results["op_counts"]["ok"] > 100
    history = read_jsonl(run / "history.jsonl")
    assert len(history) == sum(results["op_counts"].values()) + sum(
        1 for op in history if op.process == "nemesis"
    )
    assert (run / "nodes" / "n1" / "raft.log").stat().st_size > 0
    assert (tmp_path / "results" / "e2e-junit.xml").exists()
    assert leftovers(run) == NOTHING


def test_ctrl_c_heals_and_removes_everything_and_keeps_a_checkable_history(tmp_path):
    p = start(tmp_path, "--time-limit", "60")
    deadline = time.monotonic() + 90
    history = None
    while time.monotonic() < deadline:  # wait until the workload is under way
        runs = list((tmp_path / "results" / "raft-e2e").glob("*/history.jsonl"))
        if runs and runs[0].stat().st_size > 20_000:
            history = runs[0]
            break
        time.sleep(0.5)
    assert history is not None, "the run never started its workload"
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=120)
    assert "interrupted" in out
    assert leftovers(history.parent) == NOTHING
    results = json.loads((history.parent / "results.json").read_text())
    assert results["interrupted"] is True
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "check", str(history), "--model", "cas-register"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode in (0, 1, 2), r.stderr
    assert "ops, model cas-register" in r.stdout


def test_a_seeded_stale_read_is_caught_and_explained(tmp_path):
    suite = SUITE.replace("faults: [partition, kill, pause, clock]", "faults: [partition]")
    suite = suite.replace("shapes: [leader, one]", "shapes: [leader]")
    suite = suite.replace("time_limit: 12", "time_limit: 30")
    (tmp_path / "e2e.yaml").write_text(suite)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(tmp_path / "e2e.yaml"),
            "--results",
            str(tmp_path / "results"),
            "--bug",
            "stale-read",
            "--seed",
            "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr  # caught: a seeded-bug run expects invalid
    assert "INVALID" in r.stderr or "INVALID" in r.stdout
    results = json.loads((only_run_dir(tmp_path) / "results.json").read_text())
    lin = results["checkers"]["linearizable"]
    assert lin["valid"] is False and lin["anomalies"]
    assert "read" in lin["anomalies"][0]["explanation"]
