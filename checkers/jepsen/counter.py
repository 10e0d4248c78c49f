"""Counter: increments and reads; every read must lie between the sum of increments known to
have completed before it began (lower bound) and the sum of all increments attempted before
it ended (upper bound). As Jepsen's counter checker: failed increments count for nothing,
indeterminate ones may or may not have happened. Decrements are allowed here and widen the
bounds the other way."""

from __future__ import annotations

from typing import Any

from harness.history import Op
from harness.registry import CheckerInfo

from ..base import Anomaly, Result
from ._common import client_ops, invocations, op_ref

__all__ = ["COUNTER", "CounterChecker"]


COUNTER = CheckerInfo(
    "counter",
    "every counter read lies between the acknowledged and attempted adds",
    lambda _options: CounterChecker(),
)


class CounterChecker:
    name = "counter"

    def __init__(self, *, max_cases: int = 10) -> None:
        self.max_cases = max_cases

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Check every ok read of ``history`` against the bounds the adds allow."""
        ops = client_ops(history)
        inv = invocations(ops)
        failed_invokes = {id(inv[i]) for i, op in enumerate(ops) if op.type == "fail" and i in inv}
        lower: float = 0
        upper: float = 0
        pending: dict[Any, tuple[float, Op]] = {}
        reads: list[tuple[float, Any, float, Op]] = []
        for op in ops:
            if op.type == "fail" or id(op) in failed_invokes:
                continue
            if op.f == "add":
                v = op.value
                if not isinstance(v, int | float) or isinstance(v, bool):
                    return Result(
                        "unknown", [], {"reason": f"{op_ref(op)} adds {v!r}; expected a number"}
                    )
                if op.type == "invoke":
                    if v >= 0:
                        upper += v
                    else:
                        lower += v
                elif op.type == "ok":
                    if v >= 0:
                        lower += v
                    else:
                        upper += v
            elif op.f == "read":
                if op.type == "invoke":
                    pending[op.process] = (lower, op)
                elif op.type == "ok":
                    lo, _ = pending.pop(op.process, (lower, op))
                    reads.append((lo, op.value, upper, op))
        errors = [r for r in reads if not isinstance(r[1], int | float) or not r[0] <= r[1] <= r[2]]
        anomalies = [
            Anomaly(
                "counter-out-of-bounds",
                f"{op_ref(op)} read {val!r}, but the counter could only have been between "
                f"{lo} (increments known complete before the read began) and {hi} (all "
                "increments attempted before it ended)",
                [op.to_dict()],
                {"lower": lo, "value": val, "upper": hi},
            )
            for lo, val, hi, op in errors[: self.max_cases]
        ]
        details = {
            "read-count": len(reads),
            "reads": [[lo, v, hi] for lo, v, hi, _ in reads[:1000]],
            "errors": [[lo, v, hi] for lo, v, hi, _ in errors[:1000]],
            "error-count": len(errors),
        }
        return Result(not errors, anomalies, details)
