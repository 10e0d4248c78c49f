"""report.html: built from a run directory alone, read in a real headless Chromium.

Synthetic runs are histories written here and checked by the real checkers; the cluster tests
build the valid and the invalid run from real chaos runs (a Raft store, with and without its
stale-read bug) and open what ``splitbrain run`` wrote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from harness.history import Op
from harness.registry import FaultInfo
from harness.report import RunData, build_report, fault_kinds, render
from harness.report._anomaly import anomaly_section
from harness.report._model import UNKNOWN_COLOR as UNKNOWN
from harness.report._model import fault_bands, intervals, page_data
from harness.report.browser import chromium, dump_dom, read_png, screenshot
from harness.run import check_history

ROOT = Path(__file__).resolve().parents[2]
ZERO_MS = 1_767_225_601_000  # 2026-01-01T00:00:01.000Z: the synthetic runs' time zero

# Each would leave a mark if it ran: a title, an attribute on <body>, an element.
XSS_TITLE = "<script>document.title='pwned'</script>"
XSS_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
XSS_CLOSE = "</script><script>document.body.setAttribute('data-pwned','json')</script>"
XSS = (XSS_TITLE, XSS_IMG, XSS_CLOSE)

needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (./setup)"
)


# -- synthetic runs ------------------------------------------------------------------------------


def write_history(path: Path, stale: bool) -> list[dict]:
    """Four processes writing and reading key "x" one after another, values including markup,
    a partition from 1 s to 2 s, an ``info`` whose error is markup, and (``stale``) a last
    read that returns a value overwritten long before: not linearizable."""
    lines: list[dict] = []
    t = 10_000_000

    def add(type_: str, process: int | str, f: str, value: object, **kw: object) -> None:
        lines.append(
            {
                "index": len(lines),
                "time": t,
                "type": type_,
                "process": process,
                "f": f,
                "value": value,
                **kw,
            }
        )

    values = [1, XSS_TITLE, 2, XSS_IMG, XSS_CLOSE]
    current: object = None
    procs = [0, 1, 2, 3]
    for n in range(60):
        w = n % 4
        p = procs[w]
        node = f"n{w % 3 + 1}" if n != 7 else XSS_TITLE
        if t > 1_000_000_000 and not any(d["f"] == "start-partition" for d in lines):
            add("invoke", "nemesis", "start-partition", "leader")
            t += 20_000_000
            add("ok", "nemesis", "start-partition", {"isolated": [XSS_IMG]})
        if t > 2_000_000_000 and not any(d["f"] == "stop-partition" for d in lines):
            add("invoke", "nemesis", "stop-partition", None)
            t += 20_000_000
            add("ok", "nemesis", "stop-partition", "healed")
        if n % 3 == 0:
            v = values[(n // 3) % len(values)]
            add("invoke", p, "write", ["x", v], node=node)
            t += 15_000_000
            if n == 21:  # outcome unknown: it writes the value already there, so either way
                add("info", p, "write", ["x", current], node=node, error=XSS_IMG)
                procs[w] = p + 4
            else:
                add("ok", p, "write", ["x", v], node=node)
                current = v
        else:
            add("invoke", p, "read", ["x", None], node=node)
            t += 15_000_000
            add("ok", p, "read", ["x", current], node=node)
        t += 40_000_000
    if stale:
        add("invoke", procs[0], "read", ["x", None], node="n1")
        t += 15_000_000
        add("ok", procs[0], "read", ["x", 1], node="n1")  # 1 was overwritten long ago
    with open(path, "w") as fh:
        for d in lines:
            if d["f"] == "write" and d["type"] == "info":
                d["value"] = ["x", d["value"][1]]
            fh.write(json.dumps(d) + "\n")
    return lines


def synthetic_run(root: Path, name: str, *, stale: bool) -> Path:
    """A run directory as ``run_test`` leaves it, checked by the real checkers."""
    run = root / name / "20260101T000000Z"
    (run / "nodes" / "n1").mkdir(parents=True)
    (run / "nodes" / "n1" / "raft.log").write_text("n1 started\n")
    (run / "nodes" / "n2").mkdir()
    (run / "nodes" / "n2" / "raft.log").write_text("n2 started\n")
    (run / "harness.log").write_text("log\n")
    (run / "spec.yaml").write_text(f"name: {name}\nseed: 42\ntime_limit: 3\n")
    lines = write_history(run / "history.jsonl", stale)
    ops = [Op.from_dict(d) for d in lines]
    zero = ZERO_MS
    checked = check_history(
        ops, ["linearizable", "stats"], run, {"test": name, "time_zero_ms": zero}
    )
    results = {
        "test": name,
        "suite": "suites/synthetic.yaml",
        "seed": 42,
        "rerun": f"splitbrain run suites/synthetic.yaml --test {name} --seed 42",
        "started": "2026-01-01T00:00:00Z",
        "time_zero": {"utc": "2026-01-01T00:00:01.000Z", "epoch_ms": zero},
        "wall_seconds": 5.0,
        "interrupted": False,
        **checked,
        "faults": [
            {
                "time_s": round(d["time"] / 1e9, 3),
                "f": d["f"],
                "type": d["type"],
                "value": d["value"],
            }
            for d in lines
            if d["process"] == "nemesis" and d["type"] != "invoke"
        ],
    }
    results["exit_code"] = {True: 0, False: 1}.get(results["valid"], 2)
    (run / "results.json").write_text(json.dumps(results, indent=2))
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    out = {
        "valid": synthetic_run(root, "calm", stale=False),
        "invalid": synthetic_run(root, "stale", stale=True),
    }
    assert json.loads((out["valid"] / "results.json").read_text())["valid"] is True
    assert json.loads((out["invalid"] / "results.json").read_text())["valid"] is False
    for run in out.values():
        build_report(run)
    return out


def page(run: Path) -> str:
    return (run / "report.html").read_text()


def verdict_of(html: str) -> tuple[str, str]:
    m = re.search(
        r'<header class="verdict verdict-(\w+)".*?<p class="sentence">(.*?)</p>', html, re.S
    )
    assert m, "the page has no verdict header"
    return m.group(1), m.group(2)


# -- the page, as written ------------------------------------------------------------------------


def test_an_invalid_run_says_so_first_in_one_sentence_naming_the_anomaly(runs):
    html = page(runs["invalid"])
    klass, sentence = verdict_of(html)
    assert klass == "invalid"
    assert sentence == "Invalid: linearizable found 1 anomaly: nonlinearizable x1."
    # then the worst example: when (relative and wall clock), the fault that had just ended,
    # and the plain sentence
    worst = re.search(r'<p class="worst" id="worst">(.*?)</p>', html, re.S)
    assert worst, "no worst example under the headline"
    text = re.sub(r"<[^>]+>", "", worst.group(1))
    assert re.search(r"nonlinearizable at 3\.\d+-3\.\d+ s \(00:00:04\.\d{3}Z-", text), text
    assert "after partition leader healed" in text
    assert "n1 (process 0) read 1 for key &#x27;x&#x27; at 3.365 s" in text
    assert text.endswith("on n2 had completed at 3.200 s (00:00:04.200Z): a stale read.")
    # the verdict comes before everything else in the body
    assert html.index('class="verdict') < html.index('id="checkers"') < html.index('id="anomalies"')


def test_a_valid_run_says_which_checkers_passed_over_how_many_ops_and_faults(runs):
    klass, sentence = verdict_of(page(runs["valid"]))
    assert klass == "valid"
    assert sentence.startswith(
        "Valid: linearizable and stats found no anomaly in 60 operations "
        "(59 ok, 0 fail, 1 info) over 3.3 s"
    )
    assert "with partition faults injected" in sentence


def test_each_checker_has_its_result(runs):
    html = page(runs["invalid"])
    table = html[html.index('id="checkers"') : html.index('id="anomalies"')]
    assert re.search(r"<b>linearizable</b></td><td class=\"v-false\">invalid", table)
    assert re.search(r"<b>stats</b></td><td class=\"v-true\">valid", table)


def test_the_anomaly_has_its_explanation_sub_history_and_the_checkers_drawing(runs):
    html = page(runs["invalid"])
    results = json.loads((runs["invalid"] / "results.json").read_text())
    anomaly = results["checkers"]["linearizable"]["anomalies"][0]
    failing = anomaly["data"]["op"]["index"]
    section = html[html.index('id="anomaly-0"') : html.index('id="timeline"')]
    assert "cannot be linearized" in section
    # the sub-history: the failing read, marked, and the writes before it that it contradicts
    row = re.search(rf'<tr class="role-cannot"><td>{failing}–\d+</td>', section)
    assert row, "the failing op is not marked in the sub-history"
    assert section.count('<tr class="role-linearized">') >= 1
    assert '<svg class="subhistory"' in section
    # the checker's own drawing, embedded sandboxed, and linked
    assert '<iframe class="drawing" sandbox="allow-scripts"' in section
    assert 'href="linearizable.html"' in section


def test_faults_spec_seed_rerun_and_every_node_log_are_there(runs):
    run = runs["valid"]
    html = page(run)
    faults = html[html.index('id="faults"') : html.index('id="run"')]
    assert re.search(r"<td>partition</td><td class=\"num\">1\.\d+ s</td>", faults)
    assert "stop-partition" in faults
    facts = html[html.index('id="run"') :]
    assert "splitbrain run suites/synthetic.yaml --test calm --seed 42" in facts
    assert "<td>seed</td><td>42</td>" in facts
    assert "time_limit: 3" in facts  # spec.yaml, as written
    links = re.findall(r'href="(nodes/[^"]+)"', facts)
    assert sorted(links) == ["nodes/n1/raft.log", "nodes/n2/raft.log"]
    assert all((run / link).is_file() for link in links)


def test_no_value_from_the_system_under_test_reaches_the_page_unescaped(runs):
    for run in runs.values():
        html = page(run)
        for bad in XSS:
            assert bad not in html
        assert "\\u003c/script\\u003e" in html  # the embedded JSON, escaped
    # shown as text in the anomaly's sub-history
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page(runs["invalid"])


def test_the_page_loads_nothing_from_the_network(runs):
    html = page(runs["invalid"])
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "default-src 'none'" in html  # and the browser is told so


def test_fault_bands_run_from_the_start_invocation_to_the_heal_completion():
    def op(i, t, type_, f, value=None):
        return {"index": i, "time": t, "type": type_, "process": "nemesis", "f": f, "value": value}

    ivs = intervals([
        op(0, 10, "invoke", "kill", "one"), op(1, 20, "ok", "kill", ["n1"]),
        op(2, 50, "invoke", "start"), op(3, 60, "ok", "start", ["n1"]),
        op(4, 70, "invoke", "pause", "one"), op(5, 75, "fail", "pause", None),  # not in force
        op(6, 80, "invoke", "start-partition", "halves"), op(7, 90, "info", "start-partition"),
    ])  # fmt: skip
    bands = fault_bands(ivs, t_end=200)
    assert [(b.kind, b.start, b.end) for b in bands] == [("kill", 10, 60), ("partition", 80, None)]


def nemesis_op(i, t, type_, f, value=None):
    return {"index": i, "time": t, "type": type_, "process": "nemesis", "f": f, "value": value}


def test_loss_ends_at_its_own_heal_and_in_an_older_history_at_stop_partition():
    op = nemesis_op
    new = [
        op(0, 10, "invoke", "start-loss"), op(1, 20, "ok", "start-loss"),
        op(2, 30, "invoke", "stop-partition"), op(3, 40, "ok", "stop-partition", "healed"),
        op(4, 50, "invoke", "stop-loss"), op(5, 60, "ok", "stop-loss", "healed"),
    ]  # fmt: skip
    bands = fault_bands(intervals(new), t_end=100)
    assert [(b.kind, b.end, b.healed_by["f"]) for b in bands] == [("loss", 60, "stop-loss")]
    old = new[:4]  # before loss had a heal of its own, stop-partition healed it
    bands = fault_bands(intervals(old), t_end=100)
    assert [(b.kind, b.end, b.healed_by["f"]) for b in bands] == [("loss", 40, "stop-partition")]


def test_each_band_has_its_kinds_colour_in_the_legend_the_data_and_the_sub_history():
    op = nemesis_op
    kinds = fault_kinds(
        [FaultInfo("flood", "", print, ("start-flood",), "stop-flood", color="#123456")]
    )
    history = [
        op(0, 10, "invoke", "start-flood", 9), op(1, 20, "ok", "start-flood", 9),
        {"index": 2, "time": 30, "type": "invoke", "process": 0, "f": "read", "value": None},
        {"index": 3, "time": 40, "type": "ok", "process": 0, "f": "read", "value": 1},
        op(4, 50, "invoke", "start-mystery"), op(5, 60, "ok", "start-mystery"),
    ]  # fmt: skip
    ivs = intervals(history)
    bands = fault_bands(ivs, 100, kinds)
    assert [(b.kind, b.color) for b in bands] == [("flood", "#123456"), ("mystery", UNKNOWN)]
    data = page_data(ivs, bands, 100, [])
    assert [(b["color"], b["ink"]) for b in data["bands"]] == [
        ("#123456", "#0e2944"),
        (UNKNOWN, "#666666"),
    ]
    run = RunData(Path("t/1"), history, None, None, None)
    assert '<span class="sw" style="background:#123456"></span>flood' in render(run, kinds)
    anomaly = {"name": "x", "explanation": "y", "ops": [2, 3]}
    section = anomaly_section(0, "c", anomaly, [(1, "involved")], ivs, bands)
    assert 'class="band band-flood" style="fill:#123456"' in section


def test_an_interrupted_run_gets_a_report_from_the_history_alone(runs, tmp_path):
    run = tmp_path / "stale" / "20260101T000000Z"
    shutil.copytree(runs["invalid"], run)
    (run / "results.json").unlink()
    (run / "report.html").unlink()
    hist = run / "history.jsonl"
    text = hist.read_text()
    hist.write_text(text + text.splitlines()[5][:23])  # a last line torn mid-write
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(run)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(run / "report.html")
    html = page(run)
    klass, sentence = verdict_of(html)
    assert klass == "none"
    assert sentence == (
        "No verdict: the run stopped before its history was checked; "
        "61 operations were recorded over 3.4 s."
    )
    assert "was cut off mid-write" in html
    assert "results.json is missing" in html


def test_a_results_file_cut_short_is_ignored_not_fatal(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["valid"], run)
    res = run / "results.json"
    res.write_text(res.read_text()[:200])
    build_report(run)
    html = page(run)
    assert verdict_of(html)[0] == "none"
    assert "results.json could not be read" in html


def test_a_run_that_could_not_be_set_up_says_why(tmp_path):
    run = tmp_path / "t" / "20260101T000000Z"
    run.mkdir(parents=True)
    (run / "results.json").write_text(
        json.dumps(
            {
                "test": "t",
                "valid": None,
                "exit_code": 4,
                "error": "SetupError: node n2 <b>refused</b>",
                "rerun": "splitbrain run s.yaml --test t --seed 1",
            }
        )
    )
    build_report(run)
    klass, sentence = verdict_of(page(run))
    assert klass == "setup"
    assert (
        sentence
        == "Not run: the test could not be set up (SetupError: node n2 &lt;b&gt;refused&lt;/b&gt;)."
    )


def test_report_of_a_directory_that_is_not_a_run_exits_3(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 3
    assert "not a run directory" in r.stderr
    assert not (tmp_path / "report.html").exists()


def test_a_report_that_cannot_be_built_is_logged_and_never_raises(tmp_path, caplog):
    from harness.run import _write_report

    _write_report(tmp_path / "gone")
    assert "could not build report.html" in caplog.text


def test_the_progress_line_names_the_faults_of_its_interval_not_one_instant(tmp_path):
    from harness.history import Journal
    from harness.run import _progress, _Seen
    from harness.runner import RunStats

    stats = RunStats()
    stats.invocations, stats.completions = 500, {"ok": 400, "fail": 50, "info": 5}
    runner = types.SimpleNamespace(stats=stats, now=lambda: 10.0)
    spec = types.SimpleNamespace(name="t", time_limit=30)
    journal, seen = Journal(tmp_path / "h.jsonl", lambda: 0), _Seen()
    for type_, f, value in (
        ("invoke", "start-partition", "leader"), ("ok", "start-partition", {"shape": "leader"}),
        ("invoke", "kill", "majority"), ("ok", "kill", ["n1", "n2", "n3"]),
        ("invoke", "stop-partition", None), ("ok", "stop-partition", "healed"),
    ):  # fmt: skip
        journal.append(Op(type_, f, value, "nemesis"))
    line = _progress(runner, spec, journal, seen)  # type: ignore[arg-type]
    assert line == (
        "t:    10s (20s left)      50 ops/s  ok 400 fail 50 info 5  "
        "faults: partition leader (healed), kill majority"
    )  # a partition that began and ended between two lines is still named
    assert _progress(runner, spec, journal, seen).endswith("faults: kill majority")  # type: ignore[arg-type]
    journal.append(Op("invoke", "start", None, "nemesis"))
    journal.append(Op("ok", "start", ["n1", "n2", "n3"], "nemesis"))
    assert _progress(runner, spec, journal, seen).endswith("faults: kill majority (healed)")  # type: ignore[arg-type]
    assert _progress(runner, spec, journal, seen).endswith("faults: none")  # type: ignore[arg-type]
    journal.close()


# -- in the browser ------------------------------------------------------------------------------


def open_in_chromium(report: Path) -> str:
    """The DOM once the page's scripts ran; checks first that no injected script ran, then
    that the page's own script drew everything."""
    dom = dump_dom(
        report.as_uri()
        if isinstance(report, Path) and "#" not in str(report)
        else "file://" + str(report)
    )
    assert_nothing_injected_ran(dom)
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    assert 'data-rendered="yes"' in body.group(0), "the page's script did not finish drawing"
    return dom


