"""From a history to sessions of operations, each a list of external reads and writes.

Every client operation that may have taken effect becomes one transaction ("txn"): a
transaction (``f`` "txn", micro-ops ``["append", k, v]``, ``["w", k, v]``, ``["r", k, v]``) or
a single register / key-value operation (``read``, ``write``, ``cas``; ``get``, ``put``) with a
value ``[key, v]`` (Jepsen's independent keys) or a plain value (one register, key None).

Only external effects count, as in Elle: a transaction's read of a key it has not written
yet, and its writes. ``fail`` operations did not happen and are dropped; ``info`` ones (and
invocations never completed) may have happened: their writes are kept (a later read may show
them), their reads are not (nobody knows what they returned). A session is a process: the
node that served an operation is kept for explanations, but a client that moves between nodes
stays one session.

The txns are kept as columns (one list per field, indexed by txn id), built in one pass over
the history: the checks of a million-op history then touch lists and dicts, not one object
per operation. ``Prepared.txns[i]`` builds a ``Txn`` object for the few an explanation needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from harness.history import NEMESIS, Op

__all__ = ["PrepareError", "Prepared", "Txn", "prepare"]

_READS = frozenset({"read", "get", "r"})
_WRITES = frozenset({"write", "put", "w"})
_NONE: tuple[tuple[Any, Any], ...] = ()  # the effects of a txn with none, shared
#: value types that are hashable as they are (what JSON decodes to, but lists and objects)
_PLAIN = frozenset({int, str, float, bool, type(None)})


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
    reads: Sequence[tuple[Any, Any]] = field(default_factory=list)  # (key, value read)
    writes: Sequence[tuple[Any, Any]] = field(default_factory=list)  # (key, value written)
    appends: bool = False  # whether the writes are list appends

    @property
    def node(self) -> str | None:
        return self.op.node


@dataclass
class Prepared:
    """The txns as columns indexed by txn id (txn ids increase along each session), the txn
    ids of each process in session order, and what kind of history this is."""

    procs: list[Any]  # the process
    seqs: list[int]  # the position in its process
    oks: list[bool]  # completed ok (else info: it may or may not have happened)
    ops: list[Op]  # the completion (an info op made up for an invocation never completed)
    invokes: list[int]  # the invocation's history index, -1 when there was none
    reads: list[Sequence[tuple[Any, Any]]]  # external reads (key, value read), ok txns only
    writes: list[Sequence[tuple[Any, Any]]]  # writes (key, value written)
    sessions: dict[Any, list[int]]
    #: "list-append" (versions are list positions) or "register" (unique values)
    kind: str
    counts: dict[str, int]
    txns: _Txns = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.txns = _Txns(self)


class _Txns(Sequence[Txn]):
    """``Prepared``'s txns as ``Txn`` objects, each built when first asked for."""

    def __init__(self, prep: Prepared) -> None:
        self._prep = prep
        self._made: dict[int, Txn] = {}

    def __len__(self) -> int:
        return len(self._prep.ops)

    @overload
    def __getitem__(self, i: int) -> Txn: ...
    @overload
    def __getitem__(self, i: slice) -> list[Txn]: ...
    def __getitem__(self, i: int | slice) -> Txn | list[Txn]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        t = self._made.get(i)
        if t is None:
            p = self._prep
            ws = p.writes[i]
            appends = bool(ws) and p.kind == "list-append"
            t = Txn(
                i, p.procs[i], p.seqs[i], p.oks[i], p.ops[i], p.invokes[i], p.reads[i], ws, appends
            )
            self._made[i] = t
        return t


