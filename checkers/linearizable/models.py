"""Sequential specifications for the linearizability checker: each a few pure functions.

A :class:`Model` is a ``step(state, f, input, output)`` that returns the state after the
operation, or :data:`ILLEGAL` when the operation could not have returned ``output`` in
``state``; plus an ``init`` giving the first state from the checker's ``initial`` option.
``output`` is :data:`UNKNOWN` for an operation whose completion was never seen (``info``, or
no completion): such an operation may have taken effect, and its result is unknown. A step
that cannot tell which of several states follows returns a :class:`Branch` of them.

States must be hashable (the search memoises them); a model whose natural state is not
can give ``hash``, a function to a hashable key with equal keys for equal states. Values reach
``step`` hashable too (:func:`freeze`: lists as tuples, dicts as sorted item tuples, sets as
frozensets), converted once before the search rather than at every step.

Add a model by putting one into :data:`MODELS` (``MODELS["my-model"] = Model(...)``); the
engine looks models up there by name and needs no change.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from harness.history import Op

__all__ = [
    "ILLEGAL",
    "MODELS",
    "SEMANTICS",
    "UNKNOWN",
    "Branch",
    "Model",
    "cas_register",
    "fifo_queue",
    "freeze",
    "kv",
    "multi_register",
    "mutex",
    "register",
    "set_model",
    "unordered_queue",
]


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


ILLEGAL: Any = _Marker("ILLEGAL")
"""Returned by ``step`` when the operation cannot have happened, with that output, here."""

UNKNOWN: Any = _Marker("UNKNOWN")
"""The output of an operation whose completion is unknown (``info`` or never completed)."""


SEMANTICS = ("splitbrain", "knossos")
"""How a model reads an op's value, where this project and Knossos differ (``Model.under``):

