"""The emergent-leader pattern (``patterns/emergent``): its System (``EMERGENT``), its Client,
the ``emergent`` workload (``EMERGENT_WORKLOAD``).

Every worker asks its node for its view, or asks it to act as the leader::

    view None -> ok {"node": "n1", "inc": 2, "leader": "n1", "members": ["n1", ...],
                     "incarnations": {"n1": 2, ...}}
    act  None -> ok {"leader": "n1", "inc": 2, "members": [...], "agreed": [...]}
                 the node acted as the leader, in its incarnation ``inc`` (its reign)
              -> fail not-leader / not-confirmed: it did not act

Every thread also asks its node for its view once after the final heal (``final_ops``). The
``emergent`` checker reads the views (agreement after each heal, the killed nodes gone) and
the acts (one acting leader per connected side), with the nemesis's ops for the sides.
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
from workloads.options import ms, share
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "EMERGENT",
    "EMERGENT_BUGS",
    "EMERGENT_WORKLOAD",
    "EmergentClient",
    "EmergentOptions",
    "EmergentWorkloadOptions",
    "act_problem",
    "emergent_generators",
    "view_problem",
]

EMERGENT_BUGS = {
    "no-incarnation": "suspicion without incarnation numbers: an accused node cannot refute; "
    "a live node flaps between suspect and alive until it is declared dead, and then never "
    "comes back (not even restarted); exposed by the first heal of any fault (a kill's "
    "restart, a pause, a partition): the views never agree again",
    "never-remove": "dead members are never removed (a suspicion never times out): a killed "
    "node stays in every view, and a dead leader stays leader; exposed by the kill fault",
    "lead-alone": "a node acts as the leader on its own view, without the members it can "
    "reach agreeing: a stale old leader acts beside the new one in one connected side; "
    "exposed by pausing the leader (pause target 'primaries') and at partition heals",
}


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(n, str) for n in value)


def view_problem(value: Any) -> str | None:
    """What is wrong with a ``view`` answer, or None."""
    if not isinstance(value, dict):
        return f"a view is an object, got {value!r}"
    if not isinstance(value.get("node"), str) or not _names(value.get("members")):
        return f"a view has a 'node' and a list of 'members', got {value!r}"
    if value.get("leader") is not None and not isinstance(value.get("leader"), str):
        return f"a view's 'leader' is a node or null, got {value.get('leader')!r}"
    return None


def act_problem(value: Any) -> str | None:
    """What is wrong with an ``act`` answer, or None."""
    if not isinstance(value, dict) or not isinstance(value.get("leader"), str):
        return f"an act names its 'leader', got {value!r}"
    inc = value.get("inc")
    if isinstance(inc, bool) or not isinstance(inc, int):
        return f"an act carries the leader's incarnation 'inc', got {inc!r}"
    return None


class EmergentClient(PatternClient):
    """``view`` and ``act`` against one emergent-leader node."""

    def invoke(self, op: Op) -> Op:
        check = {"view": view_problem, "act": act_problem}.get(op.f)
        if check is None:
            return op.complete(
                "fail", op.value, error=f"bad-op: the emergent client has no op {op.f!r}"
            )
        reply = self.request(op, {"type": op.f})
        if isinstance(reply, Op):
            return reply
        if not reply.get("ok"):
            return self.failed(op, reply)
        value = reply.get("value")
        problem = check(value)
        if problem is not None:  # the node answered; what it did is not known
            return op.complete("info", op.value, f"bad-reply: {problem}")
        return op.complete("ok", value)


class _Asks:
    """``view`` (a share ``views`` of the ops) or ``act``."""

    def __init__(self, options: EmergentWorkloadOptions) -> None:
        self.views = options.views

    def op(self, ctx: Context) -> dict[str, Any]:
        return {"f": "view" if ctx.rng.random() < self.views else "act", "value": None}


def emergent_generators(
    spec: WorkloadSpec, options: EmergentWorkloadOptions
) -> tuple[Generator, Generator | None]:
    ops = _Asks(options)
    return (ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)), None


@dataclass(frozen=True)
class EmergentOptions:
    """The emergent daemon's flags (``system.options``)."""

    period_ms: int = ms(200, "the protocol period: one probe per period")
    ping_timeout_ms: int = ms(100, "how long a direct probe waits for its answer")
    indirect: int = option(2, "members asked to probe when a direct probe fails", minimum=0)
    suspect_ms: int = ms(1000, "how long a suspicion lasts before the member is declared dead")
    rpc_timeout_ms: int = ms(250, "how long an act waits for each member's confirmation")


@dataclass(frozen=True)
class EmergentWorkloadOptions:
    """The ``emergent`` workload's options (``workload.options``)."""

    views: float = share(0.5, "share of ops that ask for the node's view (the rest act)")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: EmergentOptions) -> PatternSystem:
    return make_pattern("emergent", spec, nodes, options)


def _client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> EmergentClient:
    return EmergentClient(system, timeout=spec.timeout)


EMERGENT = SystemInfo(
    name="emergent",
    description="reference emergent leader (patterns/emergent): SWIM-like gossip membership "
    "with failure detection; the oldest live member leads, confirmed by the members it reaches",
    make=_make,
    clients={"emergent": _client},
    bugs=EMERGENT_BUGS,
    options=EmergentOptions,
    default_port=DEFAULT_PORT,
    final_ops=("view",),
)

EMERGENT_WORKLOAD = WorkloadInfo(
    name="emergent",
    description="every worker asks its node for its view (members, leader) or to act as the leader",
    generators=emergent_generators,
    checkers=("emergent", "stats"),
    options=EmergentWorkloadOptions,
)
