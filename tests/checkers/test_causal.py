"""The causality checker (checkers.causal): for every guarantee one valid and one invalid
hand-made history, the issue's examples, and a client that moves between nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checkers.causal import CausalChecker
from checkers.txn import ListAppendChecker
from harness.history import Op


def H(*ops: tuple[Any, ...]) -> list[Op]:
    """A history of ops that each complete before the next is invoked: (process, f, value
    completed, node?) tuples; a txn's invocation carries its micro-ops with reads unknown."""
    out: list[Op] = []
    for proc, f, value, *rest in ops:
        node = rest[0] if rest else None
        inv = value
        if f == "txn":
            inv = [[m[0], m[1], None] if m[0] == "r" else m for m in value]
        elif f == "read":
            inv = [value[0], None] if isinstance(value, list) else None
        out.append(Op("invoke", f, inv, proc, len(out), len(out), node))
        out.append(Op("ok", f, value, proc, len(out), len(out), node))
    return out


def check(history: list[Op], *models: str) -> Any:
    return CausalChecker(list(models), time_budget_s=30).check(history, {})


def txn(*mops: Any) -> list[Any]:
    return [list(m) for m in mops]


# The example: process 0 appends 1 to x, then reads x = [].
RYW_BAD = H((0, "txn", txn(("append", "x", 1))), (0, "txn", txn(("r", "x", []))))
RYW_OK = H((0, "txn", txn(("append", "x", 1))), (0, "txn", txn(("r", "x", [1]))))


def test_a_read_that_misses_its_own_append_breaks_read_your_writes_and_causal() -> None:
    for model in ("read-your-writes", "causal"):
        r = check(RYW_BAD, model)
        assert r.valid is False, model
        assert [a.name for a in r.anomalies] == ["read-your-writes"]
        text = r.anomalies[0].explanation
        assert "op 3 (process 0)" in text and "op 1 (process 0)" in text
        assert "own write" in text
    assert check(RYW_BAD, "monotonic-writes").valid is True
    elle = ListAppendChecker(["strict-serializable"]).check(RYW_BAD, {})
    assert elle.valid is False


def test_reading_ones_own_append_satisfies_read_your_writes() -> None:
    assert check(RYW_OK, "read-your-writes").valid is True
    assert check(RYW_OK, "sequential").valid is True


# A stale read by another process with no causal link: causal, not strict serializable.
STALE = H((0, "txn", txn(("append", "x", 1))), (1, "txn", txn(("r", "x", []))))


def test_a_stale_read_by_an_unrelated_process_is_causal_but_not_strict_serializable() -> None:
    assert check(STALE, "causal").valid is True
    assert ListAppendChecker(["strict-serializable"]).check(STALE, {}).valid is False


MR_BAD = H((1, "txn", txn(("append", "x", 1))), (0, "txn", txn(("r", "x", [1]))),
           (0, "txn", txn(("r", "x", []))))  # fmt: skip
MR_OK = H((1, "txn", txn(("append", "x", 1))), (0, "txn", txn(("r", "x", []))),
          (0, "txn", txn(("r", "x", [1]))))  # fmt: skip


def test_monotonic_reads_seen_through_a_second_process() -> None:
    r = check(MR_BAD, "monotonic-reads")
    assert r.valid is False and [a.name for a in r.anomalies] == ["monotonic-reads"]
    assert "went back in time" in r.anomalies[0].explanation
    assert check(MR_OK, "monotonic-reads").valid is True
    assert check(MR_BAD, "read-your-writes").valid is True  # not its own write


MW_BAD = H((0, "txn", txn(("append", "x", 1))), (0, "txn", txn(("append", "x", 2))),
           (1, "txn", txn(("r", "x", [2, 1]))))  # fmt: skip
MW_OK = H((0, "txn", txn(("append", "x", 1))), (0, "txn", txn(("append", "x", 2))),
          (1, "txn", txn(("r", "x", [1, 2]))))  # fmt: skip


def test_monotonic_writes() -> None:
    r = check(MW_BAD, "monotonic-writes")
    assert r.valid is False and r.anomalies[0].name == "monotonic-writes"
    assert check(MW_OK, "monotonic-writes").valid is True


