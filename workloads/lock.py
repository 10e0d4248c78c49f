"""The lock pattern (``patterns/lock``): its System (``LOCK``), its Client, the ``lock``
workload (``LOCK_WORKLOAD``, checked by the ``lock`` and ``stats`` checkers).

The System is ``workloads.daemon.PatternSystem`` (as for every reference pattern); the
client is a ``workloads.pattern_client.PatternClient``.

The ``lock`` workload: each worker takes a lock, writes to the protected storage under it
with its fencing token, and releases it; now and then it reads a key's storage instead.
History values (``k`` a lock key; the client adds the token it holds)::

    acquire [k, None]  -> ok [k, {"token": t, "lease_ms": ms}]    fail: locked, not-leader, ...
    write   [k, v]     -> ok [k, [token, v]]        fail: stale-token, not-holding (the client
                                                     holds no grant of k: nothing was sent)
    release [k, None]  -> ok [k, token]
    read    [k, None]  -> ok [k, [[token, v], ...]]  every write the storage accepted, in order

(``lease_ms``: how long the grant lasts unless released; the checker needs it to know when
a grant may have run out by itself.)
    status  None       -> ok {the node's status}

A client forgets its grant of ``k`` when it releases it (whatever the outcome), and a worker
that gets an ``info`` starts again as a new process holding nothing: the grant then runs out
by itself, as a crashed holder's would. Values written are unique over the run, so a storage
entry names the write that made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Context, Generator, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo, option
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.options import ms, ms_range, share
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "LOCK",
    "LOCK_BUGS",
    "LOCK_WORKLOAD",
    "LockClient",
    "LockOps",
    "LockOptions",
    "LockWorkloadOptions",
    "lock_generators",
]

LOCK_BUGS = {
    "no-fencing": "the protected storage accepts a write whatever its fencing token; shown when "
    "a node is paused (pause target 'one' or 'minority') while a client of it holds a lock with "
    "a write in flight: the lease runs out, the next holder writes, and the resumed node "
    "delivers the old holder's write, which the storage accepts after the newer one",
    "early-grant": "the leader acknowledges a grant once it is in its own log, before a "
    "majority has it; shown when the leader is isolated (partition shape 'leader'): it and the "
    "new leader both grant the same lock, with the same token",
    "term-token": "the fencing token is the leader's term, not the lock's own generation; "
    "shown by any two grants in one term (no fault needed); a pause then gets a stale "
    "holder's write past the storage",
}


class LockClient(PatternClient):
    """A client of ``patterns/lock`` that remembers the grants it holds (see the module
    docstring for the ops)."""

    def __init__(
        self, system: HasPorts | None = None, *, timeout: float = 2.0, port: int | None = None
    ) -> None:
        super().__init__(system, timeout=timeout, port=port)
        self.held: dict[Any, int] = {}
        self.owner = ""

    def open(self, node: Node) -> None:
        self.owner = f"{node.name}/{id(self):x}"
        super().open(node)

    def invoke(self, op: Op) -> Op:
        if op.f == "status":
            reply = self.request(op, {"type": "status"})
            if isinstance(reply, Op):
                return reply
            return (
                op.complete("ok", reply.get("value")) if reply.get("ok") else self.failed(op, reply)
            )
        if not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
            return op.complete(
                "fail", op.value, error=f"bad-op: expected [key, value], got {op.value!r}"
            )
        key, arg = op.value
        if op.f == "acquire":
            reply = self.request(op, {"type": "acquire", "key": key, "owner": self.owner})
            if isinstance(reply, Op):
                return reply
            if reply.get("ok"):
                grant = reply["value"]
                self.held[key] = grant["token"]
                return op.complete(
                    "ok", [key, {"token": grant["token"], "lease_ms": grant["ttl_ms"]}]
                )
            return self.failed(op, reply)
        if op.f == "write":
            token = self.held.get(key)
            if token is None:
                return op.complete("fail", op.value, error="not-holding")
            value = [key, [token, arg]]
            reply = self.request(
                op, {"type": "write", "key": key, "token": token, "value": arg}, value
            )
            if isinstance(reply, Op):
                return reply
            return op.complete("ok", value) if reply.get("ok") else self.failed(op, reply, value)
        if op.f == "release":
            token = self.held.pop(key, None)
            if token is None:
                return op.complete("fail", op.value, error="not-holding")
            value = [key, token]
            reply = self.request(op, {"type": "release", "key": key, "token": token}, value)
            if isinstance(reply, Op):
                return reply
            return op.complete("ok", value) if reply.get("ok") else self.failed(op, reply, value)
        if op.f == "read":
            reply = self.request(op, {"type": "read", "key": key})
            if isinstance(reply, Op):
                return reply
            if reply.get("ok"):
                return op.complete("ok", [key, reply.get("value")])
            return self.failed(op, reply)
        return op.complete("fail", op.value, error=f"bad-op: the lock client has no op {op.f!r}")


class LockOps:
    """Per worker: acquire a key, ``writes`` writes under it, release it; or (``reads`` of
    the time) read a key's storage. Keys retire after ``spec.ops_per_key`` acquires and are
    read once more then. ``options``: ``LockWorkloadOptions``.
    """

    def __init__(self, spec: WorkloadSpec, options: LockWorkloadOptions) -> None:
        self.writes = options.writes
        self.reads = options.reads
        self.ops_per_key = spec.ops_per_key
        self.active: list[int] = list(range(spec.keys))
        self.used: dict[int, int] = dict.fromkeys(self.active, 0)
        self.next_key = spec.keys
        self.next_value = 0
        self.plans: dict[int | str, list[dict[str, Any]]] = {}
        self.retired: list[int] = []

    @property
    def keys_touched(self) -> list[int]:
        return sorted(self.used)

    def op(self, ctx: Context) -> dict[str, Any]:
        plan = self.plans.setdefault(ctx.thread, [])
        if plan:
            return plan.pop(0)
        rng = ctx.rng
        if self.retired:
            return {"f": "read", "value": [self.retired.pop(0), None]}
        if rng.random() < self.reads:
            return {"f": "read", "value": [rng.choice(self.active), None]}
        slot = rng.randrange(len(self.active))
        key = self.active[slot]
        self.used[key] += 1
        if self.used[key] >= self.ops_per_key:
            self.retired.append(key)
            self.active[slot] = self.next_key
            self.used[self.next_key] = 0
            self.next_key += 1
        for _ in range(self.writes):
            plan.append({"f": "write", "value": [key, self.next_value]})
            self.next_value += 1
        plan.append({"f": "release", "value": [key, None]})
        return {"f": "acquire", "value": [key, None]}


class _FinalReads:
    """After the final heal: every key ever used is read once, by whichever thread asks."""

    def __init__(self, ops: LockOps) -> None:
        self.ops = ops
        self.keys: list[int] | None = None

    def op(self, ctx: Context) -> dict[str, Any] | None:
        if self.keys is None:
            self.keys = self.ops.keys_touched
        if not self.keys:
            return None
        return {"f": "read", "value": [self.keys.pop(0), None]}


def lock_generators(
    spec: WorkloadSpec, options: LockWorkloadOptions
) -> tuple[Generator, Generator | None]:
    ops = LockOps(spec, options)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, _FinalReads(ops)


@dataclass(frozen=True)
class LockOptions:
    """The lock daemon's flags (``system.options``)."""

    ttl_ms: int = ms(1500, "lease of a grant")
    election_ms: str = ms_range("300-600", "randomized election timeout range")
    heartbeat_ms: int = ms(50, "leader heartbeat interval")
    request_timeout_ms: int = ms(1000, "how long an acquire / release may wait")
    storage_timeout_ms: int = ms(1000, "how long a write forwarded to the key's home may take")


@dataclass(frozen=True)
class LockWorkloadOptions:
    """The ``lock`` workload's options (``workload.options``)."""

    writes: int = option(2, "storage writes a holder makes per grant", minimum=0)
    reads: float = share(0.15, "share of ops that read a key's storage")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: LockOptions) -> PatternSystem:
    return make_pattern("lock", spec, nodes, options)


def _client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> LockClient:
    return LockClient(system, timeout=spec.timeout)


LOCK = SystemInfo(
    name="lock",
    description="reference lock service (patterns/lock): leased locks replicated by Raft, "
    "fencing tokens, a protected storage that rejects stale tokens",
    make=_make,
    clients={"lock": _client},
    bugs=LOCK_BUGS,
    options=LockOptions,
    default_port=DEFAULT_PORT,
    checkers=("leaders",),
    final_ops=("status",),
)

LOCK_WORKLOAD = WorkloadInfo(
    name="lock",
    description="acquire a lock, write to the protected storage with its token, release; read "
    "the storage",
    generators=lock_generators,
    checkers=("lock", "stats"),
    options=LockWorkloadOptions,
)
