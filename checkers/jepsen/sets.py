"""Sets: ``add`` ops insert one element each, ``read`` ops return every element present.

``SetChecker`` (Jepsen's ``set``): the last ok read must hold every acknowledged add and
nothing that was never attempted. ``SetFullChecker`` (Jepsen's ``set-full``): follows each
element through every read. An element is *known* once its add completed ok or a read saw it;
it is *lost* if a read that began after it was known did not see it and no read that began
later saw it again; *stable* if the last read to miss it began before one that saw it;
*never read* otherwise. Any lost element, or a read holding an element twice, is invalid;
with ``linearizable``, so is an element missing from a read begun after its add completed
(a stale read). Unlike Jepsen's set-full, duplicates are counted (Jepsen's count is
always zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.history import Op
from harness.registry import CheckerInfo, option

from ..base import Anomaly, Result
from ._common import client_ops, fmt, freeze, invocations, op_ref

__all__ = ["SET", "SET_FULL", "SetChecker", "SetFullChecker", "SetFullOptions"]


@dataclass(frozen=True)
class SetFullOptions:
    """The set-full checker's options."""

    linearizable: bool = option(False, "a stale read (missing a completed add) is an error too")


SET = CheckerInfo(
    "set",
    "the final read holds every acknowledged add and nothing never attempted; lists the lost ones",
    lambda _options: SetChecker(),
)
SET_FULL = CheckerInfo(
    "set-full",
    "every element followed through every read: none lost once known",
    lambda o: SetFullChecker(o.linearizable),
    SetFullOptions,
)


