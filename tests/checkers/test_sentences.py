"""Each checker explains an anomaly in plain words a person can act on: the node, the key, the
time (and, with the run's time zero, the wall clock, to find in that node's log) and the
values, and never the anomaly's own name again in front of the explanation."""

from __future__ import annotations

from typing import Any

from checkers.jepsen.bank import BankChecker
from checkers.linearizable import LinearizableChecker
from checkers.txn import ListAppendChecker
from harness.history import Op

MS = 1_000_000
ZERO = {"time_zero_ms": 1_767_225_600_000}  # 2026-01-01T00:00:00.000Z


def history(*steps: tuple[str, int, str, Any, str]) -> list[Op]:
    """(type, process, f, value, node) each, 10 ms apart."""
    return [
        Op(t, f, v, p, (i + 1) * 10 * MS, i, node) for i, (t, p, f, v, node) in enumerate(steps)
    ]


def test_a_stale_read_names_node_key_time_wall_clock_and_the_write_it_missed() -> None:
    h = history(
        ("invoke", 0, "write", ["k", 1], "n1"),
        ("ok", 0, "write", ["k", 1], "n1"),
        ("invoke", 0, "write", ["k", 3], "n1"),
        ("ok", 0, "write", ["k", 3], "n1"),
        ("invoke", 1, "read", ["k", None], "n2"),
        ("ok", 1, "read", ["k", 1], "n2"),
    )
    (a,) = LinearizableChecker("cas-register").check(h, ZERO).anomalies
    first = a.explanation.splitlines()[0]
    assert first == (
        "n2 (process 1) read 1 for key 'k' at 0.060 s (00:00:00.060Z), but write 3 on n1 "
        "had completed at 0.040 s (00:00:00.040Z): a stale read."
    )


def test_a_list_append_cycle_names_each_transactions_node_and_time_once_named() -> None:
    h = history(
        ("invoke", 0, "txn", [["append", "x", 1], ["r", "y", None]], "n1"),
        ("invoke", 1, "txn", [["append", "y", 1], ["r", "x", None]], "n2"),
        ("ok", 0, "txn", [["append", "x", 1], ["r", "y", [1]]], "n1"),
        ("ok", 1, "txn", [["append", "y", 1], ["r", "x", [1]]], "n2"),
    )
    r = ListAppendChecker(consistency_models=["read-committed"]).check(h, ZERO)
    (a,) = [a for a in r.anomalies if a.name == "G1c"]
    assert not a.explanation.startswith("G1c")  # the name is the anomaly's, not repeated
    assert "op 2 (process 0 on n1, ok at 0.030 s (00:00:00.030Z)): append x 1; r y [1]" in (
        a.explanation
    )
    assert "op 3 (process 1 on n2, ok at 0.040 s (00:00:00.040Z))" in a.explanation


def test_a_long_list_read_is_shown_by_its_ends_with_its_length() -> None:
    long = list(range(1, 41))
    h = history(
        ("invoke", 0, "txn", [["append", "x", 41], ["r", "y", None]], "n1"),
        ("invoke", 1, "txn", [["append", "y", 1], ["r", "x", None]], "n2"),
        ("ok", 0, "txn", [["append", "x", 41], ["r", "y", [1]]], "n1"),
        ("ok", 1, "txn", [["append", "y", 1], ["r", "x", [*long, 41]]], "n2"),
    )
    r = ListAppendChecker(consistency_models=["read-committed"]).check(h, {})
    text = "\n".join(a.explanation for a in r.anomalies)
    assert "[1, 2, 3, ... 34 more ..., 38, 39, 40, 41] (41 elements)" in text
    assert ", ".join(map(str, long)) not in text


def test_a_wrong_bank_read_names_its_node_time_and_the_transfers_in_flight() -> None:
    h = history(
        ("invoke", 0, "read", None, "n1"),
        ("ok", 0, "read", {"a": 5, "b": 5}, "n1"),
        ("invoke", 1, "transfer", {"from": "a", "to": "b", "amount": 2}, "n3"),
        ("invoke", 2, "read", None, "n2"),
        ("ok", 2, "read", {"a": 3, "b": 5}, "n2"),
        ("ok", 1, "transfer", {"from": "a", "to": "b", "amount": 2}, "n3"),
        ("invoke", 0, "read", None, "n1"),
        ("ok", 0, "read", {"a": 3, "b": 7}, "n1"),
    )
    r = BankChecker().check(h, ZERO)
    (wrong,) = [a for a in r.anomalies if a.name == "wrong-total"]
    assert wrong.explanation.startswith(
        "op 4 (process 2 on n2, at 0.050 s (00:00:00.050Z)) read balances that sum to 8, but "
        "transfers preserve the total, 10"
    )
    assert (
        "In flight during the read: op 2 (process 1 on n3, transfer of 2 from a to b, "
        "invoked at 0.030 s (00:00:00.030Z), acknowledged at 0.060 s (00:00:00.060Z))"
    ) in wrong.explanation
    assert [f["index"] for f in wrong.data["in_flight"]] == [2]  # the report draws it


def test_without_a_time_zero_the_sentences_give_the_relative_time_alone() -> None:
    h = history(
        ("invoke", 0, "write", 1, "n1"),
        ("ok", 0, "write", 1, "n1"),
        ("invoke", 1, "read", None, "n2"),
        ("ok", 1, "read", 2, "n2"),
    )
    (a,) = LinearizableChecker("cas-register").check(h, {}).anomalies
    first = a.explanation.splitlines()[0]
    assert first.startswith("n2 (process 1) read 2 at 0.040 s, but write 1 on n1")
    assert "Z)" not in first
