"""PRAM and causal consistency: what each operation must have seen, from what it depends on.

Each operation T of process q has a *visible past*, the operations T must reflect:

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

PRAM's past is a vector clock per process (of each process, the last of its operations
visible): it grows only with what the process itself read. The causal past is transitive, and
a vector clock of it would grow with every process the run has had (a client takes a new
process, a new session, after each operation of unknown outcome: as many processes as the run
is long, and a sweep as long as the run times them). So it is kept as ``_Slots``: per key, the
newest visible write (registers: per key, and per key and process), and only while a later
operation still asks about that key: a few numbers per past, whatever the run's length. Each
slot is a maximum, and a past is a union, so merging pasts merges slots; and what each slot
holds is exactly the write the vector clock would name.

Versions are ``Versions``' (list positions; for registers nil first, and each process's
writes in its order). For registers, a read of v violates when a later write of v's writer,
or any write where v is the initial nil, is visible; two writes of different processes are
never compared, since nothing in a register history orders them.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from heapq import heappop, heappush
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
    cases: Cases = {}
    counts: dict[str, int] = {}

    def add(k: str, case: dict[str, Any]) -> None:
        counts[k] = counts.get(k, 0) + 1
        lst = cases.setdefault(k, [])
        if len(lst) < max_cases:
            case["type"] = k
            lst.append(case)

    if transitive:
        # Cases are told in the order of ``_order``'s stack, as they always were; the sweep
        # goes in the history's order as near as it can (a heap), where what a txn's past
        # holds that a later txn still asks about stays small: the stack's order leaves
        # txns nobody read from (each process's last) at its bottom until the end, and the
        # keys they touch would then stay in every clock all run long.
        order, cyclic = _order(prep, sources, smallest_first=True)
        if cyclic:
            add("causal-cycle", {"cycle": _cycle(prep, sources, cyclic)})
        found = _causal_sweep(prep, versions, order, sources, reported, deadline)
        if len(found) > 1:
            rank = [0] * len(prep.ops)
            for n, t in enumerate(_order(prep, sources)[0]):
                rank[t] = n
            found.sort(key=lambda f: (rank[f[0]], f[1]))
        for tid, _, k, v, w, rel in found:
            add("causal", {"txn": tid, "key": k, "value": v, "witness": w, "rel": rel})
    else:
        _pram_sweep(prep, versions, sources, reported, deadline, add)
    return cases, counts


def _pram_sweep(
    prep: Prepared,
    versions: Versions,
    sources: list[list[int]],
    reported: set[tuple[int, Any]],
    deadline: float,
    add: Any,
) -> None:
    """PRAM: each process's clock (process -> the last of its operations visible) holds its
    own earlier operations and, of each other process, those up to its latest write read.
    Not transitive: a clock is its process's alone, and grows only with what it reads."""
    procs, seqs, oks, reads_of = prep.procs, prep.seqs, prep.oks, prep.reads
    index = _WriteIndex(prep, versions)
    clocks: dict[Any, dict[Any, int]] = {}  # process -> its visible past so far
    rv = versions.read_version
    for tid in range(len(prep.ops)):
        if not tid & 4095 and time.monotonic() > deadline:
            raise CausalTimeout
        q, seq = procs[tid], seqs[tid]
        clock = clocks.get(q)
        if clock is None:
            clock = clocks[q] = {}
        for s in sources[tid]:
            if clock.get(procs[s], -1) < seqs[s]:
                clock[procs[s]] = seqs[s]
        if seq:
            clock[q] = seq - 1
        if oks[tid]:
            for k, v in reads_of[tid]:
                if (tid, k) in reported:
                    continue
                w = index.violated_by_read(k, v, rv(k, v), clock)
                if w is not None:
                    add("PRAM", {"txn": tid, "key": k, "value": v, "witness": w, "rel": "rw"})
        clock[q] = seq


