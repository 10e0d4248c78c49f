"""List-append: infer the dependencies between transactions from appends and reads of lists.

Every append adds a unique element to the end of a list, so every read of a list reveals the
order of the appends before it: a read of x = [1, 2, 3] says 1 was appended before 2 before 3.
The longest read of each key gives its version order (Elle's "append index"), and from it:

- ww: T2 appended v right after T1 appended the element before v, so T1 precedes T2;
- wr: T2 read a list whose last element T1 appended, so T1 precedes T2;
- rw: T1 read a list that ends just before T2's append (or the empty list, before the
  first append), so it did not see that append: T1 precedes T2.

Anomalies seen without cycles: aborted reads (G1a), intermediate reads (G1b), internal
inconsistency, future reads, duplicate elements, incompatible orders of one list, dirty
updates and lost updates. A history whose appends are not unique per key cannot be analysed
(the verdict is "unknown", as with Elle).
"""

from __future__ import annotations

from typing import Any

from ._graph import PROCESS, REALTIME, REL_NAMES, RW, WR, WW
from ._prepare import Txns

__all__ = ["INIT", "Analysis", "analyse"]


class _Init:
    """The initial, empty state of a list: what an append to an empty list comes after."""

    def __repr__(self) -> str:
        return "INIT"


INIT: Any = _Init()
_UNKNOWN_PREFIX: Any = object()
_SHIFT = 5


class AnalysisError(ValueError):
    """The history cannot be analysed as list-append (the verdict is unknown)."""


class Analysis:
    """The result of inference: edges, the anomalies found without cycles, and what is needed
    to explain any edge later."""

    workload = "list-append"

    def __init__(self, txns: Txns) -> None:
        self.txns = txns
        n = len(txns)
        #: encoded edges per transaction: (target << 5) | relation
        self.out: list[list[int]] = [[] for _ in range(n)]
        #: anomaly type -> cases (dicts with txn numbers / ops)
        self.cases: dict[str, list[dict[str, Any]]] = {}
        #: key -> the version order of its appended elements
        self.orders: dict[Any, list[Any]] = {}
        self.positions: dict[Any, dict[Any, int]] = {}
        #: key -> element -> txn that appended it (ok / info)
        self.writers: dict[Any, dict[Any, int]] = {}
        #: key -> element -> failed op that appended it
        self.failed_writers: dict[Any, dict[Any, Any]] = {}
        #: key -> last element read (or INIT) -> txns that read it
        self.readers: dict[Any, dict[Any, list[int]]] = {}

    # -- explaining an edge --------------------------------------------------------------------

    def prev_element(self, k: Any, v: Any) -> Any:
        """The element appended to ``k`` just before ``v`` (INIT for the first). For an append
        no read observed, the last observed element: it came after all of them."""
        pos = self.positions.get(k)
        if pos is None:
            return INIT
        i = pos.get(v)
        if i is None:
            return self.orders[k][-1]
        return self.orders[k][i - 1] if i > 0 else INIT

    def explain(self, a: int, b: int, rel: int) -> dict[str, Any]:
        """Why ``a`` precedes ``b`` by relation ``rel``, as data (Elle's step maps)."""
        ma, mb = self.txns.mops[a], self.txns.mops[b]
        if rel == WW:
            for j, (f, k, v) in enumerate(mb):
                if f == "append":
                    p = self.prev_element(k, v)
                    if p is not INIT and self.writers.get(k, {}).get(p) == a:
                        return {
                            "type": "ww",
                            "key": k,
                            "value": p,
                            "value'": v,
                            "a-mop-index": _mop_index(ma, "append", k, p),
                            "b-mop-index": j,
                        }
        elif rel == WR:
            for j, (f, k, v) in enumerate(mb):
                if f == "r" and v and self.writers.get(k, {}).get(v[-1]) == a:
                    return {
                        "type": "wr",
                        "key": k,
                        "value": v[-1],
                        "read": v,
                        "a-mop-index": _mop_index(ma, "append", k, v[-1]),
                        "b-mop-index": j,
                    }
        elif rel == RW:
            for j, (f, k, v) in enumerate(mb):
                if f != "append":
                    continue
                p = self.prev_element(k, v)
                for i, (fa, ka, va) in enumerate(ma):
                    if fa == "r" and ka == k and (va[-1] if va else INIT) == p:
                        if va is None and not self.txns.ok[a]:
                            continue
                        return {
                            "type": "rw",
                            "key": k,
                            "value": p,
                            "value'": v,
                            "read": va,
                            "a-mop-index": i,
                            "b-mop-index": j,
                        }
        return _order_step(self.txns, a, b, rel)


