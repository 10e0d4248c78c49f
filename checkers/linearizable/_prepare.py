"""From a history to the operations the search linearizes, split into independent partitions.

Semantics (DESIGN.md, "History"): an ``ok`` op took effect between its invocation and its
completion; a ``fail`` op did not take effect and is dropped; an ``info`` op, or an
invocation that never completed, may take effect at any point after its invocation or never:
it stays pending to the end of the history (linearizing it after every other op is the same
as its never happening). A read whose outcome is unknown constrains nothing and is dropped.
Nemesis ops and ops whose ``f`` the model does not know are ignored. Values are frozen
(``models.freeze``) so that models can put them in states as they are.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from harness.history import NEMESIS, Op

from .models import UNKNOWN, Model, freeze

__all__ = ["Entry", "Partition", "Prepared", "prepare"]


@dataclass(slots=True)
class Entry:
    """One operation to linearize: its function, input and output as the model sees them, and
    its interval as positions in the history (``ret`` None: it may stay pending forever)."""

    id: int
    f: str
    input: Any
    output: Any
    call: int
    ret: int | None
    invoke: Op
    completion: Op | None

    @property
    def process(self) -> int | str:
        return self.invoke.process


@dataclass
class Partition:
    """The operations of one key (or the whole history), in invocation order."""

    key: Hashable
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Prepared:
    """The partitions, and counts of what was left out and why."""

    partitions: list[Partition]
    independent: bool
    counts: dict[str, int]


def prepare(history: list[Op], model: Model, independent: bool | None = None) -> Prepared:
    """Pair invocations with completions and split the operations into partitions.

    ``independent``: split Jepsen ``[key, v]`` values per key (True), never (False), or when
    every operation's value has that shape (None). A model with its own ``partition`` keeps
    its values whole and is split by that instead.
    """
    counts = {
        "ops": 0,
        "ignored": 0,
        "failed": 0,
        "unknown-reads": 0,
        "indeterminate": 0,
        "orphan-completions": 0,
    }
    pairs = _pairs(history, model, counts)
    if model.partition is not None:
        independent = False
    elif independent is None:
        independent = bool(pairs) and all(_keyed(p[0], p[2]) for p in pairs)
    parts: dict[Hashable, Partition] = {}
    reads, to_output, partition = model.reads, model.output, model.partition
    unknown_reads = indeterminate = 0
    for inv, ipos, comp, cpos in pairs:
        f, value = inv.f, inv.value
        out_value = comp.value if comp is not None else None
        key: Hashable = None
        if independent:
            key = _key(value)
            value = value[1]
            if comp is not None and isinstance(out_value, list) and len(out_value) == 2:
                out_value = out_value[1]
        ret: int | None = cpos
        if comp is None or comp.type == "info":
            if f in reads:
                unknown_reads += 1
                continue
            indeterminate += 1
            output: Any = UNKNOWN
            ret = None
        else:
            if not (out_value is None or type(out_value) is int or type(out_value) is str):
                out_value = freeze(out_value)  # most values are scalars already: no call
            output = to_output(f, out_value, comp) if to_output else out_value
        if not (value is None or type(value) is int or type(value) is str):
            value = freeze(value)
        if partition is not None:
            key = partition(f, value, output)
        part = parts.get(key)
        if part is None:
            part = parts[key] = Partition(key)
        entries = part.entries
        entries.append(Entry(len(entries), f, value, output, ipos, ret, inv, comp))
    counts["unknown-reads"] = unknown_reads
    counts["indeterminate"] = indeterminate
    counts["ops"] = sum(len(p.entries) for p in parts.values())
    ordered = sorted(parts.values(), key=lambda p: repr(p.key))
    return Prepared(ordered, bool(independent), counts)


_Pair = tuple[Op, int, "Op | None", int]


def _pairs(history: list[Op], model: Model, counts: dict[str, int]) -> list[_Pair]:
    """(invocation, its position, completion or None, its position) for each client op the
    model knows, in invocation order; ops that failed are dropped. Positions in the list, not
    ``index`` fields, order the intervals (a history built in memory may have no index)."""
    pending: dict[Any, int] = {}
    pairs: list[_Pair] = []
    fs = model.fs  # empty: every f
    for pos, op in enumerate(history):
        process = op.process
        if process == NEMESIS:
            continue
        if op.type == "invoke":
            if fs and op.f not in fs:
                counts["ignored"] += 1
                continue
            pending[process] = len(pairs)
            pairs.append((op, pos, None, -1))
            continue
        slot = pending.pop(process, None)
        if slot is None:
            if not fs or op.f in fs:
                counts["orphan-completions"] += 1
            continue
        inv, ipos, _c, _p = pairs[slot]
        pairs[slot] = (inv, ipos, op, pos)
    kept: list[_Pair] = []
    for pair in pairs:
        if pair[2] is not None and pair[2].type == "fail":
            counts["failed"] += 1
        else:
            kept.append(pair)
    return kept


def _keyed(inv: Op, comp: Op | None) -> bool:
    """Whether an op follows Jepsen's independent convention: value ``[key, v]`` on both
    sides, the key a scalar, and a cas' ``v`` itself an ``[expected, new]`` pair (so that a
    plain cas ``[1, 2]`` is not mistaken for key 1)."""
    v = inv.value
    if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], str | int)):
        return False
    if isinstance(v[0], bool):
        return False
    if inv.f == "cas" and not (isinstance(v[1], list) and len(v[1]) == 2):
        return False
    if comp is not None and comp.type == "ok":
        c = comp.value
        if not (isinstance(c, list) and len(c) == 2 and c[0] == v[0]):
            return False
    return True


def _key(value: Any) -> Hashable:
    k = value[0]
    return tuple(k) if isinstance(k, list) else k  # type: ignore[no-any-return]