def assert_nothing_injected_ran(dom: str) -> None:
    body = re.search(r"<body[^>]*>", dom)
    assert body and "pwned" not in body.group(0)
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title and "pwned" not in title.group(1)
    assert '<img src="x"' not in dom


def invocations(run: Path) -> int:
    return sum(
        1
        for line in (run / "history.jsonl").read_text().splitlines()
        if '"type": "invoke"' in line or '"type":"invoke"' in line
    )


@needs_chromium
def test_in_chromium_the_invalid_report_shows_verdict_timeline_anomaly_and_runs_no_injection(runs):
    run = runs["invalid"]
    dom = open_in_chromium(run / "report.html")
    assert_nothing_injected_ran(dom)
    assert 'class="verdict verdict-invalid"' in dom
    tl = re.search(r'<canvas class="timeline" id="sb-timeline"[^>]*>', dom)
    assert tl, "no timeline"
    drawn = int(re.search(r'data-drawn="(\d+)"', tl.group(0)).group(1))
    lanes = int(re.search(r'data-lanes="(\d+)"', tl.group(0)).group(1))
    assert drawn == invocations(run)  # every operation, in the whole-run view
    assert lanes == 5  # the nemesis and four workers (the one that took a new process included)
    assert re.search(r'<canvas aria-label="latency of read"[^>]* data-points="[1-9]\d*"', dom)
    assert '<article class="anomaly" id="anomaly-0">' in dom
    assert "cannot be linearized" in dom


