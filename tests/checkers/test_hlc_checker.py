"""The hlc checker on small hand-written histories: one valid and one invalid per rule, and
explanations that say which events, which nodes and which order was broken."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from checkers.base import Result
from checkers.hlc import HlcChecker, clock_segments, events_of
from harness.history import NEMESIS, Op

#: the controller's wall clock (µs) at history time 0
T0_US = 1_800_000_000_000_000


def true_us(ms: float) -> int:
    """The true time (wall clock, µs) at ``ms`` milliseconds into the history."""
    return T0_US + round(ms * 1000)


class History:
    """A history built op by op: each client op is one process, invoked at ``at`` ms and
    completed 1 ms later, with the controller's clock around it (``true_us``)."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.seqs: dict[str, int] = defaultdict(int)
        self.process = 0

    def event(
        self,
        node: str,
        kind: str,
        at: float,
        *,
        ahead_ms: float = 0,
        c: int = 0,
        pt_ahead_ms: float | None = None,
        l: int | None = None,  # noqa: E741
        **fields: Any,
    ) -> dict[str, Any]:
        """The next event of ``node`` at ``at`` ms, its l ``ahead_ms`` ahead of true time (or
        ``l``), its physical clock ``pt_ahead_ms`` ahead (default: as l)."""
        self.seqs[node] += 1
        pt = true_us(at + (ahead_ms if pt_ahead_ms is None else pt_ahead_ms))
        return {
            "node": node,
            "boot": "b0",
            "seq": self.seqs[node],
            "kind": kind,
            "l": true_us(at + ahead_ms) if l is None else l,
            "c": c,
            "pt": pt,
            **fields,
        }

    def op(
        self, f: str, at: float, type: str, value: Any, *, extra: dict[str, Any] | None = None
    ) -> None:
        p = self.process
        self.process += 1
        t = round(at * 1e6)
        inv = Op("invoke", f, None, p, t, node="n1")
        clock = {"true_us": [true_us(at), true_us(at + 1)]} if f in ("local", "send") else {}
        comp = Op(type, f, value, p, t + 1_000_000, node="n1", extra={**clock, **(extra or {})})
        self.ops += [inv, comp]

    def local(self, node: str, at: float, **kw: Any) -> dict[str, Any]:
        e = self.event(node, "local", at, **kw)
        self.op("local", at, "ok", e)
        return e

    def send(
        self,
        a: str,
        b: str,
        at: float,
        *,
        send: dict[str, Any] | None = None,
        receive: dict[str, Any] | None = None,
        max_offset_ms: int = 500,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A delivered message: a's send event at ``at``, then b's receive 0.5 ms later
        (``send`` / ``receive``: keywords of ``event``; by default the receive is stamped as
        an HLC does, from b's true clock: the message's l and c + 1 when it is ahead)."""
        s = self.event(a, "send", at, peer=b, **(send or {}))
        s["msg"] = f"{a}/b0/{s['seq']}"
        kw: dict[str, Any] = {"pt_ahead_ms": 0, **(receive or {})}
        if "ahead_ms" not in kw and "l" not in kw and s["l"] >= true_us(at + 0.5):
            kw.update(l=s["l"], c=kw.get("c", s["c"] + 1))
        r = self.event(
            b,
            "receive",
            at + 0.5,
            peer=a,
            msg=s["msg"],
            ml=s["l"],
            mc=s["c"],
            max_offset_ms=max_offset_ms,
            **kw,
        )
        self.op("send", at, "ok", {"to": b, "send": s, "receive": r})
        return s, r

    def refused(self, a: str, b: str, at: float, ahead_ms: float) -> None:
        s = self.event(a, "send", at, peer=b, ahead_ms=ahead_ms)
        s["msg"] = f"{a}/b0/{s['seq']}"
        self.seqs[b] += 1
        refusal = {
            "node": b,
            "boot": "b0",
            "seq": self.seqs[b],
            "kind": "refuse",
            "pt": true_us(at),
            "msg": s["msg"],
            "peer": a,
            "ml": s["l"],
            "mc": s["c"],
            "max_offset_ms": 500,
        }
        evidence = {"to": b, "send": s, "refused": refusal}
        self.op("send", at, "fail", None, extra={"hlc": evidence})

    def clock(self, f: str, at: float, value: Any) -> None:
        t = round(at * 1e6)
        self.ops += [
            Op("invoke", f, None, NEMESIS, t),
            Op("ok", f, value, NEMESIS, t + 1_000_000),
        ]

    def journal(self, node: str, at: float, events: list[dict[str, Any]]) -> None:
        """A final read of ``node``'s journal."""
        stripped = [{k: v for k, v in e.items() if k not in ("node", "boot")} for e in events]
        value = {"node": node, "boot": "b0", "events": stripped, "last": self.seqs[node]}
        self.op("events", at, "ok", value)

    def check(self, **kw: Any) -> Result:
        ops = sorted(self.ops, key=lambda o: o.time)
        for i, op in enumerate(ops):
            op.index = i
        return HlcChecker(**kw).check(ops, {})


def names(r: Result) -> list[str]:
    return [a.name for a in r.anomalies]


# -- a correct history ------------------------------------------------------------------------


def test_events_and_messages_stamped_as_an_hlc_does_are_valid() -> None:
    h = History()
    h.local("n1", 10)
    h.send("n1", "n2", 20)
    h.local("n2", 30)
    h.send("n2", "n3", 40)
    r = h.check()
    assert r.valid is True, r.anomalies
    assert r.details["events"] == 6 and r.details["messages-matched"] == 2
    assert r.details["nodes"] == 3 and r.details["max-c"] == 0


def test_a_history_without_events_is_unknown() -> None:
    h = History()
    h.op("status", 5, "ok", {"id": "n1"})
    r = h.check()
    assert r.valid == "unknown" and "no node reported an event" in r.details["reason"]


# -- monotonic per node -----------------------------------------------------------------------


def test_a_node_whose_clock_steps_back_keeps_l_and_counts_c_up() -> None:
    h = History()
    h.local("n1", 10, ahead_ms=5000)  # its clock was 5 s ahead ...
    h.clock("bump-clock", 0, {"n1": 5.0})
    h.local("n1", 20, ahead_ms=4990, c=1, pt_ahead_ms=0)  # ... and stepped back: l stays
    r = h.check()
    assert r.valid is True, r.anomalies


def test_an_event_stamped_below_the_one_before_on_its_node_is_not_monotonic() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 5.0})
    h.local("n1", 10, ahead_ms=5000)
    h.local("n1", 20)  # physical time only: back to the true time
    r = h.check()
    assert r.valid is False and names(r) == ["not-monotonic"]
    a = r.anomalies[0]
    assert "n1 stamped n1's event #2 (a local event)" in a.explanation
    assert "below n1's event #1 (a local event)" in a.explanation
    assert "went back by 4990.000 ms" in a.explanation
    assert "l = max(l, pt)" in a.explanation
    assert a.data["node"] == "n1" and a.data["drop_ms"] == 4990.0
    assert [op["type"] for op in a.ops] == ["invoke", "ok", "invoke", "ok"]


