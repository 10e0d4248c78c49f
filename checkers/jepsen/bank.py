"""Bank: transfers between accounts must preserve the total, and (unless allowed) no balance
may go negative. Every ok read returns a map of account -> balance.

As Jepsen's (and elle-cli's) bank checker: the accounts and the total are taken from the
options, or else from the first ok read; each read is checked, in this order, for accounts
that should not exist, missing (nil) balances, a wrong total, and negative balances.

Beyond Jepsen's, wrong totals are also told as periods (``total-changed``): the reads, in the
order they completed, fall into runs of equal sums; each run of two or more reads (and the
last run, whatever its length) at a sum other than the total is one period, told with its
first and last read, whether the total came back, and the transfers whose amount equals the
change and that were in flight when it happened: the likely half-applied transfer (a
withdrawal without its deposit makes the total fall by the amount; the reverse, rise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.history import NEMESIS, Op, pair_index
from harness.registry import CheckerInfo, option

from ..base import Anomaly, Result, when
from ._common import client_ops, fmt, op_ref

__all__ = ["BANK", "BankChecker", "BankOptions"]


@dataclass(frozen=True)
class BankOptions:
    """The bank checker's options (``--option negative_balances=true``)."""

    negative_balances: bool = option(False, "allow negative balances")
    total_amount: int | None = option(None, "the total of every read (none: the first read's)")
    accounts: tuple[str, ...] | None = option(
        None, "the accounts a read may show (none: the first read's)"
    )


BANK = CheckerInfo(
    "bank",
    "transfers preserve the total of every read; no negative balance unless allowed",
    lambda o: BankChecker(
        o.negative_balances, o.total_amount, None if o.accounts is None else list(o.accounts)
    ),
    BankOptions,
)

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
        """Check every ok read of ``history``; ``ctx``'s ``time_zero_ms`` (the run's time
        zero) puts the wall clock in the explanations."""
        reads = [op for op in client_ops(history) if op.type == "ok" and op.f == "read"]
        for op in reads:
            if not isinstance(op.value, dict):
                return Result(
                    "unknown",
                    [],
                    {
                        "reason": f"{op_ref(op)} is a read whose value "
                        f"{fmt(op.value, 80)} is not a map of "
                        "account -> balance"
                    },
                )
        if not reads:
            return Result(
                True,
                [],
                {"read-count": 0, "error-count": 0, "note": "no ok read: nothing to check"},
            )
        first = reads[0].value
        accounts = (
            {_acct(a) for a in self.accounts}
            if self.accounts is not None
            else {_acct(a) for a in first}
        )
        total = self.total_amount if self.total_amount is not None else _sum(first.values())
        errors: dict[str, list[dict[str, Any]]] = {}
        for op in reads:
            err = self._check_read(op, accounts, total)
            if err is not None:
                errors.setdefault(err["type"], []).append(err)
        periods, changed = _periods(history, reads, total, self.max_cases)
        anomalies = [_period_anomaly(p, total, ctx) for p in periods]
        flights = _Flights(history) if errors else None
        for kind in _KINDS:
            for err in errors.get(kind, [])[: self.max_cases]:
                assert flights is not None
                anomalies.append(_anomaly(err, total, flights, ctx))
        summary = {}
        for kind, errs in errors.items():
            s: dict[str, Any] = {
                "count": len(errs),
                "first": _brief(errs[0]),
                "worst": _brief(max(errs, key=lambda e: _badness(e, total))),
                "last": _brief(errs[-1]),
            }
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
        if changed:
            details["total-changed-periods"] = changed
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


