"""Counts of ok / fail / info per ``f``, and whether the test exercised the system at all."""

from __future__ import annotations

from typing import Any

from checkers.base import Result
from harness.history import Op
from harness.registry import CheckerInfo

__all__ = ["CHECKER", "StatsChecker"]


CHECKER = CheckerInfo(
    "stats",
    "ok / fail / info counts; unknown if some f never succeeded",
    lambda _options: StatsChecker(),
)


class StatsChecker:
    """Valid when every client ``f`` succeeded at least once. A run in which, say, no write
    ever succeeded proved nothing about writes: that is "unknown", not a bug (Jepsen calls it
    invalid; we do not send a person hunting for a bug that the data does not show)."""

    name = "stats"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        by_f: dict[str, dict[str, int]] = {}
        for op in history:
            if op.type == "invoke" or not op.is_client:
                continue
            counts = by_f.setdefault(op.f, {"ok": 0, "fail": 0, "info": 0})
            counts[op.type] += 1
        never = sorted(f for f, c in by_f.items() if c["ok"] == 0)
        details: dict[str, Any] = {"by_f": by_f}
        if not by_f:
            return Result("unknown", [], {**details, "reason": "no client operation completed"})
        if never:
            details["reason"] = (
                f"no {', '.join(never)} ever succeeded: the run tested nothing there"
            )
            return Result("unknown", [], details)
        return Result(True, [], details)
