"""Leases: no two holders act in overlapping real time.

The history is the ``lease`` workload's: ``act`` ops whose ``ok`` completion lists the leases
the node acted under, ``[[resource, epoch], ...]`` (``node`` says which node). Every lease is
granted under an epoch that grows from one grant to the next, and a holder may act only
while its lease certainly lasts, so the acts of a resource must come in epoch order: all the
acts of epoch e before any act of a later epoch. Time is the controller's monotonic clock
(the history's ``time``); an act happened somewhere between its invocation and its
completion, so only what the intervals prove is reported.

Rules, each an anomaly name:

``leases-overlap``
    An act under epoch e was invoked after an act under a later epoch e' > e of the same
    resource had completed: for at least the time between them, two holders acted at once.
``two-holders-one-epoch``
    Two nodes acted under the same epoch of one resource: a grant went to two holders.

``stale_acts`` is the order rule on its own, for any (rank, actor) facts: the election
checker uses it for terms.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result, when
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

__all__ = [
    "Act",
    "CHECKER",
    "LeaseChecker",
    "LeaseOptions",
    "acts_of",
    "both_acted",
    "stale_acts",
]


@dataclass(frozen=True)
class LeaseOptions:
    """The lease checker's options."""

    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "lease",
    "leases: no two holders act in overlapping real time (controller time), one holder per epoch",
    lambda options: LeaseChecker(options.max_reports),
    LeaseOptions,
)


@dataclass(frozen=True)
class Act:
    """One ok operation in which ``actor`` acted under ``rank`` (an epoch, a term)."""

    actor: str
    rank: int
    invoke: Op
    complete: Op

    @property
    def start(self) -> int:
        return self.invoke.time

    @property
    def end(self) -> int:
        return self.complete.time

    def ops(self) -> list[dict[str, Any]]:
        return [self.invoke.to_dict(), self.complete.to_dict()]

    def who(self) -> str:
        """ "n1 (process 3)": the actor, and the client process that saw it act."""
        return f"{self.actor} (process {self.invoke.process})"


def both_acted(acts: list[Act], ctx: dict[str, Any] | None) -> str:
    """ "n1 (process 0, completed at 0.005 s) and n2 (process 1, completed at 0.006 s)": the
    actors of one rank, each with the time its act was acknowledged."""
    return " and ".join(
        f"{a.actor} (process {a.invoke.process}, completed at {when(a.end, ctx)})"
        for a in sorted(acts, key=lambda a: a.actor)
    )


def stale_acts(acts: Iterable[Act]) -> list[tuple[Act, Act]]:
    """Pairs (stale, newer): ``stale`` was invoked after ``newer`` had completed although
    its rank is lower. For each rank, the latest-invoked act of it against the
    earliest-completed act of any higher rank, when those prove it; at most one pair per
    rank, sorted by the stale act's invocation."""
    by_rank: dict[int, list[Act]] = {}
    for a in acts:
        by_rank.setdefault(a.rank, []).append(a)
    found: list[tuple[Act, Act]] = []
    first_done: Act | None = None  # earliest-completed act of a higher rank
    for rank in sorted(by_rank, reverse=True):
        mine = by_rank[rank]
        latest = max(mine, key=lambda a: a.start)
        if first_done is not None and first_done.end < latest.start:
            found.append((latest, first_done))
        earliest = min(mine, key=lambda a: a.end)
        if first_done is None or earliest.end < first_done.end:
            first_done = earliest
    return sorted(found, key=lambda pair: pair[0].start)


def acts_of(history: list[Op], f: str = "act") -> list[tuple[Op, Op]]:
    """(invocation, ok completion) of every ``f`` op that succeeded."""
    pending: dict[int | str, Op] = {}
    out: list[tuple[Op, Op]] = []
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if inv is not None and op.type == "ok" and op.f == f:
            out.append((inv, op))
    return out


class LeaseChecker:
    """The rules in the module docstring; ``max_reports`` caps the anomalies of each."""

    name = "lease"

    def __init__(self, max_reports: int = 5) -> None:
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        by_resource: dict[Hashable, list[Act]] = {}
        for inv, comp in acts_of(history):
            for item in comp.value if isinstance(comp.value, list) else []:
                if isinstance(item, list) and len(item) == 2 and isinstance(item[1], int):
                    actor = str(comp.node or inv.node or f"process {inv.process}")
                    by_resource.setdefault(item[0], []).append(Act(actor, item[1], inv, comp))
        overlaps: list[Anomaly] = []
        doubles: list[Anomaly] = []
        for resource, acts in sorted(by_resource.items(), key=lambda kv: str(kv[0])):
            holders: dict[int, dict[str, Act]] = {}
            for a in acts:
                holders.setdefault(a.rank, {}).setdefault(a.actor, a)
            for epoch, who in sorted(holders.items()):
                if len(who) > 1:
                    names = sorted(who)
                    doubles.append(
                        Anomaly(
                            "two-holders-one-epoch",
                            f"{both_acted(list(who.values()), ctx)} each acted as the holder of "
                            f"{resource!r} under epoch {epoch}: one epoch granted to two holders. "
                            "A grantor promises an epoch to one holder only, and a "
                            "holder needs a majority of grantors: check that a grantor refuses an "
                            "epoch it has granted before (also after a restart) and that a holder "
                            "counts a majority of distinct grantors.",
                            [op for a in who.values() for op in a.ops()],
                            {"resource": resource, "epoch": epoch, "nodes": names},
                        )
                    )
            for stale, newer in stale_acts(acts):
                gap = (stale.start - newer.end) / 1e9
                overlaps.append(
                    Anomaly(
                        "leases-overlap",
                        f"{stale.who()} acted as the holder of {resource!r} under epoch "
                        f"{stale.rank} in an operation invoked at {when(stale.start, ctx)}, "
                        f"{gap:.3f} s after {newer.who()} had acted as its holder under the later "
                        f"epoch {newer.rank} (completed at {when(newer.end, ctx)}): two holders "
                        f"at once for at least {gap:.3f} s. {stale.actor} kept "
                        "acting after its lease had expired. A holder must stop before its lease "
                        "can have expired: time the lease on a monotonic clock read before the "
                        "request was sent (not a wall clock, which steps), leave a margin for "
                        "clocks that run at different rates, and check the clock itself at every "
                        "action (a flag set by a renewal loop is stale after a pause).",
                        newer.ops() + stale.ops(),
                        {
                            "resource": resource,
                            "stale_epoch": stale.rank,
                            "stale_node": stale.actor,
                            "newer_epoch": newer.rank,
                            "newer_node": newer.actor,
                            "overlap_s": round(gap, 6),
                        },
                    )
                )
        overlaps.sort(key=lambda a: -a.data["overlap_s"])
        anomalies = overlaps[: self.max_reports] + doubles[: self.max_reports]
        total = sum(len(v) for v in by_resource.values())
        details = {
            "acts": total,
            "resources": len(by_resource),
            "epochs": sum(len({a.rank for a in v}) for v in by_resource.values()),
            "overlaps": len(overlaps),
            "epochs-with-two-holders": len(doubles),
        }
        if anomalies:
            return Result(False, anomalies, details)
        if total == 0:
            return Result("unknown", [], {**details, "reason": "no node ever acted as a holder"})
        return Result(True, [], details)