@needs_chromium
def test_a_window_of_the_timeline_draws_exactly_the_operations_in_it(runs):
    run = runs["invalid"]
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    t0, t1 = 1_000_000, 2_000_000  # microseconds
    expected = sum(
        1
        for iv in intervals(ops)
        if iv.start // 1000 <= t1 and (iv.done or iv.inv)["time"] // 1000 >= t0
    )
    assert 0 < expected < invocations(run)
    dom = open_in_chromium(Path(f"{run / 'report.html'}#t=1.000-2.000"))
    tl = re.search(r'<canvas class="timeline" id="sb-timeline"[^>]*data-drawn="(\d+)"', dom)
    assert tl and int(tl.group(1)) == expected
    assert re.search(rf"1\.00 s – 2\.00 s of 3\.\d\d s · {expected} operations in view", dom)


# Appended to a copy of a report: clicks the controls and the timeline as a person would, and
# writes what the page showed after each step into <body data-drive>.
DRIVER = """<script>
(function () {
  var log = [];
  function range() { return document.getElementById('sb-range').textContent; }
  function click(sel) { document.querySelector(sel).click(); }
  var c = document.getElementById('sb-timeline');
  function pickAlongRow(y) {  // click across a row until an operation is picked
    var r = c.getBoundingClientRect();
    for (var x = r.left + 100; x < r.right - 10; x += 2) {
      var at = {clientX: x, clientY: r.top + y, bubbles: true};
      c.dispatchEvent(new MouseEvent('mousedown', at));
      window.dispatchEvent(new MouseEvent('mouseup', at));
      if (!/^Click/.test(document.getElementById('sb-picked').textContent)) return;
    }
  }
  var steps = [
    function () { click('[data-act="in"]'); },
    function () { log.push(range()); click('[data-act="next"]'); },
    function () { log.push(range()); click('[data-act="prev"]'); },
    function () { log.push(range()); click('[data-act="all"]'); },
    function () { log.push(range()); pickAlongRow(38 + 18 + 9); },
    function () { log.push(document.getElementById('sb-picked').textContent); }
  ];
  var i = 0;
  window.addEventListener('error', function (e) { log.push('ERROR ' + e.message); });
  function next() {
    try { steps[i++](); } catch (e) { log.push('ERROR ' + e); }
    if (i < steps.length) setTimeout(next, 120);
    else document.body.setAttribute('data-drive', JSON.stringify(log));
  }
  setTimeout(next, 120);
})();
</script>"""


