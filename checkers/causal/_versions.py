"""What is known of each key's version order.

List-append: every read shows a prefix of the key's list, so the longest read gives the order
of the appends it holds (as Elle's list-append checker infers it): a version is a position,
-1 for the empty list.

An append no read showed comes after every shown one.

Registers (unique values, as Elle's rw-register assumes): a read reveals only which write it
saw. What is known: the initial nil comes before every write; and, where the models checked
include monotonic writes (PRAM, causal and stronger do), each process's writes of a key come
in its session order. Other orders between writes are unknown, so no check rests on them.
"""

from __future__ import annotations

from typing import Any

from ._prepare import Prepared

__all__ = ["Versions"]


class Versions:
    """Version facts for one prepared history: ``before(k, a, b)`` says whether version ``a``
    of key ``k`` certainly precedes ``b``; ``writer(k, v)`` is the txn that wrote ``v``."""

    def __init__(self, prep: Prepared, *, session_write_order: bool) -> None:
        self.kind = prep.kind
        self.session_write_order = session_write_order
        #: key -> value -> the txn id that wrote it (None when two did: not unique)
        self.writers: dict[Any, dict[Any, int | None]] = {}
        for t in prep.txns:
            for k, v in t.writes:
                w = self.writers.setdefault(k, {})
                w[v] = None if v in w and w[v] != t.id else t.id
        self.positions: dict[Any, dict[Any, int]] = {}
        if self.kind == "list-append":
            longest: dict[Any, tuple[Any, ...]] = {}
            for t in prep.txns:
                for k, v in t.reads:
                    if isinstance(v, tuple) and len(v) > len(longest.get(k, ())):
                        longest[k] = v
            for k, v in longest.items():
                pos: dict[Any, int] = {}
                for i, e in enumerate(v):
                    pos.setdefault(e, i)
                self.positions[k] = pos
        self._txns = prep.txns

    def read_version(self, k: Any, v: Any) -> Any:
        """The version a read of ``k`` returning ``v`` saw: a position for lists (-1: empty;
        None: not known), the value for registers."""
        if self.kind == "list-append":
            if not v:
                return -1
            if not isinstance(v, tuple):
                return None
            return self.positions.get(k, {}).get(v[-1])
        return v

    def write_version(self, k: Any, v: Any) -> Any:
        """The version a write of ``v`` to ``k`` made. An append no read showed came after
        every element a read showed (as Elle places it): its position is the longest read's
        length, which no other unshown append's precedes."""
        if self.kind == "list-append":
            pos = self.positions.get(k)
            if pos is None:
                return 0
            p = pos.get(v)
            return len(pos) if p is None else p
        return v

    def read_source(self, k: Any, v: Any) -> int | None:
        """The txn whose write a read of ``k`` returning ``v`` saw (the last element's
        appender for lists), or None (the initial value, or not known)."""
        if self.kind == "list-append":
            if not v or not isinstance(v, tuple):
                return None
            v = v[-1]
        elif v is None:
            return None
        return self.writers.get(k, {}).get(v)

    def before(self, k: Any, a: Any, b: Any) -> bool:
        """Whether version ``a`` of ``k`` certainly precedes version ``b``."""
        if a is None and self.kind == "list-append":
            return False
        if b is None:
            return False
        if self.kind == "list-append":
            return bool(a < b)
        if a is None:
            return True  # the initial nil precedes every write
        if not self.session_write_order or a == b:
            return False
        wa, wb = self.writers.get(k, {}).get(a), self.writers.get(k, {}).get(b)
        if wa is None or wb is None:
            return False
        ta, tb = self._txns[wa], self._txns[wb]
        return bool(ta.process == tb.process and ta.seq < tb.seq)
