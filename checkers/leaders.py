"""At most one leader per term, from the terms each node says it led.

Nodes report the terms in which they became leader (``status`` ops whose value carries
``led_terms``, as the reference Raft does); two nodes naming the same term is a split brain,
whatever the data shows.

Each node's term is named by its first report of it: with reports read during the run (the
register workload's ``status_every``), not only after the final heal, the anomaly's latest
op, its evidence, is the first report of the second leader.
"""

from __future__ import annotations

from typing import Any

from checkers.base import Anomaly, Result, when
from harness.history import Op
from harness.registry import CheckerInfo

__all__ = ["CHECKER", "LeadersChecker"]


CHECKER = CheckerInfo(
    "leaders",
    "at most one leader per term, from the nodes' status",
    lambda _options: LeadersChecker(max_reports=5),
)


class LeadersChecker:
    """``max_reports``: the terms with two leaders explained (None: every one, as the
    election checker needs them); the details count them all."""

    name = "leaders"

    def __init__(self, max_reports: int | None = None) -> None:
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        leaders: dict[int, dict[str, Op]] = {}
        reports = 0
        for op in history:
            if op.f != "status" or op.type != "ok" or not isinstance(op.value, dict):
                continue
            node = op.value.get("id") or op.node
            reports += 1
            for term in op.value.get("led_terms") or []:
                leaders.setdefault(int(term), {}).setdefault(str(node), op)
        anomalies: list[Anomaly] = []
        doubled = 0
        for term, by_node in sorted(leaders.items()):
            if len(by_node) > 1:
                doubled += 1
                if self.max_reports is not None and len(anomalies) >= self.max_reports:
                    continue
                names = sorted(by_node)
                anomalies.append(
                    Anomaly(
                        "two-leaders-in-term",
                        " and ".join(
                            f"{n} (status read at {when(by_node[n].time, ctx)} via "
                            f"{by_node[n].node or n}, process {by_node[n].process})"
                            for n in names
                        )
                        + f" each say they became leader in term {term}: two leaders in one "
                        "term. A term has at most one leader (each needs a majority of "
                        "votes, and a node votes once per term), so some node voted twice or a "
                        "vote was counted without a majority.",
                        [o.to_dict() for o in by_node.values()],
                        {"term": term, "nodes": names},
                    )
                )
        details = {
            "status_reports": reports,
            "terms_with_leaders": len(leaders),
            "terms_with_two_leaders": doubled,
        }
        if anomalies:
            return Result(False, anomalies, details)
        if reports == 0:
            return Result("unknown", [], {**details, "reason": "no node reported its status"})
        return Result(True, [], details)