# Process 0 reads x = [1] (written by process 1), then appends 2 to y; process 2 sees y's 2
# but not x's 1 in one transaction.
WFR_BAD = H((1, "txn", txn(("append", "x", 1))), (0, "txn", txn(("r", "x", [1]))),
            (0, "txn", txn(("append", "y", 2))),
            (2, "txn", txn(("r", "y", [2]), ("r", "x", []))))  # fmt: skip
WFR_OK = H((1, "txn", txn(("append", "x", 1))), (0, "txn", txn(("r", "x", [1]))),
           (0, "txn", txn(("append", "y", 2))),
           (2, "txn", txn(("r", "y", [2]), ("r", "x", [1]))))  # fmt: skip


def test_writes_follow_reads_seen_through_a_second_process() -> None:
    r = check(WFR_BAD, "writes-follow-reads")
    assert r.valid is False and r.anomalies[0].name == "writes-follow-reads"
    assert "process 2" in r.anomalies[0].explanation
    assert check(WFR_OK, "writes-follow-reads").valid is True
    assert check(WFR_BAD, "PRAM").valid is True  # PRAM does not carry reads over
    assert check(WFR_BAD, "causal").valid is False


def test_writes_follow_reads_whatever_order_the_processes_first_appear_in() -> None:
    # WFR_BAD with the reader's process (2) first in the history: what the writer's process
    # (0) had read is known although process 0 first appears after process 2.
    bad = H(
        (2, "txn", txn(("r", "z", []))),
        (1, "txn", txn(("append", "x", 1))),
        (0, "txn", txn(("r", "x", [1]))),
        (0, "txn", txn(("append", "y", 2))),
        (2, "txn", txn(("r", "y", [2]), ("r", "x", []))),
    )
    r = check(bad, "writes-follow-reads")
    assert r.valid is False and [a.name for a in r.anomalies] == ["writes-follow-reads"]
    assert "op 9 (process 2)" in r.anomalies[0].explanation
    assert "whose process had read key x in op 5 (process 0)" in r.anomalies[0].explanation


# Process 2 sees process 0's second write (on y), then misses its first (on x).
PRAM_BAD = H((0, "txn", txn(("append", "x", 1))), (0, "txn", txn(("append", "y", 2))),
             (2, "txn", txn(("r", "y", [2]))), (2, "txn", txn(("r", "x", []))))  # fmt: skip
PRAM_OK = H((0, "txn", txn(("append", "x", 1))), (0, "txn", txn(("append", "y", 2))),
            (2, "txn", txn(("r", "y", [2]))), (2, "txn", txn(("r", "x", [1]))))  # fmt: skip


def test_pram_a_process_sees_another_process_writes_out_of_order() -> None:
    r = check(PRAM_BAD, "PRAM")
    assert r.valid is False and r.anomalies[0].name == "PRAM"
    assert check(PRAM_BAD, "monotonic-reads", "read-your-writes").valid is True
    assert check(PRAM_OK, "PRAM").valid is True


# Transitively: 0 appends x 1; 1 reads it, appends y 2; 2 reads y = [2], then x = [].
CAUSAL_BAD = H((0, "txn", txn(("append", "x", 1))), (1, "txn", txn(("r", "x", [1]))),
               (1, "txn", txn(("append", "y", 2))), (2, "txn", txn(("r", "y", [2]))),
               (2, "txn", txn(("r", "x", []))))  # fmt: skip


def test_causal_a_read_misses_a_write_in_its_causal_past() -> None:
    r = check(CAUSAL_BAD, "causal")
    assert r.valid is False
    a = [a for a in r.anomalies if a.name == "causal"][0]
    assert "causal order" in a.explanation and "process 1" in a.explanation
    assert check(CAUSAL_BAD, "PRAM").valid is True
    assert "causal" in r.details["not"]
    assert "sequential" in r.details["also-not"]
    ok = H(*[(p, "txn", m) for p, _, m in [
        (0, 0, txn(("append", "x", 1))), (1, 0, txn(("r", "x", [1]))),
        (1, 0, txn(("append", "y", 2))), (2, 0, txn(("r", "y", [2]))),
        (2, 0, txn(("r", "x", [1])))]])  # fmt: skip
    assert check(ok, "causal").valid is True


