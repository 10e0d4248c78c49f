"""The lamport checker on small hand-written histories: one valid and one invalid history per
rule and per kind of happens-before edge, what is not happens-before (real time between
nodes, a message whose receive is unknown), and explanations that say what to fix."""

from __future__ import annotations

from typing import Any

from checkers.base import Result
from checkers.lamport import LamportChecker, events_of
from harness.history import Op


def ev(node: str, c: int, seq: int, inc: int = 1) -> dict[str, Any]:
    return {"node": node, "inc": inc, "seq": seq, "c": c}


def local(node: str, c: int, seq: int, inc: int = 1) -> tuple[str, str, dict[str, Any]]:
    """A local event on ``node``: (f, node, completion value)."""
    return "local", node, {"local": ev(node, c, seq, inc)}


def send(
    a: tuple[str, int, int], b: tuple[str, int, int] | None, inc: int = 1
) -> tuple[str, str, dict[str, Any]]:
    """A send from a = (node, c, seq) to b = (node, c, seq), b None when the receive is not
    known."""
    value: dict[str, Any] = {
        "to": b[0] if b else "n9",
        "msg": f"{a[0]}.{inc}.{a[2]}",
        "send": ev(a[0], a[1], a[2], inc),
    }
    if b is not None:
        value["recv"] = ev(*b)
    return "send", a[0], value


def history(*ops: tuple[int, int, tuple[str, str, dict[str, Any]]] | tuple[Any, ...]) -> list[Op]:
    """``(start ms, end ms, (f, node, value)[, type])``: one process per op."""
    events = []
    for p, item in enumerate(ops):
        t0, t1, (f, node, value) = item[:3]
        kind = item[3] if len(item) > 3 else "ok"
        events.append(Op("invoke", f, None, p, t0 * 1_000_000, node=node))
        events.append(Op(kind, f, value, p, t1 * 1_000_000, node=node))
    events.sort(key=lambda o: o.time)
    for i, op in enumerate(events):
        op.index = i
    return events


def check(*ops: Any) -> Result:
    return LamportChecker().check(history(*ops), {})


def names(r: Result) -> list[tuple[str, str | None]]:
    return [(a.name, a.data.get("edge")) for a in r.anomalies]


def test_clocks_that_tick_on_every_event_and_take_the_max_on_receive_are_valid() -> None:
    r = check(
        (0, 5, local("n1", 1, 1)),
        (10, 15, local("n1", 2, 2)),
        (20, 25, send(("n1", 3, 3), ("n2", 4, 1))),
        (30, 35, local("n2", 5, 2)),
        (40, 45, local("n3", 1, 1)),  # n3 never heard from anyone: its clock is behind
        (50, 55, send(("n2", 6, 3), ("n1", 7, 4))),
    )
    assert r.valid is True, r.anomalies
    assert r.details["events"] == 8 and r.details["messages-delivered"] == 2
    assert r.details["nodes"] == 3


def test_real_time_between_nodes_that_never_exchanged_a_message_is_not_happens_before() -> None:
    # n1 stamps 50 and completes before n2 stamps 1: no chain of events links them
    r = check(
        (0, 5, local("n1", 50, 1)),
        (10, 15, local("n2", 1, 1)),
        (20, 25, send(("n2", 2, 2), ("n3", 3, 1))),
    )
    assert r.valid is True, r.anomalies


def test_a_receive_stamped_lower_than_its_send_breaks_the_clock_condition() -> None:
    r = check(
        (0, 5, local("n1", 7, 1)),
        (10, 15, send(("n1", 8, 2), ("n2", 3, 1))),
    )
    assert r.valid is False
    assert names(r) == [("clock-condition", "message")]
    a = r.anomalies[0]
    assert "n2 received message n1.1.2 with a stamp not greater than its send" in a.explanation
    assert "(3 <= 8)" in a.explanation and "larger of its own value" in a.explanation
    assert a.data["send"]["c"] == 8 and a.data["recv"]["c"] == 3
    assert [o["index"] for o in a.ops] == [2, 3]


def test_a_receive_stamped_equal_to_its_send_breaks_it_too() -> None:
    r = check((0, 5, send(("n1", 4, 1), ("n2", 4, 1))))
    assert names(r) == [("clock-condition", "message")]


def test_stamps_that_do_not_grow_in_a_nodes_own_order_break_the_clock_condition() -> None:
    r = check(
        (0, 5, local("n1", 4, 1)),
        (10, 15, send(("n1", 4, 2), ("n2", 5, 1))),  # the send did not tick
        (20, 25, local("n1", 5, 3)),
    )
    assert r.valid is False
    assert names(r) == [("clock-condition", "process-order"), ("tie", None)]
    order, tie = r.anomalies
    assert "comes right after n1's local event (event 1.1, stamp 4" in order.explanation
    assert "must tick the clock" in order.explanation
    assert "n1 gave the stamp 4 to 2 different events" in tie.explanation
    assert tie.data["c"] == 4 and len(tie.data["events"]) == 2