- ``splitbrain`` (the project's ``history.jsonl``): a read that returns nil found the register
  nil (never written, or written nil), and so does a nil read in a multi-register txn; a
  dequeue that returns nil found the queue empty; a dequeue whose outcome is unknown may have
  taken an element (the head of a FIFO queue, any element of an unordered one).
- ``knossos`` (Jepsen and Knossos EDN histories, as Knossos' ``model.clj`` reads them): an
  ``ok`` read whose value is nil is a read whose value is not known, consistent with every
  state (register, cas-register, each read of a multi-register txn); a dequeue's value is the
  element it took, nil included, so a dequeue of nil needs a nil in the queue; an op that did
  not complete is stepped with its invocation's value (Knossos' ``history/complete`` fills in
  only completed ops), so a dequeue whose outcome is unknown can only have taken the value its
  invocation names: with nil, none at all.

Mutex, set and kv read values the same way under both.
"""


class Branch(tuple):  # type: ignore[type-arg]
    """The possible states after a step that cannot tell which happened (an empty one is
    illegal). Only for operations with an unknown output, such as an ``info`` dequeue from an
    unordered queue."""


Step = Callable[[Any, str, Any, Any], Any]
DeadEnd = Callable[[str, Any, Any, list[tuple[str, Any]]], "Callable[[Any], bool] | None"]


def _same(x: Any) -> Any:
    return x


def _describe_op(f: str, input: Any, output: Any) -> str:
    if output is UNKNOWN:
        return f"{f} {_show(input)} (outcome unknown)" if input is not None else f"{f} (unknown)"
    if input is None or input == output:
        return f"{f} {_show(output)}" if output is not None else f
    return f"{f} {_show(input)} -> {_show(output)}"


def _show(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, frozenset):
        return "{" + ", ".join(sorted(map(_show, v))) + "}"
    if isinstance(v, tuple):
        return "[" + ", ".join(map(_show, v)) + "]"
    return repr(v) if isinstance(v, str) else str(v)


@dataclass(frozen=True)
class Model:
    """A sequential specification.

    - ``name``: how users and reports call it.
    - ``step(state, f, input, output)``: the next state, ``ILLEGAL`` or a ``Branch``.
    - ``init(initial)``: the first state from the checker's ``initial`` option (None when
      the user gave none).
    - ``fs``: the functions the model knows; ops with any other ``f`` (``status``, a
      nemesis' ``start-partition``) are ignored. Empty means every ``f``.
    - ``reads``: functions that never change the state; with an unknown output they
      constrain nothing and are dropped before the search.
    - ``is_read(f, input, output)``: whether one operation never changes the state, for
      operations a function name cannot tell (a cas that found the compare false).
      Default: ``f in reads``. The search linearizes such an operation as soon as it is
      legal, without branching on it, so a wrong answer here makes verdicts wrong.
    - ``output(f, value, completion)``: the output the step sees for an ``ok`` completion
      (default: its value).
    - ``partition(f, input, output)``: a key; operations with different keys are checked
      separately (P-compositionality). None: no partition of its own, and the engine splits
      Jepsen ``[key, v]`` values per key.
    - ``hash(state)``: a hashable key for the state, when the state itself is not hashable.
    - ``describe_op(f, input, output)`` and ``describe_state(state)``: words for people.
    - ``knossos``: the same specification as Knossos' model of that name reads an op's value,
      where it differs (see :data:`SEMANTICS`); None: Knossos reads it the same way.
    - ``dead_end(f, input, output, pending)``, for an op that never changes the state and
      ``(f, input)`` of each op that may be linearized before it: None, or a test that is
      True of a state from which no ordering of some of those ops makes the op legal. The
      search drops a node stuck on such an op (instead of trying every ordering of the
      pending writes), so a wrong True makes verdicts wrong; None is always safe.
    """

    name: str
    step: Step
    init: Callable[[Any], Any] = _same
    fs: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    is_read: Callable[[str, Any, Any], bool] | None = None
    output: Callable[[str, Any, Op], Any] | None = None
    partition: Callable[[str, Any, Any], Hashable] | None = None
    hash: Callable[[Any], Hashable] | None = None
    describe_op: Callable[[str, Any, Any], str] = _describe_op
    describe_state: Callable[[Any], str] = _show
    knossos: Model | None = None
    dead_end: DeadEnd | None = None

    def under(self, semantics: str) -> Model:
        """This model as ``semantics`` (one of :data:`SEMANTICS`) reads an op's value."""
        if semantics not in SEMANTICS:
            raise ValueError(f"unknown semantics {semantics!r}; allowed: {', '.join(SEMANTICS)}")
        return self.knossos if semantics == "knossos" and self.knossos is not None else self

    def read_only(self, f: str, input: Any, output: Any) -> bool:
        """Whether this operation never changes the state (see ``is_read``)."""
        if output is UNKNOWN:
            return False
        return self.is_read(f, input, output) if self.is_read else f in self.reads

    def knows(self, f: str) -> bool:
        """Whether ops with this ``f`` are part of the model."""
        return not self.fs or f in self.fs

    def with_initial(self, initial: Any) -> Model:
        """The same model whose ``init`` ignores its argument and starts from ``initial``."""
        first = self.init(initial)
        return replace(self, init=lambda _ignored: first)


def _never(state: Any) -> bool:
    """A dead end from every state."""
    return True


def freeze(v: Any) -> Any:
    """JSON-like values as hashable ones: lists to tuples, dicts to sorted item tuples, sets
    to frozensets; anything else as it is."""
    t = type(v)
    if t is int or t is str or v is None:  # most values: nothing to do
        return v
    if t is list or t is tuple:  # a list of scalars (a cas' pair, a key and value) at once
        out = tuple(v)
        for x in out:
            tx = type(x)
            if not (tx is int or tx is str or x is None):
                return tuple(freeze(x) for x in v)
        return out
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((k, freeze(x)) for k, x in v.items()), key=repr))
    if isinstance(v, set | frozenset):
        return frozenset(freeze(x) for x in v)
    return v


# -- register and cas-register -------------------------------------------------------------------


def _register_step(state: Any, f: str, input: Any, output: Any) -> Any:
    if f == "read":
        return state if output is UNKNOWN or output == state else ILLEGAL
    if f == "write":
        return input
    return ILLEGAL


