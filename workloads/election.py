"""The election pattern (``patterns/election``): its System, its Client, the ``election``
workload.

Every worker keeps asking its node to act as the leader, and now and then for its status::

    act    None -> ok {"term": t, "leader": node}   the node acted as the leader of term t
                -> fail not-leader / not-confirmed
    status None -> ok {"id", "role", "term", "leader", "voted_for", "led_terms", "bugs"}

Every thread also reports its node's status once after the final heal (``final_ops``).
"""

from __future__ import annotations

from typing import Any

from harness.generator import Context, Generator, stagger
from harness.history import Op
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import PatternSystem, option_flags
from workloads.lock import PatternClient

__all__ = ["ELECTION_BUGS", "ElectionClient", "register"]

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
            return op.complete("fail", op.value,
                               error=f"bad-op: the election client has no op {op.f!r}")  # fmt: skip
        reply = self.request(op, {"type": op.f})
        if isinstance(reply, Op):
            return reply
        if reply.get("ok"):
            return op.complete("ok", reply.get("value"))
        return self.failed(op, reply)


class _Acts:
    """``act``, and (``status`` of the time, option ``status``, 0.05) a status report."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.status = float(spec.options.get("status", 0.05))

    def op(self, ctx: Context) -> dict[str, Any]:
        if ctx.rng.random() < self.status:
            return {"f": "status", "value": None}
        return {"f": "act", "value": None}


def election_generators(spec: WorkloadSpec) -> tuple[Generator, Generator | None]:
    ops = _Acts(spec)
    return (ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)), None


def election_args(spec: SystemSpec) -> list[str]:
    """Daemon options from ``system.options``: heartbeat_ms, election_ms ("MIN-MAX"),
    retry_ms, rpc_timeout_ms."""
    return option_flags(spec.options, ("heartbeat_ms", "election_ms", "retry_ms",
                                        "rpc_timeout_ms"), "election")  # fmt: skip


def register() -> list[Any]:
    from workloads.registry import CheckerInfo, SystemInfo, WorkloadInfo, ms, ms_range, share

    def make(spec: SystemSpec, nodes: list[Any]) -> PatternSystem:
        return PatternSystem("election", spec.bugs, spec.port, nodes=nodes,
                             extra_args=election_args(spec))  # fmt: skip

    def client(spec: WorkloadSpec) -> ElectionClient:
        return ElectionClient(timeout=spec.timeout)

    def checker(**opts: Any) -> Any:
        from checkers.election import ElectionChecker

        return ElectionChecker(**opts)

    return [
        SystemInfo(
            "election",
            "reference leader election (patterns/election): terms, majority votes, leader "
            "actions confirmed by a majority",
            ELECTION_BUGS, make, {"election": client}, final_ops=("status",),
            options=(
                ms("heartbeat_ms", 50, "leader heartbeat interval"),
                ms_range("election_ms", "300-600", "randomized election timeout range"),
                ms("retry_ms", 100, "vote requests asked again after"),
                ms("rpc_timeout_ms", 200, "per request to a peer"),
            ),
        ),
        WorkloadInfo(
            "election", "every worker asks its node to act as the leader; status reports",
            election_generators, ("election", "stats"),
            options=(share("status", 0.05, "share of ops that ask for a status report"),),
        ),
        CheckerInfo(
            "election",
            "elections: at most one leader per term (status led_terms and actions), no leader "
            "acting on a stale term",
            checker,
        ),
    ]  # fmt: skip
