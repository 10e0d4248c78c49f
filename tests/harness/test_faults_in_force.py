"""Which faults were in force when an anomaly's operations ran, read from the history alone."""

from __future__ import annotations

from harness.faults_in_force import Spans, at, faults
from harness.history import Op

S = 1_000_000_000
STARTS = {"start-partition": "partition", "kill": "kill"}
HEALS = {"partition": "stop-partition", "kill": "start"}


def _op(i: int, t: float, type_: str, f: str, value=None, process="nemesis") -> Op:
    return Op(type_, f, value, process, int(t * S), i)


def _history() -> list[Op]:
    return [
        _op(0, 1.0, "invoke", "start-partition", "majorities-ring"),
        _op(1, 1.1, "ok", "start-partition", {"shape": "majorities-ring", "primaries": ["n2"]}),
        _op(2, 2.0, "invoke", "read", None, 3),
        _op(3, 2.5, "ok", "read", 1, 3),
        _op(4, 4.0, "invoke", "stop-partition"),
        _op(5, 4.2, "ok", "stop-partition", "healed"),
        _op(6, 4.3, "invoke", "write", 2, 4),
        _op(7, 4.4, "ok", "write", 2, 4),
        _op(8, 6.0, "invoke", "kill", "majority"),
        _op(9, 6.1, "fail", "kill", None),
        _op(10, 7.0, "invoke", "kill", "majority"),
        _op(11, 7.1, "info", "kill", ["n1", "n2", "n4"]),
    ]


def test_a_fault_runs_from_its_start_invocation_to_its_heal_completion_with_its_targets() -> None:
    found = faults(_history(), STARTS, HEALS)
    assert [(f.label, f.start, f.end) for f in found] == [
        ("partition majorities-ring (n2)", 1 * S, int(4.2 * S)),
        ("kill majority (n1, n2, n4)", 7 * S, None),  # the failed kill put nothing in force
    ]


def test_an_operation_inside_a_fault_is_during_it() -> None:
    found = faults(_history(), STARTS, HEALS)
    when = at(found, 2 * S, int(2.5 * S))
    assert [f.kind for f in when.during] == ["partition"]
    assert when.sentence() == "during partition majorities-ring (n2) from 1.00 s to 4.20 s"


def test_an_operation_right_after_a_heal_names_the_fault_that_ended() -> None:
    found = faults(_history(), STARTS, HEALS)
    when = at(found, int(4.3 * S), int(4.4 * S))
    assert when.during == ()
    assert when.sentence() == "0.1 s after partition majorities-ring (n2) healed"
    assert when.to_dict()["after_s"] == 0.1


def test_a_fault_never_healed_lasts_to_the_end_and_nothing_before_the_first_is_empty() -> None:
    found = faults(_history(), STARTS, HEALS)
    assert "never healed" in at(found, 9 * S, 10 * S).sentence()
    assert at(found, 0, S // 2).sentence() == ""


def test_ops_named_only_by_name_start_x_and_stop_x_are_read_as_kind_x() -> None:
    h = [_op(0, 1, "invoke", "start-loss", 0.3), _op(1, 1, "ok", "start-loss", 0.3)]
    h += [_op(2, 3, "invoke", "stop-loss"), _op(3, 3.5, "ok", "stop-loss")]
    assert [(f.label, f.end) for f in faults(h, {}, {})] == [("loss 0.3", int(3.5 * S))]


def test_an_anomalys_window_reaches_from_the_invocation_to_the_completion() -> None:
    h = _history()
    spans = Spans(h)
    assert spans.window([h[3].to_dict()]) == (2 * S, int(2.5 * S))  # named by its completion
    assert spans.window([{"index": 6}]) == (int(4.3 * S), int(4.4 * S))
    assert spans.window([]) is None
