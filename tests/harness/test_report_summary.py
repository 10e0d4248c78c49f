"""The report of a run with many anomalies reads summary first: the banner leads with kinds and
counts worst first and the worst example; anomalies are grouped by kind, two of each drawn and
the rest listed; each says when it happened and which fault was in force; the timeline's labels
are numbered in time order and never drawn over each other. Checked in the page as written and
in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.faults_in_force import annotate
from harness.report import build_report, fault_kinds
from harness.report.browser import chromium, dump_dom

needs_chromium = pytest.mark.skipif(chromium() is None, reason="chromium is not installed")

MS = 1_000_000
ZERO_MS = 1_767_225_600_000  # 2026-01-01T00:00:00.000Z
#: kind -> how many; the anomalies cluster between 1.2 s and 1.6 s, during the partition
KINDS = {"G-single-item": 5, "incompatible-order": 4, "G0": 3}


def _history() -> list[dict]:
    """Four processes appending for 4 s, 20 ms per op; a partition from 1.0 s to 2.0 s."""
    ops: list[dict] = []
    t = 0

    def add(type_: str, process: int | str, f: str, value: object) -> None:
        node = {"node": f"n{process % 3 + 1}"} if isinstance(process, int) else {}
        ops.append(
            {"index": len(ops), "time": t, "type": type_, "process": process, "f": f,
             "value": value, **node}
        )  # fmt: skip

    for n in range(200):
        t = n * 20 * MS
        if n == 50:
            add("invoke", "nemesis", "start-partition", "leader")
            add("ok", "nemesis", "start-partition", {"shape": "leader", "primaries": ["n2"]})
        if n == 100:
            add("invoke", "nemesis", "stop-partition", None)
            add("ok", "nemesis", "stop-partition", "healed")
        p = n % 4
        txn = [["append", "x", n]]
        add("invoke", p, "txn", txn)
        t += 10 * MS
        add("ok", p, "txn", txn)
    return ops


def _run(root: Path) -> Path:
    run = root / "many" / "20260101T000000Z"
    run.mkdir(parents=True)
    ops = _history()
    (run / "history.jsonl").write_text("".join(json.dumps(d) + "\n" for d in ops))
    (run / "spec.yaml").write_text("name: many\nseed: 1\n")
    invokes = [d for d in ops if d["type"] == "invoke" and d["process"] != "nemesis"]
    cluster = [d for d in invokes if 1_200 * MS <= d["time"] <= 1_600 * MS]
    anomalies = []
    k = 0
    for kind, count in KINDS.items():
        for i in range(count):
            first = cluster[k % len(cluster)]
            k += 1
            second = cluster[k % len(cluster)]
            anomalies.append(
                {
                    "name": kind,
                    "explanation": f"{kind} case {i}: a cycle of 2 transactions.",
                    "ops": [first, second],
                    "data": {},
                }
            )
    kinds = fault_kinds()
    annotate(anomalies, ops, kinds.starts, kinds.heals, ZERO_MS)
    results = {
        "test": "many",
        "valid": False,
        "seed": 1,
        "rerun": "splitbrain run suites/x.yaml --test many --seed 1",
        "time_zero": {"utc": "2026-01-01T00:00:00.000Z", "epoch_ms": ZERO_MS},
        "checkers": {
            "list-append": {"valid": False, "anomalies": anomalies, "details": {}, "files": []}
        },
        "exit_code": 1,
    }
    (run / "results.json").write_text(json.dumps(results))
    build_report(run)
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("results"))


def test_the_banner_leads_with_kinds_and_counts_worst_first_then_the_worst_example(run):
    html = (run / "report.html").read_text()
    sentence = re.search(r'<p class="sentence">(.*?)</p>', html, re.S)
    assert sentence and sentence.group(1) == (
        "Invalid: list-append found 12 anomalies: G0 x3, incompatible-order x4, "
        "G-single-item x5: not even read-uncommitted."
    )
    worst = re.search(r'<p class="worst" id="worst">(.*?)</p>', html, re.S)
    assert worst
    text = re.sub(r"<[^>]+>", "", worst.group(1))
    assert text.startswith("The worst: G0 at 1.")
    assert "during partition leader (n2) from 1.00 s to 2.00 s: G0 case 0" in text
    assert 'time zero <span class="time-zero">2026-01-01T00:00:00.000Z</span>' in html


def test_anomalies_are_grouped_by_kind_worst_first_two_drawn_and_the_rest_listed(run):
    html = (run / "report.html").read_text()
    section = html[html.index('id="anomalies"') : html.index('id="timeline"')]
    order = re.findall(r'<section class="kind" id="kind-([^"]+)">', section)
    assert order == ["G0", "incompatible-order", "G-single-item"]
    for kind, count in KINDS.items():
        group = section[section.index(f'id="kind-{kind}"') :].split("</section>", 1)[0]
        assert group.count('<article class="anomaly"') == 2
        assert group.count('<tr id="anomaly-') == count - 2
        assert f"×{count}, found by list-append" in group


def test_each_anomaly_says_when_in_wall_clock_and_the_fault_in_force(run):
    html = (run / "report.html").read_text()
    whens = re.findall(r'<p class="when">(.*?)</p>', html, re.S)
    assert len(whens) == 6  # the drawn ones; the listed ones have it in their row
    for w in whens:
        assert re.search(r"At 1\.\d{3}–1\.\d{3} s \(<span class=\"wall\">00:00:01\.\d{3}Z", w)
        assert '<span class="faults-in-force fif-during">during partition leader (n2)' in w


def test_sections_are_numbered_in_time_order(run):
    html = (run / "report.html").read_text()
    results = json.loads((run / "results.json").read_text())
    anomalies = results["checkers"]["list-append"]["anomalies"]
    starts = sorted(a["when"]["from_s"] for a in anomalies)
    numbered = {int(n): None for n in re.findall(r'id="anomaly-(\d+)"', html)}
    assert sorted(numbered) == list(range(len(anomalies)))
    g0 = [a for a in anomalies if a["name"] == "G0"][0]
    n = starts.index(g0["when"]["from_s"])  # G0 case 0 is drawn first, with its number
    assert f'<span class="num">#{n + 1}</span> G0' in html


@needs_chromium
def test_in_chromium_the_banner_shows_and_no_two_timeline_labels_overlap(run):
    dom = dump_dom(run.joinpath("report.html").as_uri(), virtual_time_ms=3000)
    assert 'id="worst"' in dom and "not even read-uncommitted" in dom
    m = re.search(r'<canvas class="timeline" id="sb-timeline"[^>]*data-labels="([^"]*)"', dom)
    assert m, "the timeline drew no anomaly labels"
    labels = json.loads(m.group(1).replace("&quot;", '"'))
    assert len(labels) >= 6  # twelve anomalies within 0.4 s: a few rows of labels
    assert sorted(n for n, *_ in labels) == sorted({n for n, *_ in labels})
    for i, (_, x1, y1, w1) in enumerate(labels):
        for _, x2, y2, w2 in labels[i + 1 :]:
            if y1 == y2:
                assert x1 + w1 <= x2 or x2 + w2 <= x1, labels


def test_failed_operations_are_broken_down_by_error_the_most_frequent_first(tmp_path):
    from harness.report import RunData, render

    ops: list[dict] = []
    for n, (type_, f, err) in enumerate(
        [("fail", "acquire", f"locked by process {p}") for p in (3, 4, 5)]
        + [("info", "write", "timeout")] * 2
        + [("ok", "read", None)]
    ):
        ops.append({"index": 2 * n, "time": n * MS, "type": "invoke", "process": n, "f": f})
        done = {"index": 2 * n + 1, "time": n * MS + 1, "type": type_, "process": n, "f": f}
        ops.append(done | ({"error": err} if err else {}))
    page = render(RunData(tmp_path, ops, None, None, None))
    section = page[page.index('id="failures"') : page.index('id="faults"')]
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td class="t-(\w+)">\w+</td><td>(\w+)</td>'
                      r"<td><code>([^<]+)</code>", section)  # fmt: skip
    assert rows == [
        ("3", "fail", "acquire", "locked by process N"),  # a lock conflict, not an outage
        ("2", "info", "write", "timeout"),
    ]
    assert "5 operations failed or had an unknown outcome." in section


@needs_chromium
def test_linearizable_html_opens_on_the_failing_operation_not_the_start_of_the_key(tmp_path):
    from checkers.linearizable import LinearizableChecker
    from harness.history import Op

    h: list[Op] = []
    for n in range(120):  # a long prefix of writes, then a read of the first value: stale
        h += [Op("invoke", "write", n, 0, 2 * n * MS), Op("ok", "write", n, 0, (2 * n + 1) * MS)]
    h += [Op("invoke", "read", None, 1, 300 * MS), Op("ok", "read", 0, 1, 301 * MS)]
    for i, op in enumerate(h):
        op.index = i
    checker = LinearizableChecker("cas-register")
    (page,) = checker.write_artifacts(checker.check(h, {}), tmp_path)
    dom = dump_dom(page.as_uri(), virtual_time_ms=2000)
    scrolled = re.findall(r'<div class="scroll" data-scrolled="(\d+)"', dom)
    assert scrolled and int(scrolled[0]) > 0


def test_a_long_dependency_cycle_is_drawn_folded_and_a_short_one_open():
    from harness.report._anomaly import anomaly_section

    def anomaly(n: int) -> dict:
        names = [f"T{i + 1}" for i in range(n)]
        steps = [
            {"from": a, "to": b, "type": "ww"}
            for a, b in zip(names, names[1:] + names[:1], strict=True)
        ]
        return {"name": "G0", "explanation": "x", "data": {"steps": steps}}

    short_ = anomaly_section(0, "list-append", anomaly(3), [], [], [])
    long_ = anomaly_section(1, "list-append", anomaly(12), [], [], [])
    assert "<h4>The cycle</h4>" in short_ and "<details" not in short_
    assert '<details class="cycle"><summary>The cycle (12 dependencies), drawn</summary>' in long_
