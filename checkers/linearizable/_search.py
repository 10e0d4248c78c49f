"""The search for a linearization of one partition.

Wing & Gong's search with Lowe's memoisation of (linearized set, state), as Porcupine does,
restricted to Lowe's "just-in-time" linearization:

- events are the completions of the history, in order. A *node* ``(j, state, mask)`` is a
  state of the model after linearizing every op that completed before completion ``j`` and,
  of the ops pending at ``j``, those in ``mask``. ``mask`` is a bitset over small slots that
  ops reuse once completed, so it stays a short int however long the history;
- from a node, either the op ``r`` completing at ``j`` is linearized (which moves on to
  ``j + 1``), or any other pending op is (staying at ``j``). An op is thus linearized no
  earlier than needed, which prunes orderings that cannot matter;
- the search is depth first, trying ``r`` first, with a memo of every node met, so no node is
  explored twice. Reaching the end of the events: linearizable. Exhausting the nodes: not,
  and the op completing at the deepest ``j`` reached cannot be linearized;
- ``info`` ops (and invocations never completed) stay pending to the end, where linearizing
  them is the same as their never having happened. Between two nodes that differ only in
  which ``info`` ops they have linearized, the one that linearized fewer can do all that the
  other can (an ``info`` op is never forced), so a node is skipped when the same node minus
  one of its ``info`` ops was already met. This subsumption, which Porcupine does not make,
  keeps histories with many timeouts tractable.

With ``paths`` the search keeps a linearization for each node, and for an invalid history
the nodes met at the failing completion, to explain the failure.
"""

from __future__ import annotations

import time
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
    # The other pending ops to branch on, in the order to try them:
    # (bit, f, input, output, id, twins, completing?) with the completing op among them.
    children: tuple[tuple[int, str, Any, Any, int, int, bool], ...]
    reads: tuple[tuple[int, str, Any, Any, int], ...]  # pending ops that never change the state
    info_bits: int  # slots held by ops that may stay pending forever
    read_bits: int  # slots held by pending ops that never change the state
    pending: tuple[int, ...]  # ids of every other pending op
    plain: int = -1  # ~(info_bits | read_bits): the bits a node must match exactly


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
    comps = _completions(model, entries, strategy)
    total = len(comps)
    comps.append(_Completion(0, "", None, None, -1, False, (), (), 0, 0, ()))  # the goal
    step, key = model.step, model.hash
    s0 = model.init(None)
    memos: list[dict[tuple[Any, int], list[tuple[int, int]]]] = [{} for _ in range(total + 1)]
    stack: list[list[Any]] = []
    nodes = _push(memos, comps, stack, key, step, paths, 0, s0, 0, None)
    # A frame is a node being explored: [j, state, mask, path, next], ``next`` the index of
    # the next child to try. Children are made one at a time, when the previous one's
    # subtree is exhausted, so a search that goes straight through memoises little.
    visits = 0
    deepest = 0
    level: list[tuple[Any, int, Any]] = []  # with paths: the nodes met at ``deepest``
    while stack:
        frame = stack[-1]
        j, s, m, path, nxt = frame
        c = comps[j]
        if nxt == 0:  # the first visit of this node
            if j == total:
                return Outcome(True, None, j, "", _stats(entries, visits, nodes),
                               _ids(path) if paths else None)  # fmt: skip
            if j >= deepest:
                if j > deepest:
                    deepest, level = j, []
                if paths and len(level) < _FRONTIER_CAP:
                    level.append((s, m, path))
            visits += 1
            if nodes > max_nodes:
                return _unknown(f"memory bound: more than {max_nodes} search nodes memoised",
                                entries, deepest, visits, nodes)  # fmt: skip
            if not visits % _CHECK_EVERY:
                if max_steps is not None and visits >= max_steps:
                    out = _unknown(f"step limit {max_steps}", entries, deepest, visits, nodes)
                    out.limited = True
                    return out
                if deadline is not None and time.monotonic() > deadline:
                    return _unknown(f"time budget exhausted after {visits} search steps",
                                    entries, deepest, visits, nodes)  # fmt: skip
            if m & c.bit:
                # Linearized earlier: move on (an op this node could linearize here can as
                # well be linearized at the next completion).
                stack.pop()
                nodes += _push(memos, comps, stack, key, step, paths, j + 1, s, m ^ c.bit, path)
                continue
        # The hot loop: the next child that makes a node not met yet.
        children = c.children
        n = len(children)
        pushed = 0
        while nxt < n:
            b, f, i, o, oid, twins, completing = children[nxt]
            nxt += 1
            if m & b or twins & ~m:  # linearized, or an identical info op comes first
                continue
            s2 = step(s, f, i, o)
            if s2 is ILLEGAL:
                continue
            p2 = (oid, path) if paths else None
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
    out = Outcome(False, c.id, deepest, "", _stats(entries, visits, nodes))
    out.concurrent = list(c.pending)
    level.sort(key=lambda n: ((n[1] & ~c.info_bits).bit_count(), n[1].bit_count()))
    out.frontier = [(st, _ids(p)) for st, _m, p in level]
    return out


