"""The leaders checker on status reports read during the run (the register workload's
``status_every``): two leaders of one term are told by the first reports that show them, so
the anomaly's evidence (its latest op's completion) is when the second leader was first
reported, not the final status after the heal."""

from __future__ import annotations

from typing import Any

from checkers.leaders import LeadersChecker
from harness.history import Op

S = 1_000_000_000  # ns


def history(reports: list[tuple[float, str, list[int]]]) -> list[Op]:
    """``(completed at s, node, led_terms)`` per status op, each invoked 5 ms earlier by the
    process of its node; register ops of other processes in between."""
    ops: list[Op] = []
    for i, (at, node, led) in enumerate(reports):
        p = int(node[1:])
        t = int(at * S)
        ops.append(Op("invoke", "status", None, p, t - 5_000_000, node=node))
        value = {"id": node, "role": "leader", "term": max(led or [0]), "led_terms": led}
        ops.append(Op("ok", "status", value, p, t, node=node))
        ops.append(Op("invoke", "read", [0, None], 100 + i, t + 1_000_000, node=node))
        ops.append(Op("ok", "read", [0, 1], 100 + i, t + 2_000_000, node=node))
    ops.sort(key=lambda o: o.time)
    for i, op in enumerate(ops):
        op.index = i
    return ops


def evidence(anomaly: Any) -> float:
    return max(op["time"] for op in anomaly.ops) / S


def test_the_first_reports_of_two_leaders_of_one_term_are_named() -> None:
    reports = []
    for tick in range(60):  # every node reports every 0.5 s for 30 s
        at = 0.5 * tick + 0.1
        reports.append((at, "n1", [1, 4] if at > 9.2 else [1]))
        reports.append((at + 0.2, "n2", [4] if at > 9.6 else []))
        reports.append((at + 0.3, "n3", []))
    reports += [(33.3, "n1", [1, 4]), (33.3, "n2", [4]), (33.3, "n3", [])]  # the final ones
    r = LeadersChecker().check(history(reports), {})
    assert r.valid is False
    (a,) = r.anomalies
    assert a.name == "two-leaders-in-term" and a.data == {"term": 4, "nodes": ["n1", "n2"]}
    assert {op["value"]["id"] for op in a.ops} == {"n1", "n2"}
    # n1 first said so at 9.6 s, n2 at 10.3 s: the evidence is at 10.3 s, not 33.3 s
    assert [round(op["time"] / S, 3) for op in sorted(a.ops, key=lambda o: o["time"])] == [
        9.6,
        10.3,
    ]
    assert round(evidence(a), 3) == 10.3
    assert r.details["status_reports"] == len(reports)


def test_distinct_terms_reported_again_and_again_are_valid() -> None:
    reports = [(0.5 * i, f"n{i % 3 + 1}", [i % 3 + 1]) for i in range(90)]
    r = LeadersChecker().check(history(reports), {})
    assert r.valid is True, r.anomalies
    assert r.details["terms_with_leaders"] == 3 and r.details["terms_with_two_leaders"] == 0


def test_failed_status_reads_during_the_run_are_not_reports() -> None:
    ops = history([(1.0, "n1", [2])])
    ops.append(Op("invoke", "status", None, 2, 2 * S, node="n2"))
    ops.append(Op("fail", "status", None, 2, 2 * S + 5, node="n2", error="connection-refused"))
    ops.append(Op("invoke", "status", None, 3, 3 * S, node="n3"))
    ops.append(Op("info", "status", None, 3, 4 * S, node="n3", error="timeout"))
    r = LeadersChecker().check(ops, {})
    assert r.valid is True and r.details["status_reports"] == 1
