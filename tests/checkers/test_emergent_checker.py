"""The emergent checker on small hand-written histories: the sides rebuilt from the nemesis's
partitions, and one valid and one invalid history per rule (two leaders in one side,
agreement after a heal, a killed node kept in a view), with the trade-off across sides a
note and not an anomaly."""

from __future__ import annotations

from typing import Any

from checkers.emergent import EmergentChecker, Sides, sides_of_grudge
from harness.history import NEMESIS, Op

NODES = ("n1", "n2", "n3")
ALL = list(NODES)


def history(*events: tuple[int, int, str, str, Any]) -> list[Op]:
    """``(start ms, end ms, node, f, value)``: a client op (``act`` / ``view``, value the ok
    result, or None for a failure) on one process each; node ``nemesis``: a nemesis op,
    value ``(invocation value, completion value)``."""
    ops = []
    for p, (t0, t1, node, f, value) in enumerate(events):
        if node == NEMESIS:
            ops.append(Op("invoke", f, value[0], NEMESIS, t0 * 1_000_000))
            ops.append(Op("ok", f, value[1], NEMESIS, t1 * 1_000_000))
            continue
        ops.append(Op("invoke", f, None, p, t0 * 1_000_000, node=node))
        if value is None:
            ops.append(Op("fail", f, None, p, t1 * 1_000_000, node=node, error="not-leader"))
        else:
            ops.append(Op("ok", f, value, p, t1 * 1_000_000, node=node))
    ops.sort(key=lambda o: o.time)
    for i, op in enumerate(ops):
        op.index = i
    return ops


def act(t: int, node: str, inc: int = 1) -> tuple[int, int, str, str, Any]:
    return (t, t + 5, node, "act", {"leader": node, "inc": inc, "members": ALL})


def view(
    t: int, node: str, leader: str = "n1", members: list[str] = ALL
) -> tuple[int, int, str, str, Any]:
    return (t, t + 5, node, "view", {"node": node, "leader": leader, "members": members})


def views(
    t: int, leader: str = "n1", members: list[str] = ALL
) -> list[tuple[int, int, str, str, Any]]:
    return [view(t, n, leader, members) for n in NODES]


def nemesis(
    t: int, f: str, value: Any = None, result: Any = "ok"
) -> tuple[int, int, str, str, Any]:
    return (t, t + 10, NEMESIS, f, (value, result))


GRUDGE_N3 = {"n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2"]}
CUT_N3 = {"shape": "one", "grudge": GRUDGE_N3}


def check(*events: tuple[int, int, str, str, Any], bound_s: float = 1.0) -> Any:
    return EmergentChecker(bound_s=bound_s).check(history(*events), {})


def test_sides_are_the_components_of_mutual_hearing() -> None:
    assert sides_of_grudge(GRUDGE_N3, set(NODES)) == [{"n1", "n2"}, {"n3"}]
    # one-way deafness is enough to split two nodes; a bridge keeps both halves in one side
    assert sides_of_grudge({"n1": ["n2"]}, {"n1", "n2"}) == [{"n1"}, {"n2"}]
    bridge = {"n1": ["n3"], "n3": ["n1"]}
    assert sides_of_grudge(bridge, set(NODES)) == [set(NODES)]
    h = history(view(0, "n1"), nemesis(100, "start-partition", "one", CUT_N3),
                nemesis(500, "stop-partition", None, "healed"), view(900, "n1"))  # fmt: skip
    s = Sides(h, set(NODES))
    assert s.together(0, 50_000_000, "n1", "n3")
    assert not s.together(105_000_000, 108_000_000, "n1", "n3")  # the partition is coming
    assert s.together(200_000_000, 400_000_000, "n1", "n2")
    assert not s.together(200_000_000, 400_000_000, "n1", "n3")
    assert not s.together(400_000_000, 600_000_000, "n1", "n2")  # across the heal
    assert s.together(600_000_000, 900_000_000, "n1", "n3")


def test_leaders_taking_over_from_each_other_in_turn_are_valid() -> None:
    r = check(
        *views(0), act(10, "n1"), act(20, "n1"),
        nemesis(100, "pause", "primaries", ["n1"]),
        act(300, "n2"), act(310, "n2"),
        nemesis(500, "resume", None, ["n1"]),
        act(600, "n1", inc=2), act(650, "n1", inc=2), *views(700),
    )  # fmt: skip
    assert r.valid is True, r.anomalies
    assert r.details["acts"] == 6 and r.details["reigns"] == 3
    assert r.details["convergence"] == [{"heal": "resume", "at_s": 0.51, "converged_s": 0.195}]


def test_an_old_reign_acting_after_the_new_one_in_one_side_is_two_leaders() -> None:
    r = check(
        *views(0), act(10, "n1"),
        act(300, "n2"), act(400, "n1"), act(500, "n2"), *views(600, "n2"),
    )  # fmt: skip
    names = [a.name for a in r.anomalies]
    assert names == ["two-leaders-in-side", "two-leaders-in-side"], r.anomalies
    first = r.anomalies[0]
    assert first.data == {
        "stale": "n1",
        "stale_inc": 1,
        "leader": "n2",
        "leader_inc": 1,
        "stale_acts": 1,
    }
    assert "n1 (incarnation 1) acted as the leader at 0.015 s, then n2" in first.explanation
    assert "members it can reach agree" in first.explanation