# -- happens-before: a receive after its send -------------------------------------------------


def test_a_receive_that_takes_the_messages_l_and_counts_past_its_c_is_valid() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 0.2})
    # n1's clock is 200 ms ahead: n2 takes the message's l, with c = mc + 1
    h.send("n1", "n2", 10, send={"ahead_ms": 200}, receive={"c": 1})
    r = h.check()
    assert r.valid is True, r.anomalies


def test_a_receive_stamped_below_its_send_breaks_causality() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 0.2})
    h.send("n1", "n2", 10, send={"ahead_ms": 200}, receive={"ahead_ms": 0})  # its own pt
    r = h.check()
    assert r.valid is False and names(r) == ["causality-broken"]
    a = r.anomalies[0]
    assert "n2 stamped n2's event #1 (the receive of n1/b0/1 from n1)" in a.explanation
    assert "below n1's event #1 (the send of n1/b0/1 to n2)" in a.explanation
    assert "(199.500 ms lower)" in a.explanation
    assert "the send happened before the receive" in a.explanation
    assert a.data["message"] == "n1/b0/1"


def test_a_tie_with_the_messages_stamp_is_a_causality_violation() -> None:
    h = History()
    h.send("n1", "n2", 10, receive={"ahead_ms": -0.5, "c": 0})  # the send's l and c
    r = h.check()
    assert names(r) == ["causality-broken"]