def _cas_register_step(state: Any, f: str, input: Any, output: Any) -> Any:
    if f == "read":
        return state if output is UNKNOWN or output == state else ILLEGAL
    if f == "write":
        return input
    if f == "cas":
        # ``output`` is the cas' result: True (it swapped), False (it happened and found the
        # register different from ``expected``: Porcupine's etcd semantics), UNKNOWN.
        if type(input) is not tuple or len(input) != 2:
            return ILLEGAL
        if output is False:
            return state if state != input[0] else ILLEGAL
        if state == input[0]:
            return input[1]
        return state if output is UNKNOWN else ILLEGAL
    return ILLEGAL


def _register_dead_end(
    f: str, input: Any, output: Any, pending: list[tuple[str, Any]]
) -> Callable[[Any], bool] | None:
    # A read stuck (its value is not the state) stays stuck unless a pending op can write
    # its value: a write of it, or a cas to it.
    if f != "read" or output is UNKNOWN:
        return None
    for pf, pi in pending:
        if pf == "write" and pi == output:
            return None
        if pf == "cas" and type(pi) is tuple and len(pi) == 2 and pi[1] == output:
            return None
    return _never


def _knossos_register_step(state: Any, f: str, input: Any, output: Any) -> Any:
    # Knossos' Register and CASRegister: (or (nil? (:value op)) (= value (:value op))): a nil
    # read is one whose value is not known, legal in every state.
    if f == "read" and output is None:
        return state
    return _register_step(state, f, input, output)


def _knossos_cas_register_step(state: Any, f: str, input: Any, output: Any) -> Any:
    if f == "read" and output is None:
        return state
    return _cas_register_step(state, f, input, output)


def _cas_output(f: str, value: Any, completion: Op) -> Any:
    if f == "cas":
        return completion.extra.get("result", True) is not False
    return value


def _describe_register_op(f: str, input: Any, output: Any) -> str:
    if f == "read":
        return "read (outcome unknown)" if output is UNKNOWN else f"read {_show(output)}"
    if f == "write":
        return f"write {_show(input)}" + (" (outcome unknown)" if output is UNKNOWN else "")
    if f == "cas" and isinstance(input, list | tuple) and len(input) == 2:
        cas = f"cas {_show(input[0])}->{_show(input[1])}"
        if output is UNKNOWN:
            return cas + " (outcome unknown)"
        return cas if output is not False else cas + " (compare failed)"
    return _describe_op(f, input, output)


register = Model(
    name="register",
    step=_register_step,
    init=freeze,
    fs=frozenset({"read", "write"}),
    reads=frozenset({"read"}),
    describe_op=_describe_register_op,
    dead_end=_register_dead_end,
)
"""A read / write register; ``read`` returns the last value written (``initial`` at first)."""
register = replace(register, knossos=replace(register, step=_knossos_register_step))

cas_register = Model(
    name="cas-register",
    step=_cas_register_step,
    init=freeze,
    fs=frozenset({"read", "write", "cas"}),
    reads=frozenset({"read"}),
    is_read=lambda f, input, output: f == "read" or (f == "cas" and output is False),
    output=_cas_output,
    describe_op=_describe_register_op,
    dead_end=_register_dead_end,
)
"""A register with compare-and-set: ``cas [expected, new]``. An ``ok`` cas swapped; an ``ok``
cas with ``"result": false`` happened and found another value; a ``fail`` cas did not happen."""
cas_register = replace(cas_register, knossos=replace(cas_register, step=_knossos_cas_register_step))


# -- kv: Porcupine's key-value store -------------------------------------------------------------


def _kv_step(state: str, f: str, input: Any, output: Any) -> Any:
    # ``partition`` gives each key its own search, so the state is the value of one key.
    if f == "get":
        if output is UNKNOWN:
            return state
        got = output[1] if type(output) is tuple and len(output) == 2 else None
        return state if (got if got is not None else "") == state else ILLEGAL
    if f == "put":
        return input[1] if input[1] is not None else ""
    if f == "append":
        return state + (input[1] if input[1] is not None else "")
    return ILLEGAL


