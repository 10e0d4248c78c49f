"""The replicated queue (``patterns/queue``): its System (``QUEUE``), its Client and the
``queue`` workload (``QUEUE_WORKLOAD``).

Each Client is one consumer (a consumer id of its own; a worker that gets an ``info`` opens
a new Client, so a new consumer, as it takes a new process). It holds the messages it
dequeued until it acknowledges them. Ops::

    enqueue  v (unique int)  -> ok v
    dequeue  None            -> ok v (None: the queue was empty), with "msg_id"
    ack      None            -> ok [v, ...]: the messages this consumer held for at least
                                ``hold`` seconds (it waits for the oldest to get there);
                                fail "nothing-held" when it holds none
    drain    None            -> ok [v, ...]: acks what it holds, then dequeues and acks
                                until the queue is empty (the final phase)
    audit    None            -> ok {"node", "applied", "queue", "inflight", "acked"}

After the final heal every worker drains the queue, then asks its node for an audit.
Options (``workload.options``, which the queue system's client reads: ``QueueClientOptions``):
``hold``, the seconds a consumer works on a message before it acknowledges it (0.2).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Context, Generator, each_thread, once, phases, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo, option
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.options import ms
from workloads.pattern_client import PatternClient
from workloads.raft import RaftOptions
from workloads.system import HasPorts

__all__ = [
    "DRAIN_LIMIT",
    "QUEUE",
    "QUEUE_BUGS",
    "QUEUE_WORKLOAD",
    "QueueClient",
    "QueueClientOptions",
    "QueueOps",
    "QueueOptions",
    "queue_generators",
]

QUEUE_BUGS = {
    "redeliver-on-timeout": "a message not acknowledged within the visibility timeout (system "
    "option visibility_ms, 1000) is handed to another consumer; shown by anything that delays "
    "an ack: partitions, pauses, kills of the consumer's node or of the leader: delivered twice",
    "unreplicated-dequeue": "the leader answers a dequeue once the entry is in its own log, "
    "before a majority holds it; shown when the leader is cut off (partition shapes 'leader', "
    "'primaries'): the new leader hands the same messages out again",
}

#: the longest a drain goes on (seconds)
DRAIN_LIMIT = 30.0


class QueueOps:
    """Generator of the ``queue`` workload's ops; enqueued values are unique (a counter)."""

    def __init__(self, spec: WorkloadSpec) -> None:
        allowed = {"enqueue", "dequeue", "ack"}
        unknown = sorted(set(spec.mix) - allowed)
        if unknown:
            raise ValueError(
                f"the queue workload has no op {', '.join(unknown)} in 'mix'; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        self.fs = [f for f, w in spec.mix.items() if w > 0]
        self.weights = [spec.mix[f] for f in self.fs]
        self.next_value = 0

    def op(self, ctx: Context) -> dict[str, Any]:
        f = ctx.rng.choices(self.fs, self.weights)[0]
        if f == "enqueue":
            self.next_value += 1
            return {"f": "enqueue", "value": self.next_value}
        return {"f": f, "value": None}


class QueueClient(PatternClient):
    """One consumer (and producer) on one node; see the module docstring for the ops. Like
    the Raft client, a timeout or a broken connection after sending raises (``info``)."""

    def __init__(
        self,
        system: HasPorts | None = None,
        *,
        timeout: float = 2.0,
        port: int | None = None,
        hold: float = 0.2,
    ) -> None:
        super().__init__(system, timeout=timeout, port=port)
        self.hold = hold
        self.consumer = f"c-{uuid.uuid4().hex[:8]}"
        #: (message id, value, when it was received)
        self.held: list[tuple[int, Any, float]] = []

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """An ack first waits up to ``hold``; a drain goes on for up to DRAIN_LIMIT, and its
        last ack and dequeue may each take a timeout."""
        if op.f == "ack":
            return self.hold + 2 * timeout
        if op.f == "drain":
            return DRAIN_LIMIT + 3 * timeout
        return 2 * timeout

    def invoke(self, op: Op) -> Op:
        try:
            self.ensure_connected()
        except ConnectionRefusedError:
            return op.complete("fail", op.value, error="connection-refused")
        except OSError as e:
            return op.complete("fail", op.value, error=f"connect-failed: {e}")
        if op.f == "enqueue":
            reply = self.call({"type": "enqueue", "value": op.value})
            return self._done(op, reply, op.value)
        if op.f == "dequeue":
            reply = self.call({"type": "dequeue", "consumer": self.consumer})
            msg = reply.get("value") if reply.get("ok") is True else None
            if isinstance(msg, dict):
                self.held.append((msg["id"], msg["value"], time.monotonic()))
                return op.complete("ok", msg["value"], extra={"msg_id": msg["id"]})
            return self._done(op, reply, None)
        if op.f == "ack":
            return self._ack(op)
        if op.f == "drain":
            return self._drain(op)
        if op.f in ("audit", "status"):
            reply = self.call({"type": op.f})
            return self._done(op, reply, reply.get("value"))
        return op.complete("fail", op.value, error=f"bad-op: the queue has no op {op.f!r}")

    def _ack(self, op: Op) -> Op:
        if not self.held:
            return op.complete("fail", None, error="nothing-held")
        wait = self.held[0][2] + self.hold - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, self.hold))
        now = time.monotonic()
        due = [m for m in self.held if now - m[2] >= self.hold] or self.held[:1]
        reply = self.call({"type": "ack", "consumer": self.consumer, "ids": [m[0] for m in due]})
        if reply.get("ok") is True or reply.get("definite") is True:
            # acknowledged, or refused for good (not ours any more): stop holding them
            gone = {m[0] for m in due}
            self.held = [m for m in self.held if m[0] not in gone]
        acked = set((reply.get("value") or {}).get("acked", [])) if reply.get("ok") else set()
        ids = sorted(acked) if acked else [m[0] for m in due]
        return self._done(op, reply, [m[1] for m in due if m[0] in acked], {"msg_ids": ids})

    def _drain(self, op: Op) -> Op:
        """Ack what is held, then dequeue and ack until the queue is empty. Completes ok
        with every value received (even if a later request failed: those were delivered),
        unless the first request already failed."""
        got: list[Any] = []
        ids: list[int] = []
        deadline = time.monotonic() + DRAIN_LIMIT
        stopped: str | None = None
        while time.monotonic() < deadline:
            try:
                if self.held:
                    ids_held = [m[0] for m in self.held]
                    reply = self.call({"type": "ack", "consumer": self.consumer, "ids": ids_held})
                    if reply.get("ok") is not True and reply.get("definite") is not True:
                        stopped = str(reply.get("error"))
                        break
                    self.held = []
                reply = self.call({"type": "dequeue", "consumer": self.consumer})
            except Exception as e:  # noqa: BLE001 - what was received must be recorded
                if not got:
                    raise
                stopped = f"{type(e).__name__}: {e}"
                break
            if reply.get("ok") is not True:
                if not got:
                    return self._done(op, reply, None)
                stopped = str(reply.get("error"))
                break
            msg = reply.get("value")
            if not isinstance(msg, dict):
                break  # empty
            got.append(msg["value"])
            ids.append(msg["id"])
            self.held.append((msg["id"], msg["value"], time.monotonic()))
        evidence: dict[str, Any] = {"msg_ids": ids}
        if stopped is not None:
            evidence["stopped"] = stopped
        return op.complete("ok", got, extra=evidence)

    @staticmethod
    def _done(op: Op, reply: dict[str, Any], value: Any, extra: dict[str, Any] | None = None) -> Op:
        """ok with ``value``, or the error reply's fail / info; with ``extra`` either way."""
        if reply.get("ok") is True:
            return op.complete("ok", value, extra=extra)
        error = str(reply.get("error") or "unknown-error")
        kind = "fail" if reply.get("definite") is True else "info"
        return op.complete(kind, op.value, error, extra=extra)


