"""The vector-clock store (``patterns/vclock``): its System (``VCLOCK``), its Client and the
``vclock`` workload (``VCLOCK_WORKLOAD``).

Every worker reads and writes a few keys on its node. Values are unique (a counter shared by
all workers), so a value names its write. A write carries the context of the last read of that
key by the same client, as a Dynamo client does, and the client records what that context
covers, so the checker learns which versions each write replaced from the clients' side::

    read       [key, None] -> ok [key, [siblings...]]      extra: context (the vector clock)
    write      [key, v]    -> ok [key, v]                  extra: saw (the siblings of the
                                                            last read of key: what v replaces),
                                                            context (sent), dot (the reply's)
    final-read None        -> ok {key: [siblings...]}      extra: converged, digest
                              after the final heal: the node waits until every peer reports
                              its digest (or its settle time passes), then answers every key

``saw`` is written into the invocation's ``extra`` before the request is sent, so that an
``info`` completion (the runner's too, when the client does not return in time) carries it.
The ``vclock`` checker then checks causality of reads, lost writes and convergence.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from harness.generator import Context, Generator, each_thread, once, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo
from harness.spec import WorkloadSpec
from workloads.daemon import DEFAULT_PORT, SettlingSystem
from workloads.options import ms, share
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "VCLOCK",
    "VCLOCK_BUGS",
    "VCLOCK_WORKLOAD",
    "VClockClient",
    "VClockOps",
    "VClockOptions",
    "VClockSystem",
    "VClockWorkloadOptions",
    "vclock_generators",
]

VCLOCK_BUGS = {
    "lww": "last writer wins by wall clock instead of vector clocks: every key keeps only the "
    "version with the latest wall-clock stamp, so concurrent writes lose all but one (a lost "
    "update: an acknowledged write neither a sibling nor replaced by a write that saw it), and "
    "under the clock fault a node whose clock is behind loses writes made after reading the "
    "newer version (its client reads back in causal time); shown by concurrent writes on "
    "several nodes, and most by the clock fault",
    "bad-merge": "anti-entropy merges two replicas' contexts with the element-wise minimum "
    "instead of the maximum: a replica forgets dots it has seen, reuses dots (one of the two "
    "writes is dropped everywhere) and takes back siblings another replica had replaced (a read "
    "shows a version beside the one that replaced it, or one its reader had overwritten); shown "
    "by anti-entropy between replicas whose contexts differ: concurrent writes on several nodes "
    "already, a partition and its heal most",
}


@dataclass(frozen=True)
class VClockOptions:
    """The vclock daemon's flags (``system.options``)."""

    sync_ms: int = ms(100, "anti-entropy round: exchange with every peer")
    rpc_timeout_ms: int = ms(300, "per exchange with a peer")
    settle_ms: int = ms(5000, "how long a final read waits for the replicas to agree")


@dataclass(frozen=True)
class VClockWorkloadOptions:
    """The ``vclock`` workload's options (``workload.options``); ``workload.keys`` is the
    number of keys."""

    writes: float = share(
        0.2, "share of ops that are writes of a random key, with the client's last context of it"
    )
    rmw: float = share(
        0.6, "share of the other ops, reads, that the same thread follows with a write of the key"
    )