def _kv_dead_end(
    f: str, input: Any, output: Any, pending: list[tuple[str, Any]]
) -> Callable[[Any], bool] | None:
    # Appends only grow the value and a put starts it again: a get stays stuck when the value
    # it read starts neither with the state nor with a pending put's value.
    if f != "get" or output is UNKNOWN:
        return None
    got = output[1] if type(output) is tuple and len(output) == 2 else None
    target = got if got is not None else ""
    for pf, pi in pending:
        if pf == "put":
            put = pi[1] if type(pi) is tuple and len(pi) == 2 and pi[1] is not None else ""
            if type(put) is not str or target.startswith(put):
                return None
    return lambda state: not target.startswith(state)


def _kv_key(f: str, input: Any, output: Any) -> Hashable:
    return input[0] if isinstance(input, tuple) and input else None


def _describe_kv_op(f: str, input: Any, output: Any) -> str:
    key = input[0] if isinstance(input, list | tuple) and input else None
    if f == "get":
        got = "unknown" if output is UNKNOWN else _show(output[1] if output else None)
        return f"get {_show(key)} -> {got}"
    return f"{f} {_show(key)} {_show(input[1] if isinstance(input, list | tuple) else input)}"


kv = Model(
    name="kv",
    step=_kv_step,
    init=lambda initial: "" if initial is None else str(initial),
    fs=frozenset({"get", "put", "append"}),
    reads=frozenset({"get"}),
    partition=_kv_key,
    describe_op=_describe_kv_op,
    dead_end=_kv_dead_end,
)
"""Porcupine's key-value store of strings: ``get``, ``put``, ``append`` with value
``[key, v]``; a missing key reads as "" (a get that returns nil reads ""), partitioned by key."""


# -- multi-register: transactions over several registers -----------------------------------------


def _multi_step(
    state: tuple[tuple[Any, Any], ...], f: str, input: Any, output: Any, nil_unknown: bool = False
) -> Any:
    if f != "txn" or not isinstance(input, list | tuple):
        return ILLEGAL
    regs = dict(state)
    results = output if isinstance(output, list | tuple) and len(output) == len(input) else None
    for n, mop in enumerate(input):
        if not isinstance(mop, list | tuple) or len(mop) != 3:
            return ILLEGAL
        mf, k, v = mop
        if mf in ("w", "write"):
            regs[k] = v
        elif mf in ("r", "read"):
            if output is UNKNOWN:
                continue
            if results is None:
                return ILLEGAL
            r = results[n]
            got = r[2] if isinstance(r, list | tuple) and len(r) == 3 else ILLEGAL
            if got is None and nil_unknown:
                continue
            if got != regs.get(k):
                return ILLEGAL
        else:
            return ILLEGAL
    return tuple(sorted(regs.items(), key=repr))


def _knossos_multi_step(state: Any, f: str, input: Any, output: Any) -> Any:
    # Knossos' MultiRegister: (or (nil? v) (= v (get state k))): "Nil reads are always legal."
    return _multi_step(state, f, input, output, nil_unknown=True)


multi_register = Model(
    name="multi-register",
    step=_multi_step,
    init=lambda initial: tuple(sorted(freeze(initial or {}), key=repr)),
    fs=frozenset({"txn"}),
    describe_state=lambda s: "{" + ", ".join(f"{_show(k)}: {_show(v)}" for k, v in s) + "}",
)
"""Atomic transactions over registers (Knossos' multi-register): ``txn`` whose value is a list
of ``["r", k, v]`` / ``["w", k, v]``; a key never written reads nil."""
multi_register = replace(multi_register, knossos=replace(multi_register, step=_knossos_multi_step))


# -- mutex ---------------------------------------------------------------------------------------


def _mutex_step(held: bool, f: str, input: Any, output: Any) -> Any:
    if f == "acquire":
        return True if not held else ILLEGAL
    if f == "release":
        return False if held else ILLEGAL
    return ILLEGAL


mutex = Model(
    name="mutex",
    step=_mutex_step,
    init=lambda initial: bool(initial),
    fs=frozenset({"acquire", "release"}),
    describe_state=lambda held: "held" if held else "free",
    describe_op=lambda f, i, o: f + (" (outcome unknown)" if o is UNKNOWN else ""),
)
"""A lock: ``acquire`` succeeds only when it is free, ``release`` only when it is held."""


