"""A key's versions as a dotted causal container: the sibling values, each with the dot that
names it, and the causal context (a vector clock) of everything the replica has seen.

This is the structure of Riak's dotted version vectors (Almeida et al., "Scalable and
accurate causality tracking for eventually consistent stores", 2014):

- A *dot* ``(node, n)`` names one write: the n-th version node ``node`` made of the key.
- The *context* ``cc`` maps each node to the highest n of its dots the replica has seen;
  every dot at or below it was seen, and is either still a sibling or was replaced by a
  version whose writer saw it.
- A read returns the siblings and ``cc``; a write carries the context its client read, and
  replaces exactly the siblings whose dots that context covers. Two writes made with the same
  context, on one node or on two, are concurrent: both stay, as siblings, until a write that
  saw both replaces them.
- Two replicas merge (``merge``) by keeping each sibling that the other replica also has, or
  has not seen yet (its dot is above the other's context), and taking the element-wise
  maximum of the contexts.

The functions are pure: they take a ``KeyState`` and return a new one. The seeded bugs are
flags of theirs: ``lww`` keeps one sibling, the one with the latest wall-clock stamp;
``min_merge`` merges contexts with the element-wise minimum.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Clock",
    "Dot",
    "Entry",
    "KeyState",
    "covered",
    "digest",
    "join",
    "meet",
    "merge",
    "update",
]

#: (node, n): the n-th version ``node`` made of a key
Dot = tuple[str, int]
#: node -> the highest n of its dots seen
Clock = dict[str, int]


@dataclass(frozen=True)
class Entry:
    """A sibling: its value and the wall-clock time (seconds) of the node that took the write
    (only the ``lww`` bug reads it)."""

    value: Any
    stamp: float


@dataclass(frozen=True)
class KeyState:
    """The siblings of one key by dot, and the causal context ``cc``."""

    entries: dict[Dot, Entry] = field(default_factory=dict)
    cc: Clock = field(default_factory=dict)

    def values(self) -> list[Any]:
        """The sibling values, in the order of their dots (the same on every replica)."""
        return [self.entries[d].value for d in sorted(self.entries)]

    def dots(self) -> list[list[Any]]:
        return [[d[0], d[1]] for d in sorted(self.entries)]

    def to_json(self) -> dict[str, Any]:
        """As a JSON object: ``{"e": [[node, n, value, stamp], ...], "c": {node: n}}``."""
        return {
            "e": [[d[0], d[1], e.value, e.stamp] for d, e in sorted(self.entries.items())],
            "c": dict(sorted(self.cc.items())),
        }

    @classmethod
    def from_json(cls, obj: Any) -> KeyState:
        """The state ``to_json`` wrote; raises ValueError for anything else."""
        if not isinstance(obj, dict):
            raise ValueError(f"a key state is an object, got {obj!r}")
        entries: dict[Dot, Entry] = {}
        for item in obj.get("e") or []:
            if not (isinstance(item, list) and len(item) == 4):
                raise ValueError(f"a sibling is [node, n, value, stamp], got {item!r}")
            node, n, value, stamp = item
            entries[(str(node), int(n))] = Entry(value, float(stamp))
        cc = obj.get("c") or {}
        if not isinstance(cc, dict):
            raise ValueError(f"a context is an object of counters, got {cc!r}")
        return cls(entries, {str(k): int(v) for k, v in cc.items()})


def covered(dot: Dot, cc: Mapping[str, int]) -> bool:
    """Whether context ``cc`` has seen ``dot``."""
    return cc.get(dot[0], 0) >= dot[1]


def join(a: Mapping[str, int], b: Mapping[str, int]) -> Clock:
    """The element-wise maximum: everything either context has seen."""
    out = dict(a)
    for k, v in b.items():
        if v > out.get(k, 0):
            out[k] = v
    return out


def meet(a: Mapping[str, int], b: Mapping[str, int]) -> Clock:
    """The element-wise minimum (a missing entry is 0): what both have seen. The
    ``bad-merge`` bug merges contexts with it."""
    out = {k: min(v, b.get(k, 0)) for k, v in a.items()}
    return {k: v for k, v in out.items() if v > 0}


def update(
    state: KeyState,
    node: str,
    value: Any,
    context: Mapping[str, int],
    stamp: float,
    *,
    lww: bool = False,
) -> tuple[KeyState, Dot]:
    """``state`` after node ``node`` takes a write of ``value`` whose client had read
    ``context``: the siblings ``context`` covers are replaced, the others stay beside the new
    version, whose dot is the node's next. Returns the new state and the new dot."""
    cc = join(state.cc, context)
    entries = {d: e for d, e in state.entries.items() if not covered(d, context)}
    dot = (node, cc.get(node, 0) + 1)
    entries[dot] = Entry(value, stamp)
    cc[node] = dot[1]
    if lww:
        entries = _latest(entries)
    return KeyState(entries, cc), dot


def merge(a: KeyState, b: KeyState, *, lww: bool = False, min_merge: bool = False) -> KeyState:
    """The state of a replica that had ``a`` and received ``b``: a sibling stays when the
    other side has it too or has not seen its dot; a sibling one side has and the other has
    seen was replaced there by a write that saw it. The same on both sides: merging is
    commutative, associative and idempotent (as anti-entropy needs)."""
    entries: dict[Dot, Entry] = {}
    for d, e in a.entries.items():
        if d in b.entries:
            # the same dot names the same write; two values under one dot only happen when a
            # dot was reused: keep one the same way on every replica
            other = b.entries[d]
            entries[d] = e if _order(e) >= _order(other) else other
        elif not covered(d, b.cc):
            entries[d] = e
    for d, e in b.entries.items():
        if d not in a.entries and not covered(d, a.cc):
            entries[d] = e
    cc = meet(a.cc, b.cc) if min_merge else join(a.cc, b.cc)
    if lww:
        entries = _latest(entries)
    return KeyState(entries, cc)


def digest(states: Mapping[str, KeyState]) -> str:
    """A short hash of every key's siblings and context: equal on two replicas exactly when
    they hold the same versions."""
    body = json.dumps(
        {k: states[k].to_json() for k in sorted(states)}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha1(body.encode()).hexdigest()[:16]


def _latest(entries: dict[Dot, Entry]) -> dict[Dot, Entry]:
    """The ``lww`` bug: only the sibling with the latest stamp (ties: the highest dot)."""
    if len(entries) <= 1:
        return entries
    d = max(entries, key=lambda d: (entries[d].stamp, d))
    return {d: entries[d]}


def _order(e: Entry) -> tuple[float, str]:
    return e.stamp, json.dumps(e.value, sort_keys=True)
