"""The promises note: what each system's status said it promises, never a verdict."""

from __future__ import annotations

from checkers.promises import CHECKER, PromisesChecker
from harness.history import Op
from harness.registry import NoOptions


def status(value: object, type_: str = "ok") -> Op:
    return Op(type_, "status", value, 0)


def test_the_note_keeps_each_systems_first_promise_and_stays_valid() -> None:
    history = [
        status({"system": "etcd", "promise": "linearizable"}),
        status({"system": "etcd", "promise": "later, ignored"}),
        status({"system": "redis", "promise": "asynchronous"}),
        status({"system": "zookeeper", "promise": "not seen"}, "fail"),
    ]
    result = CHECKER.make(NoOptions()).check(history, {})
    assert result.valid is True and result.anomalies == []
    assert result.details == {"promises": {"etcd": "linearizable", "redis": "asynchronous"}}


def test_with_no_status_the_note_says_so() -> None:
    result = PromisesChecker().check([status(None), Op("ok", "read", [1, 2], 0)], {})
    assert result.valid is True
    assert result.details == {"promise": "no node reported what its system promises"}