# -- c reset and bounded ----------------------------------------------------------------------


def test_c_that_counts_events_sharing_an_l_is_valid() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 1.0})
    first = h.local("n1", 10, ahead_ms=1000)
    h.clock("reset-clock", 15, {"n1": 0.0})
    h.local("n1", 20, l=first["l"], pt_ahead_ms=0, c=1)
    h.local("n1", 30, l=first["l"], pt_ahead_ms=0, c=2)
    h.local("n1", 2000, c=0)  # the clock caught up: l moves on and c is reset
    r = h.check()
    assert r.valid is True, r.anomalies
    assert r.details["max-c"] == 2 and r.details["c-rule-unchecked"] == 0


def test_c_not_reset_when_l_advances_is_reported() -> None:
    h = History()
    h.local("n1", 10)
    h.local("n1", 20, c=1)
    h.local("n1", 30, c=2)
    r = h.check()
    assert r.valid is False and names(r) == ["c-not-reset", "c-not-reset"]
    first, worst = r.anomalies  # the first in the history, then the largest c
    assert "n1's event #2 (a local event)" in first.explanation
    assert "n1's event #3 (a local event)" in worst.explanation
    assert "so c must be 0, but it is 2" in worst.explanation
    assert "grows without bound" in worst.explanation


def test_each_rule_reports_its_first_anomaly_then_its_most_severe() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 9.0})
    for i, ahead in enumerate([1000, 0, 3000, 0, 9000, 0, 2000, 0]):
        h.local("n1", 10 + 10 * i, ahead_ms=ahead)  # physical time only: back four times
    r = h.check(max_reports=2)
    assert names(r) == ["not-monotonic", "not-monotonic"]
    assert [a.data["drop_ms"] for a in r.anomalies] == [990.0, 8990.0]
    assert r.details["not-monotonic-count"] == 4


def test_c_larger_than_the_events_sharing_its_l_allow_is_unbounded() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 1.0})
    first = h.local("n1", 10, ahead_ms=1000)
    h.clock("reset-clock", 15, {"n1": 0.0})
    h.local("n1", 20, l=first["l"], pt_ahead_ms=0, c=7)
    r = h.check()
    assert names(r) == ["c-unbounded"]
    assert "c may be at most 1" in r.anomalies[0].explanation


def test_c_is_not_judged_across_a_gap_in_a_nodes_events() -> None:
    h = History()
    h.local("n1", 10)
    h.seqs["n1"] += 2  # two events nobody saw (their requests timed out)
    h.local("n1", 20, c=3)
    r = h.check()
    assert r.valid is True, r.anomalies
    assert r.details["c-rule-unchecked"] == 1


def test_the_journal_fills_the_gaps_and_the_c_rule_then_applies() -> None:
    h = History()
    first = h.local("n1", 10)
    hidden = h.event("n1", "local", 15, c=1)  # a request that timed out: only the journal has it
    last = h.local("n1", 20, c=2)
    h.journal("n1", 100, [first, hidden, last])
    r = h.check()
    assert names(r) == ["c-not-reset", "c-not-reset"]
    journal_only = next(a for a in r.anomalies if a.data["event"]["seq"] == 2)
    # the journal read's op is cut down to the one event
    assert journal_only.ops[-1]["value"]["events"] == [
        {k: v for k, v in hidden.items() if k not in ("node", "boot")}
    ]


