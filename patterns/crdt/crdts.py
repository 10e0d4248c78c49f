"""The replicated data types, as pure state with merges: a counter of per-node totals (the
G-counter, and two of them make the PN-counter), an observed-remove set with dots (add-wins),
and a last-writer-wins register. Each state only grows in its order (a join-semilattice), and
``merge`` is its join: commutative, associative and idempotent, so replicas that have merged
each other's states, in any order and any number of times, hold the same state.

The seeded bugs are flags of these functions: ``by_sum`` merges a node's counter entry by
adding the increment the sender reports instead of taking the maximum (not idempotent: a
delta applied twice counts twice); ``single`` keeps a PN-counter as one entry per node with
negative increments (merged by maximum, a decrement is lost); ``tombstones=False`` merges the
OR-set without its causal context (a removed element comes back from any replica that still
holds it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Counter",
    "Dot",
    "Element",
    "LWWRegister",
    "ORSet",
    "diff",
    "digest",
    "merge_entry",
]

#: (node, n): the n-th add made by ``node``
Dot = tuple[str, int]
#: what the set holds: JSON integers or strings (dictionary keys on the wire)
Element = int | str


def merge_entry(mine: int, total: int, base: int, *, by_sum: bool = False) -> int:
    """A node's counter entry after a peer reported the node's ``total``: the larger of the
    two (per-node maximum: idempotent, so a report applied twice changes nothing). With
    ``by_sum`` (the merge-sum bug) the increment since ``base`` (the total the sender believes
    this replica had) is added instead: a report delivered twice counts twice."""
    return mine + (total - base) if by_sum else max(mine, total)


@dataclass
class Counter:
    """A PN-counter: ``p`` maps each node to the total of its increments, ``n`` to the total
    of its decrements (both only grow); the value is ``sum(p) - sum(n)``. A G-counter is one
    whose ``n`` stays empty. Each node changes only its own entries."""

    p: dict[str, int] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)

    @property
    def value(self) -> int:
        return sum(self.p.values()) - sum(self.n.values())

    def add(self, node: str, delta: int, *, single: bool = False) -> None:
        """``node`` adds ``delta``: an increment to its ``p`` entry, a decrement to its ``n``
        entry. With ``single`` (the pn-single-counter bug) a decrement lowers ``p`` instead."""
        if delta >= 0 or single:
            _put(self.p, node, self.p.get(node, 0) + delta)
        else:
            _put(self.n, node, self.n.get(node, 0) - delta)

    def own(self, node: str) -> tuple[int, int]:
        """``node``'s own (increments, decrements) totals."""
        return self.p.get(node, 0), self.n.get(node, 0)

    def merge_own(
        self, node: str, totals: tuple[int, int], base: tuple[int, int], *, by_sum: bool = False
    ) -> bool:
        """Take ``node``'s totals as it reported them (``merge_entry``); whether they changed."""
        before = self.own(node)
        p = merge_entry(before[0], totals[0], base[0], by_sum=by_sum)
        n = merge_entry(before[1], totals[1], base[1], by_sum=by_sum)
        if (p, n) == before:
            return False
        _put(self.p, node, p)
        _put(self.n, node, n)
        return True

    def to_json(self) -> dict[str, Any]:
        return {"p": dict(sorted(self.p.items())), "n": dict(sorted(self.n.items()))}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Counter:
        return cls(
            {str(k): int(v) for k, v in d.get("p", {}).items()},
            {str(k): int(v) for k, v in d.get("n", {}).items()},
        )


