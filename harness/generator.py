"""Generators: seeded, composable sources of operations.

A generator is asked for an operation by a worker thread, under the runner's lock::

    gen.op(ctx) -> dict | Wait | None

- a dict ``{"f": ..., "value": ...}``: the invocation this thread performs now;
- ``Wait(t)``: nothing for this thread before time ``t`` (seconds since the test started);
- ``None``: nothing more for this thread, ever.

Generators are stateful objects (not Jepsen's pure values); the runner serializes calls, so
they need no locks of their own. Randomness comes only from ``ctx.rng``, seeded by the test,
so the same seed draws the same operations in the same order per thread.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

__all__ = [
    "Context",
    "Generator",
    "Wait",
    "clients_and_nemesis",
    "cycle",
    "each_thread",
    "fn",
    "limit",
    "mix",
    "once",
    "phases",
    "repeat",
    "seq",
    "sleep",
    "stagger",
    "time_limit",
]

NEMESIS_THREAD = "nemesis"


@dataclass(frozen=True, slots=True)
class Wait:
    """Ask again at ``until`` (seconds since the test started)."""

    until: float


Op = dict[str, Any]
Result = Op | Wait | None


@dataclass
class Context:
    """What a generator knows when asked: the time, who asks, and the run's state."""

    time: float
    thread: int | str
    process: int | str
    rng: random.Random
    #: every live thread of the run, the nemesis's included (do not modify)
    threads: Collection[int | str] = ()
    #: threads with an operation in flight (the asking one never is; do not modify)
    busy: Collection[int | str] = field(default_factory=frozenset)


class Generator(Protocol):
    def op(self, ctx: Context) -> Result: ...


class fn:
    """Calls ``f(ctx)`` for every op, forever; ``f`` returns a dict or None to stop."""

    def __init__(self, f: Callable[[Context], Op | None]) -> None:
        self.f = f

    def op(self, ctx: Context) -> Result:
        return self.f(ctx)


class once:
    """One op, to the first thread that asks."""

    def __init__(self, f: str, value: Any = None) -> None:
        self.op_ = {"f": f, "value": value}
        self.done = False

    def op(self, ctx: Context) -> Result:
        if self.done:
            return None
        self.done = True
        return dict(self.op_)


class repeat:
    """The same op forever."""

    def __init__(self, f: str, value: Any = None) -> None:
        self.op_ = {"f": f, "value": value}

    def op(self, ctx: Context) -> Result:
        return dict(self.op_)


class mix:
    """Each op from one of ``gens``, chosen at random with ``weights``; exhausted gens drop out."""

    def __init__(self, gens: list[Generator], weights: list[float] | None = None) -> None:
        self.gens = list(gens)
        self.weights = list(weights) if weights else [1.0] * len(self.gens)

    def op(self, ctx: Context) -> Result:
        while self.gens:
            i = ctx.rng.choices(range(len(self.gens)), self.weights)[0]
            r = self.gens[i].op(ctx)
            if r is not None:  # an op, or a Wait from the generator drawn
                return r
            del self.gens[i], self.weights[i]
        return None


class limit:
    """At most ``n`` ops from ``gen``."""

    def __init__(self, n: int, gen: Generator) -> None:
        self.left = n
        self.gen = gen

    def op(self, ctx: Context) -> Result:
        if self.left <= 0:
            return None
        r = self.gen.op(ctx)
        if isinstance(r, dict):
            self.left -= 1
        return r


class time_limit:
    """Ops from ``gen`` until ``seconds`` after this generator was first asked."""

    def __init__(self, seconds: float, gen: Generator) -> None:
        self.seconds = seconds
        self.gen = gen
        self.deadline: float | None = None

    def op(self, ctx: Context) -> Result:
        if self.deadline is None:
            self.deadline = ctx.time + self.seconds
        if ctx.time >= self.deadline:
            return None
        r = self.gen.op(ctx)
        if isinstance(r, Wait):
            return Wait(min(r.until, self.deadline))
        return r