# -- l no further ahead of true time than the clock offsets allow ----------------------------


def test_l_ahead_by_no_more_than_the_offset_in_force_is_valid() -> None:
    h = History()
    h.clock("strobe-clock", 0, {"nodes": ["n1"], "offsets": {"n1": [0.0, 3.0]}})
    h.local("n1", 10, ahead_ms=3000)
    h.clock("reset-clock", 1000, {"n1": 0.0})
    # after the reset l stays where it was: 3 s ahead of 1 s is 2 s ahead at 2 s, and less
    h.local("n1", 2000, ahead_ms=1999, pt_ahead_ms=0, c=0)
    r = h.check()
    assert r.valid is True, r.anomalies


def test_l_ahead_of_true_time_with_no_clock_offset_is_too_far_ahead() -> None:
    h = History()
    h.local("n1", 10)
    h.local("n1", 20, ahead_ms=2000)
    r = h.check()
    assert names(r) == ["l-too-far-ahead"]
    a = r.anomalies[0]
    assert "n1's event #2 (a local event)" in a.explanation
    # l is true time at 2.020 s; the op completed at 0.021 s
    assert "1.999 s ahead of true time (the controller's clock)" in a.explanation
    assert "No clock offset ahead of true time was in force on any node" in a.explanation
    assert a.data["allowed_ms"] == 0


def test_l_ahead_by_more_than_an_offset_that_has_since_been_reset_is_too_far_ahead() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 3.0})
    h.local("n1", 10, ahead_ms=3000)
    h.clock("reset-clock", 1000, {"n1": 0.0})
    h.local("n1", 2000, ahead_ms=2500, pt_ahead_ms=0)  # 3 s of offset ended at ~1 s
    r = h.check()
    assert names(r) == ["l-too-far-ahead"]
    assert "set by bump-clock at 0.000 s" in r.anomalies[0].explanation


def test_without_a_maximum_offset_one_bumped_clock_may_lead_every_node() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 5.0})
    s, _ = h.send("n1", "n2", 10, send={"ahead_ms": 5000}, max_offset_ms=0)
    h.local("n2", 20, l=s["l"], pt_ahead_ms=0, c=2)
    r = h.check()
    assert r.valid is True, r.anomalies


def test_with_a_maximum_offset_a_node_dragged_by_a_bumped_clock_is_too_far_ahead() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 5.0})
    s, _ = h.send("n1", "n2", 10, send={"ahead_ms": 5000})  # n2 enforces 500 ms: must refuse
    h.local("n2", 20, l=s["l"], pt_ahead_ms=0, c=2)
    r = h.check()
    assert r.valid is False
    assert set(names(r)) == {"l-too-far-ahead", "accepted-beyond-max-offset"}
    far = next(a for a in r.anomalies if a.name == "l-too-far-ahead")
    assert "n2's" in far.explanation and "its maximum offset is 500 ms" in far.explanation
    assert "refused" in far.explanation


# -- the maximum offset -----------------------------------------------------------------------


def test_a_refused_message_from_too_far_ahead_is_counted_not_reported() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 5.0})
    h.refused("n1", "n2", 10, ahead_ms=5000)
    h.refused("n3", "n2", 20, ahead_ms=0)  # within the maximum offset: needless
    h.send("n2", "n3", 30)
    r = h.check()
    assert r.valid is True, r.anomalies
    assert r.details["refusals"] == 2 and r.details["refusals-within-max-offset"] == 1


def test_a_message_accepted_from_beyond_the_maximum_offset_is_reported() -> None:
    h = History()
    h.clock("bump-clock", 0, {"n1": 0.8})
    h.send("n1", "n2", 10, send={"ahead_ms": 800})
    r = h.check()
    # accepting it took n2's l 800 ms ahead of its clock: beyond the 500 ms it may be
    assert names(r) == ["l-too-far-ahead", "accepted-beyond-max-offset"]
    a = r.anomalies[1]
    assert "n2 accepted message n1/b0/1 from n1" in a.explanation
    assert "799.500 ms ahead of its own clock" in a.explanation
    assert "maximum offset of 500 ms" in a.explanation
    assert a.data["ahead_ms"] == 799.5


