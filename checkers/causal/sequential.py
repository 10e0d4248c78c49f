"""Sequential consistency of register and key-value histories, per key.

Sequential consistency (Lamport) asks for one total order of the operations that respects
each process's order and the object's sequential specification, with no real-time
constraint: an operation may take effect before one that completed earlier in another
process. The search is the linearizability checker's minus real time, over the same models
(``checkers.linearizable.models``): a state is (how many ops of each process are placed, the
model's state), explored depth first with a memo of states met. It cannot be the
linearizability engine with a flag: that engine orders ops by their intervals, and a process
order without real time is not an interval order (two processes' ops a1 < a2 and b1 < b2 with
a1, b2 and b1, a2 overlapping cannot be drawn as intervals). Its reductions carry over:

- a read that is legal now is placed at once, without branching: it changes nothing, and
  whatever order follows, the process's later ops can come after it;
- an ``info`` op (or an invocation never completed) is its process's last (the worker takes a
  new process after one): it may be placed, or never happen.
- among the ops that could come next, the one invoked earliest is tried first: a history is
  usually close to the order of its invocations, and the first branch then succeeds;
- when every write of a key has a distinct value (and there is no cas), each read names the
  write it saw, and each process's order forces an order on the writes (``write_graph``): a
  cycle in it means no sequential order, found at once and explained as that cycle; without
  one, a topological order of it says which op to try first, and the first branch succeeds.

Keys are checked one at a time, as Knossos and Porcupine split Jepsen's independent keys:
what is found is sequential consistency of each key (sequential consistency is not
compositional: each key being sequentially consistent does not make the whole history so).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Any

from harness.history import Op

from ..linearizable._prepare import Entry, prepare
from ..linearizable.models import ILLEGAL, MODELS, Branch, Model

__all__ = [
    "SeqOutcome",
    "Step",
    "WriteGraph",
    "check_sequential",
    "model_for",
    "write_cycle",
    "write_graph",
    "write_order_hint",
]

_NONE = object()  # an iterator's end

#: one step of a forced-order cycle: (the two ops of one process that force it, or None for
#: the initial value before a write), the value before, the value after
Step = tuple[tuple[Entry, Entry] | None, Any, Any]


@dataclass
class SeqOutcome:
    """Per key: ``valid`` True / False / "unknown"; for an invalid key, the longest order
    found (entries) and each stuck process's next entry with the state it could not follow,
    or the ``cycle`` of the order its writes were forced into (``write_cycle``)."""

    key: Any
    valid: bool | str
    ops: int = 0
    reason: str = ""
    placed: list[Entry] = field(default_factory=list)
    state: Any = None
    stuck: list[Entry] = field(default_factory=list)
    total: int = 0
    cycle: list[Step] = field(default_factory=list)


def model_for(history: list[Op]) -> Model:
    """The model a register / key-value history needs: kv for get / put, cas-register when a
    cas appears, else register."""
    fs = {op.f for op in history if op.type == "invoke"}
    if fs & {"get", "put"}:
        return MODELS["kv"]
    return MODELS["cas-register"] if "cas" in fs else MODELS["register"]


def check_sequential(
    history: list[Op], model: Model, deadline: float, max_nodes: int = 2_000_000
) -> list[SeqOutcome]:
    """One outcome per key of ``history`` under ``model``."""
    prepared = prepare(history, model)
    return [
        _search(part.key, part.entries, model, deadline, max_nodes) for part in prepared.partitions
    ]


def _search(
    key: Any, entries: list[Entry], model: Model, deadline: float, max_nodes: int
) -> SeqOutcome:
    by_proc: dict[Any, list[Entry]] = {}
    for e in sorted(entries, key=lambda e: e.call):
        by_proc.setdefault(e.process, []).append(e)
    procs = list(by_proc.values())
    ends = [len(p) - (1 if p and p[-1].ret is None else 0) for p in procs]  # info: optional
    # With distinct written values the order forced on the writes decides at once when it
    # has a cycle, and otherwise says which op to try first (``write_order_hint``)
    graph = write_graph(procs, model.init(None))
    cycle = write_cycle(graph) if graph is not None else []
    if cycle:
        return SeqOutcome(key, False, len(entries), total=len(entries), cycle=cycle)
    hint = write_order_hint(graph, procs) if graph is not None else None
    prio = [[(e.call,) if hint is None else hint[e.id] for e in p] for p in procs]
    step, key_of = model.step, model.hash
    reads = [[model.read_only(e.f, e.input, e.output) for e in p] for p in procs]
    s0 = model.init(None)
    start = tuple(0 for _ in procs)
    parent: dict[Any, tuple[Any, Entry | None]] = {}
    best: tuple[int, Any, tuple[int, ...], Any] = (-1, None, start, s0)

    def absorb(pos: list[int], s: Any, memo_key: Any) -> tuple[tuple[int, ...], Any]:
        # Place every next op that is a legal read, repeatedly (a read never changes s).
        changed = True
        while changed:
            changed = False
            for i, p in enumerate(procs):
                j = pos[i]
                if (
                    j < len(p)
                    and reads[i][j]
                    and step(s, p[j].f, p[j].input, p[j].output) is not ILLEGAL
                ):
                    k2 = (tuple(pos[:i] + [j + 1] + pos[i + 1 :]), memo_key[1])
                    if k2 not in parent:
                        parent[k2] = (memo_key, p[j])
                    memo_key = k2
                    pos[i] = j + 1
                    changed = True
        return tuple(pos), s

    root_key = (start, s0 if key_of is None else key_of(s0))
    parent[root_key] = (None, None)
    pos0, s0 = absorb(list(start), s0, root_key)
    stack = [(pos0, s0)]
    seen: set[Any] = set()
    nodes = 0
    while stack:
        pos, s = stack.pop()
        h = (pos, s if key_of is None else key_of(s))
        if h in seen:
            continue
        seen.add(h)
        nodes += 1
        if not nodes & 1023 and time.monotonic() > deadline:
            return SeqOutcome(
                key, "unknown", len(entries), f"time budget exhausted after {nodes} search states"
            )
        if nodes > max_nodes:
            return SeqOutcome(
                key, "unknown", len(entries), f"memory bound: more than {max_nodes} search states"
            )
        done = sum(pos)
        if all(pos[i] >= ends[i] for i in range(len(procs))):
            return SeqOutcome(key, True, len(entries))
        if done > best[0]:
            best = (done, h, pos, s)
        # The op with the smallest priority is tried first (pushed last): the place the
        # write-order hint gives it, else its invocation. The search is exhaustive either way;
        # this only picks the first branch. Trying the latest process first (the order of
        # ``procs``) sent a ZooKeeper history of 20 sessions past two million states per key.
        nexts = sorted((prio[i][pos[i]], i) for i, p in enumerate(procs) if pos[i] < len(p))
        for _, i in reversed(nexts):
            p = procs[i]
            j = pos[i]
            e = p[j]
            nxt = step(s, e.f, e.input, e.output)
            if nxt is ILLEGAL:
                continue
            for s2 in nxt if type(nxt) is Branch else (nxt,):
                p2 = list(pos)
                p2[i] = j + 1
                k2 = (tuple(p2), s2 if key_of is None else key_of(s2))
                if k2 not in parent:
                    parent[k2] = (h, e)
                p3, s3 = absorb(p2, s2, k2)
                stack.append((p3, s3))
    _, h, pos, s = best
    placed: list[Entry] = []
    while h is not None and h in parent:
        h, came = parent[h]
        if came is not None:
            placed.append(came)
    placed.reverse()
    stuck = [p[pos[i]] for i, p in enumerate(procs) if pos[i] < ends[i]]
    return SeqOutcome(key, False, len(entries), "", placed, s, stuck, len(entries))


@dataclass
class WriteGraph:
    """The order a register's history forces on its writes, when every write has a distinct
    value (and there is no cas): each read names the write it saw, or ``initial``.

    ``edges[a][b]``: the value ``a`` (a write's, or ``initial``) must come before ``b``, with
    the two consecutive ops of one process that say so (None for ``initial`` before every
    write). Two consecutive ops of a process that made or saw different writes w1, w2 need
    w1 before w2 in any sequential order: the second op follows the first, and a read shows
    the latest write before it. ``early``: a process that read a value and then wrote it
    itself, which no order allows."""

    initial: Any
    writes: dict[Any, Entry]
    edges: dict[Any, dict[Any, tuple[Entry, Entry] | None]]
    early: tuple[Entry, Entry] | None = None


def write_graph(procs: list[list[Entry]], initial: Any) -> WriteGraph | None:
    """The WriteGraph of a key's ops, grouped by process in process order; None unless every
    op is a read or a write, every write's value is distinct (and not ``initial``) and every
    read shows a value some write wrote (or ``initial``)."""
    writes: dict[Any, Entry] = {}
    for p in procs:
        for e in p:
            if e.f == "write":
                if e.input in writes or e.input == initial:
                    return None
                writes[e.input] = e
            elif e.f != "read":
                return None
    edges: dict[Any, dict[Any, tuple[Entry, Entry] | None]] = {v: {} for v in writes}
    edges[initial] = dict.fromkeys(writes)  # the initial value comes before every write
    early = None
    for p in procs:
        prev: Entry | None = None
        for e in p:
            src = e.input if e.f == "write" else e.output
            if src != initial and src not in writes:
                return None  # a read of a value nobody wrote: the search says what it can
            if prev is not None:
                was = prev.input if prev.f == "write" else prev.output
                if was != src:
                    edges[was].setdefault(src, (prev, e))
                elif prev.f == "read" and e.f == "write" and early is None:
                    early = (prev, e)
            prev = e
    return WriteGraph(initial, writes, edges, early)


def write_cycle(graph: WriteGraph) -> list[Step]:
    """Steps (the two ops of a process that force it, or None for the initial value before a
    write; value before; value after) around a cycle of the forced order, or the one step of
    a process that read a value before it wrote it; [] when there is none. With one, no
    sequential order exists; without, the writes in a topological order, each followed by its
    reads, are one."""
    if graph.early is not None:
        return [(graph.early, graph.early[1].input, graph.early[1].input)]
    edges = graph.edges
    colour: dict[Any, int] = {}  # 1: on the current path, 2: done
    for root in edges:
        if root in colour:
            continue
        path: list[Any] = [root]
        todo = [iter(edges[root])]
        colour[root] = 1
        while todo:
            nxt = next(todo[-1], _NONE)
            if nxt is _NONE:
                colour[path.pop()] = 2
                todo.pop()
                continue
            c = colour.get(nxt)
            if c == 1:  # back to the path: a cycle
                loop = path[path.index(nxt) :] + [nxt]
                return [(edges[a][b], a, b) for a, b in zip(loop, loop[1:], strict=False)]
            if c is None:
                colour[nxt] = 1
                path.append(nxt)
                todo.append(iter(edges[nxt]))
    return []


def write_order_hint(graph: WriteGraph, procs: list[list[Entry]]) -> dict[int, tuple[Any, ...]]:
    """A priority for each entry (by id) of ``procs``, the graph's key's ops, such that trying
    the smallest first finds a sequential order at once when there is one: the writes in a
    topological order of the graph (ties broken by completion, the time a write most likely
    took effect), each followed by the reads of it. A write of unknown outcome that no read
    saw comes last: it may never have happened."""
    writes, edges = graph.writes, graph.edges
    indegree: dict[Any, int] = dict.fromkeys(edges, 0)
    for a in edges:
        for b in edges[a]:
            indegree[b] += 1
    inf = float("inf")

    def when(v: Any) -> tuple[float, int]:
        w = writes.get(v)
        if w is None:
            return (-inf, -1)  # the initial value
        return (inf if w.ret is None else w.ret, w.call)

    index = {v: i for i, v in enumerate(edges)}  # a tie-break that never compares values
    ready = [(when(v), index[v], v) for v in edges if indegree[v] == 0]
    heapq.heapify(ready)
    rank: dict[Any, int] = {}
    while ready:
        _, _, v = heapq.heappop(ready)
        rank[v] = len(rank)
        for w in edges[v]:
            indegree[w] -= 1
            if indegree[w] == 0:
                heapq.heappush(ready, (when(w), index[w], w))
    for v in sorted((v for v in edges if v not in rank), key=when):  # a cycle: in time order
        rank[v] = len(rank)
    seen = {e.output for p in procs for e in p if e.f == "read"}
    out: dict[int, tuple[Any, ...]] = {}
    for p in procs:
        for e in p:
            if e.f == "write":
                unread_unknown = e.ret is None and e.input not in seen
                out[e.id] = (inf if unread_unknown else 2 * rank[e.input], e.call)
            else:
                out[e.id] = (2 * rank[e.output] + 1, e.call)
    return out
