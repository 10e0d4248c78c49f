"""The lease pattern (``patterns/lease``): its System, its Client, the ``lease`` workload.

Every worker keeps asking its node to act as the holder of whatever leases it holds::

    act    None -> ok [[resource, epoch], ...]   the leases the node acted under, now
                -> fail not-holder               it holds none
    status None -> ok {the node's status}

The ``lease`` checker then looks, in the controller's time, for two holders acting at once.
"""

from __future__ import annotations

from typing import Any

from harness.generator import Context, Generator, stagger
from harness.history import Op
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import PatternSystem, option_flags
from workloads.lock import PatternClient

__all__ = ["LEASE_BUGS", "LeaseClient", "register"]

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
    """``act``, and now and then (``status`` of the time, option ``status``, 0.02) a
    status report."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.status = float(spec.options.get("status", 0.02))

    def op(self, ctx: Context) -> dict[str, Any]:
        if ctx.rng.random() < self.status:
            return {"f": "status", "value": None}
        return {"f": "act", "value": None}


def lease_generators(spec: WorkloadSpec) -> tuple[Generator, Generator | None]:
    ops = _Acts(spec)
    return (ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)), None


def lease_args(spec: SystemSpec) -> list[str]:
    """Daemon options from ``system.options``: resources, lease_ms, renew_ms, margin_ms,
    tenure_ms ("MIN-MAX"), rpc_timeout_ms."""
    return option_flags(spec.options, ("resources", "lease_ms", "renew_ms", "margin_ms",
                                        "tenure_ms", "rpc_timeout_ms"), "lease")  # fmt: skip


def register() -> list[Any]:
    from workloads.registry import CheckerInfo, SystemInfo, WorkloadInfo, ms, ms_range, share

    def make(spec: SystemSpec, nodes: list[Any]) -> PatternSystem:
        return PatternSystem(
            "lease", spec.bugs, spec.port, nodes=nodes, extra_args=lease_args(spec),
            is_primary=lambda st: bool(st.get("holding")),
        )  # fmt: skip

    def client(spec: WorkloadSpec) -> LeaseClient:
        return LeaseClient(timeout=spec.timeout)

    def checker(**opts: Any) -> Any:
        from checkers.lease import LeaseChecker

        return LeaseChecker(**opts)

    return [
        SystemInfo(
            "lease",
            "reference leases (patterns/lease): majority-granted, renewed, lapsing leases on "
            "a few resources; holders act while they hold them",
            LEASE_BUGS, make, {"lease": client},
            options=(
                ms("resources", 8, "how many resources (r0..)"),
                ms("lease_ms", 600, "lease time"),
                ms("renew_ms", 150, "renewal period"),
                ms("margin_ms", None, "how much earlier than its lease a holder stops "
                   "(default 30 + 2% of the lease)", minimum=0),
                ms_range("tenure_ms", "500-1500", "how long a holder keeps renewing before it "
                         "lets a lease lapse"),
                ms("rpc_timeout_ms", 200, "per request to a grantor"),
            ),
        ),
        WorkloadInfo(
            "lease", "every worker asks its node to act under the leases it holds",
            lease_generators, ("lease", "stats"),
            options=(share("status", 0.02, "share of ops that ask for a status report"),),
        ),
        CheckerInfo(
            "lease",
            "leases: no two holders act in overlapping real time (controller time), one "
            "holder per epoch",
            checker,
        ),
    ]  # fmt: skip
