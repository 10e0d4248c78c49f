"""The lease pattern (``patterns/lease``): its System (``LEASE``), its Client, the ``lease``
workload (``LEASE_WORKLOAD``).

Every worker keeps asking its node to act as the holder of whatever leases it holds::

    act    None -> ok [[resource, epoch], ...]   the leases the node acted under, now
                -> fail not-holder               it holds none
    status None -> ok {the node's status}

The ``lease`` checker then looks, in the controller's time, for two holders acting at once.
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
    "LEASE",
    "LEASE_BUGS",
    "LEASE_WORKLOAD",
    "LeaseClient",
    "LeaseOptions",
    "LeaseWorkloadOptions",
    "lease_generators",
]

LEASE_BUGS = {
    "local-clock": "the holder trusts its local clock with no margin: it times its lease on "
    "its wall clock from when the grant arrived; shown by clock faults (strobe, or a bump and "
    "its reset) on a holder: when its clock steps back it keeps acting after the lease passed "
    "to another node",
    "stale-flag": "the holder acts while a 'holding' flag is up, which its renewal loop takes "
    "down only after two failed renewals; shown by pausing a holder longer than a lease (pause "
    "target 'one' or 'minority'): it resumes and acts under a lease another node now holds",
}


class LeaseClient(PatternClient):
    """``act`` and ``status`` against one lease node."""

    def invoke(self, op: Op) -> Op:
        if op.f not in ("act", "status"):
            return op.complete(
                "fail", op.value, error=f"bad-op: the lease client has no op {op.f!r}"
            )
        reply = self.request(op, {"type": op.f})
        if isinstance(reply, Op):
            return reply
        if reply.get("ok"):
            return op.complete("ok", reply.get("value"))
        return self.failed(op, reply)


class _Acts:
    """``act``, and now and then (``status`` of the time) a status report."""

    def __init__(self, options: LeaseWorkloadOptions) -> None:
        self.status = options.status

    def op(self, ctx: Context) -> dict[str, Any]:
        if ctx.rng.random() < self.status:
            return {"f": "status", "value": None}
        return {"f": "act", "value": None}


def lease_generators(
    spec: WorkloadSpec, options: LeaseWorkloadOptions
) -> tuple[Generator, Generator | None]:
    ops = _Acts(options)
    return (ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)), None


@dataclass(frozen=True)
class LeaseOptions:
    """The lease daemon's flags (``system.options``)."""

    resources: int = option(8, "how many resources (r0..)", minimum=1)
    lease_ms: int = ms(600, "lease time")
    renew_ms: int = ms(150, "renewal period")
    margin_ms: int | None = ms(
        None,
        "how much earlier than its lease a holder stops (default 30 + 2% of the lease)",
        minimum=0,
    )
    tenure_ms: str = ms_range(
        "500-1500", "how long a holder keeps renewing before it lets a lease lapse"
    )
    rpc_timeout_ms: int = ms(200, "per request to a grantor")


@dataclass(frozen=True)
class LeaseWorkloadOptions:
    """The ``lease`` workload's options (``workload.options``)."""

    status: float = share(0.02, "share of ops that ask for a status report")


def _holding(status: dict[str, Any]) -> bool:
    return bool(status.get("holding"))


def _make(spec: SystemSpec, nodes: Sequence[Node], options: LeaseOptions) -> PatternSystem:
    return make_pattern("lease", spec, nodes, options, is_primary=_holding)


def _client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> LeaseClient:
    return LeaseClient(system, timeout=spec.timeout)


LEASE = SystemInfo(
    name="lease",
    description="reference leases (patterns/lease): majority-granted, renewed, lapsing leases "
    "on a few resources; holders act while they hold them",
    make=_make,
    clients={"lease": _client},
    bugs=LEASE_BUGS,
    options=LeaseOptions,
    default_port=DEFAULT_PORT,
)

LEASE_WORKLOAD = WorkloadInfo(
    name="lease",
    description="every worker asks its node to act under the leases it holds",
    generators=lease_generators,
    checkers=("lease", "stats"),
    options=LeaseWorkloadOptions,
)
