"""The plugin's own fast tests: the checker on small hand-written histories, the fault's
schedule. ``python3 -m pytest examples/splitbrain-nats/tests`` (no cluster needed)."""

from __future__ import annotations

import random

import pytest
from clusters.base import SetupError
from harness.history import Op
from harness.registry import parse_options

from splitbrain_nats import CHECKER, FAULT
from splitbrain_nats.checker import RevisionsChecker


def ok(process: int, f: str, value: list, revision: int) -> Op:
    return Op("ok", f, value, process=process, extra={"revision": revision})


def check(*ops: Op):
    return RevisionsChecker().check(list(ops), {})


def test_revisions_that_only_go_forward_are_valid():
    result = check(
        ok(0, "read", [1, None], 0),
        ok(0, "write", [1, 3], 5),
        ok(1, "read", [1, 3], 5),
        ok(0, "cas", [1, [3, 4]], 8),
        ok(0, "read", [1, 4], 8),
    )
    assert result.valid is True
    assert result.details["ops_with_revisions"] == 5


def test_a_read_older_than_what_the_process_saw_went_back():
    result = check(ok(0, "read", [1, 4], 8), ok(0, "read", [1, 3], 5))
    assert result.valid is False
    [anomaly] = result.anomalies
    assert anomaly.name == "revision-went-back"
    assert anomaly.data == {"process": 0, "key": 1, "revisions": [8, 5]}


def test_a_write_given_a_revision_the_process_already_saw_went_back():
    result = check(ok(0, "read", [1, 3], 5), ok(0, "write", [1, 2], 5))
    assert [a.name for a in result.anomalies] == ["revision-went-back", "revision-reused"]


def test_other_processes_and_other_keys_do_not_order_each_other():
    result = check(ok(0, "read", [1, 4], 8), ok(1, "read", [1, 3], 5), ok(0, "read", [2, 1], 2))
    assert result.valid is True


def test_one_revision_for_two_values_is_reused():
    result = check(ok(0, "write", [1, 3], 5), ok(1, "read", [1, 2], 5))
    assert [a.name for a in result.anomalies] == ["revision-reused"]
    assert result.anomalies[0].data == {"revision": 5}


def test_two_cas_over_one_revision_lost_an_update():
    first = Op("ok", "cas", [1, [3, 4]], process=0, extra={"revision": 9, "over": 5})
    second = Op("ok", "cas", [1, [3, 0]], process=1, extra={"revision": 10, "over": 5})
    result = check(ok(0, "write", [1, 3], 5), first, second)
    assert [a.name for a in result.anomalies] == ["two-updates-over-one-revision"]
    assert result.anomalies[0].data == {"key": 1, "over": 5, "revisions": [9, 10]}


def test_cas_each_over_the_revision_the_last_one_wrote_is_fine():
    result = check(
        Op("ok", "cas", [1, [3, 4]], process=0, extra={"revision": 9, "over": 5}),
        Op("ok", "cas", [1, [4, 0]], process=1, extra={"revision": 11, "over": 9}),
        Op("fail", "cas", [1, [4, 1]], process=2, extra={"revision": 11, "over": 9}),
    )
    assert result.valid is True


def test_failed_and_indeterminate_ops_are_not_evidence():
    history = [
        Op("fail", "cas", [1, [0, 1]], process=0, extra={"revision": 9}),
        Op("info", "write", [1, 2], process=0, error="timeout"),
    ]
    result = RevisionsChecker().check(history, {})
    assert result.valid == "unknown"


def test_the_checker_info_makes_the_checker():
    assert CHECKER.name == "nats-revisions"
    assert isinstance(CHECKER.make(parse_options(CHECKER.options, {}, "x")), RevisionsChecker)


def test_the_fault_takes_its_leaders_in_turn():
    options = parse_options(FAULT.options, {"of": ["meta", "stream"]}, "the nats-pause-leader")
    picks = [FAULT.pick(options, turn, random.Random(0), 3.0) for turn in range(3)]
    assert picks == [
        ("pause-nats-leader", "meta"),
        ("pause-nats-leader", "stream"),
        ("pause-nats-leader", "meta"),
    ]
    assert picks[0][0] in FAULT.starts


def test_the_fault_needs_the_nats_system():
    options = parse_options(FAULT.options, {}, "the nats-pause-leader fault")
    with pytest.raises(SetupError, match="needs the nats system"):
        FAULT.make(options, random.Random(0), object())
