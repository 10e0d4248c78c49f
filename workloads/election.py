"""The election pattern (``patterns/election``): its System (``ELECTION``), its Client, the
``election`` workload (``ELECTION_WORKLOAD``).

Every worker keeps asking its node to act as the leader, and now and then for its status::

    act    None -> ok {"term": t, "leader": node}   the node acted as the leader of term t
                -> fail not-leader / not-confirmed
    status None -> ok {"id", "role", "term", "leader", "voted_for", "led_terms", "bugs"}

Every thread also reports its node's status once after the final heal (``final_ops``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Context, Generator, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.options import ms, ms_range, share
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "ELECTION",
    "ELECTION_BUGS",
    "ELECTION_WORKLOAD",
    "ElectionClient",
    "ElectionOptions",
    "ElectionWorkloadOptions",
    "election_generators",
]

ELECTION_BUGS = {
    "double-count": "a candidate counts every vote it is granted, asking voters again on each "
    "retry, so one voter counts twice; shown by partitions that leave a candidate short of a "
    "majority ('halves', 'bridge'): two leaders in one term",
    "minority-quorum": "the quorum is len(nodes) // 2 (the + 1 forgotten): two of five elect "
    "and confirm; shown by a partition into 'halves': both sides lead and act, the older term "
    "after the newer",
    "no-confirm": "a leader acts on its own belief that it leads, without a majority "
    "confirming its term; shown when the leader is isolated (partition shape 'leader'): it "
    "goes on acting in its old term after the new leader acted",
}


class ElectionClient(PatternClient):
    """``act`` and ``status`` against one election node."""

    def invoke(self, op: Op) -> Op:
        if op.f not in ("act", "status"):
            error = f"bad-op: the election client has no op {op.f!r}"
            return op.complete("fail", op.value, error=error)
        reply = self.request(op, {"type": op.f})
        if isinstance(reply, Op):
            return reply
        if reply.get("ok"):
            return op.complete("ok", reply.get("value"))
        return self.failed(op, reply)


class _Acts:
    """``act``, and (``status`` of the time) a status report."""

    def __init__(self, options: ElectionWorkloadOptions) -> None:
        self.status = options.status

    def op(self, ctx: Context) -> dict[str, Any]:
        if ctx.rng.random() < self.status:
            return {"f": "status", "value": None}
        return {"f": "act", "value": None}


def election_generators(
    spec: WorkloadSpec, options: ElectionWorkloadOptions
) -> tuple[Generator, Generator | None]:
    ops = _Acts(options)
    return (ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)), None


@dataclass(frozen=True)
class ElectionOptions:
    """The election daemon's flags (``system.options``)."""

    heartbeat_ms: int = ms(50, "leader heartbeat interval")
    election_ms: str = ms_range("300-600", "randomized election timeout range")
    retry_ms: int = ms(100, "vote requests asked again after")
    rpc_timeout_ms: int = ms(200, "per request to a peer")


@dataclass(frozen=True)
class ElectionWorkloadOptions:
    """The ``election`` workload's options (``workload.options``)."""

    status: float = share(0.05, "share of ops that ask for a status report")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: ElectionOptions) -> PatternSystem:
    return make_pattern("election", spec, nodes, options)


def _client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> ElectionClient:
    return ElectionClient(system, timeout=spec.timeout)


ELECTION = SystemInfo(
    name="election",
    description="reference leader election (patterns/election): terms, majority votes, leader "
    "actions confirmed by a majority",
    make=_make,
    clients={"election": _client},
    bugs=ELECTION_BUGS,
    options=ElectionOptions,
    default_port=DEFAULT_PORT,
    final_ops=("status",),
)

ELECTION_WORKLOAD = WorkloadInfo(
    name="election",
    description="every worker asks its node to act as the leader; status reports",
    generators=election_generators,
    checkers=("election", "stats"),
    options=ElectionWorkloadOptions,
)