def test_events_in_between_that_were_not_seen_still_order_the_ones_seen() -> None:
    # events 1.2 and 1.3 of n1 are unknown (their ops timed out): 1.1 -> 1.4 is an edge
    ok = check((0, 5, local("n1", 3, 1)), (30, 35, send(("n1", 6, 4), ("n2", 7, 1))))
    assert ok.valid is True, ok.anomalies
    bad = check((0, 5, local("n1", 3, 1)), (30, 35, send(("n1", 2, 4), ("n2", 7, 1))))
    assert names(bad) == [("clock-condition", "process-order")]


def test_a_restarted_node_that_stamps_below_its_earlier_events_is_named_as_such() -> None:
    r = check(
        (0, 5, local("n1", 40, 7)),
        (100, 105, send(("n1", 1, 1), ("n2", 41, 3), inc=2)),  # incarnation 2 counts from 0
        (110, 115, local("n2", 42, 4)),
    )
    assert r.valid is False
    assert names(r)[0] == ("clock-condition", "process-order")
    text = r.anomalies[0].explanation
    assert "n1 restarted between them (incarnation 1 -> 2)" in text
    assert "survive a restart" in text
    # and one that starts above everything it stamped is fine
    ok = check(
        (0, 5, local("n1", 40, 7)),
        (100, 105, send(("n1", 1001, 1), ("n2", 1002, 3), inc=2)),
    )
    assert ok.valid is True, ok.anomalies
    assert ok.details["restarts-seen"] == 1


def test_numbering_that_contradicts_real_time_on_one_node_is_reported() -> None:
    # op A on n1 completed before op B on n1 was invoked, but n1 numbered B first and
    # stamped it lower: the stamps follow the numbering, not what happened
    r = check(
        (0, 5, local("n1", 9, 2)),
        (10, 15, send(("n1", 8, 1), ("n2", 10, 1))),
    )
    assert r.valid is False
    assert names(r) == [("clock-condition", "real-time")]
    a = r.anomalies[0]
    assert "completed before" in a.explanation and "numbered them the other way" in a.explanation
    assert r.details["real-time-breaks"] == 1


def test_ops_on_one_node_that_overlap_in_time_may_be_stamped_in_either_order() -> None:
    r = check(
        (0, 50, local("n1", 2, 2)),
        (10, 60, send(("n1", 1, 1), ("n2", 3, 1))),
    )
    assert r.valid is True, r.anomalies
    assert r.details["real-time-breaks"] == 0


def test_two_events_of_one_node_under_one_stamp_are_a_tie_but_across_nodes_they_are_not() -> None:
    ok = check((0, 5, local("n1", 3, 1)), (0, 5, send(("n2", 3, 1), ("n3", 4, 1))))
    assert ok.valid is True, ok.anomalies
    # one op's events overlap in time with the other's: only the tie shows
    bad = check((0, 50, local("n1", 3, 1)), (10, 60, send(("n1", 3, 2), ("n2", 4, 1))))
    assert ("tie", None) in names(bad)


def test_one_event_number_reported_for_two_events_is_reported() -> None:
    r = check(
        (0, 5, local("n1", 3, 1)),
        (10, 15, send(("n1", 4, 1), ("n2", 5, 1))),
    )
    assert r.valid is False
    assert names(r)[0] == ("event-id-reused", None)
    assert "reported two different events as event 1.1" in r.anomalies[0].explanation


def test_a_send_whose_receive_is_unknown_adds_no_edge_to_the_receiver() -> None:
    # the send timed out (info): n2 may have received it (its clock then above 60), or not;
    # n2 stamping 52 later is no violation while nobody knows
    r = check(
        (0, 5, send(("n1", 50, 1), ("n2", 51, 1))),
        (10, 600, send(("n1", 60, 2), None), "info"),
        (700, 705, send(("n2", 52, 2), ("n3", 53, 1))),
    )
    assert r.valid is True, r.anomalies
    assert r.details["events"] == 5 and r.details["messages-delivered"] == 2
    events, messages, _ = events_of(history((10, 600, send(("n1", 60, 2), None), "info")))
    assert [e.kind for e in events] == ["send"] and messages == []


def test_no_events_or_no_delivered_message_is_unknown() -> None:
    nothing = check((0, 5, ("local", "n1", None), "fail"))
    assert nothing.valid == "unknown" and "no node reported an event" in nothing.details["reason"]
    locals_only = check((0, 5, local("n1", 1, 1)), (10, 15, local("n1", 2, 2)))
    assert locals_only.valid == "unknown"
    assert "no message was delivered" in locals_only.details["reason"]


def test_malformed_events_are_counted_and_not_checked() -> None:
    r = check(
        (0, 5, ("local", "n1", {"local": {"node": "n1", "inc": 1, "seq": "x", "c": 1}})),
        (10, 15, send(("n1", 2, 2), ("n2", 3, 1))),
    )
    assert r.valid is True and r.details["malformed-events"] == 1


def test_reports_are_capped_per_kind_of_edge_but_every_break_is_counted() -> None:
    ops = [
        (10 * i, 10 * i + 5, send(("n1", 100 + i, i + 1), ("n2", i + 1, i + 1))) for i in range(9)
    ]
    r = LamportChecker(max_reports=3).check(history(*ops), {})
    assert names(r) == [("clock-condition", "message")] * 3
    assert r.details["broken-edges"]["message"] == 9
