"""The clock-synchronization pattern (``patterns/clocksync``): its System (``CLOCKSYNC``), its
Client, the ``clocksync`` workload (``CLOCKSYNC_WORKLOAD``).

Every worker keeps asking its node what time it is; the client records the node's report
and the controller's wall clock around the request (``true_us``: the true time, which the
nemesis never moves)::

    now    None -> ok {"id", "hw_us", "synced": true, "time_us", "bound_us", "age_ms",
                       "sync": {"sources", "answered", "rtt_ms"}}
                -> ok {"id", "hw_us", "synced": false, "why"}    it vouches for nothing now
    status None -> ok {the node's status}

Every ``now`` completion carries ``true_us: [before, after]``, the controller's wall clock in
microseconds when the request was sent and when the reply came: the node read its clock in
between. The final phase has every worker ask once more, after the final heal and the
recovery wait. The ``clocksync`` checker then checks that each bound held and that every node
came back after each fault (``checkers/clocksync.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Generator, each_thread, once, repeat, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo, option
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.options import ms
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "CLOCKSYNC",
    "CLOCKSYNC_BUGS",
    "CLOCKSYNC_WORKLOAD",
    "ClockSyncClient",
    "ClockSyncOptions",
    "clocksync_generators",
]

CLOCKSYNC_BUGS = {
    "ignore-rtt": "a peer's reading is taken as the time its reply arrives (no half round "
    "trip, none in the bound); shown by the delay fault on every node: the replies come a "
    "latency late, the node's clock falls that far behind with a bound of a millisecond or "
    "two: bound-violated",
    "single-source": "each round trusts the first peer to answer, alone; shown by a clock "
    "fault on one node (clock bump or strobe, drift): whoever takes its reading takes its "
    "error: bound-violated on the other nodes",
    "no-drift-bound": "the bound does not grow with the time since the last round; shown by "
    "the drift fault: the drifting node's own clock runs away between rounds: bound-violated "
    "on the drifting node",
}


class ClockSyncClient(PatternClient):
    """``now`` and ``status`` against one clock-synchronization node."""

    def invoke(self, op: Op) -> Op:
        if op.f == "now":
            before = _now_us()
            reply = self.request(op, {"type": "now"})
            clock = {"true_us": [before, _now_us()]}
            if isinstance(reply, Op):
                return reply
            if reply.get("ok"):
                return op.complete("ok", reply.get("value"), extra=clock)
            return self.failed(op, reply)
        if op.f == "status":
            reply = self.request(op, {"type": "status"})
            if isinstance(reply, Op):
                return reply
            if reply.get("ok"):
                return op.complete("ok", reply.get("value"))
            return self.failed(op, reply)
        return op.complete("fail", op.value, error=f"bad-op: the clocksync client has no {op.f!r}")


def _now_us() -> int:
    return time.time_ns() // 1000


def clocksync_generators(spec: WorkloadSpec, options: Any) -> tuple[Generator, Generator | None]:
    """Ask the time (``rate`` a second in all); the final phase asks once more per worker."""

    now = repeat("now")
    main: Generator = now if spec.rate <= 0 else stagger(1.0 / spec.rate, now)
    return main, each_thread(lambda: once("now"))


@dataclass(frozen=True)
class ClockSyncOptions:
    """The clock-synchronization daemon's flags (``system.options``)."""

    sync_ms: int = ms(250, "between two rounds of reading the peers' clocks")
    max_drift_ppm: int = option(
        100_000,
        "the fastest or slowest a hardware clock may run, in parts per million (a drift fault "
        "beyond it breaks the pattern's assumption, not the pattern)",
        minimum=0,
    )
    clock_error_us: int = option(
        1000, "how far from the true time a hardware clock claims to be", minimum=0
    )
    rpc_timeout_ms: int = ms(1000, "per read of a peer's clock")
    max_rtt_ms: int = ms(2000, "a read whose round trip took longer is not used")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: ClockSyncOptions) -> PatternSystem:
    return make_pattern("clocksync", spec, nodes, options)


def _client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> ClockSyncClient:
    return ClockSyncClient(system, timeout=spec.timeout)


CLOCKSYNC = SystemInfo(
    name="clocksync",
    description="reference clock synchronization (patterns/clocksync): Cristian's reads of "
    "the peers' clocks, Marzullo's majority agreement, a time with an error bound",
    make=_make,
    clients={"clocksync": _client},
    bugs=CLOCKSYNC_BUGS,
    options=ClockSyncOptions,
    default_port=DEFAULT_PORT,
)

CLOCKSYNC_WORKLOAD = WorkloadInfo(
    name="clocksync",
    description="workers ask their nodes for the time and the error bound they vouch for, "
    "recording the controller's clock around each answer",
    generators=clocksync_generators,
    checkers=("clocksync", "stats"),
    options=NoOptions,
)
