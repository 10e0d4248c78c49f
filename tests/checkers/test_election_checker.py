"""The election checker on small hand-written histories: one valid and one invalid per rule,
and explanations that say what happened and what to fix."""

from __future__ import annotations

from typing import Any

from checkers.election import ElectionChecker
from harness.history import Op


def history(*events: tuple[int, int, str, str, Any]) -> list[Op]:
    """``(start ms, end ms, node, f, value)``: an ``act`` (value: the ok result, or None for a
    not-leader failure) or a ``status`` (value: the node's status), one process each."""
    ops = []
    for p, (t0, t1, node, f, value) in enumerate(events):
        ops.append(Op("invoke", f, None, p, t0 * 1_000_000, node=node))
        if value is None:
            ops.append(Op("fail", f, None, p, t1 * 1_000_000, node=node, error="not-leader"))
        else:
            ops.append(Op("ok", f, value, p, t1 * 1_000_000, node=node))
    ops.sort(key=lambda o: o.time)
    for i, op in enumerate(ops):
        op.index = i
    return ops


def act(term: int, leader: str) -> dict[str, Any]:
    return {"term": term, "leader": leader}


def status(node: str, led: list[int]) -> dict[str, Any]:
    return {"id": node, "role": "follower", "term": max(led or [0]), "led_terms": led}


ZERO = {"time_zero_ms": 1_767_225_600_000}  # 2026-01-01T00:00:00.000Z


def check(*events: tuple[int, int, str, str, Any], ctx: dict[str, Any] | None = None) -> Any:
    return ElectionChecker().check(history(*events), ctx or {})


def test_leaders_of_successive_terms_acting_in_order_are_valid() -> None:
    r = check(
        (0, 5, "n1", "act", act(1, "n1")),
        (10, 15, "n2", "act", None),
        (500, 505, "n3", "act", act(2, "n3")),
        (600, 605, "n1", "status", status("n1", [1])),
        (600, 605, "n3", "status", status("n3", [2])),
    )
    assert r.valid is True, r.anomalies
    assert r.details["acts"] == 2 and r.details["status-reports"] == 2


def test_two_nodes_acting_as_leaders_of_one_term_are_two_leaders() -> None:
    r = check((0, 5, "n1", "act", act(3, "n1")), (2, 8, "n4", "act", act(3, "n4")))
    assert [a.name for a in r.anomalies] == ["two-leaders-in-term"]
    text = r.anomalies[0].explanation
    assert text.startswith(
        "n1 (process 0, completed at 0.005 s) and n4 (process 1, completed at 0.008 s) each "
        "acted as the leader of term 3: two leaders in one term."
    )
    assert "count distinct voters" in text and "len(nodes) // 2 + 1" in text


def test_two_nodes_listing_one_term_in_led_terms_are_two_leaders() -> None:
    r = check(
        (0, 5, "n1", "status", status("n1", [1, 4])),
        (0, 5, "n2", "status", status("n2", [4])),
        (10, 15, "n1", "act", act(5, "n1")),
    )
    assert [a.name for a in r.anomalies] == ["two-leaders-in-term"]
    assert "term 4" in r.anomalies[0].explanation


def test_an_act_in_an_old_term_after_one_in_a_newer_term_finished_is_stale() -> None:
    r = check(
        (0, 5, "n1", "act", act(2, "n1")),
        (1000, 1010, "n3", "act", act(3, "n3")),
        (1500, 1505, "n1", "act", act(2, "n1")),
    )
    assert [a.name for a in r.anomalies] == ["stale-leader-acted"]
    a = r.anomalies[0]
    assert a.explanation.startswith(
        "n1 (process 2) acted as the leader of term 2 in an operation invoked at 1.500 s, 0.490 s "
        "after n3 (process 1) had finished acting as the leader of the later term 3 (completed "
        "at 1.010 s): a leader acting on a stale term."
    )
    assert "must confirm" in a.explanation
    assert a.data["stale_term"] == 2 and a.data["term"] == 3


def test_an_old_term_act_overlapping_a_newer_one_is_not_proven_stale() -> None:
    r = check((0, 100, "n1", "act", act(2, "n1")), (50, 60, "n3", "act", act(3, "n3")))
    assert r.valid is True


def test_no_act_at_all_proves_nothing() -> None:
    r = check((0, 5, "n1", "act", None))
    assert r.valid == "unknown" and "no leader ever acted" in r.details["reason"]


def test_the_sentences_name_node_process_term_and_wall_clock() -> None:
    r = check(
        (0, 5, "n1", "act", act(2, "n1")),
        (1000, 1010, "n3", "act", act(3, "n3")),
        (1500, 1505, "n1", "act", act(2, "n1")),
        (1600, 1605, "n1", "status", status("n1", [2, 4])),
        (1610, 1620, "n2", "status", status("n2", [4])),
        ctx=ZERO,
    )
    by = {a.name: a.explanation.split(". ")[0] for a in r.anomalies}
    assert by["stale-leader-acted"] == (
        "n1 (process 2) acted as the leader of term 2 in an operation invoked at 1.500 s "
        "(00:00:01.500Z), 0.490 s after n3 (process 1) had finished acting as the leader of the "
        "later term 3 (completed at 1.010 s (00:00:01.010Z)): a leader acting on a stale term"
    )
    assert by["two-leaders-in-term"] == (
        "n1 (status read at 1.605 s (00:00:01.605Z) via n1, process 3) and n2 (status read at "
        "1.620 s (00:00:01.620Z) via n2, process 4) each say they became leader in term 4: two "
        "leaders in one term"
    )


def test_the_leaders_checker_counts_every_term_with_two_leaders_and_explains_five() -> None:
    from checkers.leaders import CHECKER

    led = list(range(1, 1001))
    events = [(0, 1, "n1", "status", status("n1", led)), (2, 3, "n2", "status", status("n2", led))]
    r = CHECKER.make(None).check(history(*events), {})
    assert r.valid is False and r.details["terms_with_two_leaders"] == 1000
    assert [a.data["term"] for a in r.anomalies] == [1, 2, 3, 4, 5]
    e = check(*events)  # the election checker still sees every one, and reports five
    assert e.details["two-leader-terms"] == 1000 and len(e.anomalies) == 5