def queue_generators(spec: WorkloadSpec, options: NoOptions) -> tuple[Generator, Generator | None]:
    """The main generator; the final one has every worker drain the queue, then, once every
    drain is done, every worker ask its node for an audit."""
    ops = QueueOps(spec)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    final = phases(each_thread(lambda: once("drain")), each_thread(lambda: once("audit")))
    return main, final


@dataclass(frozen=True)
class QueueOptions(RaftOptions):
    """The queue daemon's flags (``system.options``): the Raft store's, and one of its own."""

    visibility_ms: int = ms(
        1000, "with redeliver-on-timeout: how long a message may stay unacknowledged"
    )


@dataclass(frozen=True)
class QueueClientOptions:
    """What the queue system's client reads of ``workload.options``."""

    hold: float = option(
        0.2, "seconds a consumer works on a message before it acknowledges it", minimum=0
    )


def _make(spec: SystemSpec, nodes: Sequence[Node], options: QueueOptions) -> PatternSystem:
    return make_pattern("queue", spec, nodes, options)


def _client(spec: WorkloadSpec, options: QueueClientOptions, system: HasPorts) -> QueueClient:
    return QueueClient(system, timeout=spec.timeout, hold=options.hold)


QUEUE = SystemInfo(
    name="queue",
    description="reference replicated FIFO queue (patterns/queue): enqueue, dequeue, ack; at "
    "most once, on a Raft log",
    make=_make,
    clients={"queue": _client},
    bugs=QUEUE_BUGS,
    options=QueueOptions,
    client_options={"queue": QueueClientOptions},
    default_port=DEFAULT_PORT,
    checkers=("leaders",),
    final_ops=("status",),
)

QUEUE_WORKLOAD = WorkloadInfo(
    name="queue",
    description="enqueues of unique values, dequeues and acknowledgements by consumers that "
    "hold messages a while; a final drain and audit",
    generators=queue_generators,
    checkers=("queue", "stats"),
    ops=("enqueue", "dequeue", "ack"),
)