def test_an_old_reign_leading_again_after_the_new_leader_was_killed_is_valid() -> None:
    r = check(
        *views(0), act(10, "n2"), nemesis(100, "pause", "primaries", ["n2"]),
        nemesis(2000, "resume", None, ["n2"]),
        act(2200, "n1"), nemesis(2300, "kill", "primaries", ["n1"]), act(2500, "n2"),
        nemesis(2600, "start", None, ["n1"]), *views(2700, "n2"),
    )  # fmt: skip
    assert r.valid is True, r.anomalies
    # without the kill between them, n2 acting again is a stale leader
    r = check(*views(0), act(10, "n2"), act(2200, "n1"), act(2500, "n2"))
    assert [a.name for a in r.anomalies][:1] == ["two-leaders-in-side"]


def test_leaders_on_two_sides_of_a_partition_are_a_note_not_an_anomaly() -> None:
    r = check(
        *views(0), act(10, "n1"),
        nemesis(100, "start-partition", "one", CUT_N3),
        act(200, "n1"), act(250, "n3"), act(300, "n1"), act(350, "n3"),
        nemesis(500, "stop-partition", None, "healed"),
        act(520, "n1"), *views(600),
    )  # fmt: skip
    assert r.valid is True, r.anomalies
    assert len(r.details["notes"]) == 1
    assert "n1 on side [n1, n2]; n3 on side [n3]" in r.details["notes"][0]
    assert "known trade-off" in r.details["notes"][0]


def test_acts_while_the_sides_change_are_not_judged() -> None:
    # n1, n2, n1 in turn, but n2's act overlaps the partition's start: sides unknown
    r = check(
        *views(0), act(10, "n1"), act(102, "n2"),
        nemesis(100, "start-partition", "one", {"shape": "one", "grudge": {}}), act(200, "n1"),
    )  # fmt: skip
    assert r.valid is True, r.anomalies


def test_views_that_never_agree_after_a_heal_are_no_agreement() -> None:
    r = check(
        *views(0), act(10, "n1"),
        nemesis(100, "start-partition", "one", CUT_N3),
        nemesis(500, "stop-partition", None, "healed"),
        view(600, "n1", "n1", ["n1", "n2"]), view(600, "n2", "n1", ["n1", "n2"]),
        view(600, "n3", "n3", ["n3"]), view(1200, "n3", "n3", ["n3"]),
        nemesis(2000, "kill", "one", ["n2"]),
    )  # fmt: skip
    assert [a.name for a in r.anomalies] == ["no-agreement-after-heal"], r.anomalies
    a = r.anomalies[0]
    assert a.data["converged_s"] is None and a.data["heal"] == "stop-partition"
    assert a.data["views"]["n3"] == {"leader": "n3", "members": ["n3"]}
    assert "within 1 s (never before the next fault)" in a.explanation
    assert "n3: leader n3, members [n3]" in a.explanation


def test_agreement_reached_after_the_bound_is_no_agreement_and_a_short_quiet_a_note() -> None:
    late = check(
        *views(0), act(10, "n1"), nemesis(100, "pause", "one", ["n3"]),
        nemesis(500, "resume", None, ["n3"]),
        view(600, "n1"), view(600, "n2"), view(600, "n3", "n3", ["n3"]),
        view(1800, "n3"), nemesis(3000, "kill", "one", ["n2"]),
    )  # fmt: skip
    assert [a.name for a in late.anomalies] == ["no-agreement-after-heal"]
    assert late.anomalies[0].data["converged_s"] == 1.295
    assert "only after 1.295 s" in late.anomalies[0].explanation
    short = check(
        *views(0), act(10, "n1"), nemesis(100, "pause", "one", ["n3"]),
        nemesis(500, "resume", None, ["n3"]), view(600, "n3", "n3", ["n3"]),
        nemesis(800, "kill", "one", ["n2"]),
    )  # fmt: skip
    assert short.valid is True, short.anomalies
    assert any("less than the bound: agreement not judged" in n for n in short.details["notes"])


def test_the_final_heal_is_judged_on_the_views_read_after_the_recovery() -> None:
    r = check(
        *views(0), act(10, "n1"), nemesis(100, "kill", "one", ["n3"]),
        nemesis(200, "start", None, ["n3"]), *views(3000),
    )  # fmt: skip
    assert r.valid is True, r.anomalies
    assert r.details["convergence"][0]["converged_s"] == 2.795


def test_a_killed_node_kept_in_a_view_after_the_bound_is_dead_member_kept() -> None:
    removed = check(
        *views(0), act(10, "n1"), nemesis(100, "kill", "one", ["n3"]),
        view(400, "n1"), view(1500, "n1", "n1", ["n1", "n2"]),
        nemesis(2000, "start", None, ["n3"]), *views(2500),
    )  # fmt: skip
    assert removed.valid is True, removed.anomalies
    kept = check(
        *views(0), act(10, "n1"), nemesis(100, "kill", "one", ["n3"]),
        view(1500, "n2", "n1", ["n1", "n2", "n3"]), view(1600, "n3", "n3", ["n3"]),
        nemesis(2000, "start", None, ["n3"]), *views(2500),
    )  # fmt: skip
    assert [a.name for a in kept.anomalies] == ["dead-member-kept"], kept.anomalies
    a = kept.anomalies[0]
    assert a.data == {"killed": ["n3"], "node": "n2", "views": 1, "after_s": 1.39}
    assert "n3 killed at 0.110 s is still a member in n2's view" in a.explanation


def test_a_history_without_views_or_acts_is_unknown() -> None:
    assert check(*views(0)).valid == "unknown"
    assert check(act(0, "n1")).valid == "unknown"
