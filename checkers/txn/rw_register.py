"""Read-write registers: infer dependencies from writes and reads of unique values.

Unlike lists, a register read reveals only the last write, so less of the version order is
known. What is known, as Elle infers it:

- wr: T2 read x = v, and T1 is the one transaction that wrote x = v: T1 precedes T2;
- the version order of each key: the initial nil comes before every value written or read;
  with ``wfr_keys`` (writes follow reads), a transaction that read x = v and then wrote
  x = v' puts v before v';
- ww / rw from that order: for each pair v -> v', the writers of v precede the writers of v'
  (ww) and the readers of v precede them too (rw).

Only external reads and writes count: a transaction's first read of a key before it writes
it, and its last write. Anomalies seen without cycles: internal inconsistency, aborted reads
(G1a), intermediate reads (G1b), lost updates, and cyclic version orders.
"""

from __future__ import annotations

from typing import Any

from ._graph import RW, WR, WW, tarjan_lists
from ._prepare import Txns
from .list_append import AnalysisError, _order_step, malformed_mop

__all__ = ["Analysis", "analyse"]

_SHIFT = 5
_NIL: Any = None


class Analysis:
    """Edges, anomalies found without cycles, and the indices that explain an edge."""

    workload = "rw-register"

    def __init__(self, txns: Txns) -> None:
        self.txns = txns
        self.out: list[list[int]] = [[] for _ in range(len(txns))]
        self.cases: dict[str, list[dict[str, Any]]] = {}
        self.ext_reads: list[dict[Any, Any]] = []
        self.ext_writes: list[dict[Any, Any]] = []
        #: key -> version -> later versions (the inferred version order)
        self.versions: dict[Any, dict[Any, set[Any]]] = {}
        self.sources: list[str] = []

    def explain(self, a: int, b: int, rel: int) -> dict[str, Any]:
        """Why ``a`` precedes ``b`` by relation ``rel``, as data."""
        ra, wa = self.ext_reads[a], self.ext_writes[a]
        rb, wb = self.ext_reads[b], self.ext_writes[b]
        mops_a, mops_b = self.txns.mops[a], self.txns.mops[b]
        if rel == WR:
            for k, v in wa.items():
                if k in rb and rb[k] == v:
                    return {
                        "type": "wr",
                        "key": k,
                        "value": v,
                        "a-mop-index": _idx(mops_a, "w", k, v),
                        "b-mop-index": _idx(mops_b, "r", k, v),
                    }
        elif rel in (WW, RW):
            src = wa if rel == WW else ra
            for k, v in src.items():
                later = self.versions.get(k, {}).get(v, ())
                if k in wb and wb[k] in later:
                    return {
                        "type": "ww" if rel == WW else "rw",
                        "key": k,
                        "value": v,
                        "value'": wb[k],
                        "a-mop-index": _idx(mops_a, "w" if rel == WW else "r", k, v),
                        "b-mop-index": _idx(mops_b, "w", k, wb[k]),
                    }
        return _order_step(self.txns, a, b, rel)


def _idx(mops: list[Any], f: str, k: Any, v: Any) -> int | None:
    for i, m in enumerate(mops):
        if m[0] == f and m[1] == k and m[2] == v:
            return i
    return None


def analyse(txns: Txns, *, wfr_keys: bool = False) -> Analysis:
    """Infer the wr / ww / rw edges and the anomalies visible without cycles. Raises
    AnalysisError when the history is not a read-write register history."""
    try:
        return _analyse(txns, wfr_keys)
    except AnalysisError:
        raise
    except (TypeError, ValueError):
        bad = malformed_mop(txns)
        if bad is not None:
            raise AnalysisError(
                f"micro-op {bad!r} is not [f, key, value]: not a transaction history"
            ) from None
        raise


def _analyse(txns: Txns, wfr_keys: bool) -> Analysis:
    an = Analysis(txns)
    n = len(txns)
    ok_of = txns.ok
    writers: dict[Any, dict[Any, list[int]]] = {}  # ok external writes
    readers: dict[Any, dict[Any, list[int]]] = {}  # ok external reads
    versions = an.versions
    cases = an.cases
    for t in range(n):
        ext_r: dict[Any, Any] = {}
        ext_w: dict[Any, Any] = {}
        state: dict[Any, Any] = {}
        internal = False
        ok = ok_of[t]
        for mop in txns.mops[t]:
            f, k, v = mop
            if f == "w":
                ext_w[k] = v
                state[k] = v
            elif f == "r":
                if k not in ext_w and k not in ext_r:
                    ext_r[k] = v
                if ok and not internal and k in state and state[k] != v:
                    cases.setdefault("internal", []).append(
                        {"txn": t, "mop": mop, "expected": state[k]}
                    )
                    internal = True
                state[k] = v
            else:
                raise AnalysisError(
                    f'micro-op {mop!r} is neither ["w", k, v] nor ["r", k, v]:'
                    " not a read-write register history"
                )
        if not ok:
            ext_r = {}  # an indeterminate read tells nothing
        an.ext_reads.append(ext_r)
        an.ext_writes.append(ext_w)
        for k, v in ext_w.items():
            if v is not _NIL:
                versions.setdefault(k, {}).setdefault(_NIL, set()).add(v)
            if ok:
                writers.setdefault(k, {}).setdefault(v, []).append(t)
        for k, v in ext_r.items():
            if v is not _NIL:
                versions.setdefault(k, {}).setdefault(_NIL, set()).add(v)
            readers.setdefault(k, {}).setdefault(v, []).append(t)
    an.sources.append("initial-state")
    if wfr_keys:
        _writes_follow_reads(an)
    out = an.out
    # wr: a read of a value exactly one transaction wrote.
    for k, by_value in readers.items():
        wk = writers.get(k, {})
        for v, rs in by_value.items():
            ws = wk.get(v)
            if not ws:
                continue
            if len(ws) > 1:
                raise AnalysisError(
                    f"key {k!r} had value {v!r} written by more than one transaction (ops at "
                    f"index {', '.join(str(txns.ops[w].index) for w in ws)}): writes must be "
                    "unique"
                )
            w = ws[0]
            for r in rs:
                if r != w:
                    out[w].append((r << _SHIFT) | WR)
    # ww and rw along the version order.
    for k, order in versions.items():
        wk, rk = writers.get(k, {}), readers.get(k, {})
        for v1, laters in order.items():
            w1, r1 = wk.get(v1, ()), rk.get(v1, ())
            for v2 in laters:
                w2 = wk.get(v2)
                if not w2:
                    continue
                for b in w2:
                    ww, rw = (b << _SHIFT) | WW, (b << _SHIFT) | RW
                    for a in w1:
                        if a != b:
                            out[a].append(ww)
                    for a in r1:
                        if a != b:
                            out[a].append(rw)
    _failed_and_intermediate(an)
    _lost_updates(an)
    return an