@needs_chromium
def test_paging_zooming_and_picking_an_operation_work_in_chromium(runs, tmp_path):
    import html as htmllib

    page_ = (runs["invalid"] / "report.html").read_text()
    driven = tmp_path / "driven.html"
    driven.write_text(page_.replace("</body></html>", DRIVER + "</body></html>"))
    dom = dump_dom(driven.as_uri(), virtual_time_ms=8000)
    m = re.search(r'data-drive="([^"]*)"', dom)
    assert m, "the driver did not finish"
    zoomed, paged, back, whole, picked = json.loads(htmllib.unescape(m.group(1)))
    assert re.match(r"0\.8\d s – 2\.5\d s of 3\.\d\d s", zoomed)  # the middle half
    assert re.match(r"1\.6\d s – 3\.\d\d s of", paged)  # one page later (to the end)
    assert re.match(r"0\.00 s – 1\.6\d s of", back)  # one page back
    assert whole.startswith("0.00 s – 3.")
    assert re.match(r"process 0 · (read|write) · ok · history index \d+\ninvoked ", picked)
    assert "fault in force: " in picked


@needs_chromium
def test_a_screenshot_shows_the_verdict_in_its_colour(runs, tmp_path):
    red, green = (0xC6, 0x28, 0x28), (0x2E, 0x7D, 0x32)
    for kind, colour, other in (("invalid", red, green), ("valid", green, red)):
        png = read_png(
            screenshot(
                (runs[kind] / "report.html").as_uri(), tmp_path / f"{kind}.png", size=(900, 420)
            )
        )
        banner = png.crop(0, 0, 900, 60)
        assert banner.count(colour, 6) > 900 * 40, kind
        assert banner.count(other, 6) == 0, kind