def _order_step(txns: Txns, a: int, b: int, rel: int) -> dict[str, Any]:
    """Explanation data for a realtime or process edge (or, should a data edge have no
    evidence left, which inference rules out, a bare step of its type)."""
    if rel == REALTIME:
        return {
            "type": "realtime",
            "a-completed": txns.comp_pos[a],
            "b-invoked": txns.invoke_pos[b],
        }
    if rel == PROCESS:
        return {"type": "process", "process": txns.ops[a].process}
    return {"type": REL_NAMES[rel]}


def _mop_index(mops: list[Any], f: str, k: Any, v: Any) -> int | None:
    for i, m in enumerate(mops):
        if m[0] == f and m[1] == k and m[2] == v:
            return i
    return None


def analyse(txns: Txns) -> Analysis:
    """Infer the ww / wr / rw edges and the anomalies visible without cycles. Raises
    AnalysisError when the history is not a list-append history."""
    try:
        return _analyse(txns)
    except AnalysisError:
        raise
    except (TypeError, ValueError) as e:
        bad = malformed_mop(txns)
        if bad is not None:
            raise AnalysisError(
                f"micro-op {bad!r} is not [f, key, value]: not a transaction history"
            ) from None
        if "unhashable" not in str(e):
            raise
    # Keys or elements that are lists or maps: freeze them, and try again.
    frozen = Txns(
        **{
            **txns.__dict__,
            "mops": [[_freeze_mop(m) for m in ms] for ms in txns.mops],
            "failed": [(op, [_freeze_mop(m) for m in ms]) for op, ms in txns.failed],
        }
    )
    return _analyse(frozen)


def malformed_mop(txns: Txns) -> Any:
    """The first micro-op that is not a 3-element list, or None."""
    for mops in (*txns.mops, *(m for _, m in txns.failed)):
        for m in mops:
            if not isinstance(m, list | tuple) or len(m) != 3:
                return m
    return None


