"""From a history to sessions of operations, each a list of external reads and writes.

Every client operation that may have taken effect becomes one ``Txn``: a transaction
(``f`` "txn", micro-ops ``["append", k, v]``, ``["w", k, v]``, ``["r", k, v]``) or a single
register / key-value operation (``read``, ``write``, ``cas``; ``get``, ``put``) with a value
``[key, v]`` (Jepsen's independent keys) or a plain value (one register, key None).

Only external effects count, as in Elle: a transaction's read of a key it has not written
yet, and its writes. ``fail`` operations did not happen and are dropped; ``info`` ones (and
invocations never completed) may have happened: their writes are kept (a later read may show
them), their reads are not (nobody knows what they returned). A session is a process: the
node that served an operation is kept for explanations, but a client that moves between nodes
stays one session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.history import NEMESIS, Op

__all__ = ["PrepareError", "Prepared", "Txn", "prepare"]

_READS = frozenset({"read", "get", "r"})
_WRITES = frozenset({"write", "put", "w"})


class PrepareError(ValueError):
    """The history cannot be read as register, key-value or transaction operations."""


@dataclass(slots=True)
class Txn:
    """One operation that may have taken effect. ``seq``: its position in its process."""

    id: int
    process: Any
    seq: int
    ok: bool
    op: Op  # the completion (an info op made up for an invocation never completed)
    invoke_index: int
    reads: list[tuple[Any, Any]] = field(default_factory=list)  # (key, value read)
    writes: list[tuple[Any, Any]] = field(default_factory=list)  # (key, value written)
    appends: bool = False  # whether the writes are list appends

    @property
    def node(self) -> str | None:
        return self.op.node


@dataclass
class Prepared:
    """The operations, per process in session order, and what kind of history this is."""

    txns: list[Txn]
    sessions: dict[Any, list[int]]
    #: "list-append" (versions are list positions) or "register" (unique values)
    kind: str
    counts: dict[str, int]


def prepare(history: list[Op]) -> Prepared:
    """The operations of ``history``, or PrepareError naming the first op that is neither a
    transaction nor a read / write / cas of a register or key."""
    txns: list[Txn] = []
    sessions: dict[Any, list[int]] = {}
    pending: dict[Any, Op] = {}
    counts = {"ops": 0, "failed": 0, "info": 0, "ignored": 0}
    appends = writes = 0

    def add(inv: Op | None, comp: Op, ok: bool) -> None:
        nonlocal appends, writes
        reads, ws, kind = _effects(comp if ok else (inv or comp), ok)
        if kind is None:
            counts["ignored"] += 1
            return
        if kind == "append":
            appends += 1
        elif ws:
            writes += 1
        s = sessions.setdefault(comp.process, [])
        t = Txn(len(txns), comp.process, len(s), ok, comp,
                inv.index if inv is not None else -1, reads, ws, kind == "append")  # fmt: skip
        s.append(t.id)
        txns.append(t)
        counts["ops"] += 1
        if not ok:
            counts["info"] += 1

    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if op.type == "fail":
            counts["failed"] += 1
            continue
        if op.type == "ok":
            add(inv, op, True)
        else:
            add(inv, op, False)
    for inv in pending.values():
        made = Op(
            type="info",
            f=inv.f,
            value=inv.value,
            process=inv.process,
            time=inv.time,
            index=inv.index,
            node=inv.node,
            error="no completion in the history",
        )
        add(inv, made, False)  # fmt: skip
    if appends and writes:
        raise PrepareError("the history mixes list appends and register writes; check "
                           "list-append and register operations separately")  # fmt: skip
    return Prepared(txns, sessions, "list-append" if appends else "register", counts)


def _effects(op: Op, ok: bool) -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]], Any]:
    """(external reads, writes, "append" / "write" / "read" / None when not ours)."""
    f, v = op.f, op.value
    if f == "txn":
        if not isinstance(v, list):
            raise PrepareError(
                f"op at index {op.index} (txn) has value {v!r}; expected a list "
                'of micro-ops like ["append", "x", 3] or ["r", "x", [1, 2]]'
            )
        reads: list[tuple[Any, Any]] = []
        writes: list[tuple[Any, Any]] = []
        written: set[Any] = set()
        read: set[Any] = set()
        kind = "read"
        for m in v:
            if not isinstance(m, list | tuple) or len(m) != 3 or m[0] not in ("r", "w", "append"):
                raise PrepareError(f"op at index {op.index}: micro-op {m!r} is not "
                                   '["r" | "w" | "append", key, value]')  # fmt: skip
            mf, k, mv = m
            k = _hashable(k)
            if mf == "r":
                if ok and k not in written and k not in read:
                    read.add(k)
                    reads.append((k, _hashable(mv)))
            else:
                kind = "append" if mf == "append" else "write"
                written.add(k)
                writes.append((k, _hashable(mv)))
        return reads, writes, kind
    if f in _READS or f in _WRITES or f == "cas":
        key, x = _split_cas(v) if f == "cas" else _split(v)
        if f in _READS:
            return ([(key, _hashable(x))] if ok else []), [], "read"
        if f in _WRITES:
            return [], [(key, _hashable(x))], "write"
        if not (isinstance(x, list | tuple) and len(x) == 2):
            raise PrepareError(f"op at index {op.index} (cas) has value {v!r}; expected "
                               "[expected, new] or [key, [expected, new]]")  # fmt: skip
        if ok and op.extra.get("result", True) is False:
            return [], [], "read"  # a cas that found another value: it read nothing we know
        return ([(key, _hashable(x[0]))] if ok else []), [(key, _hashable(x[1]))], "write"
    return [], [], None


def _split(v: Any) -> tuple[Any, Any]:
    # Jepsen's independent keys: [key, v] with a scalar key; anything else is one register.
    if isinstance(v, list | tuple) and len(v) == 2 and isinstance(v[0], str | int) \
            and not isinstance(v[0], bool):  # fmt: skip
        return v[0], v[1]
    return None, v


def _split_cas(v: Any) -> tuple[Any, Any]:
    # A cas' own value is [expected, new]: keyed only when that pair is nested.
    if isinstance(v, list | tuple) and len(v) == 2 and isinstance(v[1], list | tuple):
        return _split(v)
    return None, v


def _hashable(v: Any) -> Any:
    if type(v) is list:
        t = tuple(v)
        try:
            hash(t)  # the common case, a list of scalars: one C-level pass
            return t
        except TypeError:
            return tuple(_hashable(x) for x in v)
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(a), _hashable(b)) for a, b in v.items()))
    return v
