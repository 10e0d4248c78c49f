"""The CRDT replicas (``patterns/crdt``): their System (``CRDT``), their Client and the
``crdt`` workload (``CRDT_WORKLOAD``).

Every worker writes and reads the replicated objects on its own node; ``workload.mix`` weighs
the ops (give it: the default mix is the register's). Added set elements and written register
values are unique (one counter each for all workers), so a value names its op::

    g-add      n (1..max_delta)   -> ok n                   the G-counter
    pn-add     n (+/-, not 0)     -> ok n                   the PN-counter (a ``decrements``
                                                            share of them negative)
    g-read     None               -> ok 12
    pn-read    None               -> ok -3
    set-add    e                  -> ok e                   extra: dot (["n1", 4])
    set-remove e                  -> ok e                   extra: removed (the dots of e the
                                                            node held: the adds it saw)
    set-read   None               -> ok [e, ...]
    reg-write  v                  -> ok v                   extra: ts, won (the register)
    reg-read   None               -> ok v (None: never written)
    final-read None               -> ok {"g", "pn", "set", "reg"}   extra: converged, digest
                                     after the final heal: the node waits until every peer
                                     reports its digest (or its settle time passes)

A remove takes one of the last elements added (by any worker) that is not kept: a ``keep``
share of the elements is never removed, so the final reads have acknowledged adds to hold.
The ``crdt`` checker checks the counters' bounds, the set's adds and removes, the register's
lost updates and that the final reads agree.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from harness.generator import Context, Generator, each_thread, once, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo, option
from harness.spec import WorkloadSpec
from workloads.daemon import DEFAULT_PORT, SettlingSystem
from workloads.options import ms, share
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "CRDT",
    "CRDT_BUGS",
    "CRDT_OPS",
    "CRDT_WORKLOAD",
    "CrdtClient",
    "CrdtOps",
    "CrdtOptions",
    "CrdtSystem",
    "CrdtWorkloadOptions",
    "crdt_generators",
]

CRDT_BUGS = {
    "merge-sum": "a counter merges a node's entry by adding the increment its gossip reports "
    "instead of taking the per-node maximum: a gossip delivered twice counts twice, and the "
    "counters read more than was ever added; exposed by what delivers a gossip whose answer "
    "was lost: a pause (the paused node takes every queued gossip when it resumes), a partition "
    "and its heal (a held gossip arrives after the heal, then again), a kill (the restarted "
    "node sends everything again)",
    "no-tombstones": "the OR-set merges without its causal context (no dots seen, no "
    "tombstones): a removed element comes back from any replica that still holds it, on the "
    "remover itself and in the final reads; no fault needed, partitions let more replicas hold "
    "an element when it is removed",
    "pn-single-counter": "the PN-counter is one entry per node, lowered by decrements and "
    "merged by maximum like a G-counter's: the other replicas keep the higher entry, so "
    "decrements are lost there and the replicas never agree; no fault needed: a replica up "
    "and connected to a node for a few seconds still reads the node's peak, above anything "
    "it could hold (stale-read during the run, with more decrements than increments), and "
    "the final reads differ and exceed what was added",
}

#: every op ``workload.mix`` may weigh
CRDT_OPS = (
    "g-add", "g-read", "pn-add", "pn-read", "set-add", "set-remove", "set-read",
    "reg-write", "reg-read",
)  # fmt: skip

#: how many of the last elements added a remove chooses from
RECENT = 8


@dataclass(frozen=True)
class CrdtOptions:
    """The crdt daemon's flags (``system.options``)."""

    sync_ms: int = ms(200, "gossip round: push to every peer, merge its answer")
    rpc_timeout_ms: int = ms(300, "per gossip with a peer")
    settle_ms: int = ms(5000, "how long a final read waits for the replicas to agree")


@dataclass(frozen=True)
class CrdtWorkloadOptions:
    """The ``crdt`` workload's options (``workload.options``)."""

    keep: float = share(0.25, "share of the set's elements never removed")
    max_delta: int = option(5, "counter increments are 1..max_delta (and decrements)", minimum=1)
    decrements: float = share(0.5, "share of the PN-counter's adds that are decrements")


