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


def ops(*spec: tuple[int, str, list[object]]) -> list[Op]:
    """Register ops that each complete before the next: (process, f, [key, value])."""
    out: list[Op] = []
    for process, f, value in spec:
        invoked = [value[0], None] if f == "read" else value
        out.append(Op("invoke", f, invoked, process, index=len(out), time=len(out)))
        out.append(Op("ok", f, value, process, index=len(out), time=len(out)))
    return out


CLAIM = {"system": "zookeeper", "promise": "in words", "models": ["sequential", "read-your-writes"]}


def test_the_models_a_system_claims_are_checked_one_by_one_and_the_note_says_which_held() -> None:
    # process 1 reads the value before process 0's write: stale, but sequential
    history = ops((0, "write", ["k", 1]), (1, "read", ["k", None]), (0, "read", ["k", 1]))
    result = PromisesChecker().check([*history, status(CLAIM)], {})
    assert result.valid is True and result.anomalies == []
    assert result.details["models"] == {"zookeeper": ["sequential", "read-your-writes"]}
    assert result.details["held"] == {"read-your-writes": True, "sequential": True}
    assert result.details["broken"] == []


def test_a_claimed_model_that_breaks_makes_the_note_invalid_with_the_anomaly() -> None:
    # process 0 writes 1 and then reads nothing: its own write is gone
    history = ops((0, "write", ["k", 1]), (0, "read", ["k", None]))
    result = PromisesChecker().check([*history, status(CLAIM)], {})
    assert result.valid is False
    assert result.details["held"] == {"read-your-writes": False, "sequential": False}
    assert result.details["broken"] == ["read-your-writes", "sequential"]
    assert "read-your-writes" in {a.name for a in result.anomalies}


def test_a_system_that_claims_no_model_is_a_note_whatever_its_history() -> None:
    history = ops((0, "write", ["k", 1]), (0, "read", ["k", None]))
    claim = {"system": "redis", "promise": "none", "models": []}
    result = PromisesChecker().check([*history, status(claim)], {})
    assert result.valid is True and result.anomalies == []
    assert result.details["models"] == {"redis": []}
    assert "held" not in result.details


def test_a_model_the_causal_checker_does_not_know_is_named_not_checked() -> None:
    claim = {"system": "x", "promise": "p", "models": ["linearizable", "monotonic-reads"]}
    result = PromisesChecker().check([*ops((0, "write", ["k", 1])), status(claim)], {})
    assert result.details["held"] == {"monotonic-reads": True}
    assert result.details["not-checked"].startswith("linearizable: not a model")


def test_a_broken_promise_is_explained_with_node_time_wall_clock_and_values() -> None:
    history = ops((0, "write", ["k", 1]), (0, "read", ["k", None]))
    for op in history:
        op.node, op.time = "n2", (op.index + 1) * 10_000_000  # 10 ms apart
    zero = {"time_zero_ms": 1_767_225_600_000}  # 2026-01-01T00:00:00.000Z
    result = PromisesChecker().check([*history, status(CLAIM)], zero)
    ryw = next(a for a in result.anomalies if a.name == "read-your-writes")
    assert ryw.explanation.startswith(
        "op 3 (process 0 on n2, ok at 0.040 s (00:00:00.040Z)) read key k = nil, but the same "
        "process had written key k before, in op 1 (process 0 on n2, ok at 0.020 s "
        "(00:00:00.020Z))"
    )


def test_the_anomalies_are_counted_in_full_once_per_kind() -> None:
    # process 0 writes 1, then reads nothing: twelve times over twelve keys
    history: list[Op] = []
    for k in range(12):
        history += ops((0, "write", [f"k{k}", 1]), (0, "read", [f"k{k}", None]))
    for i, op in enumerate(history):
        op.index = op.time = i
    result = PromisesChecker().check([*history, status(CLAIM)], {})
    assert result.valid is False
    found = result.details["found"]
    assert found["read-your-writes"] == 12 and found["sequential"] == 12
    assert len([a for a in result.anomalies if a.name == "read-your-writes"]) == 10
