"""The hybrid-logical-clock pattern (``patterns/hlc``): its System (``HLC``), its Client, the
``hlc`` workload (``HLC_WORKLOAD``).

Every worker asks its node to stamp events; the client records each event the node reports
(with its (l, c), the node's wall-clock reading ``pt``, and the message id of a send and its
receive) and the controller's wall clock around the request (``true_us``: the true time, which
the nemesis never skews)::

    local  None          -> ok event
    send   {"pick": k}   -> ok {"to", "send": event, "receive": event}
                         -> fail offset-exceeded   extra hlc: {"to", "send", "refused"}
                         -> fail unavailable / info timeout   extra hlc: {"to", "send"}
    events None          -> ok {"node", "boot", "events": [...], "last", "dropped"}
                            the node's whole journal (the final phase: every event it stamped)
    status None          -> ok {the node's status}

Every ``local`` and ``send`` completion carries ``true_us: [before, after]``, the controller's
wall clock in microseconds when the request was sent and when the reply came. The ``hlc``
checker then checks the clock's promises (``checkers/hlc.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Context, Generator, each_thread, once, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo, option
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.options import ms, share
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "HLC",
    "HLC_BUGS",
    "HLC_WORKLOAD",
    "HlcClient",
    "HlcOptions",
    "HlcWorkloadOptions",
    "hlc_generators",
]

HLC_BUGS = {
    "physical-only": "events are stamped with the physical clock alone (l = pt): when a clock "
    "steps back, later events get smaller timestamps; shown by clock faults (a bump back, a "
    "strobe, a reset after a bump forward): not-monotonic on the node whose clock stepped "
    "back, causality-broken on messages to a node whose clock is behind the sender's",
    "no-c-reset": "c is not reset to 0 when l advances to a new physical reading, so it grows "
    "with every event; needs no fault: c-not-reset from the first events",
    "no-offset-guard": "no maximum-offset guard: a message stamped further ahead than "
    "max_offset_ms is accepted; shown by a clock fault moving one node forward by more than "
    "the maximum offset (bump forward, strobe): accepted-beyond-max-offset, and "
    "l-too-far-ahead on the nodes its messages dragged into the future",
}

#: the most events one ``events`` request asks for
PAGE = 2000


class HlcClient(PatternClient):
    """``local``, ``send``, ``events`` and ``status`` against one HLC node."""

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        if op.f == "events":  # the whole journal, a page per request
            return max(30.0, 2 * timeout)
        return 2 * timeout

    def invoke(self, op: Op) -> Op:
        if op.f == "events":
            return self._events(op)
        if op.f == "status":
            return self._simple(op, {"type": "status"})
        if op.f == "local":
            return self._stamped(op, {"type": "local"})
        if op.f == "send":
            pick = op.value.get("pick") if isinstance(op.value, dict) else None
            return self._stamped(op, {"type": "send", "pick": pick})
        return op.complete("fail", op.value, error=f"bad-op: the hlc client has no op {op.f!r}")

    def _simple(self, op: Op, req: dict[str, Any]) -> Op:
        reply = self.request(op, req)
        if isinstance(reply, Op):
            return reply
        if reply.get("ok"):
            return op.complete("ok", reply.get("value"))
        return self.failed(op, reply)

    def _stamped(self, op: Op, req: dict[str, Any]) -> Op:
        """An op whose reply reports events: they go in the value (ok) or in ``hlc`` (an
        error reply that still reports the send), with the controller's clock around it."""
        before = _now_us()
        reply = self.request(op, req)
        clock = {"true_us": [before, _now_us()]}
        if isinstance(reply, Op):  # nothing was sent, or no reply: no event reported
            return reply
        if reply.get("ok"):
            return op.complete("ok", reply.get("value"), extra=clock)
        evidence = {k: reply[k] for k in ("to", "send", "refused") if k in reply}
        kind = "fail" if reply.get("definite") is True else "info"
        error = str(reply.get("error") or "unknown-error")
        extra = {**clock, "hlc": evidence} if evidence else clock
        return op.complete(kind, op.value, error, extra=extra)

    def _events(self, op: Op) -> Op:
        """The node's whole journal, page by page; what was read if a page fails."""
        events: list[Any] = []
        since, head = 0, None
        stopped: str | None = None
        while True:
            reply = self.request(op, {"type": "events", "since": since, "limit": PAGE})
            if isinstance(reply, Op) or not reply.get("ok"):
                if head is None:
                    return reply if isinstance(reply, Op) else self.failed(op, reply)
                stopped = reply.error if isinstance(reply, Op) else str(reply.get("error"))
                break
            page = reply.get("value") or {}
            if head is not None and page.get("boot") != head["boot"]:
                stopped = "the node restarted during the read"
                break
            head = head or {k: page.get(k) for k in ("node", "boot", "dropped")}
            got = page.get("events") or []
            events += got
            head["last"] = page.get("last")
            if not page.get("more") or not got:
                break
            since = got[-1]["seq"]
        extra = {"stopped": stopped} if stopped is not None else None
        return op.complete("ok", {**head, "events": events}, extra=extra)


def _now_us() -> int:
    return time.time_ns() // 1000


class _Ops:
    """``send`` to a random peer, ``local`` (``local`` of the time), now and then a status."""

    def __init__(self, options: HlcWorkloadOptions) -> None:
        self.local = options.local
        self.status = options.status

    def op(self, ctx: Context) -> dict[str, Any]:
        r = ctx.rng.random()
        if r < self.status:
            return {"f": "status", "value": None}
        if r < self.status + self.local:
            return {"f": "local", "value": None}
        return {"f": "send", "value": {"pick": ctx.rng.randrange(1 << 16)}}


def hlc_generators(
    spec: WorkloadSpec, options: HlcWorkloadOptions
) -> tuple[Generator, Generator | None]:
    """The main generator; the final one has every worker read its node's whole journal."""
    ops = _Ops(options)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, each_thread(lambda: once("events"))


@dataclass(frozen=True)
class HlcOptions:
    """The HLC daemon's flags (``system.options``)."""

    max_offset_ms: int = option(
        500,
        "refuse a message stamped more than this far ahead of the receiver's clock; 0: no guard",
        minimum=0,
    )
    rpc_timeout_ms: int = ms(300, "per message to a peer")


@dataclass(frozen=True)
class HlcWorkloadOptions:
    """The ``hlc`` workload's options (``workload.options``)."""

    local: float = share(0.3, "share of ops that are local events (the rest are sends)")
    status: float = share(0.01, "share of ops that ask for a status report")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: HlcOptions) -> PatternSystem:
    return make_pattern("hlc", spec, nodes, options)


def _client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> HlcClient:
    return HlcClient(system, timeout=spec.timeout)


HLC = SystemInfo(
    name="hlc",
    description="reference hybrid logical clocks (patterns/hlc): (l, c) timestamps from each "
    "node's wall clock, messages on client request, CockroachDB's maximum-offset guard",
    make=_make,
    clients={"hlc": _client},
    bugs=HLC_BUGS,
    options=HlcOptions,
    default_port=DEFAULT_PORT,
)

HLC_WORKLOAD = WorkloadInfo(
    name="hlc",
    description="workers ask their nodes to stamp local events and to send messages to each "
    "other, then read every node's journal of events",
    generators=hlc_generators,
    checkers=("hlc", "stats"),
    options=HlcWorkloadOptions,
)