class VClockClient(PatternClient):
    """``read``, ``write`` (with the context of this client's last read of the key) and
    ``final-read`` against one replica."""

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
        #: key -> (context, siblings) of this client's last read of it
        self.last_read: dict[str, tuple[dict[str, int], list[Any]]] = {}

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        if op.f == "final-read":
            return self.settle + 2 * timeout
        return 2 * timeout

    def invoke(self, op: Op) -> Op:
        if op.f == "read":
            return self._read(op)
        if op.f == "write":
            return self._write(op)
        if op.f == "final-read":
            return self._final_read(op)
        return op.complete("fail", op.value, error=f"bad-op: the vclock client has no op {op.f!r}")

    def _read(self, op: Op) -> Op:
        key = op.value[0]
        reply = self.request(op, {"type": "read", "key": key})
        if isinstance(reply, Op):
            return reply
        if not reply.get("ok"):
            return self.failed(op, reply)
        got = reply.get("value") or {}
        values, context = list(got.get("values") or []), dict(got.get("context") or {})
        self.last_read[key] = (context, values)
        return op.complete("ok", [key, values], extra={"context": context})

    def _write(self, op: Op) -> Op:
        key, value = op.value
        context, saw = self.last_read.get(key, ({}, []))
        # Into the invocation itself, before anything is sent: every completion of it, the
        # runner's info after a timeout included, then says what the write replaced.
        op.extra.update(saw=list(saw), context=dict(context))
        req = {"type": "write", "key": key, "value": value, "context": context}
        reply = self.request(op, req)
        if isinstance(reply, Op):
            return reply
        if not reply.get("ok"):
            return self.failed(op, reply)
        dot = (reply.get("value") or {}).get("dot")
        return op.complete("ok", op.value, extra={"dot": dot})

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


class VClockOps:
    """Reads and writes of ``keys`` keys (``k0``, ``k1``, ...); every written value is new
    (one counter for all workers). A ``writes`` share of the ops are writes of a random key
    (with whatever context the client last read of it); of the reads, a ``rmw`` share is
    followed at once, by the same thread, by a write of the key it read: Dynamo's
    read-modify-write, whose context covers exactly what was just read."""

    def __init__(self, keys: int, writes: float, rmw: float) -> None:
        self.keys = [f"k{i}" for i in range(max(1, keys))]
        self.writes = writes
        self.rmw = rmw
        self.values = itertools.count(1)
        #: thread -> the key its next op writes (it has just read it)
        self.then_write: dict[int | str, str] = {}

    def op(self, ctx: Context) -> dict[str, Any]:
        key = self.then_write.pop(ctx.thread, None)
        if key is not None:
            return {"f": "write", "value": [key, next(self.values)]}
        key = ctx.rng.choice(self.keys)
        if ctx.rng.random() < self.writes:
            return {"f": "write", "value": [key, next(self.values)]}
        if ctx.rng.random() < self.rmw:
            self.then_write[ctx.thread] = key
        return {"f": "read", "value": [key, None]}


def vclock_generators(
    spec: WorkloadSpec, options: VClockWorkloadOptions
) -> tuple[Generator, Generator | None]:
    """Reads and writes at ``spec.rate``; after the final heal, one final read per thread
    (every thread, so every node, answers once every key it holds)."""
    ops = VClockOps(spec.keys, options.writes, options.rmw)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, each_thread(lambda: once("final-read"))


class VClockSystem(SettlingSystem):
    """The replicas (a ``PatternSystem``), and how long a final read may wait (``settle``,
    seconds) for them to agree."""


_make = VClockSystem.maker("vclock")


def _client(spec: WorkloadSpec, options: NoOptions, system: VClockSystem) -> VClockClient:
    return VClockClient(system, timeout=spec.timeout, settle=system.settle)


VCLOCK = SystemInfo(
    name="vclock",
    description="reference vector clocks (patterns/vclock): a Dynamo-style multi-value "
    "key-value store; every node takes writes, concurrent ones stay as siblings, replicas "
    "converge by anti-entropy",
    make=_make,
    clients={"vclock": _client},
    bugs=VCLOCK_BUGS,
    options=VClockOptions,
    default_port=DEFAULT_PORT,
)

VCLOCK_WORKLOAD = WorkloadInfo(
    name="vclock",
    description="reads and writes of a few keys, each write with the context of its client's "
    "last read of the key; unique values; a final read on every node after the heal",
    generators=vclock_generators,
    checkers=("vclock", "stats"),
    options=VClockWorkloadOptions,
)
