"""The ``promises`` note: what the system under test promises, next to the verdict.

A system's clients answer the final ``status`` op with a value carrying ``system`` and
``promise`` (etcd, Redis and ZooKeeper do); this checker collects them, so that results.json
says whether an invalid verdict is a broken promise or the test asking for more than the
system promises. It never changes the verdict.
"""

from __future__ import annotations

from typing import Any

from checkers.base import Result
from harness.history import Op
from harness.registry import CheckerInfo, NoOptions

__all__ = ["CHECKER", "PromisesChecker"]


class PromisesChecker:
    """Not a check but a note: the ``promise`` of every system whose ``status`` ops said one
    (``details.promises``: system -> promise), or ``details.promise`` saying none did.
    Always valid."""

    name = "promises"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        notes: dict[str, str] = {}
        for op in history:
            if op.f == "status" and op.type == "ok" and isinstance(op.value, dict):
                p = op.value.get("promise")
                if p:
                    notes.setdefault(str(op.value.get("system", "system")), str(p))
        if not notes:
            return Result(True, [], {"promise": "no node reported what its system promises"})
        return Result(True, [], {"promises": notes})


def _make(options: NoOptions) -> PromisesChecker:
    return PromisesChecker()


CHECKER = CheckerInfo(
    "promises",
    "a note, never a verdict: what the system under test promises (from its status), so an "
    "invalid result reads as a broken promise or as a test asking for more",
    _make,
)
