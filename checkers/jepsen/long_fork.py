"""Long fork (Jepsen's ``long-fork``): write transactions insert one key each, read
transactions read a group of keys; two reads of one group that each saw an insert the other
did not observed the inserts in incompatible orders. Parallel snapshot isolation allows this;
snapshot isolation does not.

Reads are ok ops whose value is a list of ``["r", k, v]`` micro-ops (a ``nil`` value: the key
is not there yet); writes are ``[["w", k, v]]``. ``group_size``: how many keys every read reads
(0 = do not check the group size). A key written twice makes the verdict unknown, as does a
pair of reads that saw different values for one key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.history import Op
from harness.registry import CheckerInfo, option

from ..base import Anomaly, Result
from ._common import client_ops, fmt, freeze, op_ref

__all__ = ["LONG_FORK", "LongForkChecker", "LongForkOptions"]


@dataclass(frozen=True)
class LongForkOptions:
    """The long-fork checker's options (``--option group_size=3``)."""

    group_size: int = option(0, "keys every read reads (0: any)", minimum=0)


LONG_FORK = CheckerInfo(
    "long-fork",
    "no two reads saw inserts in incompatible orders (long fork)",
    lambda o: LongForkChecker(o.group_size),
    LongForkOptions,
)


class LongForkChecker:
    name = "long-fork"

    def __init__(self, group_size: int = 0, *, max_cases: int = 10) -> None:
        self.group_size = group_size
        self.max_cases = max_cases

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Compare every two reads of the same group of keys."""
        try:
            return self._check(history)
        except _Illegal as e:
            return Result("unknown", [], {"reason": str(e)})

    def _check(self, history: list[Op]) -> Result:
        ops = client_ops(history)
        written: dict[Any, Op] = {}
        for op in ops:
            if op.type == "invoke" and _is_write(op.value):
                k = freeze(op.value[0][1])
                if k in written:
                    raise _Illegal(
                        f"key {fmt(op.value[0][1])} is written twice "
                        f"({op_ref(written[k])} and {op_ref(op)}): the checker "
                        "assumes one write per key"
                    )
                written[k] = op
        groups: dict[tuple[Any, ...], list[tuple[Op, dict[Any, Any]]]] = {}
        n_reads = 0
        for op in ops:
            if op.type != "ok" or not _is_read(op.value):
                continue
            m = {freeze(k): v for _, k, v in op.value}
            if self.group_size and len(m) != self.group_size:
                raise _Illegal(
                    f"{op_ref(op)} read {len(m)} keys; every read should read a "
                    f"group of {self.group_size}"
                )
            n_reads += 1
            groups.setdefault(tuple(sorted(m, key=repr)), []).append((op, m))
        forks = []
        for reads in groups.values():
            for i, (a, ma) in enumerate(reads):
                for b, mb in reads[i + 1 :]:
                    if _compare(ma, mb, a, b) is None:
                        forks.append((a, b, ma, mb))
        anomalies = [_anomaly(a, b, ma, mb) for a, b, ma, mb in forks[: self.max_cases]]
        details = {
            "reads-count": n_reads,
            "groups": len(groups),
            "fork-count": len(forks),
            "forks": [[a.to_dict(), b.to_dict()] for a, b, _, _ in forks[:100]],
        }
        return Result(not forks, anomalies, details)


class _Illegal(ValueError):
    pass


def _is_read(v: Any) -> bool:
    return (
        isinstance(v, list)
        and bool(v)
        and all(isinstance(m, list) and len(m) == 3 and m[0] == "r" for m in v)
    )


def _is_write(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 1 and isinstance(v[0], list) and v[0][0] == "w"


def _compare(a: dict[Any, Any], b: dict[Any, Any], opa: Op, opb: Op) -> int | None:
    """-1 if ``a`` saw everything ``b`` did and more, 1 for the reverse, 0 if equal, None if
    each saw something the other did not."""
    res = 0
    for k, va in a.items():
        vb = b[k]
        if va == vb:
            continue
        if vb is None:
            if res > 0:
                return None
            res = -1
        elif va is None:
            if res < 0:
                return None
            res = 1
        else:
            raise _Illegal(
                f"{op_ref(opa)} and {op_ref(opb)} read different values for one "
                "key; the checker assumes one write per key"
            )
    return res


def _anomaly(a: Op, b: Op, ma: dict[Any, Any], mb: dict[Any, Any]) -> Anomaly:
    only_a = [k for k in ma if ma[k] is not None and mb[k] is None]
    only_b = [k for k in mb if mb[k] is not None and ma[k] is None]
    text = (
        f"{op_ref(a)} saw keys {fmt(list(only_a))} but not {fmt(list(only_b))}; "
        f"{op_ref(b)} saw {fmt(list(only_b))} but not {fmt(list(only_a))}: each read "
        "observed an insert the other missed, so the inserts became visible in two "
        "incompatible orders (a long fork)"
    )
    return Anomaly(
        "long-fork",
        text,
        [a.to_dict(), b.to_dict()],
        {"only-first": list(only_a), "only-second": list(only_b)},
    )
