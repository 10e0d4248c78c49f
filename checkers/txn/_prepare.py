"""From a history to transactions: pair invocations with completions, keep what Elle keeps.

A transaction is a client op with ``f`` "txn" whose value is a list of micro-ops
``[f, k, v]``. The graph's vertices are the transactions that may have happened: ``ok`` ones
and ``info`` ones (indeterminate). ``fail`` ones certainly did not happen; they are kept
apart, for aborted reads and dirty updates. An invocation that never completes (the history
was cut) is taken as ``info``, with the invocation's value.

Positions are positions in the history list: "T1 completed before T2 was invoked" compares
them, as Elle compares ``:index``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.history import NEMESIS, Op

__all__ = ["PrepareError", "Txns", "prepare", "process_edges", "realtime_edges"]


class PrepareError(ValueError):
    """The history cannot be read as transactions (a malformed micro-op, say)."""


@dataclass
class Txns:
    """The transactions of a history, numbered 0..n-1 in order of completion."""

    #: the completion op of each transaction (an info one made up for a dangling invocation)
    ops: list[Op] = field(default_factory=list)
    #: the micro-ops each transaction performed: the completion's for ok, else the invocation's
    mops: list[list[Any]] = field(default_factory=list)
    #: True for ok, False for info
    ok: list[bool] = field(default_factory=list)
    #: position of the invocation in the history, -1 when there was none
    invoke_pos: list[int] = field(default_factory=list)
    #: the ``index`` field of the invocation, -1 when there was none
    invoke_index: list[int] = field(default_factory=list)
    #: position of the completion in the history (for a dangling invocation: the history length)
    comp_pos: list[int] = field(default_factory=list)
    #: failed transactions: (completion op, micro-ops)
    failed: list[tuple[Op, list[Any]]] = field(default_factory=list)
    #: invocations and ok completions in history order: 2t for the invocation of t, 2t+1 for
    #: its ok completion
    events: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ops)


def prepare(history: list[Op], fs: tuple[str, ...] = ("txn",)) -> Txns:
    """The transactions (ops whose ``f`` is in ``fs``) of ``history``."""
    txns = Txns()
    pending: dict[Any, tuple[int, Op]] = {}
    # The txn number of an invocation is known only at its completion: collect (position,
    # event) pairs, and sort them by position at the end.
    raw_events: list[tuple[int, int]] = []
    for pos, op in enumerate(history):
        if op.process == NEMESIS or op.f not in fs:
            continue
        if op.type == "invoke":
            pending[op.process] = (pos, op)
            continue
        inv = pending.pop(op.process, None)
        value = op.value
        if op.type != "ok" and inv is not None and not _is_txn(value):
            value = inv[1].value
        if not _is_txn(value):
            raise PrepareError(
                f"op at index {op.index} ({op.type} {op.f}) has value {_clip(value)}; expected a "
                'list of micro-ops like ["append", "x", 3] or ["r", "x", [1, 2]]'
            )
        if op.type == "fail":
            txns.failed.append((op, value))
            continue
        t = len(txns.ops)
        txns.ops.append(op)
        txns.mops.append(value)
        txns.ok.append(op.type == "ok")
        txns.invoke_pos.append(inv[0] if inv is not None else -1)
        txns.invoke_index.append(inv[1].index if inv is not None else -1)
        txns.comp_pos.append(pos)
        if inv is not None:
            raw_events.append((inv[0], 2 * t))
        if op.type == "ok":
            raw_events.append((pos, 2 * t + 1))
    end = len(history)
    for inv_pos, inv_op in sorted(pending.values(), key=lambda x: x[0]):
        if not _is_txn(inv_op.value):
            continue
        t = len(txns.ops)
        txns.ops.append(
            Op(
                type="info",
                f=inv_op.f,
                value=inv_op.value,
                process=inv_op.process,
                time=inv_op.time,
                index=inv_op.index,
                node=inv_op.node,
                error="no completion in the history",
            )
        )
        txns.mops.append(inv_op.value)
        txns.ok.append(False)
        txns.invoke_pos.append(inv_pos)
        txns.invoke_index.append(inv_op.index)
        txns.comp_pos.append(end)
        raw_events.append((inv_pos, 2 * t))
    raw_events.sort()
    txns.events = [code for _, code in raw_events]
    return txns


def realtime_edges(txns: Txns, out: list[list[int]], code: int) -> None:
    """Add to ``out`` (each transaction's encoded edges) an edge a -> b, encoded
    ``b << 5 | code``, where a completed ok before b was invoked, transitively reduced as
    Elle does: each invocation is linked from the ok completions not yet superseded by a
    later completion that itself follows them. Appended in place: a pair per edge would be
    made only to be taken apart (200,000 of them for 100,000 transactions)."""
    frontier: set[int] = set()
    preds: dict[int, tuple[int, ...]] = {}
    for ev in txns.events:
        t = ev >> 1
        if ev & 1 == 0:  # invocation of t
            if frontier:
                p = tuple(frontier)
                preds[t] = p
                edge = (t << 5) | code
                for a in p:
                    out[a].append(edge)
        else:  # ok completion of t: it supersedes everything that precedes it
            p = preds.pop(t, ())
            if p:
                frontier.difference_update(p)
            frontier.add(t)


def process_edges(txns: Txns) -> list[tuple[int, int]]:
    """Edges a -> b between successive ok transactions of one process (Elle's process order:
    oks only, so an info op, after which a worker takes a new process, breaks nothing)."""
    last: dict[Any, int] = {}
    edges: list[tuple[int, int]] = []
    for t, op in enumerate(txns.ops):
        if not txns.ok[t]:
            continue
        prev = last.get(op.process)
        if prev is not None:
            edges.append((prev, t))
        last[op.process] = t
    return edges


def _is_txn(v: Any) -> bool:
    # Only the shape of the value; the analysis checks each micro-op as it reads it.
    return type(v) is list or isinstance(v, list)


def _clip(v: Any, n: int = 80) -> str:
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."
