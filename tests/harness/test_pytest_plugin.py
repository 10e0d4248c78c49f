"""The pytest plugin: `pytest SUITE.yaml` collects one item per test of the suite; `-k` and
`--junitxml` work; the project's own test run collects no suite. Run as a user runs it, in a
subprocess, through the installed entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SUITE = """
suite: mini
tests:
  - name: good
    system: {name: raft}
    cluster: {backend: local, nodes: 3}
    workload: {name: register, concurrency: 3, rate: 40, keys: 1, timeout: 1}
    nemesis: {faults: [partition], quiet: 0.5, interval: 1, shapes: [one], recovery: 1}
    time_limit: 3
  - name: bad
    system: {name: raft, bugs: [stale-read]}
    expect: valid  # a seeded bug expects invalid by default; here its invalid run must fail
    time_limit: 3
"""

# Stands in for the chaos run itself, so the plugin's side (items, outcomes, JUnit) is tested
# without a cluster; the cluster test below runs the real thing.
FAKE_RUN = """
import json
from harness import run as harness_run
from harness.store import RunDir


def fake_run_test(spec, *, results_root, suite_path, **kw):
    valid = not spec.system.bugs
    run = RunDir.create(results_root, spec.name)
    results = {
        "test": spec.name, "seed": spec.seed, "valid": valid,
        "rerun": f"splitbrain run {suite_path} --test {spec.name} --seed {spec.seed}",
        "op_counts": {"invoke": 2, "ok": 2, "fail": 0, "info": 0},
        "checkers": {"linearizable": {"valid": valid, "details": {}, "anomalies": [] if valid else [
            {"name": "nonlinearizable", "explanation": "read 3 by process 1 cannot be linearized.",
             "ops": [], "data": {}}]}},
    }
    run.write_results(results)
    (run.path / "report.html").write_text("<p>report</p>")
    return harness_run.Outcome(spec.name, valid, 0 if valid else 1, run.path, results)


harness_run.run_test = fake_run_test
"""


def pytest_run(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "mini.yaml").write_text(SUITE)
    (tmp_path / "suites" / "ci.yaml").write_text("jobs: {build: {runs-on: linux}}\n")
    return tmp_path


def test_a_suite_file_is_collected_as_one_item_per_test(project):
    r = pytest_run(project, "suites/", "--collect-only", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    items = [line for line in r.stdout.splitlines() if "::" in line]
    assert items == ["suites/mini.yaml::good", "suites/mini.yaml::bad"]  # ci.yaml: not a suite


def test_k_selects_tests_by_name(project):
    r = pytest_run(project, "suites/mini.yaml", "--collect-only", "-q", "-k", "bad")
    items = [line for line in r.stdout.splitlines() if "::" in line]
    assert items == ["suites/mini.yaml::bad"]
    r = pytest_run(project, "suites/mini.yaml", "--collect-only", "-q", "-m", "not cluster")
    assert not [line for line in r.stdout.splitlines() if "::" in line]


def test_a_bad_suite_is_a_collection_error_naming_the_line_and_key(project):
    (project / "suites" / "typo.yaml").write_text("tests:\n  - name: a\n    speed: 3\n")
    r = pytest_run(project, "suites/typo.yaml", "--collect-only", "-q")
    assert r.returncode != 0
    assert "suites/typo.yaml:3 at 'tests[0].speed': unknown key; allowed: checkers" in r.stdout


def test_the_projects_own_test_run_collects_no_suite():
    # `python -m pytest` takes its paths from testpaths: no suite, so no chaos run, even if a
    # suite file is in there
    r = pytest_run(ROOT, "--collect-only", "-q")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    collected = [line for line in r.stdout.splitlines() if "::" in line]
    assert collected and not [line for line in collected if ".yaml::" in line or ".yml::" in line]


def test_the_testpaths_of_a_project_never_collect_suites(project):
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["suites"]\n')
    r = pytest_run(project, "--collect-only", "-q")
    assert "::" not in r.stdout


def test_a_valid_run_passes_an_invalid_one_fails_with_its_verdict_and_junit_has_both(project):
    (project / "conftest.py").write_text(FAKE_RUN)
    r = pytest_run(project, "suites/mini.yaml", "--junitxml=out.xml", "--sb-seed", "5",
                   "--sb-results", "res")  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed, 1 passed" in r.stdout
    assert "INVALID (2 ok, 0 fail, 0 info)" in r.stdout
    assert "nonlinearizable: read 3 by process 1 cannot be linearized." in r.stdout
    assert "run again: splitbrain run suites/mini.yaml --test bad --seed 5" in r.stdout
    suite = ET.parse(project / "out.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"good", "bad"}
    assert cases["good"].find("failure") is None
    failure = cases["bad"].find("failure")
    assert failure is not None and "INVALID" in (failure.get("message") or "")
    props = {p.get("name"): p.get("value") for p in cases["bad"].iter("property")}
    assert props["seed"] == "5"
    assert Path(props["report"]).is_file()
    assert Path(props["run_dir"]).parent == project / "res" / "bad"


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
def test_a_real_suite_runs_under_pytest_with_junit(project):
    r = pytest_run(project, "suites/mini.yaml", "-k", "good", "--junitxml=out.xml",
                   "--sb-results", "res", timeout=240)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    case = ET.parse(project / "out.xml").getroot().find("testsuite/testcase")
    assert case is not None and case.get("name") == "good"
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    report = Path(props["report"])
    assert report.is_file() and report.parent.parent == project / "res" / "good"
    assert "verdict-valid" in report.read_text()


def test_the_suites_junit_names_each_tests_seed_run_dir_and_report(tmp_path):
    from harness.junit import write_junit
    from harness.run import Outcome

    run = tmp_path / "results" / "t" / "20260101T000000Z"
    run.mkdir(parents=True)
    (run / "report.html").write_text("<p>report</p>")
    results = {"seed": 9, "rerun": "splitbrain run s.yaml --test t --seed 9", "checkers": {}}
    write_junit(tmp_path / "s-junit.xml", "s", [Outcome("t", False, 1, run, results)])
    case = ET.parse(tmp_path / "s-junit.xml").getroot().find("testcase")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props == {"seed": "9", "run_dir": str(run), "report": str(run / "report.html"),
                     "verdict": "invalid", "expect": "valid"}  # fmt: skip
    failure = case.find("failure")
    assert failure is not None and f"report: {run / 'report.html'}" in (failure.text or "")
