"""The clocksync checker on hand-made histories: one valid and one invalid history per rule,
what the explanations say, and the cases it must not judge."""

from __future__ import annotations

from typing import Any

from checkers.clocksync import (
    CHECKER,
    ClockSyncChecker,
    ClockSyncCheckerOptions,
    faults_of,
    reports_of,
)
from harness.history import Op
from harness.registry import CheckerInfo, lookup

#: the true time (µs since the epoch) at history time 0
EPOCH_US = 1_800_000_000_000_000
S = 1_000_000_000  # one second of history time, ns


class History:
    """Ops appended in order, with their index; ``now`` answers and nemesis ops."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, op: Op) -> Op:
        op.index = len(self.ops)
        self.ops.append(op)
        return op

    def now(
        self,
        node: str,
        at: float,
        error_ms: float = 0.0,
        bound_ms: float | None = 5.0,
        process: int = 0,
        **value: Any,
    ) -> None:
        """Node ``node`` answers at ``at`` s (the request took 1 ms) with its clock
        ``error_ms`` off the true time and ``bound_ms`` (None: it vouches for nothing)."""
        t = int(at * S)
        lo, hi = EPOCH_US + t // 1000, EPOCH_US + t // 1000 + 1000
        v: dict[str, Any] = {"id": node, "hw_us": lo, "synced": bound_ms is not None}
        if bound_ms is None:
            v["why"] = "not synchronized yet"
        else:
            v.update(
                time_us=lo + 500 + int(error_ms * 1000),
                bound_us=int(bound_ms * 1000),
                age_ms=100.0,
                sync={"sources": ["n1", "n2", "n3"], "answered": 2, "rtt_ms": 1.5},
            )
        v.update(value)
        inv = self.add(Op("invoke", "now", None, process=process, time=t))
        self.add(_done(inv, v, lo, hi))

    def nemesis(self, f: str, value: Any, at: float) -> None:
        t = int(at * S)
        inv = self.add(Op("invoke", f, None, process="nemesis", time=t))
        done = inv.complete("ok", value)
        done.time = t + 1000
        self.add(done)


def _done(inv: Op, value: dict[str, Any], lo: int, hi: int) -> Op:
    done = inv.complete("ok", value, extra={"true_us": [lo, hi]})
    done.time = inv.time + 1_000_000
    return done


def check(h: History, **options: Any) -> Any:
    return ClockSyncChecker(ClockSyncCheckerOptions(**options)).check(h.ops, {})


def steady(h: History, nodes: tuple[str, ...], start: float, end: float, **kw: Any) -> None:
    """Each node answers honestly every 100 ms from ``start`` to ``end``."""
    t = start
    while t < end:
        for i, n in enumerate(nodes):
            h.now(n, t, process=i, **kw)
        t = round(t + 0.1, 3)


def test_a_history_whose_every_bound_holds_is_valid() -> None:
    h = History()
    steady(h, ("n1", "n2", "n3"), 0.0, 3.0, error_ms=4.0, bound_ms=5.0)
    result = check(h)
    assert result.valid is True, [a.explanation for a in result.anomalies]
    d = result.details
    assert d["synced"] == d["reports"] == 90
    assert d["largest-error-ms"] == 3.5  # 4 ms off the middle, 3.5 off the nearest true time
    assert d["least-margin-ms"] == 1.5
    assert d["nodes"]["n2"]["median-bound-ms"] == 5.0


def test_a_clock_further_off_than_its_bound_is_bound_violated_with_the_delay_in_force() -> None:
    h = History()
    steady(h, ("n1", "n2"), 0.0, 1.0)
    h.nemesis(
        "start-delay",
        {"nodes": ["n1", "n2"], "latency_ms": 100, "jitter_ms": 2, "method": {}},
        1.0,
    )
    h.now("n2", 1.5, error_ms=-100.0, bound_ms=2.0)  # 100 ms behind, vouching for 2
    h.nemesis("stop-delay", "healed", 2.0)
    steady(h, ("n1", "n2"), 2.1, 3.0)
    result = check(h)
    assert result.valid is False
    (a,) = result.anomalies
    assert a.name == "bound-violated"
    assert a.data["node"] == "n2" and a.data["error_ms"] == -99.5
    assert a.data["beyond_ms"] == 97.5
    assert "at least 99.500 ms behind the true time, 97.500 ms beyond the bound" in a.explanation
    assert "delay on n1, n2 (100 ± 2 ms) since 1.000 s" in a.explanation
    assert "half the round trip" in a.explanation
    assert [op["f"] for op in a.ops] == ["now", "now"]


def test_slack_and_the_span_of_the_request_are_given_to_the_node() -> None:
    h = History()
    # 5.9 ms off the middle, 5.4 ms off the nearest true time: within 5 ms + 1 ms of slack
    h.now("n1", 0.0, error_ms=5.9, bound_ms=5.0)
    assert check(h).valid is True
    assert check(h, slack_us=0).valid is False


def test_a_lying_source_and_a_drifting_clock_are_named_with_what_they_suggest() -> None:
    h = History()
    h.nemesis("bump-clock", {"n3": 2.0}, 0.5)
    h.now("n1", 0.6, error_ms=2000.0, bound_ms=3.0)
    h.nemesis("reset-clock", {"n1": 0.0, "n2": 0.0, "n3": 0.0}, 1.0)
    h.nemesis("start-drift", {"n2": {"rate": 1.08, "offset": 0.0, "processes": 1}}, 1.5)
    h.now("n2", 1.9, error_ms=20.0, bound_ms=3.0)
    h.nemesis("stop-drift", {"n2": {"rate": 1.0, "reached": 0.04, "offset": 0.0}}, 2.0)
    texts = {a.data["node"]: a.explanation for a in check(h).anomalies}
    assert "clock offsets n3 +2.000 s since 0.500 s" in texts["n1"]
    assert "never trusted alone" in texts["n1"]
    assert "clock drift: n2 at x1.08" in texts["n2"]
    assert "grow by the maximum drift" in texts["n2"]


def test_an_error_within_the_round_trip_it_rested_on_points_at_the_round_trip() -> None:
    h = History()
    slow = {"sources": ["n1", "n2", "n3"], "answered": 2, "rtt_ms": 18.6}
    h.now("n1", 0.5, error_ms=-15.0, bound_ms=5.0, sync=slow)  # no fault in force
    (a,) = check(h).anomalies
    assert "No fault was in force." in a.explanation
    assert "within the slowest round trip its last round rested on (18.6 ms)" in a.explanation


def test_each_rule_reports_its_first_anomaly_then_its_worst() -> None:
    h = History()
    h.now("n1", 0.1, error_ms=10.0, bound_ms=2.0)  # the first, 7.5 ms beyond
    for i in range(8):
        h.now("n2", 0.2 + i / 10, error_ms=100.0 + i, bound_ms=2.0)
    result = check(h, max_reports=3)
    assert result.details["anomaly-counts"] == {"bound-violated": 9}
    beyond = [a.data["beyond_ms"] for a in result.anomalies]
    assert beyond == [7.5, 104.5, 103.5]


def test_a_node_that_vouches_again_soon_after_a_heal_has_recovered() -> None:
    h = History()
    steady(h, ("n1", "n2"), 0.0, 1.0)
    h.nemesis("start-partition", {"shape": "one", "grudge": {"n1": ["n2"]}}, 1.0)
    steady(h, ("n1",), 1.1, 2.0, bound_ms=None)  # cut off: vouches for nothing
    steady(h, ("n2",), 1.1, 2.0)
    h.nemesis("stop-partition", "healed", 2.0)
    steady(h, ("n2",), 2.1, 3.6)
    steady(h, ("n1",), 2.1, 2.5, bound_ms=None)
    steady(h, ("n1",), 2.5, 3.6, bound_ms=8.0)
    result = check(h)
    assert result.valid is True, [a.explanation for a in result.anomalies]
    rec = result.details["recoveries"]
    assert rec["judged"] == 4 and rec["recovered"] == 4  # the start and the heal, two nodes
    assert 0.5 <= rec["slowest-s"] < 0.6


def test_a_node_that_does_not_vouch_again_within_the_time_is_not_recovered() -> None:
    h = History()
    steady(h, ("n1", "n2"), 0.0, 1.0)
    h.nemesis("start-drift", {"n1": {"rate": 1.05, "offset": 0.0, "processes": 1}}, 1.0)
    h.nemesis("stop-drift", {"n1": {"rate": 1.0, "reached": 0.05, "offset": 0.0}}, 2.0)
    steady(h, ("n2",), 2.1, 3.6)
    steady(h, ("n1",), 2.1, 3.6, bound_ms=300.0)  # honest, but never back under 100 ms
    result = check(h)
    assert result.valid is False
    (a,) = result.anomalies
    assert a.name == "not-recovered" and a.data["node"] == "n1"
    assert "after the stop-drift at 2.000 s" in a.explanation
    assert "vouching for ± 300.000 ms" in a.explanation
    # with a looser promise it is valid
    assert check(h, max_bound_ms=400).valid is True


def test_windows_cut_short_or_unanswered_are_not_judged() -> None:
    h = History()
    steady(h, ("n1", "n2"), 0.0, 1.0)
    h.nemesis("stop-delay", "healed", 1.0)
    h.nemesis("start-delay", {"nodes": ["n1"], "latency_ms": 50, "jitter_ms": 0}, 1.5)
    steady(h, ("n1",), 1.6, 3.0, bound_ms=None)  # a fault came 0.5 s after the heal
    h.nemesis("stop-delay", "healed", 3.0)
    steady(h, ("n2",), 3.1, 4.5)  # n1 does not answer at all after this heal
    result = check(h)
    assert result.valid is True, [a.explanation for a in result.anomalies]
    rec = result.details["recoveries"]
    assert rec["windows-cut-short"] >= 1 and rec["unanswered"] >= 1


def test_a_history_with_no_vouched_time_is_unknown() -> None:
    h = History()
    steady(h, ("n1",), 0.0, 0.5, bound_ms=None)
    result = check(h)
    assert result.valid == "unknown"
    assert "nothing to check" in result.details["reason"]


def test_reports_and_faults_are_read_from_the_history() -> None:
    h = History()
    h.now("n1", 0.1, bound_ms=None)
    h.now("n2", 0.2)
    h.nemesis("start-delay", {"nodes": ["n1"], "latency_ms": 5, "jitter_ms": 1}, 0.3)
    h.nemesis("start-delay", {"nodes": ["n2"], "latency_ms": 5, "jitter_ms": 1}, 0.4)
    h.nemesis("kill", ["n3"], 0.5)
    h.nemesis("start", ["n3"], 0.6)
    reports = reports_of(h.ops)
    assert [(r.node, r.synced) for r in reports] == [("n1", False), ("n2", True)]
    faults = faults_of(h.ops)
    assert [(f.kind, f.nodes, f.end is not None) for f in faults] == [
        ("delay", ["n1"], True),  # replaced by the next delay
        ("delay", ["n2"], False),
        ("kill", ["n3"], True),
    ]
    assert lookup(CheckerInfo, "clocksync", "checker") is CHECKER


def test_every_violation_is_counted_and_only_the_reported_ones_are_explained(
    monkeypatch: Any,
) -> None:
    """A clock 20 ms off all run long, 2,000 answers: each breaks its 5 ms bound, and each
    heal is judged against the answers of its window alone."""
    built: list[str] = []
    for name in ("_violated", "_not_recovered"):
        real = getattr(ClockSyncChecker, name)

        def counting(self: Any, *args: Any, _real: Any = real, _name: str = name) -> Any:
            built.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(ClockSyncChecker, name, counting)
    h = History()
    for i in range(2_000):
        if i % 100 == 0:
            h.nemesis("bump-clock", {"n1": 0.02}, i / 100)
        if i % 100 == 50:
            h.nemesis("reset-clock", None, i / 100)
        h.now("n1", i / 100 + 0.001, error_ms=20.0)
        h.now("n2", i / 100 + 0.002, bound_ms=None)
    options = ClockSyncCheckerOptions(recover_s=0.2, max_reports=5)
    r = ClockSyncChecker(options).check(h.ops, {})
    assert r.details["anomaly-counts"] == {"bound-violated": 2_000, "not-recovered": 42}
    assert r.details["recoveries"]["judged"] == 42  # the start and 20 resets, 2 nodes each
    assert sorted(built) == ["_not_recovered"] * 5 + ["_violated"] * 5
