"""The time the checkers took is in results.json (``wall_seconds`` is the run's and leaves
it out: an 862 s check went unseen), in all and per checker, and in the report's header. No
wall time is asserted: only that the figures are there and add up."""

from __future__ import annotations

from pathlib import Path

from harness.history import Op
from harness.report import RunData
from harness.report._page import render
from harness.run import check_history


def history() -> list[Op]:
    ops = []
    for i in range(200):
        ops.append(Op("invoke", "write", i, i % 4, 2 * i, 2 * i))
        ops.append(Op("ok", "write", i, i % 4, 2 * i + 1, 2 * i + 1))
    return ops


def test_the_check_time_is_in_the_results_in_all_and_per_checker() -> None:
    checked = check_history(history(), ["stats", "unique-ids"], None, {"test": "t"})
    total, cpu = checked["check_seconds"], checked["check_cpu_seconds"]
    assert isinstance(total, float) and total >= 0
    assert isinstance(cpu, float) and cpu >= 0
    per = [c["seconds"] for c in checked["checkers"].values()]
    assert len(per) == 2 and all(s >= 0 for s in per)
    assert total + 0.002 >= sum(per)  # the whole covers its parts (each rounded to 1 ms)


def test_the_report_header_says_how_long_checking_took(tmp_path: Path) -> None:
    ops = [op.to_dict() for op in history()]
    results = {"valid": True, "wall_seconds": 5.0, "check_seconds": 1.25, "checkers": {}}
    page = render(RunData(tmp_path, ops, results, None, None))
    assert "5.0 s in all" in page and "1.25 s checking" in page
    without = render(RunData(tmp_path, ops, {"valid": True, "checkers": {}}, None, None))
    assert "s checking" not in without
