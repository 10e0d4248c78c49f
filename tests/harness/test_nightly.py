"""Nightly runs without a cluster: the plan (suites, folders, shards), expectations and their
judgement, the summary, JUnit, and the command line's refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.config import ConfigError, override, parse_suite
from harness.expect import Expectation, expectation, first_evidence_s, judge
from harness.nightly import (
    Done,
    Planned,
    in_shard,
    parse_shard,
    plan,
    summary_markdown,
    write_summary,
)
from harness.run import Outcome

ROOT = Path(__file__).resolve().parents[2]

SUITE = """
suite: {name}
defaults:
  system: {{name: raft}}
  cluster: {{backend: local, nodes: 3}}
  time_limit: 5
tests:
  - name: {name}-a
  - name: {name}-b
    expect: invalid
  - name: {name}-c
    system: {{name: raft, bugs: [early-ack]}}
"""


def write_suites(d: Path, *names: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for n in names:
        (d / f"{n}.yaml").write_text(SUITE.format(name=n))
    (d / "ci.yaml").write_text("jobs: {build: {runs-on: linux}}\n")  # not a suite
    return d


# -- shards --------------------------------------------------------------------------------------


def test_every_test_is_in_exactly_one_shard_whatever_the_number_of_shards():
    names = [(f"suite{i % 3}", f"test-{i}") for i in range(60)]
    for total in range(1, 6):
        for suite, test in names:
            assert sum(in_shard(suite, test, i, total) for i in range(1, total + 1)) == 1
    # a share, not all in one: each of 3 shards holds some of 60 tests
    assert all(any(in_shard(s, t, i, 3) for s, t in names) for i in (1, 2, 3))


def test_a_tests_shard_depends_on_its_names_not_on_its_position_or_the_other_tests(tmp_path):
    d = write_suites(tmp_path / "suites", "alpha", "beta")
    _, whole = plan([str(d)], shard=(1, 2))
    _, other = plan([str(d)], shard=(2, 2))
    keys = {p.key for p in whole}
    assert keys.isdisjoint(p.key for p in other) and len(whole) + len(other) == 6
    (d / "gamma.yaml").write_text(SUITE.format(name="gamma"))  # a suite added
    _, more = plan([str(d / "beta.yaml"), str(d)], shard=(1, 2))  # and another order
    assert keys == {p.key for p in more if p.suite != "gamma"}


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_a_shard_is_i_of_n_with_i_from_1_to_n(text):
    with pytest.raises(ValueError, match="I/N"):
        parse_shard(text)


def test_a_folder_gives_its_suites_sorted_and_skips_other_yaml(tmp_path):
    d = write_suites(tmp_path / "suites", "zeta", "alpha")
    suites, planned = plan([str(d)])
    assert [s.name for s in suites] == ["alpha", "zeta"]
    assert [p.spec.name for p in planned][:3] == ["alpha-a", "alpha-b", "alpha-c"]


def test_a_test_named_in_no_suite_is_refused_naming_them(tmp_path):
    d = write_suites(tmp_path / "suites", "alpha", "zeta")
    with pytest.raises(ConfigError, match="no test named 'nope'.*they have: alpha-a"):
        plan([str(d)], tests=["nope"])


# -- expectations --------------------------------------------------------------------------------


def test_a_test_expects_valid_unless_it_says_otherwise_or_has_seeded_bugs():
    assert expectation(None) == Expectation(False)
    assert expectation(None, ["early-ack"]) == Expectation(True)
    assert expectation("valid", ["early-ack"]) == Expectation(False)  # said explicitly
    assert expectation("invalid") == Expectation(True)
    assert expectation(["G0", "G1c"]) == Expectation(True, ("G0", "G1c"))
    assert expectation("either", ["early-ack"]) == Expectation(False, either=True)


def test_a_bug_given_on_the_command_line_expects_invalid():
    (t,) = parse_suite("tests:\n  - name: a\n    expect: valid\n").tests
    assert t.expect == "valid"
    assert override(t, bugs=["early-ack"]).expect == "invalid"
    (k,) = parse_suite("tests:\n  - name: a\n    expect: [nonlinearizable]\n").tests
    assert override(k, bugs=["early-ack"]).expect == ("nonlinearizable",)


@pytest.mark.parametrize(
    "expected, valid, kinds, status, code",
    [
        (Expectation(False), True, [], "pass", 0),
        (Expectation(False), False, ["x"], "fail", 1),
        (Expectation(True), False, ["x"], "pass", 0),
        (Expectation(True), True, [], "fail", 1),  # turned valid: the guarded bug is gone
        (Expectation(True, ("G0",)), False, ["G0", "G1c"], "pass", 0),
        (Expectation(True, ("G0", "G2")), False, ["G0"], "fail", 1),  # found something else
        (Expectation(True), "unknown", [], "unknown", 2),
        (Expectation(False), None, [], "setup-failed", 4),
        (Expectation(False, either=True), True, [], "pass", 0),
        (Expectation(False, either=True), False, ["nonlinearizable"], "pass", 0),
        (Expectation(False, either=True), "unknown", [], "unknown", 2),  # never a pass
    ],
)
def test_a_verdict_is_judged_against_its_expectation(expected, valid, kinds, status, code):
    j = judge(expected, valid, kinds)
    assert (j.status, j.exit_code) == (status, code)


def test_a_valid_run_of_a_known_invalid_test_says_why_it_fails():
    j = judge(Expectation(True), True)
    assert "invalid was expected: the bug it guards against may no longer be reachable" in j.reason


@pytest.mark.parametrize("value", ["maybe", "[G0, 3]"])
def test_a_bad_expect_exits_3_with_one_line_naming_file_line_and_what_is_allowed(tmp_path, value):
    (tmp_path / "s.yaml").write_text(f"tests:\n  - name: a\n    expect: {value}\n")
    r = subprocess.run([sys.executable, "-m", "harness.cli", "run", "s.yaml", "--results",
                        str(tmp_path / "r")], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 3
    (line,) = r.stderr.strip().splitlines()
    assert "s.yaml:3 at 'tests[0].expect'" in line
    assert "expected invalid, valid, either or a list of anomaly kinds" in line
    assert not (tmp_path / "r").exists()


# -- summary and JUnit ---------------------------------------------------------------------------


def anomaly(name: str, t_s: float) -> dict:
    op = {"time": int(t_s * 1e9), "type": "ok", "f": "read", "process": 1}
    return {"name": name, "explanation": f"a {name}", "ops": [op], "data": {}}


def done(root: Path, suite: str, test: str, valid, kinds=(), expect=None, bugs=()) -> Done:
    run = root / test / "20260101T000000Z"
    run.mkdir(parents=True)
    (run / "report.html").write_text("<p>")
    results = {
        "valid": valid,
        "seed": 4,
        "rerun": f"splitbrain run suites/{suite}.yaml --test {test} --seed 4",
        "ops_per_second": 120.5,
        "setup_seconds": 2.25,
        "wall_seconds": 10.0,
        "checkers": {"linearizable": {"valid": valid, "details": {}, "anomalies": [
            anomaly(k, 3.0 + i) for i, k in enumerate(kinds)]}},
    }  # fmt: skip
    spec = parse_suite(f"tests:\n  - name: {test}\n").tests[0]
    from dataclasses import replace

    spec = replace(spec, expect=expect, system=replace(spec.system, bugs=tuple(bugs)))
    p = Planned(suite, f"suites/{suite}.yaml", spec)
    outcome = Outcome(test, valid, 0, run, results)
    expected = expectation(expect, bugs)
    return Done(p, outcome, expected, judge(expected, valid, list(kinds)))


@pytest.fixture
def night(tmp_path: Path) -> tuple[Path, list[Done]]:
    root = tmp_path / "results"
    return root, [
        done(root, "etcd", "etcd-serializable", False, ["stale", "stale"], expect="invalid"),
        done(root, "etcd", "etcd-linearizable", True),
        done(root, "redis", "redis-set-failover", True, expect="invalid"),
        done(root, "raft", "raft-register", False, ["nonlinearizable"], bugs=["early-ack"]),
    ]


def test_the_summary_has_each_tests_verdict_expectation_kinds_evidence_and_speeds(night):
    root, ds = night
    folder = root / "_invocations" / "x"
    folder.mkdir(parents=True)
    s = write_summary(folder, ds, root, {"exit_code": 1, "shard": "1/2"})
    assert json.loads((folder / "summary.json").read_text())["counts"] == {
        "pass": 3, "fail": 1, "unknown": 0, "setup-failed": 0}  # fmt: skip
    row = s["tests"][0]
    assert row["verdict"] == "invalid" and row["expect"] == "invalid" and row["status"] == "pass"
    assert row["anomaly_kinds"] == ["stale"] and row["first_evidence_s"] == 3.0
    assert row["ops_per_second"] == 120.5 and row["setup_seconds"] == 2.25
    assert row["run_dir"] == "etcd-serializable/20260101T000000Z"  # relative to the results
    md = (folder / "summary.md").read_text()
    assert "3 passed, 1 failed (exit 1, shard 1/2)" in md
    assert "| ✅ | etcd/etcd-serializable | invalid | invalid | 2 anomalies: stale x2 |" in md
    assert "| ❌ | redis/redis-set-failover | valid | invalid |" in md
    assert "run again: `splitbrain run suites/redis.yaml --test redis-set-failover" in md
    assert md == summary_markdown(s)


def test_one_junit_holds_every_suite_and_judges_each_test_by_its_expectation(night, tmp_path):
    from harness.junit import write_junit_all

    root, ds = night
    out = tmp_path / "ci" / "night.xml"
    write_junit_all(out, ds, results_root=root)
    top = ET.parse(out).getroot()
    assert top.tag == "testsuites" and top.get("tests") == "4" and top.get("failures") == "1"
    assert [s.get("name") for s in top] == ["etcd", "redis", "raft"]
    cases = {c.get("name"): c for c in top.iter("testcase")}
    assert cases["etcd-serializable"].find("failure") is None  # still invalid, as expected
    assert "still invalid, as expected" in (cases["etcd-serializable"].findtext("system-out") or "")
    failure = cases["redis-set-failover"].find("failure")
    assert failure is not None
    assert (failure.get("message") or "").startswith("no anomalies (valid, expected invalid")
    assert "run again: splitbrain run suites/redis.yaml --test redis-set-failover" in (
        failure.text or "")  # fmt: skip
    assert cases["raft-register --bug early-ack"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in cases["etcd-serializable"].iter("property")}
    assert props["run_dir"] == "etcd-serializable/20260101T000000Z"
    assert props["report"] == "etcd-serializable/20260101T000000Z/report.html"


def test_a_failure_message_leads_with_the_anomaly_summary(tmp_path):
    from harness.junit import junit_xml

    root = tmp_path / "r"
    d = done(root, "s", "t", False, ["stale", "nonlinearizable", "stale"])
    case = ET.fromstring(junit_xml("s", [d], results_root=root)).find("testcase")
    assert case is not None
    message = case.find("failure").get("message")  # type: ignore[union-attr]
    assert message.startswith("3 anomalies: ") and "stale x2" in message
    assert "nonlinearizable x1" in message and "expected valid" in message


def test_first_evidence_is_when_the_earliest_anomalys_last_op_completed():
    r = {"checkers": {"a": {"anomalies": [anomaly("x", 7.5), anomaly("y", 2.0)]}}}
    assert first_evidence_s(r) == 2.0
    assert first_evidence_s({"checkers": {}}) is None


# -- the command line ----------------------------------------------------------------------------


def splitbrain(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize(
    "flags, words",
    [
        (("--shard", "3/2"), "--shard: expected I/N with 1 <= I <= N"),
        (("--jobs", "0"), "--jobs: expected an integer >= 1"),
    ],
)
def test_bad_nightly_flags_exit_3_with_one_line(tmp_path, flags, words):
    write_suites(tmp_path / "suites", "alpha")
    r = splitbrain("run", "suites", *flags, "--results", str(tmp_path / "r"), cwd=tmp_path)
    assert r.returncode == 3
    (line,) = r.stderr.strip().splitlines()
    assert words in line
    assert not (tmp_path / "r").exists()


def test_prune_says_what_to_keep_when_told_nothing(tmp_path):
    (tmp_path / "r").mkdir()
    r = splitbrain("prune", "r", cwd=tmp_path)
    assert r.returncode == 3 and "--keep-runs N" in r.stderr