class SetChecker:
    name = "set"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Compare the final read with the adds."""
        ops = client_ops(history)
        attempts = {freeze(op.value) for op in ops if op.f == "add" and op.type == "invoke"}
        adds = {freeze(op.value) for op in ops if op.f == "add" and op.type == "ok"}
        reads = [op for op in ops if op.f == "read" and op.type == "ok"]
        if not reads:
            return Result("unknown", [], {"reason": "the set was never read (no ok read)"})
        final_op = reads[-1]
        if not isinstance(final_op.value, list | tuple):
            return Result(
                "unknown",
                [],
                {
                    "reason": f"{op_ref(final_op)} read "
                    f"{fmt(final_op.value, 80)}; expected a "
                    "list of elements"
                },
            )
        final = {freeze(v) for v in final_op.value}
        ok = final & attempts
        unexpected = final - attempts
        lost = adds - final
        recovered = ok - adds
        anomalies = []
        if lost:
            anomalies.append(
                Anomaly(
                    "lost",
                    f"{len(lost)} acknowledged adds are missing from the final read "
                    f"({op_ref(final_op)}): {_elements(lost)}",
                    [final_op.to_dict()],
                    {"lost": _sorted(lost)},
                )
            )
        if unexpected:
            anomalies.append(
                Anomaly(
                    "unexpected",
                    f"the final read ({op_ref(final_op)}) holds {len(unexpected)} "
                    f"elements no add attempted: {_elements(unexpected)}",
                    [final_op.to_dict()],
                    {"unexpected": _sorted(unexpected)},
                )
            )
        details = {
            "attempt-count": len(attempts),
            "acknowledged-count": len(adds),
            "ok-count": len(ok),
            "lost-count": len(lost),
            "recovered-count": len(recovered),
            "unexpected-count": len(unexpected),
            "lost": _sorted(lost),
            "unexpected": _sorted(unexpected),
            "recovered": _sorted(recovered),
        }
        return Result(not lost and not unexpected, anomalies, details)


class SetFullChecker:
    """``linearizable``: a read that misses an element whose add completed before the read
    began is an error too (stale)."""

    name = "set-full"

    def __init__(self, linearizable: bool = False, *, max_cases: int = 10) -> None:
        self.linearizable = linearizable
        self.max_cases = max_cases

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Follow every element through every read."""
        ops = client_ops(history)
        inv = invocations(ops)
        # element -> [element value, known op, last present read-invoke, last absent
        #             read-invoke, first absent read-invoke after known]
        state: dict[Any, list[Any]] = {}
        order: list[Any] = []
        dups: dict[Any, int] = {}
        dup_reads: list[Op] = []
        pos_of = {id(op): i for i, op in enumerate(ops)}
        for i, op in enumerate(ops):
            if op.f == "add":
                e = freeze(op.value)
                if op.type == "invoke":
                    if e not in state:
                        state[e] = [op.value, None, None, None]
                        order.append(e)
                elif op.type == "ok" and e in state and state[e][1] is None:
                    state[e][1] = op
            elif op.f == "read" and op.type == "ok":
                if not isinstance(op.value, list | tuple):
                    return Result(
                        "unknown",
                        [],
                        {
                            "reason": f"{op_ref(op)} read "
                            f"{fmt(op.value, 80)}; expected a "
                            "list of elements"
                        },
                    )
                iop = inv.get(i, op)
                ipos = pos_of[id(iop)]
                seen: dict[Any, int] = {}
                for v in op.value:
                    fv = freeze(v)
                    seen[fv] = seen.get(fv, 0) + 1
                if len(seen) != len(op.value):
                    dup_reads.append(op)
                    for fv, c in seen.items():
                        if c > 1:
                            dups[fv] = max(dups.get(fv, 0), c)
                for e in order:
                    st = state[e]
                    if e in seen:
                        if st[1] is None:
                            st[1] = op
                        if st[2] is None or st[2][0] < ipos:
                            st[2] = (ipos, iop)
                    elif st[3] is None or st[3][0] < ipos:
                        st[3] = (ipos, iop)
        stable, lost, never, stale = [], [], [], []
        for e in order:
            value, known, present, absent = state[e]
            p = present[0] if present else -1
            a = absent[0] if absent else -1
            if present is not None and a < p:
                stable.append(e)
                if (
                    self.linearizable
                    and absent is not None
                    and known is not None
                    and pos_of[id(known)] < a
                ):
                    stale.append(e)
            elif known is not None and absent is not None and p < a and pos_of[id(known)] < a:
                lost.append(e)
            else:
                never.append(e)
        valid: Any
        if lost or dups or (self.linearizable and stale):
            valid = False
        elif not stable:
            valid = "unknown"
        else:
            valid = True
        anomalies = []
        for e in lost[: self.max_cases]:
            value, known, present, absent = state[e]
            seen_by = (
                f"last seen by the read invoked at {op_ref(present[1])}"
                if present
                else "never seen by any read"
            )
            anomalies.append(
                Anomaly(
                    "lost",
                    f"element {fmt(value)} was known to exist ({_known(known)}), but the "
                    f"read invoked at {op_ref(absent[1])} and every read begun after it missed "
                    f"it ({seen_by}): an acknowledged add is lost",
                    [known.to_dict(), absent[1].to_dict()],
                    {"element": value},
                )
            )
        for e in stale[: self.max_cases]:
            value, known, present, absent = state[e]
            anomalies.append(
                Anomaly(
                    "stale",
                    f"element {fmt(value)} was known to exist ({_known(known)}) before "
                    f"the read invoked at {op_ref(absent[1])} began, which missed it",
                    [known.to_dict(), absent[1].to_dict()],
                    {"element": value},
                )
            )
        for op in dup_reads[: self.max_cases]:
            anomalies.append(
                Anomaly(
                    "duplicated",
                    f"{op_ref(op)} read some elements more than once",
                    [op.to_dict()],
                    {},
                )
            )
        details: dict[str, Any] = {
            "attempt-count": len(order),
            "stable-count": len(stable),
            "lost-count": len(lost),
            "lost": [state[e][0] for e in lost[:1000]],
            "never-read-count": len(never),
            "never-read": [state[e][0] for e in never[:1000]],
            "stale-count": len(stale),
            "stale": [state[e][0] for e in stale[:1000]],
            "duplicated-count": len(dups),
            "duplicated": [[list(k) if isinstance(k, tuple) else k, c] for k, c in dups.items()],
        }
        if valid == "unknown":
            details["reason"] = "no element was ever seen stably by a read: nothing was checked"
        return Result(valid, anomalies, details)


def _known(op: Op) -> str:
    how = "its add completed" if op.f == "add" else "a read saw it"
    return f"{how}: {op_ref(op)}"


def _sorted(s: set[Any]) -> list[Any]:
    return sorted((list(x) if isinstance(x, tuple) else x for x in s), key=repr)


def _elements(s: set[Any], n: int = 20) -> str:
    items = _sorted(s)
    shown = ", ".join(fmt(x, 40) for x in items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "")
