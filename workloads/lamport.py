"""The Lamport-clock pattern (``patterns/lamport``): its System (``LAMPORT``), its Client, the
``lamport`` workload (``LAMPORT_WORKLOAD``).

Every worker asks its node to record a local event, or to send a message to another node::

    local  None           -> ok {"local": EVENT}
    send   {"pick": 0.37} -> ok {"to": "n3", "msg": "n1.2.17", "send": EVENT, "recv": EVENT}
                          -> fail / info {"to": "n3", "msg": ..., "send": EVENT}
                             not delivered (fail) or maybe delivered (info); the send event
                             happened at the node all the same
                          -> fail / info {"to": "n3"} nothing known (no answer)

``pick`` (drawn by the generator, a number in [0, 1)) chooses the destination among the other
nodes, in name order: ``others[int(pick * len(others))]``. An EVENT is ``{"node", "inc",
"seq", "c"}``: the node, its incarnation, the event's number there and its Lamport stamp.
The ``lamport`` checker rebuilds happens-before from these (each node's event order, the
message edges, and real-time order of ops on one node) and checks the stamps against it.
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
from workloads.daemon import DEFAULT_PORT, PatternSystem
from workloads.options import ms, share
from workloads.pattern_client import PatternClient

__all__ = [
    "LAMPORT",
    "LAMPORT_BUGS",
    "LAMPORT_WORKLOAD",
    "LamportClient",
    "LamportOptions",
    "LamportSystem",
    "LamportWorkloadOptions",
    "event_problem",
    "lamport_generators",
]

LAMPORT_BUGS = {
    "no-max": "a receive ticks the receiver's own clock and ignores the message's stamp; "
    "breaks the clock condition on message edges (a receive stamped lower than its send) as "
    "soon as nodes' clocks drift apart, which they do with no fault at all (partitions widen "
    "the gaps)",
    "send-no-tick": "a send does not tick the clock: it shares its stamp with the node's "
    "previous event; shows as a tie in the (C, node) order and a process-order edge whose "
    "stamps do not grow, with no fault needed",
    "volatile-clock": "the clock lives in memory only: a node restarted after a kill counts "
    "from 0 again and stamps new events lower than its events before the kill; exposed by "
    "the kill fault (targets one or minority)",
}

#: the fields of an event, each an integer but ``node``
EVENT_FIELDS = ("node", "inc", "seq", "c")


def event_problem(event: Any) -> str | None:
    """What is wrong with an event as a node reported it, or None: a mapping of ``node`` (a
    string) and ``inc``, ``seq``, ``c`` (integers >= 0)."""
    if not isinstance(event, dict):
        return f"an event is an object, got {event!r}"
    if not isinstance(event.get("node"), str):
        return f"an event's 'node' is a string, got {event.get('node')!r}"
    for k in EVENT_FIELDS[1:]:
        v = event.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            return f"an event's {k!r} is an integer >= 0, got {v!r}"
    return None


class LamportSystem(PatternSystem):
    """The lamport ``PatternSystem``; it also names its members, for the clients to choose
    whom to send to."""

    members: tuple[str, ...] = ()

    def configure(self, nodes: list[Node]) -> None:
        super().configure(nodes)
        self.members = tuple(sorted(n.name for n in nodes))


class LamportClient(PatternClient):
    """``local`` and ``send`` against one Lamport node; the destinations of sends are the
    system's other members. ``port``: a fixed port instead of the system's (tests)."""

    def __init__(
        self, system: LamportSystem, *, timeout: float = 2.0, port: int | None = None
    ) -> None:
        super().__init__(system, timeout=timeout, port=port)
        self.members = system.members
        self.node = ""

    def open(self, node: Node) -> None:
        self.node = node.name
        super().open(node)

    def invoke(self, op: Op) -> Op:
        if op.f == "local":
            return self._local(op)
        if op.f == "send":
            return self._send(op)
        return op.complete("fail", op.value, error=f"bad-op: the lamport client has no op {op.f!r}")

    def _local(self, op: Op) -> Op:
        reply = self.request(op, {"type": "local"})
        if isinstance(reply, Op):
            return reply
        if not reply.get("ok"):
            return self.failed(op, reply)
        value = reply.get("value")
        event = value.get("local") if isinstance(value, dict) else None
        problem = event_problem(event)
        if problem is not None:  # the node answered; what it did is not known
            return op.complete("info", op.value, f"bad-reply: {problem}")
        return op.complete("ok", {"local": event})

    def _send(self, op: Op) -> Op:
        others = [m for m in self.members if m != self.node]
        if not others:
            return op.complete("fail", op.value, error="no-peer: the cluster has one node")
        pick = op.value.get("pick", 0.0) if isinstance(op.value, dict) else 0.0
        to = others[min(len(others) - 1, int(float(pick) * len(others)))]
        reply = self.request(op, {"type": "send", "to": to}, value={"to": to})
        if isinstance(reply, Op):
            return reply
        known: dict[str, Any] = {"to": to}
        body = reply.get("value") if reply.get("ok") else reply
        if isinstance(body, dict) and isinstance(body.get("msg"), str):
            known["msg"] = body["msg"]
            if event_problem(body.get("send")) is None:
                known["send"] = body["send"]
        if not reply.get("ok"):
            return self.failed(op, reply, known)
        if not isinstance(body, dict):
            return op.complete("info", known, f"bad-reply: expected an object, got {body!r}")
        problem = event_problem(body.get("send")) or event_problem(body.get("recv"))
        if problem is not None or "msg" not in known:
            return op.complete("info", known, f"bad-reply: {problem or 'no msg'}")
        return op.complete("ok", {**known, "recv": body["recv"]})


class _Events:
    """``local`` or ``send`` (a share ``sends`` of the ops), each send to a random node."""

    def __init__(self, options: LamportWorkloadOptions) -> None:
        self.sends = options.sends

    def op(self, ctx: Context) -> dict[str, Any]:
        if ctx.rng.random() < self.sends:
            return {"f": "send", "value": {"pick": round(ctx.rng.random(), 6)}}
        return {"f": "local", "value": None}


def lamport_generators(
    spec: WorkloadSpec, options: LamportWorkloadOptions
) -> tuple[Generator, Generator | None]:
    ops = _Events(options)
    return (ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)), None


@dataclass(frozen=True)
class LamportOptions:
    """The Lamport daemon's flags (``system.options``)."""

    rpc_timeout_ms: int = ms(500, "how long a send waits for the receiver")
    reserve: int = option(
        1000, "how far ahead of the clock its durable ceiling is written", minimum=1
    )


@dataclass(frozen=True)
class LamportWorkloadOptions:
    """The ``lamport`` workload's options (``workload.options``)."""

    sends: float = share(0.6, "share of ops that send a message (the rest are local events)")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: LamportOptions) -> LamportSystem:
    port = DEFAULT_PORT if spec.port is None else spec.port
    return LamportSystem("lamport", spec.bugs, port, nodes=nodes, options=options)


def _client(spec: WorkloadSpec, options: NoOptions, system: LamportSystem) -> LamportClient:
    return LamportClient(system, timeout=spec.timeout)


LAMPORT = SystemInfo(
    name="lamport",
    description="reference Lamport clocks (patterns/lamport): nodes stamp local events, sends "
    "and receives with a logical clock kept durable across restarts",
    make=_make,
    clients={"lamport": _client},
    bugs=LAMPORT_BUGS,
    options=LamportOptions,
    default_port=DEFAULT_PORT,
)

LAMPORT_WORKLOAD = WorkloadInfo(
    name="lamport",
    description="every worker asks its node to record a local event or to send a message to "
    "another node; the history carries every event's Lamport stamp",
    generators=lamport_generators,
    checkers=("lamport", "stats"),
    options=LamportWorkloadOptions,
)
