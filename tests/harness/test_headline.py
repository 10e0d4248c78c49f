"""The headline a failure leads with: kinds and counts, worst first, and the shortest example
of the worst kind."""

from __future__ import annotations

from checkers.base import Anomaly
from harness.headline import (
    anomalies_of,
    by_kind,
    headline,
    kinds_worst_first,
    worst_example,
)


def _many(kind: str, n: int, ops: int = 2) -> list[dict]:
    return [{"name": kind, "explanation": f"{kind} {i}", "ops": [{}] * ops} for i in range(n)]


def test_the_issue_example_leads_with_g0_and_says_not_even_read_uncommitted() -> None:
    found = (
        _many("G2-item", 1)
        + _many("incompatible-order", 10)
        + _many("G-single-item", 6)
        + _many("G0", 5)
    )
    assert headline(found) == (
        "22 anomalies: G0 x5, incompatible-order x10, G-single-item x6, G2-item x1: "
        "not even read-uncommitted"
    )


def test_transactional_kinds_follow_the_weakest_model_they_rule_out() -> None:
    assert kinds_worst_first(["G2-item", "G1c", "G-single-item", "G0", "G2-item-realtime"]) == [
        "G0",
        "G1c",
        "G-single-item",
        "G2-item",
        "G2-item-realtime",
    ]
    assert headline(_many("G2-item", 1)) == "1 anomaly: G2-item x1: not repeatable-read"


def test_lost_writes_come_before_stale_reads_which_come_before_ordering_notes() -> None:
    kinds = ["tie", "nonlinearizable", "mutual-exclusion", "lost-acknowledged-write", "G1c"]
    assert kinds_worst_first(kinds) == [
        "lost-acknowledged-write",
        "mutual-exclusion",
        "G1c",
        "nonlinearizable",
        "tie",
    ]


def test_an_unknown_kind_sits_above_the_notes_and_below_a_loss() -> None:
    assert kinds_worst_first(["clock-condition", "never-heard-of-it", "lost"]) == [
        "lost",
        "never-heard-of-it",
        "clock-condition",
    ]


def test_no_anomalies_and_no_transactional_tail_for_other_kinds() -> None:
    assert headline([]) == "no anomalies"
    assert headline(_many("nonlinearizable", 3)) == "3 anomalies: nonlinearizable x3"


def test_the_worst_example_is_the_shortest_of_the_worst_kind() -> None:
    long_g0 = Anomaly("G0", "a long cycle of three", [{}, {}, {}])
    short_g0 = Anomaly("G0", "two txns", [{}, {}])
    shorter_but_milder = Anomaly("G2-item", "x", [{}])
    assert worst_example([shorter_but_milder, long_g0, short_g0]) is short_g0
    assert worst_example([]) is None


def test_anomalies_of_a_results_file_carry_their_checker_and_group_by_kind() -> None:
    results = {
        "checkers": {
            "linearizable": {"anomalies": _many("nonlinearizable", 2)},
            "list-append": {"anomalies": _many("G1c", 1)},
            "stats": {"anomalies": []},
        }
    }
    found = anomalies_of(results)
    assert [a["checker"] for a in found] == ["linearizable", "linearizable", "list-append"]
    assert list(by_kind(found)) == ["G1c", "nonlinearizable"]
    assert headline(found) == "3 anomalies: G1c x1, nonlinearizable x2: not read-committed"


def test_the_terminal_verdict_leads_with_the_headline_then_the_worst_example(tmp_path) -> None:
    import io

    from harness.run import _print_verdict

    when = {"text": "at 1.000-1.200 s (00:00:01.000Z-00:00:01.200Z), during partition halves"}
    g_single = {
        "name": "G-single-item",
        "explanation": "G-single-item: A dependency cycle.\nLet: T1 ...",  # an old results.json
        "ops": [{}, {}],
        "when": when,
    }
    g0 = {"name": "G0", "explanation": "Write cycle.", "ops": [{}, {}, {}], "when": when}
    results = {
        "valid": False,
        "op_counts": {"ok": 10, "fail": 1, "info": 0},
        "faults": [{"f": "start-partition", "type": "ok"}],
        "checkers": {
            "list-append": {"valid": False, "details": {}, "anomalies": [g_single, g0, g0]},
            "stats": {"valid": True, "details": {}, "anomalies": []},
        },
        "rerun": "splitbrain run s.yaml --test t --seed 1",
    }
    out = io.StringIO()
    _print_verdict("t", results, tmp_path, out, [])
    lines = out.getvalue().splitlines()
    assert lines[0] == "t: INVALID  (10 ok, 1 fail, 0 info; faults: partition)"
    assert lines[1] == "  3 anomalies: G0 x2, G-single-item x1: not even read-uncommitted"
    assert lines[2] == f"  worst: G0 {when['text']}  [list-append]"
    assert lines[3] == "      Write cycle."
    assert lines[4].startswith("  list-append: INVALID (3 anomalies: G0 x2, G-single-item x1")
    assert lines[5] == f"    - G-single-item {when['text']}: A dependency cycle. [...]"
    assert "G-single-item: G-single-item" not in out.getvalue()


def test_describe_gives_kind_when_faults_and_the_explanation_once_for_junit() -> None:
    from harness.headline import describe

    a = {
        "name": "G-single-item",
        "explanation": "G-single-item: G-single-item: a cycle.",
        "when": {"text": "at 2.000 s (00:00:02.000Z), 0.1 s after partition leader (n2) healed"},
    }
    assert describe(a) == (
        "G-single-item at 2.000 s (00:00:02.000Z), 0.1 s after partition leader (n2) healed: "
        "a cycle."
    )
    assert describe({"name": "lost", "explanation": "x"}) == "lost: x"
