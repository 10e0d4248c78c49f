"""Leader election: one leader per term, and no leader acting on a stale term.

The history is the ``election`` workload's: ``act`` ops whose ``ok`` completion is
``{"term": t, "leader": node}`` (that node acted as the leader of term t), and ``status``
ops whose value carries the node's ``led_terms`` (the terms in which it became leader).

Rules, each an anomaly name:

``two-leaders-in-term``
    Two nodes led the same term: both list it in ``led_terms`` (``checkers.leaders``), or
    both acted as its leader. Each leader needs a majority of votes and a node votes once
    per term, so this is a vote counted twice or a quorum short of a majority.
``stale-leader-acted``
    A leader acted in term t in an operation invoked after another leader's action in a
    later term t' > t had completed (controller time). Once a leader of t' has acted, a
    majority has moved past t: a leader of t that confirms its term with a majority before
    acting cannot act any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result, when
from checkers.leaders import LeadersChecker
from checkers.lease import Act, acts_of, both_acted, stale_acts
from harness.history import Op
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "ElectionChecker", "ElectionOptions"]


@dataclass(frozen=True)
class ElectionOptions:
    """The election checker's options."""

    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "election",
    "elections: at most one leader per term (status led_terms and actions), no leader acting "
    "on a stale term",
    lambda options: ElectionChecker(options.max_reports),
    ElectionOptions,
)


class ElectionChecker:
    """The rules in the module docstring; ``max_reports`` caps the anomalies of each."""

    name = "election"

    def __init__(self, max_reports: int = 5) -> None:
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        acts: list[Act] = []
        for inv, comp in acts_of(history):
            v = comp.value
            if isinstance(v, dict) and isinstance(v.get("term"), int):
                leader = str(v.get("leader") or comp.node or inv.node)
                acts.append(Act(leader, v["term"], inv, comp))
        # one leader per term: the nodes' own records first (led_terms in status reports)
        from_status = LeadersChecker().check(history, ctx)
        doubles = list(from_status.anomalies)
        flagged = {a.data.get("term") for a in doubles}
        by_term: dict[int, dict[str, Act]] = {}
        for a in acts:
            by_term.setdefault(a.rank, {}).setdefault(a.actor, a)
        for term, who in sorted(by_term.items()):
            if len(who) > 1 and term not in flagged:
                names = sorted(who)
                doubles.append(
                    Anomaly(
                        "two-leaders-in-term",
                        f"{both_acted(list(who.values()), ctx)} each acted as the leader of term "
                        f"{term}: two leaders in one term. A term "
                        "has at most one leader: each needs a majority of votes and a node votes "
                        "once per term. Look for a vote counted twice (count distinct voters, not "
                        "grants), a quorum short of a majority (len(nodes) // 2 + 1), or a node "
                        "that votes twice in a term.",
                        [op for a in who.values() for op in a.ops()],
                        {"term": term, "nodes": names},
                    )
                )
        stale: list[Anomaly] = []
        for old, newer in stale_acts(acts):
            gap = (old.start - newer.end) / 1e9
            stale.append(
                Anomaly(
                    "stale-leader-acted",
                    f"{old.who()} acted as the leader of term {old.rank} in an operation invoked "
                    f"at {when(old.start, ctx)}, {gap:.3f} s after {newer.who()} had finished "
                    f"acting as the leader of the later term {newer.rank} (completed at "
                    f"{when(newer.end, ctx)}): a leader acting on a stale term. "
                    f"By then a majority had moved on to term {newer.rank}; {old.actor} acted on "
                    "a term that was no longer current. A leader must confirm, after a request "
                    "arrives, that a majority still accepts its term before it acts (and a "
                    "majority is len(nodes) // 2 + 1).",
                    newer.ops() + old.ops(),
                    {
                        "stale_term": old.rank,
                        "stale_leader": old.actor,
                        "term": newer.rank,
                        "leader": newer.actor,
                        "gap_s": round(gap, 6),
                    },
                )
            )
        anomalies = doubles[: self.max_reports] + stale[: self.max_reports]
        details = {
            "acts": len(acts),
            "terms-acted": len(by_term),
            "status-reports": from_status.details.get("status_reports", 0),
            "two-leader-terms": len(doubles),
            "stale-actions": len(stale),
        }
        if anomalies:
            return Result(False, anomalies, details)
        if not acts:
            return Result("unknown", [], {**details, "reason": "no leader ever acted"})
        return Result(True, [], details)
