"""Reading a run directory for the report, tolerant of a run that was cut short.

A run that was interrupted may have no ``results.json`` (or one that is not valid JSON), no
``spec.yaml``, and a ``history.jsonl`` whose last line was torn mid-write. The report is still
built from what there is; every problem found is kept as a note the page shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RunData", "load_run"]

_TYPES = frozenset({"invoke", "ok", "fail", "info"})


@dataclass
class RunData:
    """What the report is built from. ``results`` / ``spec`` are None when missing or
    unreadable; ``notes`` says why, and what else was wrong (skipped history lines)."""

    path: Path
    ops: list[dict[str, Any]]
    results: dict[str, Any] | None
    spec: dict[str, Any] | None
    spec_text: str | None
    notes: list[str] = field(default_factory=list)
    skipped_lines: int = 0

    @property
    def test(self) -> str:
        for src in (self.results, self.spec):
            if src and isinstance(src.get("test") or src.get("name"), str):
                return str(src.get("test") or src.get("name"))
        return self.path.parent.name or "run"


def load_run(run_dir: Path) -> RunData:
    """Read ``history.jsonl``, ``results.json`` and ``spec.yaml`` from ``run_dir``."""
    notes: list[str] = []
    results = _read_results(run_dir / "results.json", notes)
    spec, spec_text = _read_spec(run_dir / "spec.yaml", notes)
    ops, skipped = _read_history(run_dir / "history.jsonl", notes)
    return RunData(run_dir, ops, results, spec, spec_text, notes, skipped)


def _read_results(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        notes.append("results.json is missing: the run stopped before its history was checked.")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        notes.append(f"results.json could not be read ({e}); it is ignored.")
        return None
    if not isinstance(data, dict):
        notes.append("results.json is not a JSON object; it is ignored.")
        return None
    return data


def _read_spec(path: Path, notes: list[str]) -> tuple[dict[str, Any] | None, str | None]:
    if not path.exists():
        notes.append("spec.yaml is missing.")
        return None, None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as e:
        notes.append(f"spec.yaml could not be parsed ({type(e).__name__}).")
        return None, text if "text" in locals() else None
    return (data if isinstance(data, dict) else None), text


def _read_history(path: Path, notes: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Every line that is an op. A torn last line is expected after a crash and noted; any
    other line that is not an op is skipped and counted, so one bad line does not cost the
    reader the whole report."""
    if not path.exists():
        notes.append("history.jsonl is missing: no operation was recorded.")
        return [], 0
    ops: list[dict[str, Any]] = []
    bad: list[int] = []
    loads = json.loads
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            d = loads(raw)
        except ValueError:
            bad.append(n)
            continue
        if (
            not isinstance(d, dict)
            or d.get("type") not in _TYPES
            or not isinstance(d.get("time"), int)
            or not isinstance(d.get("f"), str)
            or "process" not in d
        ):
            bad.append(n)
            continue
        ops.append(d)
    if bad and bad == [len(lines)] and not lines[-1].endswith("\n"):
        notes.append(
            f"history.jsonl: the last line ({bad[0]}) was cut off mid-write; it is left out."
        )
    elif bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        notes.append(
            f"history.jsonl: {len(bad)} line(s) that are not operations were skipped "
            f"(line {shown})."
        )
    return ops, len(bad)
