"""PRAM and causal consistency: what each operation must have seen, from what it depends on.

Each operation T of process q has a *visible past*: for each writing process p, the last of
p's operations T must reflect, as a bound on p's session positions (a vector clock):

- PRAM (pipelined RAM): q's own earlier operations, and of every other process p, the
  operations of p up to the latest write of p that q has read (q sees each process's writes
  in that process's order, but nothing transitively);
- causal: the causal past, session order plus reads-from, transitively (Lamport's
  happened-before over operations, as Jepsen's causal workloads and Elle's ``-process``
  anomalies use it): q's earlier operations, every write T or they read, and everything
  those writes depended on.

T must then read, of each key, a version no older than any visible write of it, and (causal)
write a version ordered after every visible write of that key. A causal past that contains T
itself (session order and reads-from in a circle) is a ``causal-cycle``. Operations are visited
in an order of that relation (Kahn's), so every write's past is known before its readers'.

Versions are ``Versions``' (list positions; for registers nil first, and each process's
writes in its order). For registers, a read of v violates when a later write of v's writer,
or any write where v is the initial nil, is visible; two writes of different processes are
never compared, since nothing in a register history orders them.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from typing import Any

from ._prepare import Prepared
from ._versions import Versions

__all__ = ["CausalTimeout", "check_causal", "read_sources"]

Cases = dict[str, list[dict[str, Any]]]


class CausalTimeout(Exception):
    """The sweep ran past its deadline."""


def read_sources(prep: Prepared, versions: Versions) -> list[list[int]]:
    """For each txn, the other txns whose writes its reads saw (ok reads only)."""
    src = versions.read_source
    out: list[list[int]] = []
    for tid, rs in enumerate(prep.reads):
        s = [w for k, v in rs if (w := src(k, v)) is not None and w != tid]
        out.append(sorted(set(s)) if len(s) > 1 else s)
    return out


def check_causal(
    prep: Prepared,
    versions: Versions,
    *,
    transitive: bool,
    max_cases: int,
    deadline: float,
    reported: set[tuple[int, Any]],
    sources: list[list[int]],
) -> tuple[Cases, dict[str, int]]:
    """Cases of PRAM (``transitive`` False) or causal (True) violations, skipping (txn, key)
    pairs already ``reported`` by a session guarantee; and how many were found."""
    kind = "causal" if transitive else "PRAM"
    n_txns = len(prep.ops)
    procs, seqs, oks, reads_of, writes_of = prep.procs, prep.seqs, prep.oks, prep.reads, prep.writes
    index = _WriteIndex(prep, versions)
    cases: Cases = {}
    counts: dict[str, int] = {}

    def add(k: str, case: dict[str, Any]) -> None:
        counts[k] = counts.get(k, 0) + 1
        lst = cases.setdefault(k, [])
        if len(lst) < max_cases:
            case["type"] = k
            lst.append(case)

    order, cyclic = _order(prep, sources) if transitive else (range(n_txns), [])
    if cyclic:
        add("causal-cycle", {"cycle": _cycle(prep, sources, cyclic)})
    clocks: dict[Any, dict[Any, int]] = {}  # process -> its visible past so far
    shared: set[Any] = set()  # processes whose clock is also some txn's snapshot
    past: dict[int, dict[Any, int]] = {}  # causal: txn -> its visible past, itself included
    rv, wv = versions.read_version, versions.write_version
    # Only a txn some other txn read from needs its past kept.
    is_source = bytearray(n_txns)
    for ss in sources:
        for s in ss:
            is_source[s] = 1
    for n, tid in enumerate(order):
        if not n & 4095 and time.monotonic() > deadline:
            raise CausalTimeout
        q, seq = procs[tid], seqs[tid]
        clock = clocks.get(q)
        if clock is None:
            clock = clocks[q] = {}
        elif q in shared:
            clock = clocks[q] = dict(clock)
            shared.discard(q)
        for s in sources[tid]:
            if transitive:
                for p, b in past[s].items():
                    if clock.get(p, -1) < b:
                        clock[p] = b
            elif clock.get(procs[s], -1) < seqs[s]:
                clock[procs[s]] = seqs[s]
        if seq:
            clock[q] = seq - 1
        if oks[tid]:
            for k, v in reads_of[tid]:
                if (tid, k) in reported:
                    continue
                w = index.violated_by_read(k, v, rv(k, v), clock)
                if w is not None:
                    add(kind, {"txn": tid, "key": k, "value": v, "witness": w, "rel": "rw"})
            if transitive and versions.kind == "list-append":
                for k, v in writes_of[tid]:
                    if (tid, k) in reported:
                        continue
                    w = index.violated_by_write(k, wv(k, v), clock)
                    if w is not None:
                        add(kind, {"txn": tid, "key": k, "value": v, "witness": w, "rel": "ww"})
        clock[q] = seq
        if transitive and is_source[tid]:
            past[tid] = clock
            shared.add(q)
    return cases, counts


class _WriteIndex:
    """Per key and writing process, that process's writes in session order, with the highest
    version among each prefix (lists) so that "the newest visible write" is a bisection."""

    def __init__(self, prep: Prepared, versions: Versions) -> None:
        self.versions = versions
        self.lists = versions.kind == "list-append"
        #: key -> process -> (seqs, best version of each prefix, txn of that best)
        self.by_key: dict[Any, dict[Any, tuple[list[int], list[Any], list[int]]]] = {}
        wv = versions.write_version
        self._procs, self._seqs = prep.procs, prep.seqs
        for t, ws in enumerate(prep.writes):
            for k, v in ws:
                ver = wv(k, v)
                if self.lists and ver is None:
                    continue
                seqs, best, who = self.by_key.setdefault(k, {}).setdefault(
                    prep.procs[t], ([], [], [])
                )
                if self.lists and best and best[-1] >= ver:
                    ver, tid = best[-1], who[-1]
                else:
                    tid = t
                seqs.append(prep.seqs[t])
                best.append(ver)
                who.append(tid)

    def _newest(self, k: Any, clock: dict[Any, int]) -> tuple[Any, int] | None:
        """(highest visible version of ``k``, its writer), lists only."""
        top: tuple[Any, int] | None = None
        for p, (seqs, best, who) in self.by_key.get(k, {}).items():
            b = clock.get(p)
            if b is None:
                continue
            i = bisect_right(seqs, b) - 1
            if i >= 0 and (top is None or best[i] > top[0]):
                top = (best[i], who[i])
        return top

    def violated_by_read(self, k: Any, v: Any, ver: Any, clock: dict[Any, int]) -> int | None:
        """A visible write that a read of ``k`` returning ``v`` should have shown, or None."""
        if self.lists:
            if ver is None:
                return None
            top = self._newest(k, clock)
            return top[1] if top is not None and top[0] > ver else None
        writers = self.by_key.get(k, {})
        if v is None:  # the initial value: no write of k may be visible
            for p, (seqs, _, who) in writers.items():
                b = clock.get(p)
                if b is not None and seqs[0] <= b:
                    return who[bisect_right(seqs, b) - 1]
            return None
        w = self.versions.writers.get(k, {}).get(v)
        if w is None:
            return None
        wp = self._procs[w]
        entry = writers.get(wp)
        b = clock.get(wp)
        if entry is None or b is None:
            return None
        i = bisect_right(entry[0], b) - 1
        return entry[2][i] if i >= 0 and entry[0][i] > self._seqs[w] else None

    def violated_by_write(self, k: Any, ver: Any, clock: dict[Any, int]) -> int | None:
        """A visible write of ``k`` ordered after this one (lists), or None."""
        if ver is None:
            return None
        top = self._newest(k, clock)
        return top[1] if top is not None and top[0] > ver else None


def _order(prep: Prepared, sources: list[list[int]]) -> tuple[list[int], list[int]]:
    """Txns in an order of session order + reads-from (Kahn), and those left on cycles."""
    n = len(prep.ops)
    indeg = [0] * n
    readers: list[list[int]] = [[] for _ in range(n)]
    for tid, ss in enumerate(sources):
        indeg[tid] += len(ss)
        for s in ss:
            readers[s].append(tid)
    nxt: list[int] = [-1] * n
    for ids in prep.sessions.values():
        for a, b in zip(ids, ids[1:], strict=False):
            nxt[a] = b
            indeg[b] += 1
    stack = [t for t in range(n) if indeg[t] == 0]
    order: list[int] = []
    while stack:
        t = stack.pop()
        order.append(t)
        for r in readers[t]:
            indeg[r] -= 1
            if indeg[r] == 0:
                stack.append(r)
        b = nxt[t]
        if b >= 0:
            indeg[b] -= 1
            if indeg[b] == 0:
                stack.append(b)
    left = [t for t in range(n) if indeg[t] > 0]
    return order, left


def _cycle(prep: Prepared, sources: list[list[int]], left: list[int]) -> list[list[Any]]:
    """A cycle among the txns ``left`` on cycles: [from, to, "process" | "wr"] steps."""
    alive = set(left)
    prev: dict[int, int] = {}
    for ids in prep.sessions.values():
        for a, b in zip(ids, ids[1:], strict=False):
            prev[b] = a
    seen: dict[int, int] = {}
    path: list[tuple[int, int, str]] = []  # (pred, node, rel) walking backwards
    x = left[0]
    while x not in seen:
        seen[x] = len(path)
        p = prev.get(x)
        if p is not None and p in alive:
            path.append((p, x, "process"))
            x = p
            continue
        s = next(s for s in sources[x] if s in alive)
        path.append((s, x, "wr"))
        x = s
    loop = path[seen[x] :]
    return [[a, b, r] for a, b, r in reversed(loop)]