def _periods(
    history: list[Op], reads: list[Op], total: Any, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The first ``limit`` periods in which the reads summed to something other than
    ``total`` (see the module docstring), each with the in-flight transfers that moved
    exactly the change, and how many there were in all. Suspects are looked for only in
    the periods returned: each search scans every transfer, and a bank whose total drifts
    all run long has a period every few reads."""
    runs: list[list[Any]] = []  # [sum, first read, last read, count]
    for op in reads:
        if not all(isinstance(b, int | float) for b in op.value.values()):
            continue
        s = _sum(op.value.values())
        if runs and runs[-1][0] == s:
            runs[-1][2] = op
            runs[-1][3] += 1
        else:
            runs.append([s, op, op, 1])
    plateaus = [r for i, r in enumerate(runs) if r[3] >= 2 or i == len(runs) - 1]
    changed = sum(1 for r in plateaus if r[0] != total)
    if not changed:
        return [], 0  # the usual case: no pairing of the whole history to look for suspects
    pairs = pair_index(history)
    began = {id(history[j]): history[i].time for i, j in pairs.items() if i < j}
    transfers = _transfers(history, pairs)
    out: list[dict[str, Any]] = []
    prev_sum, prev_last = total, None
    for i, (s, first, last, count) in enumerate(plateaus):
        if s != total and len(out) < limit:
            change = s - prev_sum
            # in flight when the sum changed: invoked before the first read at the new sum
            # completed, and not completed before the last read at the old sum began
            lo = began.get(id(prev_last), prev_last.time) if prev_last is not None else -1
            suspects = [
                (inv, done)
                for inv, done in transfers
                if _amount(inv) == abs(change)
                and inv.time <= first.time
                and (done is None or done.time >= lo)
            ]
            suspects.sort(key=lambda p: (p[1] is not None and p[1].type == "ok", p[0].time))
            after = plateaus[i + 1][0] if i + 1 < len(plateaus) else None
            out.append(
                {
                    "sum": s,
                    "change": change,
                    "first": first,
                    "last": last,
                    "reads": count,
                    "then": after,
                    "suspects": suspects,
                }
            )
        prev_sum, prev_last = s, last
    return out, changed


def _transfers(history: list[Op], pairs: dict[int, int]) -> list[tuple[Op, Op | None]]:
    """Every transfer invocation with its completion (None: never completed), except those
    that failed: a failed transfer changed nothing."""
    out = []
    for i, op in enumerate(history):
        if op.type == "invoke" and op.f == "transfer" and op.process != NEMESIS:
            done = history[pairs[i]] if i in pairs else None
            if done is None or done.type != "fail":
                out.append((op, done))
    return out


def _amount(op: Op) -> Any:
    return op.value.get("amount") if isinstance(op.value, dict) else None


def _period_anomaly(p: dict[str, Any], total: Any, ctx: dict[str, Any] | None = None) -> Anomaly:
    first, last = p["first"], p["last"]
    change = p["change"]
    direction = f"{-change} less" if change < 0 else f"{change} more"
    span = op_ref(first, ctx) if first is last else f"{op_ref(first, ctx)} to {op_ref(last, ctx)}"
    text = (
        f"the reads summed to {p['sum']}, {direction} than {p['sum'] - change}, from {span} "
        f"({p['reads']} read{'s' if p['reads'] != 1 else ''}); "
    )
    if p["then"] is None:
        text += (
            "that was still so at the last read: money was "
            + ("destroyed" if p["sum"] < total else "created")
            + ", and stayed so"
        )
    else:
        text += f"then the reads summed to {p['then']}" + (
            " (the right total again)" if p["then"] == total else ""
        )
    suspects = p["suspects"]
    if suspects:
        shown = "; ".join(_transfer_ref(inv, done, ctx) for inv, done in suspects[:5])
        more = f" (and {len(suspects) - 5} more)" if len(suspects) > 5 else ""
        half = (
            "its withdrawal without its deposit"
            if change < 0
            else "its deposit without its withdrawal"
        )
        text += (
            f". A change of {abs(change)} is the amount of {len(suspects)} transfer"
            f"{'s' if len(suspects) != 1 else ''} in flight when it happened: {shown}"
            f"{more}. If one of them applied {half}, that is this change"
        )
    # the reads only: the suspects' invocations come earlier and would pass for evidence
    ops = [first.to_dict()] + ([last.to_dict()] if last is not first else [])
    data = {
        "sum": p["sum"],
        "change": change,
        "reads": p["reads"],
        "then": p["then"],
        "first": first.index,
        "last": last.index,
        "suspects": [inv.index for inv, _ in suspects],
        # the sub-history the report draws: the reads, and the transfers in flight
        "in_flight": [_flight(inv, done) for inv, done in suspects[:20]],
    }
    return Anomaly("total-changed", text + ".", ops, data)


def _transfer_ref(inv: Op, done: Op | None, ctx: dict[str, Any] | None = None) -> str:
    v = inv.value if isinstance(inv.value, dict) else {}
    where = f" on {inv.node}" if inv.node else ""
    if done is None:
        outcome = "never answered"
    elif done.type == "info":
        outcome = f"indeterminate ({done.error})" if done.error else "indeterminate"
    else:
        outcome = f"acknowledged at {when(done.time, ctx)}"
    return (
        f"op {inv.index} (process {inv.process}{where}, transfer of {v.get('amount')} "
        f"from {v.get('from')} to {v.get('to')}, invoked at {when(inv.time, ctx)}, "
        f"{outcome})"
    )


def _flight(inv: Op, done: Op | None) -> dict[str, Any]:
    """A transfer in flight, as the report's sub-history names it: by its invocation."""
    return {"index": inv.index, "time": inv.time, "done": None if done is None else done.index}


class _Flights:
    """The transfers of a history (not the failed ones), to find those in flight during a
    read: invoked before it completed, not completed before it was invoked."""

    def __init__(self, history: list[Op]) -> None:
        pairs = pair_index(history)
        self.transfers = _transfers(history, pairs)
        self.invoked = {id(history[j]): history[i] for i, j in pairs.items() if i < j}

    def during(self, read: Op) -> list[tuple[Op, Op | None]]:
        inv = self.invoked.get(id(read), read)
        return [
            (t, done)
            for t, done in self.transfers
            if t.time <= read.time and (done is None or done.time >= inv.time)
        ]


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


def _anomaly(
    err: dict[str, Any], total: Any, flights: _Flights, ctx: dict[str, Any] | None = None
) -> Anomaly:
    op: Op = err["op"]
    kind = err["type"]
    balances = fmt(op.value)
    ref = op_ref(op, ctx)
    if kind == "unexpected-key":
        text = f"{ref} read accounts {fmt(err['unexpected'])} that do not exist"
    elif kind == "nil-balance":
        text = f"{ref} read no balance (nil) for accounts {fmt(err['nils'])}"
    elif kind == "wrong-total":
        text = (
            f"{ref} read balances that sum to {err['total']}, but transfers "
            f"preserve the total, {total}: the read saw a state no serial order of "
            "transfers produces"
        )
    else:
        text = (
            f"{ref} read negative balances {fmt(err['negative'])}; transfers must "
            "not overdraw an account"
        )
    in_flight = flights.during(op)
    text += f". Balances read: {balances}"
    if in_flight:
        shown = "; ".join(_transfer_ref(t, done, ctx) for t, done in in_flight[:3])
        more = f" (and {len(in_flight) - 3} more)" if len(in_flight) > 3 else ""
        text += f". In flight during the read: {shown}{more}"
    data = {k: v for k, v in _brief(err).items() if k != "op"}
    data["in_flight"] = [_flight(t, done) for t, done in in_flight[:20]]
    return Anomaly(kind, text + ".", [op.to_dict()], data)