def _writes_follow_reads(an: Analysis) -> None:
    """Add v -> v' when an ok transaction read k = v and then wrote k = v'; if that makes a
    key's version order cyclic, report it (``cyclic-versions``) and leave the order out."""
    extra: dict[Any, dict[Any, set[Any]]] = {}
    for t, ok in enumerate(an.txns.ok):
        if not ok:
            continue
        r, w = an.ext_reads[t], an.ext_writes[t]
        for k, v in r.items():
            if v is not _NIL and k in w and w[k] != v:
                extra.setdefault(k, {}).setdefault(v, set()).add(w[k])
    merged: dict[Any, dict[Any, set[Any]]] = {}
    cycles: list[dict[str, Any]] = []
    for k, g in extra.items():
        m = {a: set(bs) for a, bs in an.versions.get(k, {}).items()}
        for a, bs in g.items():
            m.setdefault(a, set()).update(bs)
        nodes = sorted(set(m) | {b for bs in m.values() for b in bs}, key=repr)
        comps = [c for c in _sccs(nodes, m) if len(c) > 1]
        if comps:
            cycles.extend(
                {"key": k, "scc": sorted(c, key=repr), "sources": ["initial-state", "wfr-keys"]}
                for c in comps
            )
        merged[k] = m
    if cycles:
        an.cases["cyclic-versions"] = cycles
        return
    an.versions.update(merged)
    an.sources.append("wfr-keys")


def _sccs(nodes: list[Any], graph: dict[Any, set[Any]]) -> list[list[Any]]:
    """The strongly connected components of a version graph, its versions numbered in the
    order of ``nodes`` for ``tarjan_lists``."""
    number = {v: i for i, v in enumerate(nodes)}
    succ = [[number[w] for w in graph.get(v, ())] for v in nodes]
    return [[nodes[i] for i in comp] for comp in tarjan_lists(succ)]


def _failed_and_intermediate(an: Analysis) -> None:
    txns = an.txns
    failed: dict[Any, dict[Any, Any]] = {}
    for op, mops in txns.failed:
        for f, k, v in mops:
            if f == "w":
                failed.setdefault(k, {})[v] = op
    intermediate: dict[Any, dict[Any, Any]] = {}
    sources: list[tuple[Any, list[Any], int | None]] = [
        (op, mops, t) for t, (op, mops) in enumerate(zip(txns.ops, txns.mops, strict=True))
    ]
    sources += [(op, mops, None) for op, mops in txns.failed]
    for op, mops, t in sources:
        last: dict[Any, Any] = {}
        for f, k, v in mops:
            if f == "w":
                if k in last:
                    intermediate.setdefault(k, {})[last[k]] = (op, t)
                last[k] = v
    g1a, g1b = [], []
    for t, mops in enumerate(txns.mops):
        if not txns.ok[t]:
            continue
        for mop in mops:
            f, k, v = mop
            if f != "r":
                continue
            try:
                fw = failed.get(k, {}).get(v)
                im = intermediate.get(k, {}).get(v)
            except TypeError:
                continue
            if fw is not None:
                g1a.append({"txn": t, "mop": mop, "writer": fw, "element": v})
            if im is not None and im[1] != t:
                g1b.append(
                    {"txn": t, "mop": mop, "writer": im[0], "writer-txn": im[1], "element": v}
                )
    if g1a:
        an.cases["G1a"] = g1a
    if g1b:
        an.cases["G1b"] = g1b


def _lost_updates(an: Analysis) -> None:
    """Two committed transactions that read the same version of a key and both wrote it."""
    by: dict[tuple[Any, Any], list[int]] = {}
    for t, ok in enumerate(an.txns.ok):
        if not ok:
            continue
        r, w = an.ext_reads[t], an.ext_writes[t]
        for k, v in r.items():
            if k in w:
                try:
                    by.setdefault((k, v), []).append(t)
                except TypeError:
                    continue
    lost = [{"key": k, "value": v, "txns": ts} for (k, v), ts in by.items() if len(ts) > 1]
    if lost:
        an.cases["lost-update"] = lost
