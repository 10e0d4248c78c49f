"""JUnit XML for a suite run, so CI systems show every test (one testcase per test)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.store import StorageError, write_atomic

__all__ = ["junit_xml", "write_junit"]


def write_junit(path: Path, suite: str, outcomes: list[Any]) -> None:
    """The suite's JUnit file at ``path``, whole or not at all (a full disk leaves the previous
    one, and no ``.tmp``); raises StorageError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError("write", path, e) from e
    write_atomic(path, junit_xml(suite, outcomes))


def junit_xml(suite: str, outcomes: list[Any]) -> str:
    """``outcomes``: harness.run.Outcome values. Invalid -> failure, unknown / setup -> error."""
    failures = sum(1 for o in outcomes if o.valid is False)
    errors = sum(1 for o in outcomes if o.valid is None or o.valid == "unknown")
    total_time = sum(float(o.results.get("wall_seconds", 0)) for o in outcomes)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(outcomes)),
        failures=str(failures),
        errors=str(errors),
        time=f"{total_time:.2f}",
    )
    for o in outcomes:
        case = ET.SubElement(
            root,
            "testcase",
            classname=suite,
            name=o.test,
            time=f"{float(o.results.get('wall_seconds', 0)):.2f}",
        )
        report = o.run_dir / "report.html" if o.run_dir is not None else None
        has_report = report is not None and report.exists()
        props = ET.SubElement(case, "properties")
        for name, value in (
            ("seed", o.results.get("seed")),
            ("run_dir", o.run_dir),
            ("report", report if has_report else None),
        ):
            if value is not None:
                ET.SubElement(props, "property", name=name, value=str(value))
        text = f"results: {o.run_dir}\nrun again: {o.results.get('rerun', '')}"
        if has_report:
            text = f"report: {report}\n" + text
        if o.valid is False:
            lines = [
                f"{name}: {a['name']}: {a['explanation']}"
                for name, r in o.results.get("checkers", {}).items()
                for a in r.get("anomalies", [])
            ]
            el = ET.SubElement(case, "failure", message="invalid: " + (lines[0] if lines else ""))
            el.text = "\n".join(lines) + "\n" + text
        elif o.valid is None:
            el = ET.SubElement(case, "error", message=f"setup failed: {o.results.get('error')}")
            el.text = text
        elif o.valid == "unknown":
            el = ET.SubElement(case, "error", message="unknown: the checkers could not decide")
            el.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    return "<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, encoding="unicode")