# -- reports that disagree --------------------------------------------------------------------


def test_an_event_reported_twice_the_same_way_is_one_event() -> None:
    h = History()
    e = h.local("n1", 10)
    h.journal("n1", 100, [e])
    r = h.check()
    assert r.valid is True and r.details["events"] == 1


def test_an_event_reported_twice_with_different_stamps_is_inconsistent() -> None:
    h = History()
    e = h.local("n1", 10)
    h.journal("n1", 100, [{**e, "c": 4}])
    r = h.check()
    assert "inconsistent-reports" in names(r)


# -- the pieces -------------------------------------------------------------------------------


def test_clock_segments_run_from_the_setting_invocation_to_the_next_changes_completion() -> None:
    h = History()
    h.clock("bump-clock", 100, {"n1": 2.0, "n2": -1.0})
    h.clock("strobe-clock", 200, {"nodes": ["n1"], "offsets": {"n1": [2.0, 4.5]}})
    h.clock("reset-clock", 300, {"n1": 0.0, "n2": 0.0})
    segs = clock_segments(sorted(h.ops, key=lambda o: o.time))
    assert [(s.node, s.start, s.end, s.offset_ns) for s in segs] == [
        ("n1", 100_000_000, 201_000_000, 2_000_000_000),
        ("n1", 200_000_000, 301_000_000, 4_500_000_000),
    ]


def test_events_of_prefers_a_replys_report_to_the_journals() -> None:
    h = History()
    e = h.local("n1", 10)
    h.journal("n1", 100, [e])
    events, timed, conflicts = events_of(sorted(h.ops, key=lambda o: o.time))
    assert len(events) == 1 and events[0].direct and conflicts == []
    assert len(timed) == 1


def test_the_reach_index_finds_what_a_scan_of_every_clock_fault_finds() -> None:
    """How far ahead a clock may be at t: looked up per event in the index (bisection) gives
    the reach and the segment a scan of every segment gives, ties to the first segment."""
    import random

    from checkers.hlc import ClockSegment, _Reach, _reach

    rng = random.Random(5)
    for _ in range(200):
        segs = []
        for _ in range(rng.randint(0, 12)):
            start = rng.randint(0, 50)
            end = None if rng.random() < 0.3 else start + rng.randint(0, 30)
            offset = rng.choice([1, 5, 5, 10, 20, 30])
            segs.append(ClockSegment(rng.choice("abc"), start, end, offset, Op("ok", "x")))
        index = _Reach(segs)
        for _ in range(40):
            t, node = rng.randint(-5, 90), rng.choice([None, "a", "b", "c"])
            got, want = index.at(t, node), _reach(segs, t, node)
            assert got[0] == want[0] and got[1] is want[1], (segs, t, node)


def test_every_event_too_far_ahead_is_counted_and_the_reported_ones_explained(
    monkeypatch: Any,
) -> None:
    """A node 2 s ahead for 1,000 events, with a clock fault every ten: each event is
    counted, five explained (the first, then the furthest ahead)."""
    built = []
    real = HlcChecker._too_far

    def too_far(self: Any, *args: Any) -> Any:
        built.append(1)
        return real(self, *args)

    monkeypatch.setattr(HlcChecker, "_too_far", too_far)
    h = History()
    for i in range(1_000):
        if i % 10 == 0:
            h.clock("bump-clock", 10 * i + 1, {"n2": 0.05})
        h.local("n1", 10 * i + 5, ahead_ms=2000 + i)
    r = h.check()
    assert r.details["l-too-far-ahead-count"] == 1_000
    assert [a.name for a in r.anomalies] == ["l-too-far-ahead"] * 5
    assert len(built) == 5
    assert [a.data["lead_ms"] for a in r.anomalies][1:] == [2998, 2997, 2996, 2995]  # -1 ms: done