def _causal_sweep(
    prep: Prepared,
    versions: Versions,
    order: list[int],
    sources: list[list[int]],
    reported: set[tuple[int, Any]],
    deadline: float,
) -> list[tuple[int, int, Any, Any, int, str]]:
    """Causal: each txn's visible past, as ``_Slots`` summarise it, is the union of its
    process's (its earlier txns and everything they saw) and of the pasts of the txns it read
    from; a txn read from keeps its past, until its last reader has taken it. Returns each
    violation as (txn, its rank among the txn's, key, value, witness, "rw" | "ww")."""
    procs, oks, reads_of, writes_of = prep.procs, prep.oks, prep.reads, prep.writes
    slots = _Slots(prep, versions, order)
    expiry, gains = slots.expiry, slots.gains
    lists = slots.lists
    clocks: dict[Any, dict[int, int]] = {}  # process -> its visible past so far
    shared: set[Any] = set()  # processes whose clock is also some txn's snapshot
    past: dict[int, dict[int, int]] = {}  # txn -> its visible past, itself included
    # How many readers of each txn are still to come: its past is dropped after the last.
    found: list[tuple[int, int, Any, Any, int, str]] = []
    waiting = [0] * len(prep.ops)
    for t in order:
        for s in sources[t]:
            waiting[s] += 1
    for n, tid in enumerate(order):
        if not n & 4095 and time.monotonic() > deadline:
            raise CausalTimeout
        q = procs[tid]
        clock = clocks.get(q)
        if clock is None:
            clock = clocks[q] = {}
        elif q in shared:
            clock = clocks[q] = dict(clock)
            shared.discard(q)
        for s in sources[tid]:
            for sl, sc in past[s].items():
                if clock.get(sl, -1) < sc and expiry[sl] >= n:
                    clock[sl] = sc
            waiting[s] -= 1
            if not waiting[s]:
                del past[s]
        if oks[tid]:
            for k, v in reads_of[tid]:
                if (tid, k) not in reported:
                    w = slots.violated_by_read(k, v, clock)
                    if w is not None:
                        found.append((tid, len(found), k, v, w, "rw"))
            if lists:
                for k, v in writes_of[tid]:
                    if (tid, k) not in reported:
                        w = slots.violated_by_write(k, v, clock)
                        if w is not None:
                            found.append((tid, len(found), k, v, w, "ww"))
        for sl, sc in gains[tid]:
            if clock.get(sl, -1) < sc and expiry[sl] > n:
                clock[sl] = sc
        if waiting[tid]:
            # Only what a later txn asks about is kept: a process's clock then holds what
            # is still to be asked about, not every process (or key) the run has known.
            clock = clocks[q] = {sl: sc for sl, sc in clock.items() if expiry[sl] > n}
            past[tid] = clock
            shared.add(q)
    return found