@dataclass
class ORSet:
    """An observed-remove set, add-wins, with dots and a causal context instead of
    tombstones (the "optimized OR-set" of Bieniusa et al., 2012).

    Every add makes a new dot ``(node, n)`` (n counts that node's adds) and tags the element
    with it; ``cc`` maps each node to the highest n of its dots this replica has seen (a node
    makes its dots in order and states are exchanged whole, so every dot at or below is
    seen). A remove drops the element's dots the replica holds: they stay covered by ``cc``,
    which is how a merge knows they were removed and not yet received. An add concurrent with
    a remove (a dot the remover had not seen) survives it.
    """

    entries: dict[Element, set[Dot]] = field(default_factory=dict)
    cc: dict[str, int] = field(default_factory=dict)

    def elements(self) -> list[Element]:
        return sorted(self.entries, key=_order)

    def add(self, node: str, element: Element) -> Dot:
        """Tag ``element`` with ``node``'s next dot (the dots of it this replica saw are
        replaced: the new one covers them); the new dot."""
        dot = (node, self.cc.get(node, 0) + 1)
        self.cc[node] = dot[1]
        self.entries[element] = {dot}
        return dot

    def remove(self, element: Element) -> list[Dot]:
        """Drop the dots of ``element`` this replica holds (the adds this remove saw)."""
        return sorted(self.entries.pop(element, set()))

    def merge(self, other: ORSet, *, tombstones: bool = True) -> None:
        """Join ``other`` in: a dot stays if both hold it, or one holds it and the other has
        not seen it (it is above the other's context); a dot one side holds and the other has
        seen but dropped was removed. ``tombstones=False`` (the no-tombstones bug) ignores the
        contexts: every dot either side holds stays, so removed elements come back."""
        merged: dict[Element, set[Dot]] = {}
        for element in set(self.entries) | set(other.entries):
            mine = self.entries.get(element, set())
            theirs = other.entries.get(element, set())
            if tombstones:
                keep = (
                    (mine & theirs)
                    | {d for d in mine if d[1] > other.cc.get(d[0], 0)}
                    | {d for d in theirs if d[1] > self.cc.get(d[0], 0)}
                )
            else:
                keep = mine | theirs
            if keep:
                merged[element] = keep
        self.entries = merged
        for node, n in other.cc.items():
            if n > self.cc.get(node, 0):
                self.cc[node] = n

    def dots(self) -> set[tuple[Element, str, int]]:
        """Every (element, node, n) held."""
        return {(e, d[0], d[1]) for e, ds in self.entries.items() for d in ds}

    def apply(self, added: Iterable[Any], dropped: Iterable[Any], cc: Mapping[str, int]) -> None:
        """Replay a change recorded by ``diff``."""
        for e, node, n in dropped:
            held = self.entries.get(e)
            if held is not None:
                held.discard((str(node), int(n)))
                if not held:
                    del self.entries[e]
        for e, node, n in added:
            self.entries.setdefault(e, set()).add((str(node), int(n)))
        for node, n in cc.items():
            self.cc[str(node)] = max(self.cc.get(str(node), 0), int(n))

    def to_json(self) -> dict[str, Any]:
        return {
            "e": [[e, d[0], d[1]] for e in self.elements() for d in sorted(self.entries[e])],
            "cc": dict(sorted(self.cc.items())),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ORSet:
        s = cls(cc={str(k): int(v) for k, v in d.get("cc", {}).items()})
        for e, node, n in d.get("e", []):
            if not isinstance(e, int | str) or isinstance(e, bool):
                raise ValueError(f"a set element is an integer or a string, got {e!r}")
            s.entries.setdefault(e, set()).add((str(node), int(n)))
        return s


def diff(before: set[tuple[Element, str, int]], after: ORSet) -> dict[str, Any]:
    """The record that turns a set whose ``dots()`` were ``before`` into ``after``."""
    now = after.dots()
    return {
        "add": [list(t) for t in sorted(now - before, key=_dot_order)],
        "drop": [list(t) for t in sorted(before - now, key=_dot_order)],
        "cc": dict(after.cc),
    }


@dataclass
class LWWRegister:
    """A last-writer-wins register: the value with the greatest (wall-clock stamp, node).
    Known to lose writes: a node whose clock is behind stamps a write lower than an earlier
    one, which then wins (the merge is correct; the clock is not)."""

    value: Any = None
    ts: float = 0.0
    node: str = ""

    def key(self) -> tuple[float, str]:
        return self.ts, self.node

    def write(self, value: Any, ts: float, node: str) -> bool:
        """Offer a write stamped ``(ts, node)``; whether it won."""
        return self.merge(LWWRegister(value, ts, node))

    def merge(self, other: LWWRegister) -> bool:
        if other.node and other.key() > self.key():
            self.value, self.ts, self.node = other.value, other.ts, other.node
            return True
        return False

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "ts": self.ts, "node": self.node}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LWWRegister:
        return cls(d.get("value"), float(d.get("ts", 0.0)), str(d.get("node", "")))


def digest(state: Mapping[str, Any]) -> str:
    """A short hash of a replica's state as JSON: two replicas agree when the digests do."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _put(entries: dict[str, int], node: str, total: int) -> None:
    """Set ``node``'s entry; a zero is no entry, so that equal counters have equal JSON."""
    if total:
        entries[node] = total
    else:
        entries.pop(node, None)


def _order(e: Element) -> tuple[int, int, str]:
    return (0, e, "") if isinstance(e, int) else (1, 0, e)


def _dot_order(t: tuple[Element, str, int]) -> tuple[tuple[int, int, str], str, int]:
    return _order(t[0]), t[1], t[2]
