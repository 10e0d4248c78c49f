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

_CHECK_EVERY = 1024
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
    others: tuple[tuple[int, str, Any, Any, int], ...]  # (bit, f, input, output, id)
    info_bits: int  # slots held by ops that may stay pending forever


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def search(
    model: Model,
    entries: list[Entry],
    *,
    deadline: float | None = None,
    max_nodes: int = 2_000_000,
    max_steps: int | None = None,
    paths: bool = False,
) -> Outcome:
    """Search for a linearization of ``entries`` under ``model``.

    ``deadline`` (a ``time.monotonic()`` value) and ``max_nodes`` (the size of the memo)
    bound the work: past either the outcome is "unknown" with the reason, never True.
    ``max_steps`` stops after that many nodes explored (``limited`` is then set), so that a
    caller can spread effort over partitions. ``paths``: also return a linearization.
    """
    comps = _completions(entries)
    total = len(comps)
    step, key = model.step, model.hash
    s0 = model.init(None)
    seen: list[set[tuple[Any, int]]] = [set() for _ in range(total + 1)]
    seen[0].add((key(s0) if key else s0, 0))
    stack: list[tuple[int, Any, int, Any]] = [(0, s0, 0, None)]
    pops = 0
    nodes = 1
    deepest = 0
    level: list[tuple[Any, int, Any]] = []  # with paths: the nodes met at ``deepest``
    while stack:
        j, s, m, path = stack.pop()
        if j == total:
            return Outcome(True, None, j, "", _stats(entries, pops, nodes),
                           _ids(path) if paths else None)  # fmt: skip
        if j >= deepest:
            if j > deepest:
                deepest = j
                level = []
            if paths and len(level) < _FRONTIER_CAP:
                level.append((s, m, path))
        pops += 1
        if nodes > max_nodes:
            return _unknown(f"memory bound: more than {max_nodes} search nodes memoised",
                            entries, deepest, pops, nodes)  # fmt: skip
        if not pops % _CHECK_EVERY:
            if max_steps is not None and pops >= max_steps:
                out = _unknown(f"step limit {max_steps}", entries, deepest, pops, nodes)
                out.limited = True
                return out
            if deadline is not None and time.monotonic() > deadline:
                return _unknown(f"time budget exhausted after {pops} search steps", entries,
                                deepest, pops, nodes)  # fmt: skip
        c = comps[j]
        if m & c.bit:  # linearized earlier: move on
            nodes += _push(seen, comps, stack, key, j + 1, s, m ^ c.bit, path)
            continue
        # The hot loop: linearize one other pending op, staying at this completion.
        memo = seen[j]
        ib = c.info_bits
        for b, f, i, o, oid in c.others:
            if m & b:
                continue
            s2 = step(s, f, i, o)
            if s2 is ILLEGAL:
                continue
            m2 = m | b
            if type(s2) is Branch:
                for s3 in s2:
                    nodes += _push(seen, comps, stack, key, j, s3, m2, (oid, path) if paths else None)
                continue
            t = (s2 if key is None else key(s2), m2)
            if t in memo or (m2 & ib and _subsumed(memo, t[0], m2 & ib, m2)):
                continue
            memo.add(t)
            nodes += 1
            stack.append((j, s2, m2, (oid, path) if paths else None))
        # Linearize the completing op last, so that the stack tries it first.
        s2 = step(s, c.f, c.input, c.output)
        if s2 is not ILLEGAL:
            p2 = (c.id, path) if paths else None
            for s3 in s2 if type(s2) is Branch else (s2,):
                nodes += _push(seen, comps, stack, key, j + 1, s3, m, p2)
    c = comps[deepest]
    out = Outcome(False, c.id, deepest, "", _stats(entries, pops, nodes))
    out.concurrent = [o[4] for o in c.others]
    level.sort(key=lambda n: ((n[1] & ~c.info_bits).bit_count(), n[1].bit_count()))
    out.frontier = [(st, _ids(p)) for st, _m, p in level]
    return out


def _push(
    seen: list[set[tuple[Any, int]]],
    comps: list[_Completion],
    stack: list[tuple[int, Any, int, Any]],
    key: Any,
    j: int,
    s: Any,
    m: int,
    path: Any,
) -> int:
    """Push the node ``(j, s, m)`` unless met (or subsumed) already; 1 if pushed."""
    t = (s if key is None else key(s), m)
    memo = seen[j]
    if t in memo:
        return 0
    ib = comps[j].info_bits if j < len(comps) else 0
    if m & ib and _subsumed(memo, t[0], m & ib, m):
        return 0
    memo.add(t)
    stack.append((j, s, m, path))
    return 1


def _subsumed(memo: set[tuple[Any, int]], k: Any, info: int, m: int) -> bool:
    """Whether the memo holds the node ``(k, m)`` minus one of its ``info`` ops."""
    while info:
        low = info & -info
        if (k, m ^ low) in memo:
            return True
        info ^= low
    return False


def _completions(entries: list[Entry]) -> list[_Completion]:
    """Assign slots in event order and list, for each completion, what the search needs."""
    events = [(e.call, 0, e) for e in entries]
    events += [(e.ret, 1, e) for e in entries if e.ret is not None]
    events.sort(key=lambda ev: ev[0])
    slot_of: dict[int, int] = {}
    free: list[int] = []
    next_slot = 0
    pending: dict[int, tuple[int, str, Any, Any, int]] = {}
    info_bits = 0
    comps: list[_Completion] = []
    for _pos, is_return, e in events:
        if not is_return:
            if free:
                slot = free.pop()
            else:
                slot, next_slot = next_slot, next_slot + 1
            slot_of[e.id] = slot
            pending[e.id] = (1 << slot, e.f, e.input, e.output, e.id)
            if e.ret is None:
                info_bits |= 1 << slot
            continue
        bit = pending.pop(e.id)[0]
        comps.append(_Completion(bit, e.f, e.input, e.output, e.id,
                                 tuple(pending.values()), info_bits))  # fmt: skip
        free.append(slot_of.pop(e.id))
    return comps


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