def prepare(history: list[Op]) -> Prepared:
    """The operations of ``history``, or PrepareError naming the first op that is neither a
    transaction nor a read / write / cas of a register or key."""
    procs: list[Any] = []
    seqs: list[int] = []
    oks: list[bool] = []
    ops: list[Op] = []
    invokes: list[int] = []
    reads: list[Sequence[tuple[Any, Any]]] = []
    writes: list[Sequence[tuple[Any, Any]]] = []
    sessions: dict[Any, list[int]] = {}
    pending: dict[Any, Op] = {}
    failed = info = ignored = 0
    appends = plain_writes = 0
    txn_effects, effects = _txn_effects, _effects

    def add(inv: Op | None, comp: Op, ok: bool) -> None:
        nonlocal appends, plain_writes, info, ignored
        src = comp if ok else (inv or comp)
        if src.f == "txn":
            rs, ws, kind = txn_effects(src, ok)
        else:
            rs, ws, kind = effects(src, ok)
            if kind is None:
                ignored += 1
                return
        if kind == 2:
            appends += 1
        elif kind == 1:
            plain_writes += 1
        p = comp.process
        s = sessions.get(p)
        if s is None:
            s = sessions[p] = []
        seqs.append(len(s))
        s.append(len(ops))
        procs.append(p)
        oks.append(ok)
        ops.append(comp)
        invokes.append(inv.index if inv is not None else -1)
        reads.append(rs)
        writes.append(ws)
        if not ok:
            info += 1

    for op in history:
        t, p = op.type, op.process
        if t == "invoke":
            if p != NEMESIS:
                pending[p] = op
            continue
        if p == NEMESIS:
            continue
        inv = pending.pop(p, None)
        if t == "ok":
            add(inv, op, True)
        elif t == "fail":
            failed += 1
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
        add(inv, made, False)
    if appends and plain_writes:
        raise PrepareError(
            "the history mixes list appends and register writes; check "
            "list-append and register operations separately"
        )
    counts = {"ops": len(ops), "failed": failed, "info": info, "ignored": ignored}
    kind = "list-append" if appends else "register"
    return Prepared(procs, seqs, oks, ops, invokes, reads, writes, sessions, kind, counts)


Effects = tuple[Sequence[tuple[Any, Any]], Sequence[tuple[Any, Any]], Any]


def _txn_effects(op: Op, ok: bool) -> Effects:
    """A transaction's (external reads, writes, 2 appends / 1 writes / 0 reads only)."""
    v = op.value
    if type(v) is not list:
        raise PrepareError(
            f"op at index {op.index} (txn) has value {v!r}; expected a list "
            'of micro-ops like ["append", "x", 3] or ["r", "x", [1, 2]]'
        )
    reads: list[tuple[Any, Any]] = []
    writes: list[tuple[Any, Any]] = []
    touched: set[Any] = set()  # keys read or written so far: a later read is not external
    kind = 0
    plain = _PLAIN
    for m in v:
        if (type(m) is not list and not isinstance(m, list | tuple)) or len(m) != 3:
            raise PrepareError(
                f'op at index {op.index}: micro-op {m!r} is not ["r" | "w" | "append", key, value]'
            )
        mf, k, mv = m
        if type(k) not in plain:
            k = _hashable(k)
        if mf == "r":
            # Only the first read of a key not written before it is external.
            if ok and k not in touched:
                touched.add(k)
                if type(mv) is list:
                    t = tuple(mv)
                    try:
                        hash(t)  # the common case, a list of scalars: one C-level pass
                        mv = t
                    except TypeError:
                        mv = _hashable(mv)
                elif type(mv) not in plain:
                    mv = _hashable(mv)
                reads.append((k, mv))
        elif mf == "append" or mf == "w":
            kind = 2 if mf == "append" else 1
            touched.add(k)
            writes.append((k, mv if type(mv) in plain else _hashable(mv)))
        else:
            raise PrepareError(
                f'op at index {op.index}: micro-op {m!r} is not ["r" | "w" | "append", key, value]'
            )
    return reads or _NONE, writes or _NONE, kind


def _effects(op: Op, ok: bool) -> Effects:
    """A register / key-value op's (external reads, writes, 1 writes / 0 reads / None when
    not ours)."""
    f, v = op.f, op.value
    if f in _READS or f in _WRITES or f == "cas":
        key, x = _split_cas(v) if f == "cas" else _split(v)
        if f in _READS:
            return ([(key, _hashable(x))] if ok else _NONE), _NONE, 0
        if f in _WRITES:
            return _NONE, [(key, _hashable(x))], 1
        if not (isinstance(x, list | tuple) and len(x) == 2):
            raise PrepareError(
                f"op at index {op.index} (cas) has value {v!r}; expected "
                "[expected, new] or [key, [expected, new]]"
            )
        if ok and op.extra.get("result", True) is False:
            return _NONE, _NONE, 0  # a cas that found another value: it read nothing we know
        return ([(key, _hashable(x[0]))] if ok else _NONE), [(key, _hashable(x[1]))], 1
    return _NONE, _NONE, None


def _split(v: Any) -> tuple[Any, Any]:
    # Jepsen's independent keys: [key, v] with a scalar key; anything else is one register.
    if (
        isinstance(v, list | tuple)
        and len(v) == 2
        and isinstance(v[0], str | int)
        and not isinstance(v[0], bool)
    ):
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
