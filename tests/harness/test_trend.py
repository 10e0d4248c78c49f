"""The history of runs: indexed in SQLite from the run folders (rebuilt when lost), each run
judged against its expectation; newly failing, flaky, trends; prune and clear; the history
section of the serve index, in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import runs_db, trend
from harness.report.browser import chromium, dump_dom
from harness.serve import make_server

COMMIT = "a" * 40


def make_run(
    root: Path,
    test: str,
    stamp: str,
    valid: object,
    *,
    suite: str = "suites/etcd.yaml",
    expect: str | None = None,
    commit: str = COMMIT,
    diff: str | None = None,
    ops: float = 100.0,
    setup: float = 2.0,
) -> Path:
    run = root / test / stamp
    run.mkdir(parents=True)
    spec = {"name": test, "system": {"name": "etcd", "bugs": []}}
    if expect:
        spec["expect"] = expect
    (run / "spec.yaml").write_text(json.dumps(spec))  # JSON is YAML
    anomalies = []
    if valid is False:
        op = {"time": 4_000_000_000, "type": "ok", "f": "read", "process": 1}
        anomalies = [{"name": "stale", "explanation": "a stale read", "ops": [op], "data": {}}]
    results = {
        "test": test,
        "suite": suite,
        "started": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:00Z",
        "valid": valid,
        "seed": 1,
        "rerun": f"splitbrain run {suite} --test {test} --seed 1",
        "ops_per_second": ops,
        "setup_seconds": setup,
        "checkers": {"linearizable": {"valid": valid, "anomalies": anomalies, "details": {}}},
        "code": {"commit": commit, "dirty": diff is not None, "diff": diff},
    }
    (run / "results.json").write_text(json.dumps(results))
    return run


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "results"
    # etcd-serializable: known invalid; invalid, invalid, then valid (newly failing)
    make_run(r, "etcd-serializable", "20260101T010000Z", False, expect="invalid", ops=90)
    make_run(r, "etcd-serializable", "20260102T010000Z", False, expect="invalid", ops=100)
    make_run(r, "etcd-serializable", "20260103T010000Z", True, expect="invalid", ops=110)
    # etcd-linearizable: valid, invalid, valid with the same code: flaky
    make_run(r, "etcd-linearizable", "20260101T020000Z", True)
    make_run(r, "etcd-linearizable", "20260102T020000Z", False)
    make_run(r, "etcd-linearizable", "20260103T020000Z", True)
    # etcd-watch: valid, then invalid after a change of code: not flaky, newly failing
    make_run(r, "etcd-watch", "20260101T030000Z", True, commit="b" * 40)
    make_run(r, "etcd-watch", "20260102T030000Z", False, commit="c" * 40)
    (r / "_invocations" / "20260103T000000Z").mkdir(parents=True)  # not a run
    return r


def histories(root: Path, **kw: object) -> dict[str, runs_db.TestHistory]:
    with runs_db.connect(root) as conn:
        return {h.key: h for h in runs_db.history(conn, **kw)}  # type: ignore[arg-type]


def test_each_tests_runs_are_judged_against_its_expectation_oldest_first(root):
    h = histories(root)
    assert set(h) == {"etcd/etcd-serializable", "etcd/etcd-linearizable", "etcd/etcd-watch"}
    assert [r.status for r in h["etcd/etcd-serializable"].runs] == ["pass", "pass", "fail"]
    assert h["etcd/etcd-serializable"].last.reason.startswith("valid, but invalid was expected")
    assert h["etcd/etcd-serializable"].series("ops_per_second") == [90.0, 100.0, 110.0]
    assert h["etcd/etcd-linearizable"].runs[1].first_evidence_s == 4.0


def test_newly_failing_and_flaky_are_told_apart(root):
    h = histories(root)
    assert h["etcd/etcd-serializable"].newly_failing
    assert h["etcd/etcd-watch"].newly_failing
    assert not h["etcd/etcd-linearizable"].newly_failing  # it passed last
    assert h["etcd/etcd-linearizable"].flaky == [(COMMIT, None)]
    assert h["etcd/etcd-watch"].flaky == []  # it flipped with a change of code
    assert h["etcd/etcd-serializable"].flaky == [(COMMIT, None)]


def test_the_same_commit_with_different_uncommitted_changes_is_not_flaky(tmp_path):
    r = tmp_path / "results"
    make_run(r, "t", "20260101T010000Z", True, diff="d1")
    make_run(r, "t", "20260102T010000Z", False, diff="d2")
    assert histories(r)["etcd/t"].flaky == []


def test_the_index_is_rebuilt_from_the_run_folders_when_lost_and_follows_them(root):
    before = {k: [r.status for r in h.runs] for k, h in histories(root).items()}
    (root / runs_db.DB_NAME).write_bytes(b"not a database at all" * 100)
    assert {k: [r.status for r in h.runs] for k, h in histories(root).items()} == before
    (root / runs_db.DB_NAME).unlink()
    make_run(root, "etcd-watch", "20260103T030000Z", True, commit="c" * 40)
    import shutil

    shutil.rmtree(root / "etcd-linearizable")
    h = histories(root)
    assert "etcd/etcd-linearizable" not in h
    assert [r.status for r in h["etcd/etcd-watch"].runs] == ["pass", "fail", "pass"]


def test_only_the_last_n_runs_of_each_test_are_shown(root):
    assert len(histories(root, runs=2)["etcd/etcd-serializable"].runs) == 2


def test_the_text_history_marks_runs_and_names_the_newly_failing_and_the_flaky(root):
    text = trend.history_text(list(histories(root).values()), 10)
    assert re.search(r"etcd/etcd-serializable\s+\.\.F\s+fail", text)
    assert re.search(r"etcd/etcd-linearizable\s+\.F\.\s+pass", text)
    newly = text.split("newly failing since the previous run:")[1].split("flaky")[0]
    assert "etcd/etcd-serializable: valid, but invalid was expected" in newly
    assert "etcd/etcd-watch" in newly and "etcd-linearizable" not in newly
    flaky = text.split("flaky (valid and invalid with the same code):")[1]
    assert "etcd/etcd-linearizable: valid invalid valid at aaaaaaaaaa" in flaky
    assert "etcd-watch" not in flaky
    assert trend.sparkline([1.0, None, 3.0]) == "▁ █"


def test_prune_keeps_the_newest_and_every_failing_run_not_cleared(root, tmp_path):
    def plan(**kw: object) -> runs_db.Pruning:
        with runs_db.connect(root) as conn:
            return runs_db.prune_plan(conn, root, now=time.time(), **kw)  # type: ignore[arg-type]

    p = plan(keep_runs=1, keep_days=None)
    removed = {str(d.relative_to(root)) for d in p.remove}
    assert removed == {
        "etcd-serializable/20260101T010000Z",
        "etcd-serializable/20260102T010000Z",
        "etcd-linearizable/20260101T020000Z",
        "etcd-watch/20260101T030000Z",
    }  # the failing runs stay: serializable's last, linearizable's second, watch's last
    runs_db.clear_marker(root / "etcd-linearizable" / "20260102T020000Z", "seen: flaky")
    removed = {str(d.relative_to(root)) for d in plan(keep_runs=1, keep_days=None).remove}
    assert "etcd-linearizable/20260102T020000Z" in removed
    assert plan(keep_runs=None, keep_days=100000).remove == []


def test_history_prune_and_clear_from_the_command_line(root):
    def sb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    r = sb("history", str(root), "--json")
    assert r.returncode == 0, r.stderr
    data = {h["key"]: h for h in json.loads(r.stdout)}
    assert data["etcd/etcd-linearizable"]["flaky"] == [{"commit": COMMIT, "diff": None}]
    failing = root / "etcd-linearizable" / "20260102T020000Z"
    assert sb("clear", str(failing), "--note", "fixed in c0ffee").returncode == 0
    assert json.loads((failing / "cleared.json").read_text())["note"] == "fixed in c0ffee"
    r = sb("prune", str(root), "--keep-runs", "1")
    assert r.returncode == 0, r.stderr
    assert not failing.exists()  # cleared, and not the newest
    assert [d.name for d in (root / "etcd-watch").iterdir()] == ["20260102T030000Z"]
    assert [d.name for d in (root / "etcd-serializable").iterdir()] == ["20260103T010000Z"]
    assert "removed 5; kept 3, of which 0 failing and not cleared" in r.stdout


def test_the_serve_index_shows_each_tests_history(root, tmp_path):
    srv = make_server(root, 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/"
        if chromium() is None:
            pytest.skip("chromium is not installed (./setup)")
        dom = dump_dom(url)
    finally:
        srv.shutdown()
        srv.server_close()
    assert '<section id="history">' in dom
    rows = re.findall(r'<tr class="history-row"><td>([^<]+)</td><td class="marks">(.*?)</td>', dom)
    marks = {k: re.findall(r'class="h-([\w-]+)"', m) for k, m in rows}
    assert marks["etcd/etcd-serializable"] == ["pass", "pass", "fail"]
    assert marks["etcd/etcd-linearizable"] == ["pass", "fail", "pass"]
    assert "newly failing" in dom and "flaky" in dom
    assert 'href="/runs/etcd-watch/20260102T030000Z/report.html"' in dom