# -- set -----------------------------------------------------------------------------------------


def _set_step(state: frozenset[Any], f: str, input: Any, output: Any) -> Any:
    if f == "add":
        return state | {input}
    if f == "read":
        if output is UNKNOWN:
            return state
        ok = isinstance(output, tuple | frozenset) and frozenset(output) == state
        return state if ok else ILLEGAL
    return ILLEGAL


set_model = Model(
    name="set",
    step=_set_step,
    init=lambda initial: frozenset(freeze(x) for x in (initial or ())),
    fs=frozenset({"add", "read"}),
    reads=frozenset({"read"}),
)
"""A set: ``add v``; ``read`` returns every element added so far."""


# -- queues --------------------------------------------------------------------------------------


def _fifo_step(state: tuple[Any, ...], f: str, input: Any, output: Any) -> Any:
    if f == "enqueue":
        return (*state, input)
    if f == "dequeue":
        if output is UNKNOWN:
            return state[1:]
        if output is None:
            return state if not state else ILLEGAL
        return state[1:] if state and state[0] == output else ILLEGAL
    return ILLEGAL


def _knossos_fifo_step(state: tuple[Any, ...], f: str, input: Any, output: Any) -> Any:
    # Knossos' FIFOQueue: the dequeue's value must be the head, nil included; an empty queue
    # dequeues nothing. An op that did not complete carries its invocation's value.
    if f == "dequeue":
        taken = input if output is UNKNOWN else output
        return state[1:] if state and state[0] == taken else ILLEGAL
    return _fifo_step(state, f, input, output)


fifo_queue = Model(
    name="fifo-queue",
    step=_fifo_step,
    init=lambda initial: tuple(freeze(x) for x in (initial or ())),
    fs=frozenset({"enqueue", "dequeue"}),
)
"""A FIFO queue: ``enqueue v``; ``dequeue`` returns the oldest element (nil when empty)."""
fifo_queue = replace(fifo_queue, knossos=replace(fifo_queue, step=_knossos_fifo_step))


def _unordered_step(state: tuple[Any, ...], f: str, input: Any, output: Any) -> Any:
    # The state is a multiset, as a tuple sorted by repr so equal multisets are equal tuples.
    if f == "enqueue":
        return tuple(sorted((*state, input), key=repr))
    if f == "dequeue":
        if output is UNKNOWN:
            if not state:
                return state
            return Branch(dict.fromkeys(_without(state, i) for i in range(len(state))))
        if output is None:
            return state if not state else ILLEGAL
        for i, x in enumerate(state):
            if x == output:
                return _without(state, i)
        return ILLEGAL
    return ILLEGAL


def _knossos_unordered_step(state: tuple[Any, ...], f: str, input: Any, output: Any) -> Any:
    # Knossos' UnorderedQueue: (contains? pending (:value op)), nil included.
    if f == "dequeue":
        taken = input if output is UNKNOWN else output
        for i, x in enumerate(state):
            if x == taken:
                return _without(state, i)
        return ILLEGAL
    return _unordered_step(state, f, input, output)


def _without(state: tuple[Any, ...], i: int) -> tuple[Any, ...]:
    return state[:i] + state[i + 1 :]


unordered_queue = Model(
    name="unordered-queue",
    step=_unordered_step,
    init=lambda initial: tuple(sorted((freeze(x) for x in (initial or ())), key=repr)),
    fs=frozenset({"enqueue", "dequeue"}),
)
"""A queue without order: ``dequeue`` returns any element enqueued and not yet dequeued."""
unordered_queue = replace(
    unordered_queue, knossos=replace(unordered_queue, step=_knossos_unordered_step)
)


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        register,
        cas_register,
        kv,
        multi_register,
        mutex,
        set_model,
        fifo_queue,
        unordered_queue,
    )
}
"""Every model by name. Add your own: ``MODELS["my-model"] = Model(name="my-model", ...)``."""