# -- from real chaos runs ------------------------------------------------------------------------

SUITE = """
suite: report-tests
tests:
  - name: stale
    system: {name: raft, bugs: [stale-read]}
    cluster: {backend: local, nodes: 3}
    workload: {name: register, concurrency: 6, rate: 100, keys: 2, ops_per_key: 200, values: 5,
               mix: {read: 3, write: 1, cas: 1}, timeout: 1}
    nemesis: {faults: [partition], quiet: 1, interval: 3, shapes: [leader], recovery: 1}
    time_limit: 8
  - name: calm
    system: {name: raft}
    cluster: {backend: local, nodes: 3}
    workload: {name: register, concurrency: 4, rate: 60, keys: 2, ops_per_key: 100, timeout: 1}
    nemesis: {faults: [partition, kill], quiet: 0.5, interval: 1.5, shapes: [one],
              kill_targets: [one], recovery: 1}
    time_limit: 5
"""


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root")
    tmp = tmp_path_factory.mktemp("real")
    (tmp / "suite.yaml").write_text(SUITE)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(tmp / "suite.yaml"),
            "--results",
            str(tmp / "results"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    # each test as expected (a test with a seeded bug is expected invalid): exit 0
    assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    for name, kind in (("stale", "invalid"), ("calm", "valid")):
        (run,) = (tmp / "results" / name).iterdir()
        out[kind] = run
        assert json.loads((run / "results.json").read_text())["valid"] is (kind == "valid")
    return out


@pytest.mark.cluster
@needs_chromium
def test_the_report_of_a_real_invalid_run_shows_the_anomaly_in_chromium(real_runs):
    run = real_runs["invalid"]
    assert (run / "report.html").is_file()  # written by `splitbrain run` itself
    dom = open_in_chromium(run / "report.html")
    assert 'class="verdict verdict-invalid"' in dom
    assert re.search(r"Invalid: linearizable found \d+ anomal[a-z]*: nonlinearizable x\d+\.", dom)
    # the worst example under it: when, relative and wall clock, and the fault in force or
    # just healed (the stale read needs the isolated leader)
    worst = re.search(r'<p class="worst" id="worst">(.*?)</p>', dom, re.S)
    assert worst and re.search(
        r" at \d+\.\d{3}(-\d+\.\d{3})? s \(\d\d:\d\d:\d\d\.\d{3}Z", worst.group(1)
    )
    assert re.search(r"(during partition leader|after partition leader .*healed)", worst.group(1))
    assert re.search(r'<article class="anomaly" id="anomaly-\d+">', dom)
    assert 'class="faults-in-force' in dom
    assert re.search(r'<tr class="role-cannot">', dom)
    tl = re.search(r'<canvas class="timeline" id="sb-timeline"[^>]*data-drawn="(\d+)"', dom)
    assert tl and int(tl.group(1)) == invocations(run)
    assert "start-partition" in dom  # the faults table


@pytest.mark.cluster
@needs_chromium
def test_the_report_of_a_real_valid_run_shows_verdict_and_timeline_in_chromium(real_runs):
    run = real_runs["valid"]
    dom = open_in_chromium(run / "report.html")
    assert 'class="verdict verdict-valid"' in dom
    assert "No checker found an anomaly." in dom
    tl = re.search(r'<canvas class="timeline" id="sb-timeline"[^>]*data-drawn="(\d+)"', dom)
    assert tl and int(tl.group(1)) == invocations(run)
    for node in ("n1", "n2", "n3"):
        assert re.search(rf'href="nodes/{node}/[^"]+\.log"', dom)


@pytest.mark.cluster
@needs_chromium
def test_a_real_run_cut_short_with_markup_injected_rebuilds_and_runs_no_script(real_runs, tmp_path):
    run = tmp_path / "stale" / "run"
    shutil.copytree(real_runs["invalid"], run, symlinks=True)
    (run / "results.json").unlink()
    hist = run / "history.jsonl"
    lines = hist.read_text().splitlines()
    last = json.loads(lines[-1])
    extra = [
        {
            "index": last["index"] + 1,
            "time": last["time"] + 1,
            "type": "invoke",
            "process": 0,
            "f": "write",
            "value": [0, XSS_TITLE],
            "node": XSS_IMG,
        },
        {
            "index": last["index"] + 2,
            "time": last["time"] + 2,
            "type": "info",
            "process": 0,
            "f": "write",
            "value": [0, XSS_CLOSE],
            "node": "n1",
            "error": XSS_IMG,
        },
    ]
    hist.write_text("\n".join(lines + [json.dumps(d) for d in extra]) + "\n" + '{"index": 9')
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(run)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    dom = open_in_chromium(run / "report.html")
    assert_nothing_injected_ran(dom)
    assert 'class="verdict verdict-none"' in dom
    tl = re.search(r'<canvas class="timeline" id="sb-timeline"[^>]*data-drawn="(\d+)"', dom)
    assert tl and int(tl.group(1)) == invocations(run)