def _push(
    memos: list[dict[tuple[Any, int], list[tuple[int, int]]]],
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
    if c.plain == -1:  # no read or info op pending: the node itself is the key
        t = (s if key is None else key(s), m)
        if t in memo:
            return 0
        memo[t] = None  # type: ignore[assignment]
    else:
        t = (s if key is None else key(s), m & c.plain)
        info, reads = m & c.info_bits, m & c.read_bits
        met = memo.get(t)
        if met is None:
            memo[t] = [(info, reads)]
        else:
            for info2, reads2 in met:
                if not info2 & ~info and not reads & ~reads2:
                    return 0
            met.append((info, reads))
    stack.append([j, s, m, path, 0])
    return 1


def _completions(model: Model, entries: list[Entry], strategy: int = 0) -> list[_Completion]:
    """Assign slots in event order and list, for each completion, what the search needs.

    Each pending op also carries ``twins``: the slots of the identical ``info`` ops (same
    function and input, outcome unknown) invoked before it. Those can stand in for one
    another, so the search only linearizes the first of them not yet linearized."""
    absorb, order = STRATEGIES[strategy]
    events = [(e.call, 0, e) for e in entries]
    events += [(e.ret, 1, e) for e in entries if e.ret is not None]
    events.sort(key=lambda ev: ev[0])
    slot_of: dict[int, int] = {}
    free: list[int] = []
    next_slot = 0
    pending: dict[int, tuple[int, str, Any, Any, int, int, bool]] = {}
    reads: dict[int, tuple[int, str, Any, Any, int]] = {}
    info_bits = 0
    classes: dict[Any, int] = {}
    comps: list[_Completion] = []
    for _pos, is_return, e in events:
        if not is_return:
            if free:
                slot = free.pop()
            else:
                slot, next_slot = next_slot, next_slot + 1
            slot_of[e.id] = slot
            bit = 1 << slot
            if absorb and model.read_only(e.f, e.input, e.output):
                reads[e.id] = (bit, e.f, e.input, e.output, e.id)
                continue
            twins = 0
            if e.ret is None:
                info_bits |= bit
                twins = _twins(classes, e, bit)
            pending[e.id] = (bit, e.f, e.input, e.output, e.id, twins, False)
            continue
        read = e.id in reads
        bit = (reads.pop(e.id) if read else pending.pop(e.id))[0]
        me = (bit, e.f, e.input, e.output, e.id, 0, True)
        if order == "completing-first":
            children = (me, *pending.values())
        elif order == "completing-first-newest":
            children = (me, *reversed(pending.values()))
        else:
            children = (*[p for p in pending.values() if p[4] < e.id], me,
                        *[p for p in pending.values() if p[4] > e.id])
        comps.append(_Completion(
            bit, e.f, e.input, e.output, e.id, read, children if not read else tuple(pending.values()),
            tuple(reads.values()), info_bits, _bits(reads.values()) | (bit if read else 0),
            (*pending, *reads),
        ))  # fmt: skip
        comps[-1].plain = ~(comps[-1].info_bits | comps[-1].read_bits)
        free.append(slot_of.pop(e.id))
    return comps


STRATEGIES: list[tuple[bool, str]] = [
    (True, "completing-first-newest"),
    (False, "completing-first-newest"),
    (True, "invocation"),
]


def _bits(ops: Any) -> int:
    out = 0
    for op in ops:
        out |= op[0]
    return out


def _twins(classes: dict[Any, int], e: Entry, bit: int) -> int:
    """The slots of the identical info ops seen before ``e``; records ``e`` among them."""
    try:
        k = (e.f, e.input)
        before = classes.get(k, 0)
        classes[k] = before | bit
    except TypeError:  # an unhashable input: no twins
        return 0
    return before


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
