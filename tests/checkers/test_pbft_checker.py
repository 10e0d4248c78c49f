"""The pbft checker on hand-made histories: replicas that agree are valid; two requests at one
sequence number, or one request that changed the state twice, are caught and explained with
the client ops involved; no report at all is unknown."""

from __future__ import annotations

from typing import Any

from checkers.pbft import PbftChecker, liars, reports
from harness.history import NEMESIS, Op

X = ["c1", 1]
Y = ["c2", 1]


def client_op(index: int, t: float, request: list[Any], value: Any = 3) -> list[Op]:
    """A write's invocation and completion, at ``t`` seconds, naming its request."""
    inv = Op("invoke", "write", [1, value], process=0, time=int(t * 1e9), index=index)
    done = Op("ok", "write", [1, value], process=0, time=int((t + 0.1) * 1e9), index=index + 1,
              extra={"request": request})  # fmt: skip
    return [inv, done]


def report(node: str, committed: list[list[Any]], executed: list[list[Any]], t: float = 30) -> Op:
    value = {"id": node, "view": 0, "low": 0, "last_exec": len(executed),
             "committed": committed, "executed": executed, "installs": []}  # fmt: skip
    return Op("ok", "log", value, process=1, time=int(t * 1e9), index=100)


def lie(node: str, mode: str, t: float) -> Op:
    value = {"nodes": [node], "mode": mode, "target": "one"}
    return Op("ok", "start-byzantine", value, process=NEMESIS, time=int(t * 1e9))


def agreeing(node: str) -> Op:
    return report(
        node, [[1, 0, "dx", *X], [2, 0, "dy", *Y]], [[1, "dx", *X, True], [2, "dy", *Y, True]]
    )


def test_replicas_that_committed_and_executed_the_same_requests_are_valid() -> None:
    history = [*client_op(0, 1, X), *client_op(2, 2, Y), *(agreeing(n) for n in ("n1", "n2", "n3"))]
    result = PbftChecker().check(history, {})
    assert result.valid is True, result.anomalies
    assert result.details["replicas-reported"] == ["n1", "n2", "n3"]
    assert result.details["sequence-numbers"] == 2


def test_two_requests_committed_at_one_number_are_a_conflicting_commit() -> None:
    odd = report("n4", [[1, 0, "dx", *X], [2, 0, "dz", "liar", 2]], [[1, "dx", *X, True]])
    history = [lie("n2", "equivocate", 0.5), *client_op(0, 1, X), *client_op(2, 2, Y),
               agreeing("n1"), agreeing("n2"), odd]  # fmt: skip
    result = PbftChecker().check(history, {})
    assert result.valid is False
    [a] = result.anomalies
    assert a.name == "conflicting-commit" and a.data["seq"] == 2
    assert a.data["digests"] == {"dy": ["n1", "n2"], "dz": ["n4"]}
    assert a.data["replicas-that-lied"] == ["n2"]
    assert "sequence number 2" in a.explanation and "request 2 of liar" in a.explanation
    assert "n2 lied during the run" in a.explanation
    # the evidence is the client's op of the real request at that number, at 2.1 s
    assert [op["time"] for op in a.ops] == [int(2.1e9)]


def test_a_null_request_where_others_committed_one_is_a_conflict_too() -> None:
    nulled = report("n3", [[1, 1, "null", None, None]], [[1, "null", None, None, False]])
    history = [*client_op(0, 1, X), agreeing("n1"), nulled]
    [a] = PbftChecker().check(history, {}).anomalies
    assert a.name == "conflicting-commit" and "a null request" in a.explanation


def test_a_request_that_changed_the_state_at_two_numbers_was_executed_twice() -> None:
    twice = report("n1", [], [[1, "dx", *X, True], [5, "dx", *X, True]])
    result = PbftChecker().check([*client_op(0, 1, X), twice], {})
    assert result.valid is False
    [a] = [a for a in result.anomalies if a.name == "executed-twice"]
    assert a.data == {"client": "c1", "rid": 1, "at": {"1": ["n1"], "5": ["n1"]}}
    assert "request 1 of c1" in a.explanation


def test_a_duplicate_executed_without_effect_is_fine() -> None:
    dup = report("n1", [], [[1, "dx", *X, True], [5, "dx", *X, False]])
    # the same digest at 1 and 5 on one replica; number 5 has only that digest: no conflict
    assert PbftChecker().check([dup], {}).valid is True


def test_no_report_at_all_is_unknown_and_the_lies_are_listed() -> None:
    history = [lie("n3", "silence", 4.0), *client_op(0, 1, X)]
    result = PbftChecker().check(history, {})
    assert result.valid == "unknown"
    assert result.details["lies"] == [{"nodes": ["n3"], "mode": "silence", "time": int(4e9)}]
    assert liars(history) == result.details["lies"] and reports(history) == {}