class CrdtClient(PatternClient):
    """The ops of the module docstring against one replica."""

    def __init__(
        self,
        system: HasPorts | None = None,
        *,
        timeout: float = 2.0,
        settle: float = 5.0,
        port: int | None = None,
    ) -> None:
        super().__init__(system, timeout=timeout, port=port)
        self.settle = settle

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        if op.f == "final-read":
            return self.settle + 2 * timeout
        return 2 * timeout

    def invoke(self, op: Op) -> Op:
        f = op.f
        if f in ("g-add", "pn-add"):
            return self._send(op, {"type": "add", "counter": f[:-4], "delta": op.value})
        if f in ("g-read", "pn-read", "set-read", "reg-read"):
            return self._send(op, {"type": "read", "object": f[:-5]}, result=True)
        if f == "set-add":
            return self._send(op, {"type": "set-add", "element": op.value}, extra=("dot",))
        if f == "set-remove":
            return self._send(op, {"type": "set-remove", "element": op.value}, extra=("removed",))
        if f == "reg-write":
            return self._send(op, {"type": "write", "value": op.value}, extra=("ts", "won"))
        if f == "final-read":
            return self._final_read(op)
        return op.complete("fail", op.value, error=f"bad-op: the crdt client has no op {f!r}")

    def _send(
        self, op: Op, req: dict[str, Any], *, result: bool = False, extra: tuple[str, ...] = ()
    ) -> Op:
        """``req``'s completion: ok with the reply's value (``result``) or the op's own, and
        the ``extra`` fields of the reply."""
        reply = self.request(op, req)
        if isinstance(reply, Op):
            return reply
        if not reply.get("ok"):
            return self.failed(op, reply)
        got = reply.get("value")
        if result:
            return op.complete("ok", got)
        fields = {k: got.get(k) for k in extra} if isinstance(got, dict) else {}
        return op.complete("ok", op.value, extra=fields)

    def _final_read(self, op: Op) -> Op:
        timeout = self.timeout
        self.timeout = self.settle + timeout  # the node waits up to settle for its peers
        try:
            reply = self.request(op, {"type": "settle", "timeout_ms": int(self.settle * 1000)})
        finally:
            self.timeout = timeout
        if isinstance(reply, Op):
            return reply
        if not reply.get("ok"):
            return self.failed(op, reply)
        got = reply.get("value") or {}
        return op.complete(
            "ok",
            got.get("values") or {},
            extra={"converged": bool(got.get("converged")), "digest": got.get("digest")},
        )


class CrdtOps:
    """The ops of ``workload.mix`` at random with its weights; unique set elements and
    register values; removes of recently added elements that are not kept."""

    def __init__(self, spec: WorkloadSpec, options: CrdtWorkloadOptions) -> None:
        unknown = sorted(set(spec.mix) - set(CRDT_OPS))
        if unknown:
            raise ValueError(
                f"the crdt workload has no op {', '.join(unknown)} in 'mix'; "
                f"allowed: {', '.join(CRDT_OPS)}"
            )
        self.fs = [f for f, w in spec.mix.items() if w > 0]
        self.weights = [spec.mix[f] for f in self.fs]
        self.keep = options.keep
        self.max_delta = options.max_delta
        self.decrements = options.decrements
        self.elements = itertools.count(1)
        self.values = itertools.count(1)
        #: elements added that a remove may still take, oldest first
        self.removable: list[int] = []

    def op(self, ctx: Context) -> dict[str, Any]:
        f = ctx.rng.choices(self.fs, self.weights)[0]
        rng = ctx.rng
        if f == "g-add":
            return {"f": f, "value": rng.randint(1, self.max_delta)}
        if f == "pn-add":
            delta = rng.randint(1, self.max_delta)
            return {"f": f, "value": delta if rng.random() < 1 - self.decrements else -delta}
        if f == "set-add":
            e = next(self.elements)
            if rng.random() >= self.keep:
                self.removable.append(e)
                del self.removable[:-RECENT]
            return {"f": f, "value": e}
        if f == "set-remove":
            if not self.removable:
                return {"f": "set-read", "value": None}
            return {"f": f, "value": self.removable.pop(rng.randrange(len(self.removable)))}
        if f == "reg-write":
            return {"f": f, "value": next(self.values)}
        return {"f": f, "value": None}


def crdt_generators(
    spec: WorkloadSpec, options: CrdtWorkloadOptions
) -> tuple[Generator, Generator | None]:
    """The mix at ``spec.rate``; after the final heal, one final read per thread (every
    thread, so every node: the suites run at least as many threads as nodes)."""
    ops = CrdtOps(spec, options)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, each_thread(lambda: once("final-read"))


class CrdtSystem(SettlingSystem):
    """The replicas (a ``PatternSystem``), and how long a final read may wait (``settle``,
    seconds) for them to agree."""


_make = CrdtSystem.maker("crdt")


def _client(spec: WorkloadSpec, options: NoOptions, system: CrdtSystem) -> CrdtClient:
    return CrdtClient(system, timeout=spec.timeout, settle=system.settle)


CRDT = SystemInfo(
    name="crdt",
    description="reference CRDTs (patterns/crdt): a G-counter, a PN-counter, an add-wins "
    "OR-set and a last-writer-wins register on every node, each taking writes through "
    "partitions, converging by state-based gossip",
    make=_make,
    clients={"crdt": _client},
    bugs=CRDT_BUGS,
    options=CrdtOptions,
    default_port=DEFAULT_PORT,
)

CRDT_WORKLOAD = WorkloadInfo(
    name="crdt",
    description="counter adds (and decrements), set adds and removes, register writes, and "
    "reads, on every node; unique elements and values; a final read on every node after the "
    "heal",
    generators=crdt_generators,
    checkers=("crdt", "stats"),
    options=CrdtWorkloadOptions,
    ops=CRDT_OPS,
)
