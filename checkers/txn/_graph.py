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
from collections.abc import Callable, Iterable

__all__ = [
    "PROCESS",
    "REALTIME",
    "REL_NAMES",
    "RW",
    "WR",
    "WW",
    "Adjacency",
    "SearchTimeout",
    "core_adjacency",
    "cyclic_core",
    "tarjan",
]

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
REL_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
_SHIFT = 5
_MASK = (1 << _SHIFT) - 1

#: u -> {v: relation bits}, for the vertices that may lie on cycles
Adjacency = dict[int, dict[int, int]]
#: a cycle: (from, to, relation) steps, the last step's ``to`` is the first step's ``from``
Cycle = list[tuple[int, int, int]]


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


def core_adjacency(core: list[int], out: list[list[int]]) -> Adjacency:
    """Edges among ``core`` vertices, merged per pair: ``adj[u][v]`` is the relation bits."""
    inside = set(core)
    adj: Adjacency = {}
    for u in core:
        d: dict[int, int] = {}
        for e in out[u]:
            v = e >> _SHIFT
            if v in inside:
                d[v] = d.get(v, 0) | (e & _MASK)
        adj[u] = d
    return adj


def tarjan(nodes: Iterable[int], succ: Callable[[int], Iterable[int]]) -> list[list[int]]:
    """Strongly connected components (all of them, singletons too), sinks first: a component
    comes before every component that reaches it."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(succ(root)))]
        while work:
            v, it = work[-1]
            descended = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ(w))))
                    descended = True
                    break
                if w in on_stack and index[w] < low[v]:
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
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                comps.append(comp)
    return comps


def sub_sccs(nodes: Iterable[int], adj: Adjacency, mask: int) -> list[list[int]]:
    """Non-trivial strongly connected components of the edges with a bit in ``mask``."""
    inside = set(nodes)

    def succ(u: int) -> list[int]:
        return [v for v, b in adj[u].items() if b & mask and v in inside]

    return [c for c in tarjan(sorted(inside), succ) if len(c) > 1]


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
        self, free: int, special: int = 0, *, exactly_one: bool = False, at_least: int = 0,
        nonadjacent: bool = False, variant: int = 0, start: int = 0,
    ) -> None:  # fmt: skip
        self.free = free | variant
        self.special = special
        self.exactly_one = exactly_one
        self.at_least = at_least
        self.nonadjacent = nonadjacent
        self.variant = variant
        self.start = start or special or variant or free
        self.mask = self.free | special

    def step(self, flags: int, rel: int) -> int:
        """The state after taking an edge used as ``rel``, or -1 when not allowed."""
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


def _roles(bits: int) -> list[int]:
    return [r for r in (WW, WR, RW, PROCESS, REALTIME) if bits & r]


def search_from(
    adj: Adjacency, allowed: set[int], spec: Spec, u: int, v: int, start_rel: int,
    deadline: float,
) -> Cycle | None:  # fmt: skip
    """A shortest cycle of the class ``spec`` that starts with the edge u -> v used as
    ``start_rel`` and stays within ``allowed``; None if there is none."""
    flags0 = spec.step(0, start_rel)
    if flags0 < 0:
        return None
    if v == u:
        return None
    start = (v, flags0)
    parent: dict[tuple[int, int], tuple[tuple[int, int], int]] = {start: (start, 0)}
    queue = deque([start])
    mask = spec.mask
    steps = 0
    while queue:
        state = queue.popleft()
        x, fl = state
        steps += 1
        if steps & 1023 == 0 and time.monotonic() > deadline:
            raise SearchTimeout
        for y, bits in adj[x].items():
            b = bits & mask
            if not b or y not in allowed:
                continue
            for rel in _roles(b):
                nf = spec.step(fl, rel)
                if nf < 0:
                    continue
                if y == u:
                    if spec.accepts(nf):
                        return _unwind(parent, state, (u, v, start_rel), (x, y, rel))
                    continue
                nxt = (y, nf)
                if nxt not in parent:
                    parent[nxt] = (state, rel)
                    queue.append(nxt)
    return None


def _unwind(
    parent: dict[tuple[int, int], tuple[tuple[int, int], int]],
    state: tuple[int, int], first: tuple[int, int, int], last: tuple[int, int, int],
) -> Cycle:  # fmt: skip
    steps: Cycle = [last]
    while True:
        prev, rel = parent[state]
        if prev == state:
            break
        steps.append((prev[0], state[0], rel))
        state = prev
    steps.append(first)
    steps.reverse()
    return steps


def find_cycle(
    adj: Adjacency, nodes: list[int], spec: Spec, deadline: float, *, single: bool = False,
) -> Cycle | None:  # fmt: skip
    """A cycle of the class ``spec`` among ``nodes`` (a strongly connected component of the
    whole graph), or None. ``single``: the class has exactly one special edge (G-single),
    found by reachability instead of components."""
    if single:
        return _find_single(adj, nodes, spec, deadline)
    if spec.nonadjacent:
        regions = _nonadjacent_regions(adj, nodes, spec, need_special=True)
    else:
        regions = [(set(c), set(c), set(c)) for c in sub_sccs(nodes, adj, spec.mask)]
    for members, tails, heads in regions:
        if spec.variant and not _has_edge(adj, members, spec.variant):
            continue
        for u in sorted(tails):
            for v, bits in adj[u].items():
                if bits & spec.start and v in heads:
                    cyc = search_from(adj, members, spec, u, v, spec.start, deadline)
                    if cyc is not None:
                        return cyc
                    if time.monotonic() > deadline:
                        raise SearchTimeout
    return None


def _has_edge(adj: Adjacency, members: set[int], rel: int) -> bool:
    return any(b & rel and v in members for u in members for v, b in adj[u].items())


def _nonadjacent_regions(
    adj: Adjacency, nodes: list[int], spec: Spec, *, need_special: bool
) -> list[tuple[set[int], set[int], set[int]]]:
    """Regions where a cycle with non-adjacent special edges may be: components of the graph
    whose vertices are (x, free) and (x, after-special), where a special edge may only be
    taken from a free state. Returns (vertices involved, vertices in a free state, vertices
    entered by a special edge) for each component (with a special edge, if
    ``need_special``)."""
    inside = set(nodes)
    plain = spec.free

    def succ(s: int) -> list[int]:
        x, after = s >> 1, s & 1
        out = []
        for y, b in adj[x].items():
            if y not in inside:
                continue
            if b & plain:
                out.append(y << 1)
            if b & spec.special and not after:
                out.append((y << 1) | 1)
        return out

    states = [x << 1 | a for x in sorted(inside) for a in (0, 1)]
    regions = []
    for comp in tarjan(states, succ):
        if len(comp) < 2:
            continue
        heads = {s >> 1 for s in comp if s & 1}
        if heads or not need_special:
            tails = {s >> 1 for s in comp if not s & 1}
            regions.append(({s >> 1 for s in comp}, tails, heads))
    return regions


def _find_single(adj: Adjacency, nodes: list[int], spec: Spec, deadline: float) -> Cycle | None:
    """A cycle with exactly one special edge u -> v: a path v ~> u over the free relations.
    Condense the free subgraph into components; a component's reachability set (a bitset)
    says which special edges close a cycle, and with a variant, which close one through a
    variant edge."""
    inside = set(nodes)
    free = spec.free

    def succ(u: int) -> list[int]:
        return [v for v, b in adj[u].items() if b & free and v in inside]

    comps = tarjan(sorted(inside), succ)  # sinks first
    comp_of: dict[int, int] = {}
    for i, c in enumerate(comps):
        for x in c:
            comp_of[x] = i
    candidates = [
        (u, v) for u in sorted(inside) for v, b in adj[u].items()
        if b & spec.special and v in inside
    ]  # fmt: skip
    if not candidates:
        return None
    if len(comps) <= 20000:
        reach = [0] * len(comps)
        reach_v = [0] * len(comps)
        variant = spec.variant
        for i, c in enumerate(comps):
            r = 1 << i
            rv = 0
            for x in c:
                for y, b in adj[x].items():
                    if not b & free or y not in inside:
                        continue
                    j = comp_of[y]
                    if j == i:
                        if b & variant:
                            rv = -1  # an internal variant edge: all of reach qualifies
                        continue
                    r |= reach[j]
                    if variant:
                        rv = rv if rv == -1 else rv | (reach[j] if b & variant else reach_v[j])
            reach[i] = r
            if variant:
                reach_v[i] = r if rv == -1 else rv
            if time.monotonic() > deadline:
                raise SearchTimeout
        table = reach_v if variant else reach
        candidates = [(u, v) for u, v in candidates if table[comp_of[v]] >> comp_of[u] & 1]
    for u, v in candidates:
        cyc = search_from(adj, inside, spec, u, v, spec.special, deadline)
        if cyc is not None:
            return cyc
    return None


def any_cycle(adj: Adjacency, nodes: list[int]) -> Cycle:
    """Some short cycle in a strongly connected component: the fallback when the search for
    named classes ran out of time."""
    inside = set(nodes)
    s = min(inside)
    parent: dict[int, tuple[int, int]] = {s: (s, 0)}
    queue = deque([s])
    while queue:
        x = queue.popleft()
        for y, b in adj[x].items():
            if y not in inside:
                continue
            rel = _roles(b)[0]
            if y == s:
                steps: Cycle = [(x, s, rel)]
                while x != s:
                    px, prel = parent[x]
                    steps.append((px, x, prel))
                    x = px
                steps.reverse()
                return steps
            if y not in parent:
                parent[y] = (x, rel)
                queue.append(y)
    raise ValueError("not a strongly connected component")


def has_cycle(adj: Adjacency, nodes: list[int], mask: int, extension: int = 0) -> list[int]:
    """The smallest non-trivial component of the edges in ``mask`` (plus, with
    ``extension``, edges of that relation taken right after a ``mask`` edge: Elle's
    "sequential extension", which makes snapshot isolation's cycles). Empty if acyclic."""
    comps: list[list[int]]
    if not extension:
        comps = sub_sccs(nodes, adj, mask)
    else:
        spec = Spec(mask, extension, nonadjacent=True)
        comps = [sorted(m) for m, _, _ in _nonadjacent_regions(adj, nodes, spec,
                                                               need_special=False)]
    if not comps:
        return []
    smallest = min(comps, key=len)
    return sorted(smallest)
