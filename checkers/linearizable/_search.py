"""The search for a linearization of one partition.

Wing & Gong's search with Lowe's memoisation of (linearized set, state), as Porcupine does,
restricted to Lowe's "just-in-time" linearization, with three reductions of its own:

- events are the completions of the history, in order. A *node* ``(j, state, mask)`` is a
  state of the model after linearizing every op that completed before completion ``j`` and,
  of the ops pending at ``j``, those in ``mask``. ``mask`` is a bitset over slots that ops
  reuse once completed, so it stays a short int however long the history;
- from a node, either the op ``r`` completing at ``j`` is linearized (which moves on to
  ``j + 1``), or another pending op is (staying at ``j``). An op is thus linearized no
  earlier than needed, which prunes orderings that cannot matter;
- the search is depth first, children made one at a time, with a memo of every node met, so
  no node is explored twice. Reaching the end of the events: linearizable. Exhausting the
  nodes: not, and the op completing at the deepest ``j`` reached cannot be linearized;
- reads (ops that never change the state, ``Model.read_only``) are linearized as soon as they
  are legal, without branching: whatever comes after, the read saw the same state there;
- ``info`` ops (and invocations never completed) stay pending to the end, where linearizing
  them is the same as their never having happened. Identical ones (same function and input)
  stand in for one another, so the search only ever tries the earliest not used yet;
- a node is skipped when a node met at the same completion, with the same state, covers it:
  the same ops linearized but one more read, or one ``info`` op fewer. It can do all that
  this one can (an ``info`` op is never forced, a read done is a constraint met);
- a node is dropped when the model's ``dead_end`` says that the next read to complete (at
  this completion or later) cannot be made legal by any ordering of the ops that may still
  be linearized before it (no write of the value it read among them; an append-only string
  only grows): without it, every ordering of the pending writes is tried before the read
  fails, factorially many (Porcupine's c50-bad has keys that do this);
- completions are described as the search reaches them, so an invalid history pays only
  for its prefix up to the failure.

How children are ordered decides how fast a linearizable history is found (an invalid one is
searched through whatever the order): ``STRATEGIES`` lists the orders the checker takes turns
with. With ``paths`` the search keeps a linearization for each node, and for an invalid
history the nodes met at the failing completion, to explain the failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._prepare import Entry
from .models import ILLEGAL, Branch, Model

__all__ = ["Outcome", "search"]

_CHECK_EVERY = 256
_FRONTIER_CAP = 4096


@dataclass
class Outcome:
    """What the search found: ``valid`` is True, False or "unknown"."""

    valid: bool | str
    failed: int | None = None
    """id of the op that cannot be linearized (invalid)"""
    depth: int = 0
    """the deepest completion reached (its number among the partition's completions)"""
    reason: str = ""
    stats: dict[str, int] = field(default_factory=dict)
    witness: tuple[int, ...] | None = None
    """with ``paths``: a linearization of the partition as op ids (valid)"""
    limited: bool = False
    """"unknown" only because ``max_steps`` ran out (a bigger limit may decide)"""
    frontier: list[tuple[Any, tuple[int, ...]]] = field(default_factory=list)
    """with ``paths``, invalid: the nodes met at the failing completion as (state,
    linearization as op ids), those with the fewest pending ops linearized first"""
    concurrent: list[int] = field(default_factory=list)
    """invalid: ids of the ops pending when the failing op completed"""


@dataclass(slots=True)
class _Completion:
    """What the search needs at one completion: the completing op and the pending others."""

    bit: int
    f: str
    input: Any
    output: Any
    id: int
    read: bool  # the completing op never changes the state
    children: tuple[_Child, ...]  # the ops to branch on, in the order to try them
    reads: tuple[tuple[int, str, Any, Any, int], ...]  # pending ops that never change the state
    info_bits: int  # slots held by ops that may stay pending forever
    read_bits: int  # slots held by pending ops that never change the state
    ids: dict[int, int]  # slot bit -> op id, for info ops (their slots are never reused)
    plain: int  # ~(info_bits | read_bits), or -1 when both are empty
    classes: tuple[int, ...]  # the slots of each class of identical info ops
    dead: Callable[[Any], bool] | None  # states from which the next read can never be legal
    dead_bit: int  # that read's slot when it is pending here (linearized: no test), else 0
    dead_read: int  # that read's id when it completes later, else -1


def search(
    model: Model,
    entries: list[Entry],
    *,
    deadline: float | None = None,
    max_nodes: int = 2_000_000,
    max_steps: int | None = None,
    paths: bool = False,
    strategy: int = 0,
) -> Outcome:
    """Search for a linearization of ``entries`` under ``model``.

    ``deadline`` (a ``time.monotonic()`` value) and ``max_nodes`` (the size of the memo)
    bound the work: past either the outcome is "unknown" with the reason, never True.
    ``max_steps`` stops after that many nodes explored (``limited`` is then set), so that a
    caller can spread effort over partitions. ``paths``: also return a linearization.
    """
    described = _completions(model, entries, strategy)
    total = sum(1 for e in entries if e.ret is not None)
    # Described up to the completion after the deepest reached (where a push may land).
    comps = [next(described) for _ in range(min(total + 1, 2))]
    step, key = model.step, model.hash
    s0 = model.init(None)
    memos: list[dict[tuple[Any, int], None]] = [{} for _ in comps]
    stack: list[list[Any]] = []
    nodes = _push(memos, comps, stack, key, step, paths, 0, s0, 0, None)
    # A frame is a node being explored: [j, state, mask, path, next], ``next`` the index of
    # the next child to try. Children are made one at a time, when the previous one's
    # subtree is exhausted, so a search that goes straight through memoises little.
    visits = 0
    deepest = 0
    level: list[tuple[Any, int, Any]] = []  # with paths: the nodes met at ``deepest``
    blocked = -1  # the latest read that ``dead`` found some node could never reach
    while stack:
        frame = stack[-1]
        j, s, m, path, nxt = frame
        c = comps[j]
        if nxt == 0:  # the first visit of this node
            if j == total:
                return Outcome(
                    True, None, j, "", _stats(entries, visits, nodes), _ids(path) if paths else None
                )
            if j >= deepest:
                if j > deepest:
                    deepest, level = j, []
                    comps.append(next(described))
                    memos.append({})
                if paths and len(level) < _FRONTIER_CAP:
                    level.append((s, m, path))
            visits += 1
            if nodes > max_nodes:
                return _unknown(
                    f"memory bound: more than {max_nodes} search nodes memoised",
                    entries,
                    deepest,
                    visits,
                    nodes,
                )
            if not visits % _CHECK_EVERY:
                if max_steps is not None and visits >= max_steps:
                    out = _unknown(f"step limit {max_steps}", entries, deepest, visits, nodes)
                    out.limited = True
                    return out
                if deadline is not None and time.monotonic() > deadline:
                    return _unknown(
                        f"time budget exhausted after {visits} search steps",
                        entries,
                        deepest,
                        visits,
                        nodes,
                    )
            if m & c.bit:
                # Linearized earlier: move on (an op this node could linearize here can as
                # well be linearized at the next completion).
                stack.pop()
                nodes += _push(memos, comps, stack, key, step, paths, j + 1, s, m ^ c.bit, path)
                continue
            if c.dead is not None and not m & c.dead_bit and c.dead(s):
                stack.pop()  # the next read can never be legal from here
                if c.dead_read >= 0 and c.dead_read != blocked:
                    if blocked < 0 or (entries[c.dead_read].ret or 0) > (entries[blocked].ret or 0):
                        blocked = c.dead_read
                continue
        # The hot loop: the next child that makes a node not met yet.
        children = c.children
        n = len(children)
        pushed = 0
        while nxt < n:
            slots, f, i, o, oid, completing = children[nxt]
            nxt += 1
            free = slots & ~m
            if not free:  # linearized already (every one of identical info ops)
                continue
            b = free & -free
            s2 = step(s, f, i, o)
            if s2 is ILLEGAL:
                continue
            p2 = ((c.ids[b] if slots != b else oid), path) if paths else None
            cj, m2 = (j + 1, m) if completing else (j, m | b)
            for s3 in s2 if type(s2) is Branch else (s2,):
                pushed += _push(memos, comps, stack, key, step, paths, cj, s3, m2, p2)
            if pushed:
                break
        if pushed:
            frame[4] = nxt
            nodes += pushed
        else:
            stack.pop()
    c = comps[deepest]
    end = entries[c.id].ret
    if blocked >= 0 and (entries[blocked].ret or 0) > (end or 0):
        # Nodes that might have gone further were dropped as unable to reach the read
        # ``blocked``; the others stopped before it: it is the op that cannot be linearized,
        # and the ops that might come before it are the pending ones and those invoked since.
        r = entries[blocked]
        out = Outcome(False, r.id, deepest, "", _stats(entries, visits, nodes))
        out.concurrent = _pending_at(entries, entries[c.id], upto=r)
    else:
        out = Outcome(False, c.id, deepest, "", _stats(entries, visits, nodes))
        out.concurrent = _pending_at(entries, entries[c.id])
    level.sort(key=lambda n: ((n[1] & ~c.info_bits).bit_count(), n[1].bit_count()))
    out.frontier = [(st, _ids(p)) for st, _m, p in level]
    return out


def _push(
    memos: list[dict[tuple[Any, int], None]],
    comps: list[_Completion],
    stack: list[list[Any]],
    key: Any,
    step: Any,
    paths: bool,
    j: int,
    s: Any,
    m: int,
    path: Any,
) -> int:
    """Push the node ``(j, s, m)`` unless a node met already covers it; 1 if pushed.

    First the node takes in every pending op that never changes the state and is legal in
    ``s``: a read that can be linearized now may as well be (whatever a linearization does
    after, the read sees the same state here), so the search need not branch on it.

    A met node covers this one when it has the same state and the same ops linearized,
    except that it may have linearized more reads and fewer info ops: it can do all that
    this one can."""
    c = comps[j]
    for b, f, i, o, oid in c.reads:
        if not m & b and step(s, f, i, o) is not ILLEGAL:
            m |= b
            if paths:
                path = (oid, path)
    if c.read and not m & c.bit and step(s, c.f, c.input, c.output) is not ILLEGAL:
        m |= c.bit
        if paths:
            path = (c.id, path)
    memo = memos[j]
    t = (s if key is None else key(s), m)
    if t in memo:
        return 0
    if c.plain != -1:
        k = t[0]
        for cm in c.classes:  # the same node with one info op of a class fewer
            used = m & cm
            if used and (k, m ^ (1 << (used.bit_length() - 1))) in memo:
                return 0
        reads = c.read_bits & ~m
        while reads:  # the same node with one more read done
            low = reads & -reads
            if (k, m | low) in memo:
                return 0
            reads ^= low
    memo[t] = None
    stack.append([j, s, m, path, 0])
    return 1


def _pending_at(entries: list[Entry], r: Entry, upto: Entry | None = None) -> list[int]:
    """The ids of the ops pending when ``r`` completed, in invocation order; with ``upto``,
    also those invoked before ``upto`` completed, ``r`` among them, ``upto`` not."""
    end = r.ret
    assert end is not None
    if upto is None:
        return [
            e.id
            for e in entries
            if e.call < end and (e.ret is None or e.ret > end) and e.id != r.id
        ]
    last = upto.ret
    assert last is not None
    return [
        e.id for e in entries if e.call < last and (e.ret is None or e.ret >= end) and e != upto
    ]


def _completions(model: Model, entries: list[Entry], strategy: int = 0) -> Iterator[_Completion]:
    """Assign slots in event order and describe, one completion at a time as the search
    reaches it, what the search needs there; then an empty completion, the end.

    Identical ``info`` ops (same function and input, outcome unknown, pending to the end) can
    stand in for one another, so they form one child: the search linearizes any one of them
    not linearized yet (the lowest slot), never each in turn."""
    absorb, order = STRATEGIES[strategy]
    dead_end = model.dead_end if absorb else None
    read_only = model.read_only
    events = [(e.call, 0, e) for e in entries]
    events += [(e.ret, 1, e) for e in entries if e.ret is not None]
    events.sort()  # positions are distinct: the entries are never compared
    # Ops that complete share reusable slots; info ops get slots of their own above those,
    # in invocation order, so that the lowest free slot of a class is its earliest op.
    next_info = _peak_pending(events)
    slot_of: dict[int, int] = {}
    free: list[int] = []
    next_slot = 0
    pending: dict[int, _Child] = {}  # ops that complete, by id
    reads: dict[int, tuple[int, str, Any, Any, int]] = {}
    read_bits = 0
    # Info ops, by (f, input); insertion order is the order of each class' first op.
    classes: dict[Any, _Child] = {}
    info_ids: dict[int, int] = {}  # slot bit -> op id, for info ops
    info_bits = 0
    reads_t: tuple[tuple[int, str, Any, Any, int], ...] | None = ()  # None: to be remade
    class_slots: tuple[int, ...] = ()
    for q, (_pos, is_return, e) in enumerate(events):
        if not is_return:
            if e.ret is None:
                slot, next_info = next_info, next_info + 1
            elif free:
                slot = free.pop()
            else:
                slot, next_slot = next_slot, next_slot + 1
            slot_of[e.id] = slot
            bit = 1 << slot
            if absorb and read_only(e.f, e.input, e.output):
                reads[e.id] = (bit, e.f, e.input, e.output, e.id)
                read_bits |= bit
                reads_t = None
            elif e.ret is None:
                info_ids[bit] = e.id
                info_bits |= bit
                k = _class_key(e)
                same = classes.get(k)
                classes[k] = (
                    bit | (same[0] if same else 0),
                    e.f,
                    e.input,
                    e.output,
                    same[4] if same else e.id,
                    False,
                )
                class_slots = tuple(c[0] for c in classes.values())
            else:
                pending[e.id] = (bit, e.f, e.input, e.output, e.id, False)
            continue
        read = e.id in reads
        if read:
            bit = reads.pop(e.id)[0]
            reads_t = None
        else:
            bit = pending.pop(e.id)[0]
        me = (bit, e.f, e.input, e.output, e.id, True)
        others = [*pending.values(), *classes.values()]
        dead, dead_bit, dead_read = None, 0, -1
        if dead_end is not None and len(others) >= _MIN_PENDING:
            dead, dead_bit, dead_read = _next_read_test(
                model, dead_end, events, q, others, reads, bit if read else 0
            )
        if read:
            children = tuple(others)  # the completing read is taken in when legal
        elif order == "completing-first":
            children = (me, *others)
        elif order == "completing-first-newest":
            children = (me, *reversed(others))
        else:
            children = (
                *[p for p in others if p[4] < e.id],
                me,
                *[p for p in others if p[4] > e.id],
            )
        yield _Completion(
            bit,
            e.f,
            e.input,
            e.output,
            e.id,
            read,
            children,
            reads_t if reads_t is not None else (reads_t := tuple(reads.values())),
            info_bits,
            read_bits,
            info_ids,
            ~(info_bits | read_bits) if info_bits | read_bits else -1,
            class_slots,
            dead,
            dead_bit,
            dead_read,
        )
        if read:
            read_bits ^= bit
        free.append(slot_of.pop(e.id))
    yield _Completion(0, "", None, None, -1, False, (), (), 0, 0, {}, -1, (), None, 0, -1)


_LOOKAHEAD = 64  # events scanned for the next read to complete; none found: no test
_MIN_PENDING = 3  # with fewer other ops pending, few orderings to try: no test


def _next_read_test(
    model: Model,
    dead_end: Any,
    events: list[tuple[int, int, Entry]],
    q: int,
    others: list[_Child],
    reads: dict[int, tuple[int, str, Any, Any, int]],
    read_bit: int,
) -> tuple[Callable[[Any], bool] | None, int, int]:
    """For a node at the completion ``events[q]``: the model's test of the states from which
    the next read to complete (this one, or a later one) can never be legal, and that read's
    slot if it is pending already, and its id if it completes later (else -1). The ops that
    may be linearized before that read from such a node are the pending ones (the
    completing one among them) and those invoked before the read completes; a superset is
    safe, it only prunes less. ``read_bit``: the
    completing op's slot when it is a read (``reads`` holds only the other pending ones)."""
    e = events[q][2]
    if read_bit:  # the completing op is the read; the search only asks when it is stuck
        return dead_end(e.f, e.input, e.output, [(c[1], c[2]) for c in others]), read_bit, -1
    before = [(c[1], c[2]) for c in others]
    before.append((e.f, e.input))
    read_only = model.read_only
    for _pos, is_return, r in events[q + 1 : q + 1 + _LOOKAHEAD]:
        if not is_return:
            before.append((r.f, r.input))
        elif read_only(r.f, r.input, r.output):
            test = dead_end(r.f, r.input, r.output, before)
            if test is None:
                return None, 0, -1
            bit = reads[r.id][0] if r.id in reads else 0
            return _unless_legal(model.step, r, test), bit, r.id
    return None, 0, -1


def _unless_legal(step: Any, r: Entry, test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """``test``, asked only of states in which the read ``r`` is not legal already."""
    f, i, o = r.f, r.input, r.output
    return lambda s: step(s, f, i, o) is ILLEGAL and test(s)


_Child = tuple[int, str, Any, Any, int, bool]
"""(slots, f, input, output, id, completing?): ``slots`` is one op's slot, or the slots of
identical info ops of which any one not linearized yet will do."""


STRATEGIES: list[tuple[bool, str]] = [
    (True, "completing-first-newest"),
    (False, "completing-first-newest"),
    (True, "invocation"),
]
"""Ways to order the search: (take in legal reads at once?, the order of children)."""


def _peak_pending(events: list[tuple[int, int, Entry]]) -> int:
    """The most ops that complete pending at once (the slots they need)."""
    n = peak = 0
    for _pos, is_return, e in events:
        if e.ret is not None:
            if is_return:
                n -= 1
            else:
                n += 1
                if n > peak:
                    peak = n
    return peak


def _class_key(e: Entry) -> Any:
    try:
        hash(e.input)
    except TypeError:  # an unhashable input: a class of its own
        return ("id", e.id)
    return (e.f, e.input)


def _ids(path: Any) -> tuple[int, ...]:
    ids: list[int] = []
    while path is not None:
        ids.append(path[0])
        path = path[1]
    return tuple(reversed(ids))


def _stats(entries: list[Entry], pops: int, nodes: int) -> dict[str, int]:
    return {"ops": len(entries), "steps": pops, "nodes": nodes}


def _unknown(reason: str, entries: list[Entry], deepest: int, pops: int, nodes: int) -> Outcome:
    return Outcome("unknown", None, deepest, reason, _stats(entries, pops, nodes))
