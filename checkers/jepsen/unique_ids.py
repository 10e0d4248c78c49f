"""Unique ids (Jepsen's ``unique-ids``): every ok ``generate`` must return a distinct value."""

from __future__ import annotations

from typing import Any

from harness.history import Op
from harness.registry import CheckerInfo

from ..base import Anomaly, Result
from ._common import client_ops, fmt, freeze

__all__ = ["UNIQUE_IDS", "UniqueIdsChecker"]


UNIQUE_IDS = CheckerInfo(
    "unique-ids", "every generated id is distinct", lambda _options: UniqueIdsChecker()
)


class UniqueIdsChecker:
    name = "unique-ids"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Count the ids the ok generates returned."""
        ops = [op for op in client_ops(history) if op.f == "generate"]
        attempted = sum(1 for op in ops if op.type == "invoke")
        counts: dict[Any, list[Op]] = {}
        for op in ops:
            if op.type == "ok":
                counts.setdefault(freeze(op.value), []).append(op)
        dups = {k: v for k, v in counts.items() if len(v) > 1}
        anomalies = [
            Anomaly(
                "duplicated-id",
                f"id {fmt(v[0].value)} was returned {len(v)} times "
                f"(ops {', '.join(str(o.index) for o in v[:10])})",
                [o.to_dict() for o in v[:10]],
                {"id": v[0].value, "count": len(v)},
            )
            for v in list(dups.values())[:10]
        ]
        return Result(
            not dups,
            anomalies,
            {
                "attempted-count": attempted,
                "acknowledged-count": sum(len(v) for v in counts.values()),
                "duplicated-count": len(dups),
            },
        )
