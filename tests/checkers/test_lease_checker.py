"""The lease checker on small hand-written histories: one valid and one invalid per rule, and
explanations that say what happened and what to fix."""

from __future__ import annotations

from typing import Any

from checkers.lease import Act, LeaseChecker, stale_acts
from harness.history import Op


def history(*acts: tuple[int, int, str, Any]) -> list[Op]:
    """``(start ms, end ms, node, value)`` act ops, one process per act (each ends ok, or
    fails with not-holder when the value is None)."""
    events = []
    for p, (t0, t1, node, value) in enumerate(acts):
        events.append(Op("invoke", "act", None, p, t0 * 1_000_000, node=node))
        if value is None:
            events.append(Op("fail", "act", None, p, t1 * 1_000_000, node=node, error="not-holder"))
        else:
            events.append(Op("ok", "act", value, p, t1 * 1_000_000, node=node))
    events.sort(key=lambda o: o.time)
    for i, op in enumerate(events):
        op.index = i
    return events


def check(*acts: tuple[int, int, str, Any], ctx: dict[str, Any] | None = None) -> Any:
    return LeaseChecker().check(history(*acts), ctx or {})


def test_holders_taking_turns_in_epoch_order_are_valid() -> None:
    r = check(
        (0, 5, "n1", [["r0", 1], ["r1", 1]]),
        (100, 105, "n1", [["r0", 1]]),
        (110, 115, "n2", [["r1", 2]]),
        (700, 705, "n3", [["r0", 2]]),
        (710, 715, "n1", None),
    )
    assert r.valid is True, r.anomalies
    assert r.details["acts"] == 5 and r.details["resources"] == 2


def test_acts_that_may_have_happened_in_epoch_order_are_not_a_violation() -> None:
    # n1's act (epoch 1) overlaps n2's (epoch 2) in time: n1 may have acted first
    assert check((0, 100, "n1", [["r0", 1]]), (50, 60, "n2", [["r0", 2]])).valid is True


def test_an_older_epoch_acting_after_a_newer_one_finished_is_an_overlap() -> None:
    r = check(
        (0, 5, "n1", [["r0", 7]]),
        (600, 610, "n2", [["r0", 8]]),
        (800, 805, "n1", [["r0", 7]]),  # n1 still acts under 7
    )
    assert r.valid is False
    assert [a.name for a in r.anomalies] == ["leases-overlap"]
    a = r.anomalies[0]
    assert a.explanation.startswith(
        "n1 (process 2) acted as the holder of 'r0' under epoch 7 in an operation invoked at "
        "0.800 s, 0.190 s after n2 (process 1) had acted as its holder under the later epoch 8 "
        "(completed at 0.610 s): two holders at once for at least 0.190 s."
    )
    assert "monotonic clock" in a.explanation and "margin" in a.explanation
    assert a.data["overlap_s"] == 0.19 and a.data["stale_node"] == "n1"


def test_two_nodes_under_one_epoch_is_two_holders() -> None:
    r = check((0, 5, "n1", [["r3", 4]]), (0, 6, "n2", [["r3", 4]]))
    assert [a.name for a in r.anomalies] == ["two-holders-one-epoch"]
    assert r.anomalies[0].explanation.startswith(
        "n1 (process 0, completed at 0.005 s) and n2 (process 1, completed at 0.006 s) each "
        "acted as the holder of 'r3' under epoch 4: one epoch granted to two holders."
    )


def test_no_act_at_all_proves_nothing() -> None:
    r = check((0, 5, "n1", None))
    assert r.valid == "unknown" and "no node ever acted" in r.details["reason"]


def test_stale_acts_pairs_each_rank_with_the_first_later_rank_to_finish() -> None:
    ops = history(
        (0, 5, "a", [["x", 1]]),
        (10, 20, "b", [["x", 2]]),
        (30, 40, "c", [["x", 3]]),
        (50, 55, "a", [["x", 1]]),
    )
    acts = [
        Act(o.node or "", o.value[0][1], ops[i - 1], o) for i, o in enumerate(ops) if o.type == "ok"
    ]
    pairs = stale_acts(acts)
    assert [(s.rank, n.rank) for s, n in pairs] == [(1, 2)]


def test_the_sentence_gives_the_wall_clock_with_the_runs_time_zero() -> None:
    r = check(
        (0, 5, "n1", [["r0", 7]]),
        (600, 610, "n2", [["r0", 8]]),
        (800, 805, "n1", [["r0", 7]]),
        ctx={"time_zero_ms": 1_767_225_600_000},  # 2026-01-01T00:00:00.000Z
    )
    (a,) = r.anomalies
    assert a.explanation.startswith(
        "n1 (process 2) acted as the holder of 'r0' under epoch 7 in an operation invoked at "
        "0.800 s (00:00:00.800Z), 0.190 s after n2 (process 1) had acted as its holder under the "
        "later epoch 8 (completed at 0.610 s (00:00:00.610Z)): two holders at once"
    )
