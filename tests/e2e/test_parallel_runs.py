"""`splitbrain run --jobs 2` on the local backend: a correct lock service and one with a
seeded bug run side by side, each on its own cluster, and neither disturbs the other's verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]

# suites/lock.yaml's lock-fencing, shorter; term-token is caught within a second (bench/README)
SUITE = """
suite: side-by-side
defaults:
  system: {name: lock, options: {ttl_ms: 1000}}
  cluster: {backend: local, nodes: 5}
  workload:
    name: lock
    concurrency: 10
    rate: 120
    keys: 4
    ops_per_key: 40
    timeout: 1.0
    options: {writes: 3, reads: 0.15}
  nemesis: {faults: [pause, partition], quiet: 1, interval: 3, shapes: [leader],
            pause_targets: [one], recovery: 2}
  time_limit: 12
  seed: 3
tests:
  - name: correct
  - name: seeded
    system: {name: lock, bugs: [term-token], options: {ttl_ms: 1000}}
"""


def test_a_valid_and_a_seeded_bug_run_side_by_side_keep_their_own_verdicts(tmp_path):
    (tmp_path / "s.yaml").write_text(SUITE)
    results = tmp_path / "results"
    p = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(tmp_path / "s.yaml"), "--jobs", "2",
         "--results", str(results), "--junit", str(tmp_path / "night.xml")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = p.stdout + p.stderr
    (summary_file,) = results.glob("_invocations/*/summary.json")
    summary = json.loads(summary_file.read_text())
    rows = {r["test"]: r for r in summary["tests"]}
    assert rows["correct"]["verdict"] == "valid", out
    assert rows["seeded"]["verdict"] == "invalid", out
    assert rows["seeded"]["expect"] == "invalid" and rows["seeded"]["status"] == "pass"
    assert p.returncode == 0 and summary["exit_code"] == 0, out
    assert "2 tests: 2 passed (exit 0)" in p.stdout
    runs = {t: results / rows[t]["run_dir"] for t in rows}
    # side by side: each started before the other ended
    spans = {
        t: ((d / "spec.yaml").stat().st_mtime, (d / "results.json").stat().st_mtime)
        for t, d in runs.items()
    }
    assert spans["correct"][0] < spans["seeded"][1] and spans["seeded"][0] < spans["correct"][1]
    # each on a cluster of its own, and each log its own
    prefixes = {json.loads((d / "cluster.json").read_text())["prefix"] for d in runs.values()}
    assert len(prefixes) == 2
    for test, d in runs.items():
        log = (d / "harness.log").read_text()
        other = "seeded" if test == "correct" else "correct"
        assert f"test {test}," in log and f"test {other}," not in log
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in ns.split() if any(n.startswith(x) for x in prefixes)]
    suite = ET.parse(tmp_path / "night.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("tests") == "2"
