"""The register workload: read / write / compare-and-set over several independent keys.

Values follow Jepsen's independent-key convention: ``[key, v]`` (a cas is ``[key, [from, to]]``),
so the linearizability checker splits the history per key. Keys retire after ``ops_per_key``
operations and fresh ones take their place, which keeps every key's history small enough to
search exhaustively, however long the test runs.

``REGISTER`` registers it: ops ``read`` / ``write`` / ``cas`` (``workload.mix`` weighs them),
checked by the ``linearizable`` and ``stats`` checkers.

``status_every`` (``workload.options``, seconds; 0, the default: none) adds a ``status`` op
per client thread that often, besides the rate's ops, each to the thread's own node, so a
system's ``status`` reports come during the run and not only after the final heal
(``SystemInfo.final_ops``): the Raft store's ``leaders`` checker then sees two leaders of one
term about when the second is elected. Only for a system whose register client answers
``status`` (the Raft client's systems: raft, paxos, leader-follower; etcd, ZooKeeper, Redis;
not pbft): a suite turns it on, no system gets it unasked. The linearizability checker's
models ignore the op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.generator import Context, Generator, Result, Wait, each_thread, once, stagger
from harness.registry import WorkloadInfo, option
from harness.spec import WorkloadSpec

__all__ = [
    "REGISTER",
    "RegisterOps",
    "RegisterOptions",
    "StatusEvery",
    "final_reads",
    "register_generators",
    "status_once",
]


@dataclass(frozen=True)
class RegisterOptions:
    """The ``register`` workload's options (``workload.options``)."""

    status_every: float = option(
        0.0,
        "seconds between a client thread's status ops, each to its own node, besides the "
        "rate's ops (0: none); only for a system whose client answers status",
        minimum=0,
    )


class RegisterOps:
    """Generator of register ops over a rotating set of keys."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.values = spec.values
        self.ops_per_key = spec.ops_per_key
        self.fs = [f for f, w in spec.mix.items() if w > 0]
        self.weights = [spec.mix[f] for f in self.fs]
        self.active: list[int] = list(range(spec.keys))
        self.used: dict[int, int] = dict.fromkeys(self.active, 0)
        self.next_key = spec.keys

    @property
    def keys_touched(self) -> list[int]:
        return sorted(self.used)

    def op(self, ctx: Context) -> dict[str, Any]:
        rng = ctx.rng
        slot = rng.randrange(len(self.active))
        key = self.active[slot]
        self.used[key] += 1
        if self.used[key] >= self.ops_per_key:
            self.active[slot] = self.next_key
            self.used[self.next_key] = 0
            self.next_key += 1
        f = rng.choices(self.fs, self.weights)[0]
        if f == "read":
            return {"f": "read", "value": [key, None]}
        if f == "write":
            return {"f": "write", "value": [key, rng.randrange(self.values)]}
        if f == "cas":
            return {
                "f": "cas",
                "value": [key, [rng.randrange(self.values), rng.randrange(self.values)]],
            }
        raise ValueError(f"the register workload has no op {f!r}; allowed: read, write, cas")


def final_reads(ops: RegisterOps) -> Generator:
    """After the final heal, every thread reads every key the test touched, once: a write
    lost at any point of the run (say, by a crash of every node) shows as a final read that
    misses it, also on keys that retired long before."""

    class _Reads:
        def __init__(self) -> None:
            self.keys = ops.keys_touched

        def op(self, ctx: Context) -> dict[str, Any] | None:
            if not self.keys:
                return None
            return {"f": "read", "value": [self.keys.pop(0), None]}

    return each_thread(_Reads)


class StatusEvery:
    """Ops from ``gen``, and to each thread a ``status`` op every ``every`` seconds (the
    first at a random moment of the first period, so threads do not ask together; the next
    ``every`` after the last, so a thread held up by a slow op does not catch up with a
    burst). Exhausted when ``gen`` is. The status ops are outside ``gen``'s rate: a
    ``stagger`` inside keeps offering its ops at its own rate."""

    def __init__(self, every: float, gen: Generator) -> None:
        if every <= 0:
            raise ValueError(f"status every {every!r} s: must be > 0")
        self.every = every
        self.gen = gen
        self.due: dict[int | str, float] = {}

    def op(self, ctx: Context) -> Result:
        due = self.due.get(ctx.thread)
        if due is None:
            due = self.due[ctx.thread] = ctx.time + ctx.rng.uniform(0, self.every)
        if ctx.time >= due:
            self.due[ctx.thread] = ctx.time + self.every
            return {"f": "status", "value": None}
        r = self.gen.op(ctx)
        if isinstance(r, Wait):
            return Wait(min(r.until, due))
        return r


def status_once() -> Generator:
    """Every thread asks its node for its status once (who leads, in which terms)."""
    return each_thread(lambda: once("status"))


def register_generators(
    spec: WorkloadSpec, options: RegisterOptions | None = None
) -> tuple[Generator, Generator | None]:
    """The register ops at ``spec.rate`` (and each thread's status every
    ``options.status_every`` seconds), then every touched key read once per thread."""
    ops = RegisterOps(spec)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    every = getattr(options, "status_every", 0.0)
    if every > 0:
        main = StatusEvery(every, main)
    return main, final_reads(ops)


REGISTER = WorkloadInfo(
    name="register",
    description="read / write / compare-and-set over rotating independent keys",
    generators=register_generators,
    checkers=("linearizable", "stats"),
    options=RegisterOptions,
    ops=("read", "write", "cas"),
)
