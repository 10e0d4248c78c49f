"""Bank: transfers between accounts must preserve the total, and (unless allowed) no balance
may go negative. Every ok read returns a map of account -> balance.

As Jepsen's (and elle-cli's) bank checker: the accounts and the total are taken from the
options, or else from the first ok read; each read is checked, in this order, for accounts
that should not exist, missing (nil) balances, a wrong total, and negative balances.
"""

from __future__ import annotations

from typing import Any

from harness.history import Op

from ..base import Anomaly, Result
from ._common import client_ops, fmt, op_ref

__all__ = ["BankChecker"]

_KINDS = ("unexpected-key", "nil-balance", "wrong-total", "negative-value")


class BankChecker:
    """``negative_balances``: whether a negative balance is allowed (default no).
    ``total_amount``: the total every read must sum to (default: the first read's sum).
    ``accounts``: the accounts a read may show (default: the first read's)."""

    name = "bank"

    def __init__(
        self,
        negative_balances: bool = False,
        total_amount: int | None = None,
        accounts: list[Any] | None = None,
        *,
        max_cases: int = 10,
    ) -> None:
        self.negative_balances = negative_balances
        self.total_amount = total_amount
        self.accounts = accounts
        self.max_cases = max_cases

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Check every ok read of ``history``."""
        try:
            return self._check(history)
        except Exception as e:  # a crash is "unknown", never a verdict
            return Result("unknown", [], {"reason": f"the checker failed: "
                                                    f"{type(e).__name__}: {e}"})  # fmt: skip

    def _check(self, history: list[Op]) -> Result:
        reads = [op for op in client_ops(history) if op.type == "ok" and op.f == "read"]
        for op in reads:
            if not isinstance(op.value, dict):
                return Result("unknown", [], {"reason": f"{op_ref(op)} is a read whose value "
                                                        f"{fmt(op.value, 80)} is not a map of "
                                                        "account -> balance"})  # fmt: skip
        if not reads:
            return Result(True, [], {"read-count": 0, "error-count": 0,
                                     "note": "no ok read: nothing to check"})  # fmt: skip
        first = reads[0].value
        accounts = ({_acct(a) for a in self.accounts} if self.accounts is not None
                    else {_acct(a) for a in first})  # fmt: skip
        total = self.total_amount if self.total_amount is not None else _sum(first.values())
        errors: dict[str, list[dict[str, Any]]] = {}
        for op in reads:
            err = self._check_read(op, accounts, total)
            if err is not None:
                errors.setdefault(err["type"], []).append(err)
        anomalies = []
        for kind in _KINDS:
            for err in errors.get(kind, [])[: self.max_cases]:
                anomalies.append(_anomaly(err, total))
        summary = {}
        for kind, errs in errors.items():
            s: dict[str, Any] = {"count": len(errs), "first": _brief(errs[0]),
                                 "worst": _brief(max(errs, key=lambda e: _badness(e, total))),
                                 "last": _brief(errs[-1])}  # fmt: skip
            if kind == "wrong-total":
                s["lowest"] = _brief(min(errs, key=lambda e: e["total"]))
                s["highest"] = _brief(max(errs, key=lambda e: e["total"]))
            summary[kind] = s
        details: dict[str, Any] = {
            "read-count": len(reads),
            "error-count": sum(len(v) for v in errors.values()),
            "total": total,
            "accounts": sorted(accounts, key=repr),
            "negative-balances-allowed": self.negative_balances,
            "errors": summary,
        }
        return Result(not errors, anomalies, details)

    def _check_read(self, op: Op, accounts: set[Any], total: Any) -> dict[str, Any] | None:
        value: dict[Any, Any] = op.value
        unexpected = [a for a in value if _acct(a) not in accounts]
        if unexpected:
            return {"type": "unexpected-key", "unexpected": unexpected, "op": op}
        nils = [a for a, b in value.items() if b is None]
        if nils:
            return {"type": "nil-balance", "nils": nils, "op": op}
        s = _sum(value.values())
        if s != total:
            return {"type": "wrong-total", "total": s, "op": op}
        negative = [b for b in value.values() if b < 0]
        if negative and not self.negative_balances:
            return {"type": "negative-value", "negative": negative, "op": op}
        return None


def _acct(a: Any) -> Any:
    # JSON histories spell integer account ids as strings; compare them as numbers.
    if isinstance(a, str) and a.lstrip("-").isdigit():
        return int(a)
    return a


def _sum(values: Any) -> Any:
    return sum(v for v in values if v is not None)


def _badness(err: dict[str, Any], total: Any) -> float:
    kind = err["type"]
    if kind == "unexpected-key":
        return len(err["unexpected"])
    if kind == "nil-balance":
        return len(err["nils"])
    if kind == "wrong-total":
        return abs((err["total"] - total) / total) if total else 0.0
    return -sum(err["negative"])


def _brief(err: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.to_dict() if isinstance(v, Op) else v) for k, v in err.items()}


def _anomaly(err: dict[str, Any], total: Any) -> Anomaly:
    op: Op = err["op"]
    kind = err["type"]
    balances = fmt(op.value)
    if kind == "unexpected-key":
        text = f"{op_ref(op)} read accounts {fmt(err['unexpected'])} that do not exist"
    elif kind == "nil-balance":
        text = f"{op_ref(op)} read no balance (nil) for accounts {fmt(err['nils'])}"
    elif kind == "wrong-total":
        text = (f"{op_ref(op)} read balances that sum to {err['total']}, but transfers "
                f"preserve the total, {total}: the read saw a state no serial order of "
                "transfers produces")  # fmt: skip
    else:
        text = (f"{op_ref(op)} read negative balances {fmt(err['negative'])}; transfers must "
                "not overdraw an account")  # fmt: skip
    return Anomaly(kind, f"{text}. Balances read: {balances}.", [op.to_dict()],
                   {k: v for k, v in _brief(err).items() if k != "op"})  # fmt: skip
