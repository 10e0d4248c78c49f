"""`splitbrain serve`: the list of runs, newest first, coloured by verdict, filterable, each
opening its report (built on demand); looked at in a real headless Chromium."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.report.browser import chromium, dump_dom, read_png, screenshot
from harness.serve import list_runs, make_server

ROOT = Path(__file__).resolve().parents[2]
needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (./setup)"
)

HISTORY = "".join(
    json.dumps(d) + "\n"
    for d in [
        {"index": 0, "time": 1_000_000, "type": "invoke", "process": 0, "f": "read", "value": None},
        {"index": 1, "time": 9_000_000, "type": "ok", "process": 0, "f": "read", "value": 3},
    ]
)


def make_run(
    root: Path,
    test: str,
    stamp: str,
    valid: object,
    suite: str = "suites/smoke.yaml",
    results: bool = True,
) -> Path:
    run = root / test / stamp
    run.mkdir(parents=True)
    (run / "history.jsonl").write_text(HISTORY)
    bugs = "[stale-read]" if valid is False else "[]"
    (run / "spec.yaml").write_text(f"name: {test}\nseed: 1\nsystem: {{name: raft, bugs: {bugs}}}\n")
    if results:
        anomaly = {
            "name": "nonlinearizable",
            "explanation": "read 3 <b>cannot</b> be",
            "ops": [],
            "data": {},
        }
        anomalies = [anomaly] if valid is False else []
        (run / "results.json").write_text(
            json.dumps(
                {
                    "test": test,
                    "suite": suite,
                    "seed": 7,
                    "started": _started(stamp),
                    "valid": valid,
                    "op_counts": {"invoke": 1, "ok": 1, "fail": 0, "info": 0},
                    "checkers": {
                        "linearizable": {"valid": valid, "anomalies": anomalies, "details": {}}
                    },
                    "faults": [
                        {"time_s": 0.5, "f": "start-partition", "type": "ok", "value": "one"}
                    ],
                    "rerun": f"splitbrain run {suite} --test {test} --seed 7",
                    "wall_seconds": 3.0,
                }
            )
        )
    return run


def _started(stamp: str) -> str:
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z"


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    make_run(root, "raft-register", "20260101T100000Z", True)
    make_run(root, "raft-register", "20260101T120000Z", False)
    make_run(root, "queue", "20260101T110000Z", "unknown", suite="suites/queue.yaml")
    old = make_run(root, "queue", "20260101T090000Z", None, results=False)  # interrupted
    past = time.time() - 3600
    import os

    os.utime(old / "history.jsonl", (past, past))
    (root / "latest").symlink_to("raft-register/20260101T120000Z")
    (root / "smoke-junit.xml").write_text("<testsuite/>")
    return root


@pytest.fixture
def server(results: Path) -> Iterator[str]:
    srv = make_server(results, 0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def get(url: str) -> tuple[int, str, dict[str, str]]:
    m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    assert m
    conn = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=30)
    conn.request("GET", m.group(3))
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    return r.status, body, dict(r.getheaders())


def rows(html: str) -> list[tuple[str, str]]:
    """(verdict class, test) of each run row, in page order."""
    return re.findall(r'<tr class="run v-([\w-]+)" data-test="([^"]+)"', html)


def test_runs_are_listed_newest_first_with_their_verdicts(results):
    runs = list_runs(results)
    assert [(r.test, r.started, r.verdict) for r in runs] == [
        ("raft-register", "2026-01-01T12:00:00Z", "invalid"),
        ("queue", "2026-01-01T11:00:00Z", "unknown"),
        ("raft-register", "2026-01-01T10:00:00Z", "valid"),
        ("queue", "2026-01-01T09:00:00Z", "no-verdict"),
    ]
    assert runs[0].suite == "smoke" and runs[0].anomalies == ["nonlinearizable"]
    assert runs[0].faults == ["partition"]


def test_the_index_filters_by_suite_test_and_verdict(server):
    status, html, headers = get(server + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert rows(html) == [
        ("invalid", "raft-register"),
        ("unknown", "queue"),
        ("valid", "raft-register"),
        ("no-verdict", "queue"),
    ]
    assert "showing 4 of 4" in html
    assert rows(get(server + "/?suite=queue")[1]) == [("unknown", "queue")]
    both = [("invalid", "raft-register"), ("valid", "raft-register")]
    assert rows(get(server + "/?test=raft-register")[1]) == both
    assert rows(get(server + "/?suite=smoke&verdict=valid")[1]) == [("valid", "raft-register")]
    assert 'href="/runs/smoke-junit.xml"' in html


def test_a_report_is_built_on_demand_and_the_run_files_are_served(server, results):
    run = results / "raft-register" / "20260101T120000Z"
    assert not (run / "report.html").exists()
    status, html, _ = get(server + "/runs/raft-register/20260101T120000Z/report.html")
    assert status == 200
    assert (run / "report.html").is_file()
    assert 'class="verdict verdict-invalid"' in html
    status, text, headers = get(server + "/runs/raft-register/20260101T120000Z/history.jsonl")
    assert status == 200 and text == HISTORY and headers["Content-Type"].startswith("text/plain")


def test_a_served_report_links_back_and_the_index_names_seeded_bugs(server, results):
    _, page, _ = get(server + "/runs/raft-register/20260101T120000Z/report.html")
    assert '<a style="color:#fff" href="/">&larr; all runs</a>' in page
    assert 'href="/?test=raft-register#history"' in page
    on_disk = (results / "raft-register" / "20260101T120000Z" / "report.html").read_text()
    assert "all runs" not in on_disk  # the file stays self-contained
    _, index, _ = get(server + "/?test=raft-register")
    assert "<th>seeded bug</th>" in index and "<td>stale-read</td>" in index
    history = index[index.find('id="history"') :]
    assert "raft-register" in history and "queue" not in history  # that test's history alone


def test_nothing_outside_the_results_directory_is_served(server, results):
    (results.parent / "secret.txt").write_text("secret")
    m = re.match(r"http://([^:/]+):(\d+)", server)
    assert m
    for path in ("/runs/../secret.txt", "/runs/%2e%2e/secret.txt", "/runs/..%2fsecret.txt"):
        conn = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=10)
        conn.request("GET", path)
        r = conn.getresponse()
        assert r.status in (403, 404), path
        assert b"secret" != r.read().strip()


def test_it_listens_on_loopback_only(results):
    srv = make_server(results, 0)
    try:
        assert srv.server_address[0] == "127.0.0.1"
    finally:
        srv.server_close()


def test_serve_from_the_command_line_prints_its_address_and_answers(results):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "harness.cli", "serve", str(results), "--port", str(port)]
    p = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.startswith(f"serving {results.resolve()} at http://127.0.0.1:{port}/")
        assert get(f"http://127.0.0.1:{port}/")[0] == 200
    finally:
        p.terminate()
        p.wait(timeout=10)


@needs_chromium
def test_in_chromium_runs_are_coloured_by_verdict_and_a_report_opens(server, tmp_path):
    png = read_png(screenshot(server + "/", tmp_path / "index.png", size=(1000, 330)))
    red, green, amber = (0xC6, 0x28, 0x28), (0x2E, 0x7D, 0x32), (0xB2, 0x6A, 0x00)
    pills = png.crop(0, 120, 200, 210)  # the verdict column of the rows
    for colour in (red, green, amber):
        assert pills.count(colour, 8) > 300, colour
    # the rows come in the order of the list: red (newest) above amber above green
    ys = {
        c: min(
            y
            for y, row in enumerate(pills.rows)
            if any(all(abs(a - b) <= 8 for a, b in zip(px, c, strict=True)) for px in row)
        )
        for c in (red, amber, green)
    }
    assert ys[red] < ys[amber] < ys[green]
    # following the first row's link opens its report, drawn by its script
    html = get(server + "/")[1]
    href = re.search(r'<a class="pill" href="([^"]+)"', html)
    assert href
    dom = dump_dom(server + href.group(1))
    assert 'class="verdict verdict-invalid"' in dom
    assert re.search(r'<body[^>]*data-rendered="yes"', dom)
    filtered = dump_dom(server + "/?verdict=valid")
    assert rows(filtered) == [("valid", "raft-register")]