class _Slots:
    """What the causal sweep needs of a visible past, as a few numbers ("slots") rather than a
    vector clock (process -> its last visible operation): a vector clock has an entry per
    process ever seen, and a client that takes a new process after each operation of unknown
    outcome makes as many processes as the run is long.

    Each slot is a maximum over the writes in the past, under a total order of the writes
    that picks the same write as ``_WriteIndex`` does from a vector clock; the maximum over a
    union is the maximum of the maxima, so merging two pasts merges their slots:

    - list-append, one slot per key: its writes ordered by (version, first-written-by rank
      of the process, earliest in the process): the newest visible write, and the one
      ``_WriteIndex._newest`` names;
    - registers, one slot per key for reads of the initial nil, its writes ordered by (rank
      of the process reversed, position in the process): the last visible write of the first
      process with one; and one per key and process that wrote the key twice or more, for
      reads of one of those writes: that process's last visible write of the key.

    A slot's score is the position of the write in its order. ``expiry[slot]``: the last
    position in the sweep of a txn that asks about it; after that it is dropped."""

    def __init__(self, prep: Prepared, versions: Versions, order: list[int]) -> None:
        self.lists = lists = versions.kind == "list-append"
        self.versions = versions
        procs, seqs = prep.procs, prep.seqs
        self._procs, self._seqs = procs, seqs
        # What is asked, and until when: key (lists; registers, reads of nil) or (key,
        # process) -> the last position in the sweep of an ok txn that asks. A slot is made
        # only for what is asked.
        asked: dict[Any, int] = {}
        asked_of: dict[tuple[Any, Any], int] = {}
        writers = versions.writers
        oks, reads, writes = prep.oks, prep.reads, prep.writes
        for n, t in enumerate(order):
            if not oks[t]:
                continue
            for k, v in reads[t]:
                if lists or v is None:
                    asked[k] = n
                else:
                    wt = writers.get(k, {}).get(v)
                    if wt is not None:
                        asked_of[(k, procs[wt])] = n
            if lists:
                for k, _ in writes[t]:
                    asked[k] = n
        #: key -> its slot (lists; registers, reads of nil)
        self.key_slot: dict[Any, int] = {}
        #: (key, process) -> its slot (registers)
        self.proc_slot: dict[tuple[Any, Any], int] = {}
        #: slot -> score -> the version (lists) or the position in its process (a process's
        #: slot), and the txn
        self.values: list[list[Any]] = []
        self.txns: list[list[int]] = []
        #: slot -> the last position in the sweep of a txn that asks about it
        self.expiry: list[int] = []
        #: txn -> the (slot, score) its own writes bring
        self.gains: list[list[tuple[int, int]]] = [[] for _ in prep.ops]
        # key -> each write in txn order: (txn, version or value)
        by_key: dict[Any, list[tuple[int, Any]]] = {}
        wv = versions.write_version
        keys = set(asked) | {k for k, _ in asked_of}
        for t, ws in enumerate(writes):
            for k, v in ws:
                if k in keys:
                    w = by_key.get(k)
                    if w is None:
                        by_key[k] = [(t, wv(k, v))]
                    else:
                        w.append((t, wv(k, v)))
        for k, ws in by_key.items():
            if k in asked:
                rank: dict[Any, int] = {}
                for t, _ in ws:
                    rank.setdefault(procs[t], len(rank))
                if lists:
                    keyed = sorted(
                        range(len(ws)),
                        key=lambda j: (ws[j][1], -rank[procs[ws[j][0]]], -seqs[ws[j][0]]),
                    )
                else:
                    keyed = sorted(range(len(ws)), key=lambda j: (-rank[procs[ws[j][0]]], ws[j][0]))
                self.key_slot[k] = self._slot(
                    [ws[j][1] for j in keyed], [ws[j][0] for j in keyed], asked[k]
                )
            if lists:
                continue
            mine: dict[Any, list[int]] = {}
            for t, _ in ws:
                if (k, procs[t]) in asked_of:
                    mine.setdefault(procs[t], []).append(t)
            for p, ts in mine.items():
                if len(ts) > 1:  # else a read of its one write: no later write of it to miss
                    self.proc_slot[(k, p)] = self._slot([seqs[t] for t in ts], ts, asked_of[(k, p)])

    def _slot(self, values: list[Any], txns: list[int], expiry: int) -> int:
        """A new slot: its writes (their versions or positions, their txns) in its order."""
        sl = len(self.values)
        self.values.append(values)
        self.txns.append(txns)
        self.expiry.append(expiry)
        gains = self.gains
        for score, t in enumerate(txns):
            gains[t].append((sl, score))
        return sl

    def violated_by_read(self, k: Any, v: Any, clock: dict[int, int]) -> int | None:
        """A write in the past ``clock`` that a read of ``k`` returning ``v`` should have
        shown, or None (as ``_WriteIndex.violated_by_read``)."""
        if self.lists:
            return self._newer(k, self.versions.read_version(k, v), clock)
        if v is None:  # the initial value: no write of k may be visible
            sl = self.key_slot.get(k, -1)
            sc = clock.get(sl, -1)
            return None if sc < 0 else self.txns[sl][sc]
        w = self.versions.writers.get(k, {}).get(v)
        if w is None:
            return None
        sl = self.proc_slot.get((k, self._procs[w]), -1)
        sc = clock.get(sl, -1)
        if sc < 0 or self.values[sl][sc] <= self._seqs[w]:
            return None
        return self.txns[sl][sc]

    def violated_by_write(self, k: Any, v: Any, clock: dict[int, int]) -> int | None:
        """A write in the past ``clock`` of ``k`` ordered after an append of ``v``, or None;
        lists only."""
        return self._newer(k, self.versions.write_version(k, v), clock)

    def _newer(self, k: Any, ver: Any, clock: dict[int, int]) -> int | None:
        """The newest write of ``k`` in the past ``clock`` when its version is after ``ver``
        (lists; None: an unknown version, after nothing)."""
        if ver is None:
            return None
        sl = self.key_slot.get(k, -1)
        sc = clock.get(sl, -1)
        if sc < 0 or self.values[sl][sc] <= ver:
            return None
        return self.txns[sl][sc]


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


def _order(
    prep: Prepared, sources: list[list[int]], *, smallest_first: bool = False
) -> tuple[list[int], list[int]]:
    """Txns in an order of session order + reads-from (Kahn), and those left on cycles.
    ``smallest_first``: of the txns ready, the first in the history (a heap, n log n), which
    keeps the order close to the history's; else the last made ready (a stack)."""
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
    pop, push = (heappop, heappush) if smallest_first else (list.pop, list.append)
    while stack:
        t = pop(stack)
        order.append(t)
        for r in readers[t]:
            indeg[r] -= 1
            if indeg[r] == 0:
                push(stack, r)
        b = nxt[t]
        if b >= 0:
            indeg[b] -= 1
            if indeg[b] == 0:
                push(stack, b)
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