class stagger:
    """Ops from ``gen`` at random intervals averaging ``dt`` seconds, over all threads: a
    total rate of 1/dt ops/s, with uniform jitter in [0, 2 dt) so threads do not march in
    step."""

    def __init__(self, dt: float, gen: Generator) -> None:
        self.dt = dt
        self.gen = gen
        self.next: float | None = None

    def op(self, ctx: Context) -> Result:
        if self.next is None:
            self.next = ctx.time
        if ctx.time < self.next:
            return Wait(self.next)
        r = self.gen.op(ctx)
        if isinstance(r, dict):
            # Schedule from the planned time, not from now, so a slow system does not lower
            # the offered rate; but never bank more than a second of missed slots.
            self.next = max(self.next, ctx.time - 1.0) + ctx.rng.uniform(0, 2 * self.dt)
        return r


class sleep:
    """No op for ``seconds`` after first asked, then exhausted (for sequences)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until: float | None = None

    def op(self, ctx: Context) -> Result:
        if self.until is None:
            self.until = ctx.time + self.seconds
        if ctx.time < self.until:
            return Wait(self.until)
        return None


class seq:
    """The ops of each generator in turn (no waiting for in-flight ops; see ``phases``)."""

    def __init__(self, gens: Iterable[Generator]) -> None:
        self.gens = list(gens)

    def op(self, ctx: Context) -> Result:
        while self.gens:
            r = self.gens[0].op(ctx)
            if r is not None:
                return r
            self.gens.pop(0)
        return None


class cycle:
    """``seq`` of fresh generators from ``make()``, again and again."""

    def __init__(self, make: Callable[[], list[Generator]]) -> None:
        self.make = make
        self.current = seq(make())

    def op(self, ctx: Context) -> Result:
        for _ in range(2):
            r = self.current.op(ctx)
            if r is not None:
                return r
            self.current = seq(self.make())
        return None


class each_thread:
    """A fresh generator per thread, from ``make()``: ``each_thread(lambda: once("read"))``
    gives one read to every thread."""

    def __init__(self, make: Callable[[], Generator]) -> None:
        self.make = make
        self.gens: dict[int | str, Generator] = {}

    def op(self, ctx: Context) -> Result:
        g = self.gens.get(ctx.thread)
        if g is None:
            g = self.gens[ctx.thread] = self.make()
        return g.op(ctx)


class clients_and_nemesis:
    """Client threads draw from ``clients``, the nemesis thread from ``nemesis``; each sees
    only its own threads in ``ctx.threads`` / ``ctx.busy``, so a ``phases`` inside either
    waits only for the threads that can reach it."""

    def __init__(self, clients: Generator | None, nemesis: Generator | None) -> None:
        self.clients = clients
        self.nemesis = nemesis

    def op(self, ctx: Context) -> Result:
        mine = ctx.thread == NEMESIS_THREAD
        g = self.nemesis if mine else self.clients
        if g is None:
            return None
        if NEMESIS_THREAD in ctx.threads:
            keep = (lambda t: t == NEMESIS_THREAD) if mine else (lambda t: t != NEMESIS_THREAD)
            ctx = replace(
                ctx,
                threads=[t for t in ctx.threads if keep(t)],
                busy=[t for t in ctx.busy if keep(t)],
            )
        return g.op(ctx)


class phases:
    """Each generator in turn, for all threads together: a phase ends when every thread has
    been told it is exhausted and no operation is still in flight, as Jepsen's ``phases``."""

    POLL = 0.01

    def __init__(self, *gens: Generator) -> None:
        self.gens = list(gens)
        self.done: set[int | str] = set()

    def op(self, ctx: Context) -> Result:
        while self.gens:
            if ctx.thread not in self.done:
                r = self.gens[0].op(ctx)
                if r is not None:
                    return r
                self.done.add(ctx.thread)
            if set(ctx.threads) - self.done or ctx.busy:
                return Wait(ctx.time + self.POLL)  # others still at work in this phase
            self.gens.pop(0)
            self.done.clear()
        return None
