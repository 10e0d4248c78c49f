"""The pytest plugin with expectations and with pytest-xdist (``pytest suites/ -n 2``), run as a
user runs it, in a subprocess; the chaos run is stood in for by a fake that writes a real run
folder (the cluster runs are tests/e2e's)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SUITE = """
suite: guard
defaults:
  system: {name: raft}
  cluster: {backend: local, nodes: 3}
  time_limit: 3
tests:
  - name: correct
  - name: still-buggy
    system: {name: raft, bugs: [stale-read]}
  - name: known-invalid-turned-valid
    expect: invalid
  - name: kinds-found
    system: {name: raft, bugs: [stale-read]}
    expect: [nonlinearizable]
"""

# valid unless the test has a seeded bug; the anomaly is a nonlinearizable read
FAKE_RUN = """
import os
from harness import run as harness_run
from harness.store import RunDir


def fake_run_test(spec, *, results_root, suite_path, **kw):
    valid = not spec.system.bugs
    run = RunDir.create(results_root, spec.name)
    results = {
        "test": spec.name, "seed": spec.seed, "valid": valid, "pid": os.getpid(),
        "rerun": f"splitbrain run {suite_path} --test {spec.name}",
        "op_counts": {"invoke": 2, "ok": 2, "fail": 0, "info": 0},
        "checkers": {"linearizable": {"valid": valid, "details": {}, "anomalies": [] if valid else [
            {"name": "nonlinearizable", "explanation": "read 3 cannot be linearized.",
             "ops": [], "data": {}}]}},
    }
    run.write_results(results)
    return harness_run.Outcome(spec.name, valid, 0 if valid else 1, run.path, results)


harness_run.run_test = fake_run_test
"""


def pytest_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "guard.yaml").write_text(SUITE)
    (tmp_path / "conftest.py").write_text(FAKE_RUN)
    return tmp_path


def _cases(xml: Path) -> dict[str, ET.Element]:
    return {c.get("name") or "": c for c in ET.parse(xml).getroot().iter("testcase")}


def test_a_known_invalid_test_still_invalid_passes_and_one_turned_valid_fails(project):
    r = pytest_run(project, "suites/guard.yaml", "--junitxml=out.xml", "--sb-results", "res")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed, 3 passed" in r.stdout
    assert "expected invalid: valid, but invalid was expected" in r.stdout
    cases = _cases(project / "out.xml")
    assert cases["still-buggy"].find("failure") is None
    assert cases["kinds-found"].find("failure") is None
    assert cases["known-invalid-turned-valid"].find("failure") is not None
    props = {p.get("name"): p.get("value") for p in cases["still-buggy"].iter("property")}
    assert props["verdict"] == "invalid" and props["expect"] == "invalid"


def test_the_suites_run_side_by_side_under_pytest_xdist(project):
    pytest.importorskip("xdist")
    r = pytest_run(project, "suites/", "-n", "2", "--junitxml=out.xml", "--sb-results", "res")
    assert "1 failed, 3 passed" in r.stdout, r.stdout + r.stderr
    assert set(_cases(project / "out.xml")) == {
        "correct", "still-buggy", "known-invalid-turned-valid", "kinds-found"
    }  # fmt: skip
    runs = [p for p in (project / "res").glob("*/*/results.json")]
    assert len(runs) == 4
    pids = {__import__("json").loads(p.read_text())["pid"] for p in runs}
    assert len(pids) == 2  # two xdist workers ran them
