"""JUnit XML for a run of suites, so CI systems show every test (one testcase per test).

Each testcase is judged against its expectation (``harness.expect``): a known-invalid test
that is still invalid passes (its system-out says so), one that turns valid fails. A failure's
message starts with the anomaly summary (kinds and counts, most severe first), then says what
was expected; its text has the anomalies, where the results are and the command that runs
the test again. Paths are relative to the results folder when it is given (a CI job keeps that
folder as an artifact, so those paths stay true), absolute otherwise.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.expect import (
    Expectation,
    Judgement,
    anomaly_kinds,
    anomaly_summary,
    expectation,
    judge,
    verdict_word,
)
from harness.headline import anomalies_of, describe, worst_example
from harness.store import StorageError, write_atomic

__all__ = ["junit_xml", "write_junit", "write_junit_all"]


def write_junit(
    path: Path, suite: str, outcomes: Sequence[Any], *, results_root: Path | None = None
) -> None:
    """One suite's JUnit file at ``path`` (a ``<testsuite>``), whole or not at all (a full
    disk leaves the previous one, and no ``.tmp``); raises StorageError. ``outcomes``:
    ``harness.nightly.Done`` values (judged), or bare ``harness.run.Outcome`` values (judged
    as expected valid)."""
    _write(path, junit_xml(suite, outcomes, results_root=results_root))


def write_junit_all(path: Path, done: Sequence[Any], *, results_root: Path | None) -> None:
    """The whole invocation's JUnit file at ``path``: a ``<testsuites>`` with a
    ``<testsuite>`` per suite, in the order they ran; raises StorageError."""
    by_suite: dict[str, list[Any]] = {}
    for d in done:
        by_suite.setdefault(d.planned.suite, []).append(d)
    root = ET.Element("testsuites", name="splitbrain")
    for name, items in by_suite.items():
        root.append(_suite(name, items, results_root))
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key) or 0) for s in root)))
    root.set("time", f"{sum(float(s.get('time') or 0) for s in root):.2f}")
    _write(path, _document(root))


def junit_xml(suite: str, outcomes: Sequence[Any], *, results_root: Path | None = None) -> str:
    """The ``<testsuite>`` document of one suite (see ``write_junit``)."""
    return _document(_suite(suite, outcomes, results_root))


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError("write", path, e) from e
    write_atomic(path, text)


def _document(root: ET.Element) -> str:
    return "<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, encoding="unicode")


@dataclass
class _Case:
    name: str
    outcome: Any
    expected: Expectation
    judgement: Judgement


def _case(item: Any) -> _Case:
    if hasattr(item, "judgement"):  # a nightly Done
        bugs = "".join(f" --bug {b}" for b in item.planned.spec.system.bugs)
        return _Case(item.planned.spec.name + bugs, item.outcome, item.expected, item.judgement)
    results = item.results if isinstance(item.results, dict) else {}
    expected = expectation(None)
    return _Case(item.test, item, expected, judge(expected, item.valid, anomaly_kinds(results)))


def _suite(suite: str, items: Sequence[Any], root_dir: Path | None) -> ET.Element:
    cases = [_case(i) for i in items]
    failures = sum(1 for c in cases if c.judgement.status == "fail")
    errors = sum(1 for c in cases if c.judgement.status in ("unknown", "setup-failed"))
    seconds = [float(c.outcome.results.get("wall_seconds", 0) or 0) for c in cases]
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        time=f"{sum(seconds):.2f}",
    )
    for c, secs in zip(cases, seconds, strict=True):
        root.append(_testcase(suite, c, secs, root_dir))
    return root


def _testcase(suite: str, c: _Case, seconds: float, root_dir: Path | None) -> ET.Element:
    o, j = c.outcome, c.judgement
    r: dict[str, Any] = o.results if isinstance(o.results, dict) else {}
    case = ET.Element("testcase", classname=suite, name=c.name, time=f"{seconds:.2f}")
    report = o.run_dir / "report.html" if o.run_dir is not None else None
    has_report = report is not None and report.exists()
    run_dir = _shown(o.run_dir, root_dir)
    shown_report = _shown(report, root_dir) if has_report else None
    props = ET.SubElement(case, "properties")
    code = r.get("code") if isinstance(r.get("code"), dict) else {}
    for name, value in (
        ("seed", r.get("seed")),
        ("run_dir", run_dir),
        ("report", shown_report),
        ("verdict", verdict_word(o.valid)),
        ("expect", str(c.expected)),
        ("commit", (code or {}).get("commit")),
    ):
        if value is not None:
            ET.SubElement(props, "property", name=name, value=str(value))
    where = f"results: {run_dir}\nrun again: {r.get('rerun', '')}"
    if shown_report:
        where = f"report: {shown_report}\n" + where
    headline = anomaly_summary(r)
    verdict = f"{verdict_word(o.valid)}, expected {c.expected}: {j.reason}"
    # the worst example first, then every anomaly, each with when it happened (relative and
    # wall clock) and the faults in force then (harness.headline.describe)
    found = anomalies_of(r)
    worst = worst_example(found)
    anomalies = "\n".join(
        ([f"worst: {a['checker']}: {describe(a)}" for a in [worst] if a is not None])
        + [f"{a['checker']}: {describe(a)}" for a in found]
    )
    if j.status == "fail":
        el = ET.SubElement(case, "failure", message=f"{headline} ({verdict})")
        el.text = "\n".join(t for t in (verdict, anomalies, where) if t)
    elif j.status == "setup-failed":
        el = ET.SubElement(case, "error", message=f"setup failed: {r.get('error')}")
        el.text = where
    elif j.status == "unknown":
        why = r.get("error") or "the checkers could not decide"
        el = ET.SubElement(case, "error", message=f"unknown: {why}")
        el.text = where
    else:
        text = verdict + (f"\n{headline}" if o.valid is False else "")
        ET.SubElement(case, "system-out").text = f"{text}\n{where}"
    return case


def _shown(path: Path | None, root_dir: Path | None) -> str | None:
    if path is None:
        return None
    if root_dir is None:
        return str(path)
    try:
        return str(Path(os.path.abspath(path)).relative_to(os.path.abspath(root_dir)))
    except ValueError:
        return str(path)
