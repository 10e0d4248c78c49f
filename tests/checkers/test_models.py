"""Each sequential model: its steps, its initial state, and that the checker uses it by name."""

from __future__ import annotations

from typing import Any

import pytest

from checkers.linearizable import ILLEGAL, MODELS, UNKNOWN, Branch, LinearizableChecker, Model
from checkers.linearizable.models import freeze
from harness.history import Op


def step(name: str, state: Any, f: str, input: Any = None, output: Any = None) -> Any:
    return MODELS[name].step(state, f, freeze(input), freeze(output))


def history(*pairs: tuple[int, str, Any, str, Any]) -> list[Op]:
    """Sequential ops: (process, f, invoke value, completion type, completion value)."""
    ops: list[Op] = []
    for p, f, v, t, out in pairs:
        ops.append(Op("invoke", f, v, p))
        ops.append(Op(t, f, out, p))
    for i, op in enumerate(ops):
        op.index = op.time = i
    return ops


def test_every_model_the_design_names_is_registered() -> None:
    assert set(MODELS) >= {
        "register",
        "cas-register",
        "kv",
        "multi-register",
        "mutex",
        "set",
        "fifo-queue",
        "unordered-queue",
    }
    for name, model in MODELS.items():
        assert model.name == name


def test_a_register_reads_what_was_last_written() -> None:
    assert step("register", None, "write", 3) == 3
    assert step("register", 3, "read", None, 3) == 3
    assert step("register", 3, "read", None, 4) is ILLEGAL
    assert step("register", None, "read", None, None) is None
    assert step("register", 3, "read", None, UNKNOWN) == 3


def test_a_register_compares_list_values_as_values() -> None:
    state = step("register", None, "write", [1, 2])
    assert step("register", state, "read", None, [1, 2]) == (1, 2)


def test_a_cas_swaps_only_when_the_register_holds_the_expected_value() -> None:
    assert step("cas-register", 1, "cas", [1, 2], True) == 2
    assert step("cas-register", 3, "cas", [1, 2], True) is ILLEGAL


def test_a_cas_that_found_the_compare_false_needs_another_value_and_changes_nothing() -> None:
    assert step("cas-register", 3, "cas", [1, 2], False) == 3
    assert step("cas-register", 1, "cas", [1, 2], False) is ILLEGAL


def test_a_cas_with_unknown_outcome_swaps_if_it_can_and_is_otherwise_harmless() -> None:
    assert step("cas-register", 1, "cas", [1, 2], UNKNOWN) == 2
    assert step("cas-register", 3, "cas", [1, 2], UNKNOWN) == 3


def test_the_cas_register_reads_the_result_flag_of_a_completion() -> None:
    model = MODELS["cas-register"]
    assert model.output is not None
    done = Op("ok", "cas", [1, 2], 0, extra={"result": False})
    assert model.output("cas", (1, 2), done) is False
    assert model.output("cas", (1, 2), Op("ok", "cas", [1, 2], 0)) is True
    assert model.read_only("cas", (1, 2), False)
    assert not model.read_only("cas", (1, 2), True)


def test_kv_appends_puts_and_gets_strings_of_one_key() -> None:
    assert step("kv", "", "append", ["k", "a"]) == "a"
    assert step("kv", "a", "append", ["k", "b"]) == "ab"
    assert step("kv", "ab", "put", ["k", "z"]) == "z"
    assert step("kv", "z", "get", ["k", None], ["k", "z"]) == "z"
    assert step("kv", "z", "get", ["k", None], ["k", "a"]) is ILLEGAL


def test_kv_reads_a_missing_key_as_the_empty_string() -> None:
    assert step("kv", "", "get", ["k", None], ["k", None]) == ""
    assert step("kv", "", "get", ["k", None], ["k", ""]) == ""


def test_kv_partitions_by_key() -> None:
    model = MODELS["kv"]
    assert model.partition is not None
    assert model.partition("get", ("x", None), None) == "x"
    h = history(
        (0, "put", ["a", "1"], "ok", ["a", "1"]),
        (1, "put", ["b", "2"], "ok", ["b", "2"]),
        (0, "get", ["a", None], "ok", ["a", "1"]),
    )
    res = LinearizableChecker("kv").check(h, {})
    assert res.valid is True
    assert set(res.details["keys"]) == {"a", "b"}


def test_a_multi_register_transaction_reads_its_own_and_earlier_writes() -> None:
    s0 = MODELS["multi-register"].init(None)
    s1 = step("multi-register", s0, "txn", [["w", "x", 1], ["w", "y", 2]], None)
    assert s1 != ILLEGAL
    txn = [["r", "x", None], ["r", "y", None]]
    assert step("multi-register", s1, "txn", txn, [["r", "x", 1], ["r", "y", 2]]) == s1
    assert step("multi-register", s1, "txn", txn, [["r", "x", 1], ["r", "y", 3]]) is ILLEGAL
    assert step("multi-register", s0, "txn", [["r", "z", None]], [["r", "z", None]]) == s0


def test_a_multi_register_transaction_with_unknown_outcome_still_writes() -> None:
    s0 = MODELS["multi-register"].init(None)
    s1 = step("multi-register", s0, "txn", [["r", "x", None], ["w", "x", 5]], UNKNOWN)
    assert dict(s1) == {"x": 5}


def test_a_mutex_cannot_be_acquired_twice_or_released_when_free() -> None:
    assert step("mutex", False, "acquire") is True
    assert step("mutex", True, "acquire") is ILLEGAL
    assert step("mutex", True, "release") is False
    assert step("mutex", False, "release") is ILLEGAL