def _analyse(txns: Txns) -> Analysis:
    an = Analysis(txns)
    mops_of, ok_of = txns.mops, txns.ok
    n = len(txns)
    writers = an.writers
    readers = an.readers
    longest: dict[Any, list[Any]] = {}
    single: dict[Any, Any] = {}  # key -> its only append, or _MANY
    intermediate: dict[Any, dict[Any, int]] = {}  # key -> element -> txn that overwrote it
    many = _MANY
    bad: list[Any] = []
    # Pass 1: who appended what, who read what, the longest read of each key.
    for t in range(n):
        ok = ok_of[t]
        mops = mops_of[t]
        last_app: dict[Any, Any] | None = None
        for mop in mops:
            f, k, v = mop
            if f == "append":
                w = writers.get(k)
                if w is None:
                    writers[k] = {v: t}
                elif v in w:
                    if w[v] != t:
                        raise AnalysisError(
                            f"element {v!r} appended to key {k!r} twice (by ops at index "
                            f"{txns.ops[w[v]].index} and {txns.ops[t].index}): appends must "
                            "be unique"
                        )
                else:
                    w[v] = t
                single[k] = v if k not in single else many
                if len(mops) > 1:
                    if last_app is None:
                        last_app = {k: v}
                    else:
                        if k in last_app:
                            intermediate.setdefault(k, {})[last_app[k]] = t
                        last_app[k] = v
            elif f == "r":
                if v:
                    if not isinstance(v, list):
                        bad.append(mop)
                        continue
                    cur = longest.get(k)
                    if cur is None or len(v) > len(cur):
                        longest[k] = v
                    last = v[-1]
                elif v is None and not ok:
                    continue  # an indeterminate read: nil means "not known", not "empty"
                elif v is not None and not isinstance(v, list):
                    bad.append(mop)
                    continue
                else:
                    last = INIT
                r = readers.get(k)
                if r is None:
                    readers[k] = {last: [t]}
                else:
                    lst = r.get(last)
                    if lst is None:
                        r[last] = [t]
                    else:
                        lst.append(t)
            else:
                bad.append(mop)
    if bad:
        raise AnalysisError(
            f'micro-op {bad[0]!r} is neither ["append", k, v] nor '
            '["r", k, list]: not a list-append history'
        )
    failed_writers = an.failed_writers
    failed_intermediate: dict[Any, dict[Any, Any]] = {}
    for op, mops in txns.failed:
        last_f: dict[Any, Any] = {}
        for f, k, v in mops:
            if f == "append":
                fw = failed_writers.setdefault(k, {})
                if v in fw or v in writers.get(k, _EMPTY):
                    raise AnalysisError(
                        f"element {v!r} appended to key {k!r} twice: appends must be unique"
                    )
                fw[v] = op
                if k in last_f:
                    failed_intermediate.setdefault(k, {})[last_f[k]] = op
                last_f[k] = v
    # Version orders: the longest read, or a single append never read.
    orders, positions = an.orders, an.positions
    dup_keys: set[Any] = set()
    for k, v in longest.items():
        pos: dict[Any, int] = {}
        order: list[Any] = []
        for e in v:
            if e not in pos:
                pos[e] = len(order)
                order.append(e)
        if len(order) != len(v):
            dup_keys.add(k)
        orders[k] = order
        positions[k] = pos
    for k, v in single.items():
        if v is not many and k not in orders:
            orders[k] = [v]
            positions[k] = {v: 0}
    # prev_element of every element in a version order, looked up at once in pass 2.
    prev_of = {k: dict(zip(order, [INIT, *order[:-1]], strict=True)) for k, order in orders.items()}
    # Pass 2: edges, and what one transaction (or two) shows without a cycle.
    out = an.out
    cases: dict[str, list[dict[str, Any]]] = {}
    offending: set[Any] = set()
    lost: dict[tuple[Any, Any], list[int]] = {}
    for t in range(n):
        mops = mops_of[t]
        for mop in mops:
            f, k, v = mop
            if f == "append":
                pk = prev_of.get(k)
                p = INIT if pk is None else pk.get(v, _UNSEEN)
                if p is _UNSEEN:  # appended, never read: after every element read
                    p = orders[k][-1]
                if p is not INIT:
                    wt = writers[k].get(p)
                    if wt is not None and wt != t:
                        out[wt].append((t << _SHIFT) | WW)
                r = readers.get(k)
                if r is not None:
                    rs = r.get(p)
                    if rs:
                        code = (t << _SHIFT) | RW
                        for x in rs:
                            if x != t:
                                out[x].append(code)
            elif v:
                last = v[-1]
                wt = writers.get(k, _EMPTY).get(last)
                if wt is not None and wt != t:
                    out[wt].append((t << _SHIFT) | WR)
                lg = longest[k]
                if v is not lg and v != lg[: len(v)]:
                    offending.add(k)
                    _duplicates(cases, t, mop)
                elif k in dup_keys:
                    _duplicates(cases, t, mop)
                if not ok_of[t]:
                    continue
                failed_k = failed_writers.get(k)
                if failed_k:
                    for e in v:
                        if e in failed_k:
                            cases.setdefault("G1a", []).append(
                                {"txn": t, "mop": mop, "writer": failed_k[e], "element": e}
                            )
                im = intermediate.get(k)
                if im is not None:
                    wt = im.get(last)
                    if wt is not None and wt != t:
                        cases.setdefault("G1b", []).append(
                            {"txn": t, "mop": mop, "writer-txn": wt, "element": last}
                        )
                fim = failed_intermediate.get(k)
                if fim is not None and last in fim:
                    cases.setdefault("G1b", []).append(
                        {"txn": t, "mop": mop, "writer": fim[last], "element": last}
                    )
        if len(mops) > 1 and ok_of[t] and len({m[1] for m in mops}) != len(mops):
            _within_txn(cases, lost, t, mops)
    for (k, _), ts in lost.items():
        if len(ts) > 1:
            cases.setdefault("lost-update", []).append(
                {"key": k, "value": _first_read_value(txns, ts[0], k), "txns": ts}
            )
    if offending:
        _incompatible_orders(cases, txns, offending)
    an.cases = cases
    _dirty_updates(an)
    return an


class _Many:
    pass


_MANY: Any = _Many()
_UNSEEN: Any = object()
_EMPTY: dict[Any, Any] = {}


def _duplicates(cases: dict[str, list[dict[str, Any]]], t: int, mop: Any) -> None:
    v = mop[2]
    if len(set(v)) == len(v):
        return
    counts: dict[Any, int] = {}
    for e in v:
        counts[e] = counts.get(e, 0) + 1
    cases.setdefault("duplicate-elements", []).append(
        {"txn": t, "mop": mop, "duplicates": {e: c for e, c in counts.items() if c > 1}}
    )


