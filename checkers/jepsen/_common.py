"""What the Jepsen-style checkers share: client ops, invocations, values as a person reads them."""

from __future__ import annotations

import json
from typing import Any

from harness.history import NEMESIS, Op

from ..base import when

__all__ = ["client_ops", "fmt", "freeze", "invocations", "op_ref"]


def client_ops(history: list[Op]) -> list[Op]:
    """The ops of client processes (not the nemesis's), in history order."""
    return [op for op in history if op.process != NEMESIS]


def invocations(history: list[Op]) -> dict[int, Op]:
    """For each completion (by position in ``history``), its invocation: the last invocation
    of the same process before it."""
    pending: dict[Any, Op] = {}
    out: dict[int, Op] = {}
    for i, op in enumerate(history):
        if op.type == "invoke":
            pending[op.process] = op
        else:
            inv = pending.pop(op.process, None)
            if inv is not None:
                out[i] = inv
    return out


def freeze(v: Any) -> Any:
    """A hashable version of a value (lists become tuples, maps sorted tuples)."""
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((freeze(k), freeze(x)) for k, x in v.items()), key=repr))
    return v


def fmt(v: Any, limit: int = 200) -> str:
    """A value as a person reads it, clipped to ``limit`` characters."""
    if isinstance(v, tuple):
        v = list(v)
    s = json.dumps(v, default=str, separators=(", ", ": "))
    return s if len(s) <= limit else s[: limit - 3] + "..."


def op_ref(op: Op, ctx: dict[str, Any] | None = None) -> str:
    """How an explanation names an op: ``op 12 (process 3 on n2, at 4.210 s)``: which op,
    who ran it, the node it talked to, and when it completed (with the wall clock when ``ctx``
    has the run's time zero), so it can be found in that node's log."""
    node = f" on {op.node}" if op.node else ""
    return f"op {op.index} (process {op.process}{node}, at {when(op.time, ctx)})"
