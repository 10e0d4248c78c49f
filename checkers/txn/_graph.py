"""The dependency graph over transactions, and the search for cycles of each kind.

Vertices are ints (transaction numbers). While the graph is built, each vertex keeps a plain
list of encoded edges ``target << 5 | relation`` (no per-edge objects: a million transactions
make several million edges). Relations are bits, so one pair of transactions may be related
several ways at once.

Finding anomalies, as Elle does:

1. ``cyclic_core``: peel off every vertex with no incoming edge (Kahn), then every vertex with
   no outgoing edge, repeatedly. What remains is every vertex on a cycle and little else; for a
   valid history nothing remains, and checking costs one pass over the edges.
2. Tarjan's strongly connected components of what remains.
3. In each component, for each anomaly class (G0, G1c, G-single, ...), a shortest cycle of
   that class through one of its edges: a breadth-first search over (vertex, state), where the
   state counts the special edges taken (read-write anti-dependencies for G-single), whether
   the last edge was one (G-nonadjacent), and whether a process / real-time edge was taken
   (the -process / -realtime variants). Where a class needs a cycle inside a subgraph (G0 in
   the ww edges), the search starts from edges inside a component of that subgraph, so it
   succeeds at once; for G-single it starts from anti-dependencies whose ends reach each
   other, which reachability sets over the condensed subgraph tell without searching.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from functools import cache

__all__ = [
    "PROCESS",
    "REALTIME",
    "REL_NAMES",
    "RW",
    "WR",
    "WW",
    "Component",
    "SearchTimeout",
    "Spec",
    "any_cycle",
    "components",
    "cyclic_core",
    "find_cycle",
    "has_cycle",
    "tarjan_lists",
]

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
REL_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
_SHIFT = 5
_MASK = (1 << _SHIFT) - 1

#: u -> {v: relation bits}, for the vertices that may lie on cycles
Adjacency = dict[int, dict[int, int]]
#: a cycle: (from, to, relation) steps, the last step's ``to`` is the first step's ``from``
Cycle = list[tuple[int, int, int]]
#: the relations an edge with these bits may be used as, for bits 0..31
_ROLES: list[tuple[int, ...]] = [
    tuple(r for r in (WW, WR, RW, PROCESS, REALTIME) if b & r) for b in range(32)
]


class SearchTimeout(Exception):
    """The cycle search ran past its deadline."""


def cyclic_core(n: int, out: list[list[int]]) -> list[int]:
    """The vertices left after repeatedly removing those with no incoming or no outgoing
    edge: every vertex on a cycle is among them (in increasing order)."""
    indeg = [0] * n
    for lst in out:
        for e in lst:
            indeg[e >> _SHIFT] += 1
    alive = bytearray(b"\x01") * n
    stack = [v for v in range(n) if indeg[v] == 0]
    while stack:
        v = stack.pop()
        alive[v] = 0
        for e in out[v]:
            w = e >> _SHIFT
            indeg[w] -= 1
            if indeg[w] == 0:
                stack.append(w)
    rest = [v for v in range(n) if alive[v]]
    if not rest:
        return rest
    # Backwards: a vertex whose every successor is gone cannot be on a cycle either.
    preds: dict[int, list[int]] = {v: [] for v in rest}
    outdeg: dict[int, int] = {}
    for v in rest:
        k = 0
        for e in out[v]:
            w = e >> _SHIFT
            if alive[w]:
                preds[w].append(v)
                k += 1
        outdeg[v] = k
    stack = [v for v in rest if outdeg[v] == 0]
    while stack:
        v = stack.pop()
        alive[v] = 0
        for u in preds[v]:
            if alive[u]:
                outdeg[u] -= 1
                if outdeg[u] == 0:
                    stack.append(u)
    return [v for v in rest if alive[v]]


def tarjan_lists(succ: list[list[int]]) -> list[list[int]]:
    """Strongly connected components of the graph on 0..n-1 given by successor lists, sinks
    first (a component comes before every component that reaches it)."""
    n = len(succ)
    index = [-1] * n
    low = [0] * n
    on_stack = bytearray(n)
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = 1
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            edges = succ[v]
            descended = False
            while i < len(edges):
                w = edges[i]
                i += 1
                if index[w] < 0:
                    work[-1] = (v, i)
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = 1
                    work.append((w, 0))
                    descended = True
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if descended:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = 0
                    comp.append(w)
                    if w == v:
                        break
                comps.append(comp)
    return comps


class Component:
    """A strongly connected component with vertices renumbered 0..n-1: ``ids[i]`` is the
    transaction, ``out[i]`` the (successor, relation bits) pairs inside the component."""

    def __init__(self, ids: list[int], out: list[list[tuple[int, int]]]) -> None:
        self.ids = ids
        self.out = out
        self.n = len(ids)
        present = 0
        for lst in out:
            for _, b in lst:
                present |= b
        self.present = present
        self._succ: dict[int, list[list[int]]] = {}

    def succ(self, mask: int) -> list[list[int]]:
        """Successor lists over the edges with a bit in ``mask`` (cached)."""
        lists = self._succ.get(mask)
        if lists is None:
            lists = [[v for v, b in lst if b & mask] for lst in self.out]
            self._succ[mask] = lists
        return lists

    def sccs(self, mask: int) -> list[list[int]]:
        """The non-trivial components of the edges with a bit in ``mask``."""
        return [c for c in tarjan_lists(self.succ(mask)) if len(c) > 1]

    def globalize(self, cycle: Cycle) -> Cycle:
        ids = self.ids
        return [(ids[a], ids[b], r) for a, b, r in cycle]


def components(core: list[int], out: list[list[int]]) -> list[Component]:
    """The non-trivial strongly connected components among the ``core`` vertices, each with
    its edges merged per pair of transactions, ordered by their smallest transaction."""
    loc = {g: i for i, g in enumerate(core)}
    merged: list[list[tuple[int, int]]] = []
    for g in core:
        d: dict[int, int] = {}
        for e in out[g]:
            j = loc.get(e >> _SHIFT)
            if j is not None:
                d[j] = d.get(j, 0) | (e & _MASK)
        merged.append(list(d.items()))
    succ = [[v for v, _ in lst] for lst in merged]
    result = []
    for comp in tarjan_lists(succ):
        if len(comp) < 2:
            continue
        comp.sort()
        sub = {c: i for i, c in enumerate(comp)}
        sub_out = [[(sub[v], b) for v, b in merged[c] if v in sub] for c in comp]
        result.append(Component([core[c] for c in comp], sub_out))
    result.sort(key=lambda c: c.ids[0])
    return result


# -- the search ------------------------------------------------------------------------------

# A search state is a small int of flags: bits 0-1 count special edges (capped at 2), bit 2 says
# the last edge was special, bit 3 says a variant (process / realtime) edge was taken.
_CNT, _LAST, _HASV = 3, 4, 8


class Spec:
    """What a cycle of one class looks like.

    ``free``: relations usable anywhere; ``special``: the relation whose count is constrained
    (``exactly_one``, ``at_least`` 1 or 2, ``nonadjacent``); ``variant``: a relation of which
    at least one edge is required (process or realtime), also usable anywhere; ``start``: the
    relation of the edge the search starts from.
    """

    def __init__(
        self,
        free: int,
        special: int = 0,
        *,
        exactly_one: bool = False,
        at_least: int = 0,
        nonadjacent: bool = False,
        variant: int = 0,
        start: int = 0,
    ) -> None:
        self.free = free | variant
        self.special = special
        self.exactly_one = exactly_one
        self.at_least = at_least
        self.nonadjacent = nonadjacent
        self.variant = variant
        self.start = start or special or variant or free
        self.mask = self.free | special
        # The state after an edge used as each relation, for each state: step[flags][rel].
        self._step = [[self._next(f, r) for r in range(32)] for f in range(16)]

    def _next(self, flags: int, rel: int) -> int:
        cnt = flags & _CNT
        if rel & self.special:
            if self.exactly_one and cnt >= 1:
                return -1
            if self.nonadjacent and flags & _LAST:
                return -1
            flags = (flags & ~_CNT) | min(cnt + 1, 2) | _LAST
        else:
            flags &= ~_LAST
        if rel & self.variant:
            flags |= _HASV
        return flags

    def step(self, flags: int, rel: int) -> int:
        """The state after taking an edge used as ``rel``, or -1 when not allowed."""
        return self._step[flags][rel]

    def accepts(self, flags: int) -> bool:
        """Whether a cycle closing in this state is of the class (the closing edge is the one
        into the start vertex; the first edge is the start edge)."""
        cnt = flags & _CNT
        if self.exactly_one and cnt != 1:
            return False
        if cnt < self.at_least:
            return False
        if self.nonadjacent and flags & _LAST:
            return False
        return not (self.variant and not flags & _HASV)


def search_from(
    g: Component,
    allowed: bytearray | None,
    spec: Spec,
    u: int,
    v: int,
    start_rel: int,
    deadline: float,
    rank: list[int] | None = None,
    floor: int = 0,
) -> Cycle | None:
    """A shortest cycle of the class ``spec`` that starts with the edge u -> v used as
    ``start_rel``, through vertices in ``allowed`` (all when None) and, with ``rank``, of
    rank at least ``floor``; None if there is none. Vertices are local ids."""
    step = spec._step
    flags0 = step[0][start_rel]
    if flags0 < 0 or v == u:
        return None
    start = v << 4 | flags0
    parent: dict[int, tuple[int, int]] = {start: (start, 0)}
    queue = deque([start])
    mask = spec.mask
    accepts = spec.accepts
    out = g.out
    steps = 0
    while queue:
        state = queue.popleft()
        x, fl = state >> 4, state & 15
        steps += 1
        if steps & 4095 == 0 and time.monotonic() > deadline:
            raise SearchTimeout
        row = step[fl]
        for y, bits in out[x]:
            b = bits & mask
            if not b:
                continue
            if allowed is not None and not allowed[y]:
                continue
            if rank is not None and rank[y] < floor:
                continue
            for rel in _ROLES[b]:
                nf = row[rel]
                if nf < 0:
                    continue
                if y == u:
                    if accepts(nf):
                        return _unwind(parent, state, (u, v, start_rel), (x, y, rel))
                    continue
                nxt = y << 4 | nf
                if nxt not in parent:
                    parent[nxt] = (state, rel)
                    queue.append(nxt)
    return None


def _unwind(
    parent: dict[int, tuple[int, int]],
    state: int,
    first: tuple[int, int, int],
    last: tuple[int, int, int],
) -> Cycle:
    steps: Cycle = [last]
    while True:
        prev, rel = parent[state]
        if prev == state:
            break
        steps.append((prev >> 4, state >> 4, rel))
        state = prev
    steps.append(first)
    steps.reverse()
    return steps


def find_cycle(g: Component, spec: Spec, deadline: float, *, single: bool = False) -> Cycle | None:
    """A cycle of the class ``spec`` in the component, in local ids, or None. ``single``:
    the class has exactly one special edge (G-single), found by reachability instead of
    components."""
    if single:
        return _find_single(g, spec, deadline)
    if spec.nonadjacent:
        regions = _nonadjacent_regions(g, spec, need_special=True)
    else:
        regions = [(c, c, c) for c in g.sccs(spec.mask)]
    for members, tails, heads in regions:
        allowed = bytearray(g.n)
        for x in members:
            allowed[x] = 1
        if spec.variant and not _has_edge(g, allowed, members, spec.variant):
            continue
        is_head = bytearray(g.n)
        for x in heads:
            is_head[x] = 1
        for u in sorted(set(tails)):
            for v, bits in g.out[u]:
                if bits & spec.start and is_head[v]:
                    cyc = search_from(g, allowed, spec, u, v, spec.start, deadline)
                    if cyc is not None:
                        return cyc
                    if time.monotonic() > deadline:
                        raise SearchTimeout
    return None


def _has_edge(g: Component, allowed: bytearray, members: Iterable[int], rel: int) -> bool:
    return any(b & rel and allowed[v] for u in members for v, b in g.out[u])


def _nonadjacent_regions(
    g: Component, spec: Spec, *, need_special: bool
) -> list[tuple[list[int], list[int], list[int]]]:
    """Regions where a cycle with non-adjacent special edges may be: components of the graph
    whose vertices are (x, free) and (x, after-special), where a special edge may only be
    taken from a free state. Returns (vertices involved, vertices in a free state, vertices
    entered by a special edge) for each component (with a special edge, if
    ``need_special``)."""
    plain, special = spec.free, spec.special
    succ: list[list[int]] = []
    for lst in g.out:
        free_out = [y << 1 for y, b in lst if b & plain]
        succ.append(free_out + [y << 1 | 1 for y, b in lst if b & special])  # (x, free)
        succ.append(free_out)  # (x, after-special)
    regions = []
    for comp in tarjan_lists(succ):
        if len(comp) < 2:
            continue
        heads = sorted({s >> 1 for s in comp if s & 1})
        if heads or not need_special:
            tails = sorted({s >> 1 for s in comp if not s & 1})
            regions.append((sorted({s >> 1 for s in comp}), tails, heads))
    return regions


def _find_single(g: Component, spec: Spec, deadline: float) -> Cycle | None:
    """A cycle with exactly one special edge u -> v: a path v ~> u over the free relations.
    Condense the free subgraph into components, numbered sinks first: v can only reach u if
    its component's number is at least u's, and the search never enters a component
    numbered lower than u's. When the condensation is small enough, a reachability set per
    component (a bitset) says at once which special edges close a cycle (through a variant
    edge, when one is required)."""
    free, variant = spec.free, spec.variant
    comps = tarjan_lists(g.succ(free))  # sinks first
    rank = [0] * g.n
    for i, c in enumerate(comps):
        for x in c:
            rank[x] = i
    candidates = [
        (u, v) for u in range(g.n) for v, b in g.out[u] if b & spec.special and rank[v] >= rank[u]
    ]
    if not candidates:
        return None
    if len(comps) <= 20000:
        reach = [0] * len(comps)
        reach_v = [0] * len(comps)
        for i, c in enumerate(comps):
            r = 1 << i
            rv = 0
            internal_v = False
            for x in c:
                for y, b in g.out[x]:
                    if not b & free:
                        continue
                    j = rank[y]
                    if j == i:
                        if b & variant:
                            internal_v = True
                        continue
                    r |= reach[j]
                    if variant:
                        rv |= reach[j] if b & variant else reach_v[j]
            reach[i] = r
            reach_v[i] = r if internal_v else rv
            if time.monotonic() > deadline:
                raise SearchTimeout
        table = reach_v if variant else reach
        candidates = [(u, v) for u, v in candidates if table[rank[v]] >> rank[u] & 1]
    else:
        candidates.sort(key=lambda e: rank[e[1]] - rank[e[0]])
    for u, v in candidates:
        cyc = search_from(g, None, spec, u, v, spec.special, deadline, rank, rank[u])
        if cyc is not None:
            return cyc
    return None


@cache
def _extension_spec(mask: int, extension: int) -> Spec:
    return Spec(mask, extension, nonadjacent=True)


def any_cycle(g: Component) -> Cycle:
    """Some short cycle in the component (local ids): the fallback when the search for named
    classes ran out of time."""
    parent: dict[int, tuple[int, int]] = {0: (0, 0)}
    queue = deque([0])
    while queue:
        x = queue.popleft()
        for y, b in g.out[x]:
            rel = _ROLES[b][0]
            if y == 0:
                steps: Cycle = [(x, 0, rel)]
                while x != 0:
                    px, prel = parent[x]
                    steps.append((px, x, prel))
                    x = px
                steps.reverse()
                return steps
            if y not in parent:
                parent[y] = (x, rel)
                queue.append(y)
    raise ValueError("not a strongly connected component")


def has_cycle(g: Component, mask: int, extension: int = 0) -> list[int]:
    """The smallest non-trivial component (local ids, sorted) of the edges in ``mask`` (plus,
    with ``extension``, edges of that relation taken right after a ``mask`` edge: Elle's
    "sequential extension", which makes snapshot isolation's cycles). Empty if acyclic."""
    comps: list[list[int]]
    if not extension:
        comps = g.sccs(mask)
    else:
        spec = _extension_spec(mask, extension)
        comps = [m for m, _, _ in _nonadjacent_regions(g, spec, need_special=False)]
    if not comps:
        return []
    smallest = min(comps, key=len)
    return sorted(smallest)