def _incompatible_orders(
    cases: dict[str, list[dict[str, Any]]], txns: Txns, offending: set[Any]
) -> None:
    """Reads of one key that are not all prefixes of its longest read: no single order of
    appends explains them. Reported as Elle does: the first two distinct reads (sorted by
    length) of which the shorter is not a prefix of the longer."""
    values: dict[Any, dict[tuple[Any, ...], tuple[list[Any], int]]] = {k: {} for k in offending}
    for t, mops in enumerate(txns.mops):
        for f, k, v in mops:
            if f == "r" and v and k in values:
                values[k].setdefault(tuple(v), (v, t))
    for k in sorted(offending, key=repr):
        ordered = sorted(values[k].values(), key=lambda x: len(x[0]))
        for (a, ta), (b, tb) in zip(ordered, ordered[1:], strict=False):
            if b[: len(a)] != a:
                cases.setdefault("incompatible-order", []).append(
                    {"key": k, "values": [a, b], "txns": [ta, tb]}
                )
                break


def _within_txn(
    cases: dict[str, list[dict[str, Any]]],
    lost: dict[tuple[Any, Any], list[int]],
    t: int,
    mops: list[Any],
) -> None:
    """Internal consistency (a read that disagrees with the transaction's own earlier reads
    and appends), future reads (a read of an element the transaction appends later), and
    the read-then-append pairs lost updates are made of. Only for transactions that touch
    some key twice."""
    state: dict[Any, list[Any]] = {}
    first_read: dict[Any, Any] = {}
    wrote: set[Any] = set()
    internal = False
    for mop in mops:
        f, k, v = mop
        if f == "append":
            s = state.get(k)
            state[k] = [_UNKNOWN_PREFIX, v] if s is None else [*s, v]
            if k not in wrote:
                wrote.add(k)
                if k in first_read:
                    lost.setdefault((k, _hashable_read(first_read[k])), []).append(t)
            continue
        if k not in wrote and k not in first_read:
            first_read[k] = v
        s = state.get(k)
        if s is not None and not internal:
            vv = v or []
            if s and s[0] is _UNKNOWN_PREFIX:
                suffix = s[1:]
                bad = len(vv) < len(suffix) or vv[len(vv) - len(suffix) :] != suffix
            else:
                bad = s != vv
            if bad:
                cases.setdefault("internal", []).append({"txn": t, "mop": mop, "expected": s})
                internal = True
                continue
        if v is None:
            state.pop(k, None)
        else:
            state[k] = v
    # Future reads: scanning backwards, a read of an element appended later in the txn.
    later: dict[Any, set[Any]] = {}
    for mop in reversed(mops):
        f, k, v = mop
        if f == "append":
            later.setdefault(k, set()).add(v)
        elif v and k in later:
            ahead = later[k]
            for e in v:
                if e in ahead:
                    cases.setdefault("future-read", []).append({"txn": t, "mop": mop, "element": e})
                    return


def _first_read_value(txns: Txns, t: int, k: Any) -> Any:
    for f, k2, v in txns.mops[t]:
        if k2 == k:
            return v if f == "r" else None
    return None


def _hashable_read(v: Any) -> Any:
    return None if v is None else tuple(v)


def _dirty_updates(an: Analysis) -> None:
    """A committed append that follows an aborted one in a key's version order: the committed
    transaction built on state that never existed. Walks each key's order keeping the last
    definite (ok or failed) writer; info writers leave it as it was."""
    txns = an.txns
    cases = []
    for k, order in an.orders.items():
        fw = an.failed_writers.get(k)
        if not fw:
            continue
        w = an.writers.get(k, _EMPTY)
        last_state = "ok"
        last_failed: Any = None
        values: list[Any] = []
        for e in order:
            values.append(e)
            if e in fw:
                if last_state != "fail":
                    last_failed, values = fw[e], [e]
                last_state = "fail"
                continue
            t = w.get(e)
            if t is None:
                continue
            if not txns.ok[t]:
                continue  # indeterminate: keep the range open
            if last_state == "fail":
                cases.append({"key": k, "values": list(values), "failed": last_failed, "txn": t})
            last_state, values = "ok", [e]
    if cases:
        an.cases["dirty-update"] = cases


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((_freeze(a), _freeze(b)) for a, b in v.items()), key=repr))
    return v


def _freeze_mop(m: Any) -> list[Any]:
    f, k, v = m
    if f == "r" and isinstance(v, list):
        return [f, _freeze(k), [_freeze(e) for e in v]]
    return [f, _freeze(k), _freeze(v)]
