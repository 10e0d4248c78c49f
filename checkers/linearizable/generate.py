"""Histories that are linearizable by construction, for tests and benchmarks.

``register_history`` simulates clients of a (cas-)register, or of many registers by key:
every operation takes effect at one instant between its invocation and its completion (its
linearization point), chosen at random among the events of the other clients. Clients also
time out (``info``): a timed-out operation may already have taken effect, may take effect
later (after its ``info`` completion was even recorded), or never; and they fail (``fail``)
only when the operation did not take effect. The history is therefore linearizable by
construction, with the same seed giving the same history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from harness.history import Op

__all__ = ["register_history"]


@dataclass
class _Client:
    process: int
    op: Op | None = None
    linearized: bool = False
    result: Any = None
    key: Any = None


@dataclass
class _Sim:
    rng: random.Random
    keys: list[Any] | None
    values: int
    cas: bool
    etcd_semantics: bool
    state: dict[Any, Any] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    ghosts: list[tuple[Op, Any]] = field(default_factory=list)

    def emit(self, op: Op) -> Op:
        op.index = op.time = len(self.ops)
        self.ops.append(op)
        return op


def register_history(
    seed: int,
    *,
    ops: int = 200,
    processes: int = 5,
    keys: int = 0,
    cas: bool = True,
    values: int = 5,
    info_rate: float = 0.05,
    fail_rate: float = 0.05,
    etcd_semantics: bool = False,
    initial: Any = None,
) -> list[Op]:
    """A linearizable history of ``ops`` operations by ``processes`` concurrent clients.

    ``keys`` > 0: that many independent registers, values ``[key, v]`` (Jepsen's
    convention); 0: one register, plain values. ``cas``: include compare-and-set (else read /
    write only). ``values``: values are drawn from ``range(values)``. ``info_rate`` and
    ``fail_rate``: how often an operation times out or fails. ``etcd_semantics``: a cas whose
    compare is false completes ``ok`` with ``"result": false`` (else ``fail``, as Jepsen).
    ``initial``: the registers' value before any write.
    """
    rng = random.Random(seed)
    key_names = [f"k{i}" for i in range(keys)] if keys else None
    sim = _Sim(rng, key_names, values, cas, etcd_semantics)
    for k in key_names if key_names else [None]:
        sim.state[k] = initial
    clients = [_Client(p) for p in range(processes)]
    next_process = processes
    invoked = 0
    while invoked < ops or any(c.op is not None for c in clients):
        c = rng.choice(clients)
        if sim.ghosts and rng.random() < 0.05:
            _apply_ghost(sim)
        if c.op is None:
            if invoked < ops:
                _invoke(sim, c)
                invoked += 1
            continue
        roll = rng.random()
        if roll < info_rate:
            _time_out(sim, c)
            c.process, next_process = next_process, next_process + 1
        elif not c.linearized and roll < info_rate + fail_rate:
            sim.emit(c.op.complete("fail", c.op.value, error="rejected"))
            c.op = None
        elif not c.linearized:
            c.result = _take_effect(sim, c.op, c.key)
            c.linearized = True
        else:
            _complete(sim, c)
    return sim.ops


def _invoke(sim: _Sim, c: _Client) -> None:
    rng = sim.rng
    c.key = rng.choice(sim.keys) if sim.keys else None
    roll = rng.random()
    v: Any
    if roll < 0.4:
        f, v = "read", None
    elif roll < 0.75 or not sim.cas:
        f, v = "write", rng.randrange(sim.values)
    else:
        f, v = "cas", [rng.randrange(sim.values), rng.randrange(sim.values)]
    value = [c.key, v] if sim.keys else v
    c.op = sim.emit(Op(type="invoke", f=f, value=value, process=c.process))
    c.linearized = False


def _take_effect(sim: _Sim, op: Op, key: Any) -> Any:
    """Apply ``op`` to the register now; its result (read value, or whether a cas swapped)."""
    v = op.value[1] if sim.keys else op.value
    if op.f == "read":
        return sim.state[key]
    if op.f == "write":
        sim.state[key] = v
        return True
    if sim.state[key] == v[0]:
        sim.state[key] = v[1]
        return True
    return False


def _complete(sim: _Sim, c: _Client) -> None:
    op = c.op
    assert op is not None
    keyed = (lambda v: [c.key, v]) if sim.keys else (lambda v: v)
    if op.f == "read":
        sim.emit(op.complete("ok", keyed(c.result)))
    elif op.f == "cas" and c.result is False:
        if sim.etcd_semantics:
            done = sim.emit(op.complete("ok", op.value))
            done.extra = {"result": False}
        else:
            sim.emit(op.complete("fail", op.value, error="compare failed"))
    else:
        sim.emit(op.complete("ok", op.value))
    c.op = None


def _time_out(sim: _Sim, c: _Client) -> None:
    """An ``info`` completion. An op that has not taken effect yet may still do so later (a
    ghost), or never."""
    op = c.op
    assert op is not None
    sim.emit(op.complete("info", op.value, error="timed-out"))
    if not c.linearized and op.f != "read" and sim.rng.random() < 0.5:
        sim.ghosts.append((op, c.key))
    c.op = None


def _apply_ghost(sim: _Sim) -> None:
    op, key = sim.ghosts.pop(sim.rng.randrange(len(sim.ghosts)))
    _take_effect(sim, op, key)