def test_a_causal_cycle_of_reads_from() -> None:
    # Each reads what the other appends afterwards: session order + reads-from in a circle.
    bad = H(
        (0, "txn", txn(("r", "y", [2]))),
        (1, "txn", txn(("r", "x", [1]))),
        (0, "txn", txn(("append", "x", 1))),
        (1, "txn", txn(("append", "y", 2))),
    )
    r = check(bad, "causal")
    assert r.valid is False and "causal-cycle" in [a.name for a in r.anomalies]


def test_a_session_is_the_process_even_when_it_moves_between_nodes() -> None:
    bad = H((0, "write", ["x", 1], "n1"), (0, "read", ["x", None], "n2"))
    r = check(bad, "read-your-writes")
    assert r.valid is False
    assert "moved between nodes (n1, n2)" in r.anomalies[0].explanation
    assert "node n2" in r.anomalies[0].explanation
    ok = H((0, "write", ["x", 1], "n1"), (0, "read", ["x", 1], "n2"))
    assert check(ok, "read-your-writes").valid is True


# -- registers ------------------------------------------------------------------------------------


def test_register_monotonic_reads_back_to_nil() -> None:
    bad = H((1, "write", ["x", 1]), (0, "read", ["x", 1]), (0, "read", ["x", None]))
    assert check(bad, "monotonic-reads").valid is False
    ok = H((1, "write", ["x", 1]), (0, "read", ["x", None]), (0, "read", ["x", 1]))
    assert check(ok, "monotonic-reads").valid is True


def test_register_pram_reads_an_overwritten_value_of_the_same_writer() -> None:
    bad = H(
        (1, "write", ["x", 1]),
        (1, "write", ["x", 2]),
        (1, "write", ["y", 3]),
        (0, "read", ["y", 3]),
        (0, "read", ["x", 1]),
    )
    r = check(bad, "PRAM")
    assert r.valid is False and r.anomalies[0].name == "PRAM"
    ok = H(
        (1, "write", ["x", 1]),
        (1, "write", ["x", 2]),
        (1, "write", ["y", 3]),
        (0, "read", ["y", 3]),
        (0, "read", ["x", 2]),
    )
    assert check(ok, "PRAM").valid is True


def test_sequential_registers_without_real_time() -> None:
    # Process 1 reads nil after process 0's write of 1 completed: stale, but sequential
    # (put the read first); not when process 1 reads 2 then 1, against process 0's order.
    ok = H((0, "write", 1), (1, "read", None))
    r = CausalChecker(["sequential"]).check(ok, {})
    assert r.valid is True
    assert (
        CausalChecker(["sequential"]).check(H((0, "write", 1), (1, "read", 3)), {}).valid is False
    )
    bad = H((0, "write", 1), (0, "write", 2), (1, "read", 2), (1, "read", 1))
    r = CausalChecker(["sequential"]).check(bad, {})
    assert r.valid is False
    seq = [a for a in r.anomalies if a.name == "sequential"]
    assert seq and "no process's next operation can follow" in seq[0].explanation


def test_sequential_transactions_are_strong_session_serializable() -> None:
    assert check(RYW_BAD, "sequential").valid is False
    assert check(STALE, "sequential").valid is True


def test_unknown_models_are_refused_with_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="allowed: read-your-writes"):
        CausalChecker(["serialisable"])


def test_a_malformed_history_is_unknown_not_valid() -> None:
    h = [Op("invoke", "txn", 3, 0, 0, 0), Op("ok", "txn", 3, 0, 1, 1)]
    r = check(h, "causal")
    assert r.valid == "unknown" and "expected a list of micro-ops" in r.details["reason"]


def test_anomalies_are_drawn(tmp_path: Path) -> None:
    c = CausalChecker(["causal"])
    r = c.check(CAUSAL_BAD, {})
    files = c.write_artifacts(r, tmp_path)
    html = files[0].read_text()
    assert "<svg" in html and "causal order" in html
