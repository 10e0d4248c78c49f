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
        writers = self.writers
        for tid, ws in enumerate(prep.writes):
            for k, v in ws:
                w = writers.get(k)
                if w is None:
                    writers[k] = {v: tid}
                else:
                    w[v] = tid if w.get(v, tid) == tid else None
        #: key -> element -> its position in the key's longest read (list-append)
        self.positions: dict[Any, dict[Any, int]] = {}
        if self.kind == "list-append":
            longest: dict[Any, tuple[Any, ...]] = {}
            for rs in prep.reads:
                for k, v in rs:
                    if type(v) is tuple and len(v) > len(longest.get(k, ())):
                        longest[k] = v
            for k, v in longest.items():
                # Reversed, so that the first position of an element repeated is the one kept.
                self.positions[k] = dict(zip(reversed(v), range(len(v) - 1, -1, -1), strict=True))
        self._procs, self._seqs = prep.procs, prep.seqs

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
        return bool(self._procs[wa] == self._procs[wb] and self._seqs[wa] < self._seqs[wb])