def test_two_acquires_in_a_row_are_not_linearizable() -> None:
    h = history((0, "acquire", None, "ok", None), (1, "acquire", None, "ok", None))
    assert LinearizableChecker("mutex").check(h, {}).valid is False


def test_a_set_reads_every_element_added() -> None:
    s = step("set", frozenset(), "add", 1)
    s = step("set", s, "add", 2)
    assert step("set", s, "read", None, [2, 1]) == frozenset({1, 2})
    assert step("set", s, "read", None, [1]) is ILLEGAL


def test_a_fifo_queue_dequeues_in_order_and_nil_when_empty() -> None:
    s = step("fifo-queue", (), "enqueue", 1)
    s = step("fifo-queue", s, "enqueue", 2)
    assert step("fifo-queue", s, "dequeue", None, 2) is ILLEGAL
    assert step("fifo-queue", s, "dequeue", None, 1) == (2,)
    assert step("fifo-queue", (), "dequeue", None, None) == ()
    assert step("fifo-queue", s, "dequeue", None, None) is ILLEGAL
    assert step("fifo-queue", s, "dequeue", None, UNKNOWN) == (2,)


def test_an_unordered_queue_dequeues_any_element_once() -> None:
    s = step("unordered-queue", (), "enqueue", 1)
    s = step("unordered-queue", s, "enqueue", 2)
    assert step("unordered-queue", s, "dequeue", None, 2) == (1,)
    assert step("unordered-queue", s, "dequeue", None, 3) is ILLEGAL


def test_an_unknown_dequeue_from_an_unordered_queue_branches_over_what_it_took() -> None:
    s = step("unordered-queue", (), "enqueue", 1)
    s = step("unordered-queue", s, "enqueue", 2)
    out = step("unordered-queue", s, "dequeue", None, UNKNOWN)
    assert type(out) is Branch
    assert set(out) == {(1,), (2,)}


def test_an_unknown_dequeue_may_have_taken_the_element_a_later_dequeue_misses() -> None:
    # Enqueue 1 and 2; a dequeue times out; a later dequeue gets 2 and the next finds the
    # queue empty: valid only because the timed-out dequeue may have taken 1.
    h = history(
        (0, "enqueue", 1, "ok", 1),
        (0, "enqueue", 2, "ok", 2),
        (1, "dequeue", None, "info", None),
        (2, "dequeue", None, "ok", 2),
        (2, "dequeue", None, "ok", None),
    )
    assert LinearizableChecker("unordered-queue").check(h, {}).valid is True
    # Without the timed-out dequeue, 1 is still there.
    h = history(
        (0, "enqueue", 1, "ok", 1),
        (0, "enqueue", 2, "ok", 2),
        (2, "dequeue", None, "ok", 2),
        (2, "dequeue", None, "ok", None),
    )
    assert LinearizableChecker("unordered-queue").check(h, {}).valid is False


def test_a_fifo_queue_is_not_an_unordered_one() -> None:
    h = history(
        (0, "enqueue", 1, "ok", 1), (0, "enqueue", 2, "ok", 2), (1, "dequeue", None, "ok", 2)
    )
    assert LinearizableChecker("unordered-queue").check(h, {}).valid is True
    assert LinearizableChecker("fifo-queue").check(h, {}).valid is False


@pytest.mark.parametrize(
    ("name", "initial", "state"),
    [
        ("register", 0, 0),
        ("cas-register", [1, 2], (1, 2)),
        ("kv", None, ""),
        ("kv", "x", "x"),
        ("set", [1, 2], frozenset({1, 2})),
        ("fifo-queue", [1, 2], (1, 2)),
        ("mutex", None, False),
    ],
)
def test_initial_gives_each_model_its_first_state(name: str, initial: Any, state: Any) -> None:
    assert MODELS[name].with_initial(initial).init(None) == state


def test_a_register_starting_at_zero_reads_zero_before_any_write() -> None:
    h = history((0, "read", None, "ok", 0))
    assert LinearizableChecker("register", initial=0).check(h, {}).valid is True
    assert LinearizableChecker("register").check(h, {}).valid is False


def test_a_user_model_added_to_the_registry_is_used_by_name() -> None:
    def counter_step(state: int, f: str, input: Any, output: Any) -> Any:
        if f == "add":
            return state + input
        if f == "read":
            return state if output is UNKNOWN or output == state else ILLEGAL
        return ILLEGAL

    MODELS["test-counter"] = Model(
        "test-counter",
        counter_step,
        init=lambda v: v or 0,
        fs=frozenset({"add", "read"}),
        reads=frozenset({"read"}),
    )
    try:
        good = history((0, "add", 2, "ok", 2), (1, "read", None, "ok", 2))
        bad = history((0, "add", 2, "ok", 2), (1, "read", None, "ok", 3))
        assert LinearizableChecker("test-counter").check(good, {}).valid is True
        assert LinearizableChecker("test-counter").check(bad, {}).valid is False
    finally:
        del MODELS["test-counter"]


def test_an_unknown_model_name_is_refused_with_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="cas-register"):
        LinearizableChecker("no-such-model")


def test_descriptions_say_what_an_operation_did() -> None:
    describe = MODELS["cas-register"].describe_op
    assert describe("write", 3, 3) == "write 3"
    assert describe("read", None, 1) == "read 1"
    assert describe("cas", (1, 2), True) == "cas 1->2"
    assert describe("cas", (1, 2), False) == "cas 1->2 (compare failed)"
    assert "unknown" in describe("cas", (1, 2), UNKNOWN)
