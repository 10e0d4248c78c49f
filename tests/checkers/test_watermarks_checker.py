"""The watermarks checker on small hand-written histories: for each rule one history that
keeps it and one that breaks it, and the words a person gets for the broken one."""

from __future__ import annotations

from typing import Any

from checkers.watermarks import WatermarksChecker
from harness.history import Op


class History:
    """Builds a history: ``call`` adds an invocation and its completion right after it;
    ``invoke`` / ``complete`` interleave them. Each op is 1 ms after the one before."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.open: dict[int, Op] = {}

    def invoke(self, process: int, f: str, value: Any = None, node: str = "n1") -> None:
        op = Op("invoke", f, value, process, node=node)
        self.open[process] = op
        self._add(op)

    def complete(self, process: int, type: str, value: Any = None, **extra: Any) -> None:
        op = self.open.pop(process).complete(type, value)
        op.extra.update(extra)
        self._add(op)

    def call(
        self,
        process: int,
        f: str,
        value: Any,
        type: str,
        result: Any = None,
        node: str = "n1",
        **extra: Any,
    ) -> None:
        self.invoke(process, f, value, node)
        self.complete(process, type, value if result is None else result, **extra)

    def _add(self, op: Op) -> None:
        op.index = len(self.ops)
        op.time = op.index * 1_000_000
        self.ops.append(op)


def log_reply(node: str, hwm: int, lwm: int, entries: list[list[Any]]) -> dict[str, Any]:
    return {"node": node, "hwm": hwm, "lwm": lwm, "entries": entries}


#: a committed log: 1 a leader's no-op, 2..4 writes to key "k"
FINAL = [[1, 1, ["n"]], [2, 1, ["w", "k", 10]], [3, 1, ["w", "k", 11]], [4, 1, ["w", "k", 12]]]


def check(h: History, ctx: dict[str, Any] | None = None) -> Any:
    return WatermarksChecker().check(h.ops, ctx or {})


def names(result: Any) -> list[str]:
    return [a.name for a in result.anomalies]


def test_writes_found_at_their_index_in_the_final_log_are_not_lost() -> None:
    h = History()
    h.call(0, "write", ["k", 10], "ok", log_index=2)
    h.call(1, "write", ["k", 11], "ok", log_index=3)
    h.call(2, "read-log", ["tail", 8], "ok", log_reply("n2", 3, 0, FINAL[:3]))
    h.call(3, "audit", None, "ok", log_reply("n1", 4, 0, FINAL))
    result = check(h)
    assert result.valid is True, result.anomalies
    assert result.details["final_hwm"] == 4


def test_an_acknowledged_write_missing_from_the_final_log_is_lost() -> None:
    h = History()
    h.call(0, "write", ["k", 10], "ok", log_index=2)
    h.call(1, "write", ["k", 99], "ok", log_index=3, node="n3")  # the final log has 11 there
    h.call(2, "read-log", ["tail", 8], "ok", log_reply("n2", 2, 0, FINAL[:2]))
    h.call(3, "audit", None, "ok", log_reply("n1", 4, 0, FINAL))
    result = check(h)
    assert result.valid is False
    assert names(result) == ["lost-acknowledged-write"]
    text = result.anomalies[0].explanation
    assert text.startswith("n3 (process 1) had write ['k', 99] acknowledged as entry 3 at 0.003 s")
    assert "at index 3: an acknowledged write lost." in text
    assert "holds the write of 11 to key 'k' of term 1 at index 3" in text
    assert "acknowledged it before a majority held it" in text
    assert result.anomalies[0].data["index"] == 3


def test_entries_at_or_below_the_stated_hwm_are_fine_and_above_it_are_not() -> None:
    ok = History()
    ok.call(0, "read-log", ["tail", 8], "ok", log_reply("n2", 3, 0, FINAL[:3]))
    ok.call(1, "audit", None, "ok", log_reply("n1", 4, 0, FINAL))
    assert check(ok).valid is True

    bad = History()
    bad.call(0, "read-log", ["tail", 8], "ok", log_reply("n2", 2, 0, FINAL[:4]))
    bad.call(1, "audit", None, "ok", log_reply("n1", 4, 0, FINAL))
    result = check(bad)
    assert names(result) == ["read-beyond-hwm"]
    text = result.anomalies[0].explanation
    assert text.startswith("n2 answered a read-log by process 0 at 0.001 s with 2 entries above")
    assert "2 entries above the high-water mark 2" in text
    assert "(indices 3..4)" in text and "must stop at the HWM" in text


def test_a_served_entry_the_final_log_replaced_was_never_committed() -> None:
    h = History()
    # n3 said HWM 5 and served an entry of term 1 at 5; the final log has term 2's no-op there
    h.call(0, "read-log", ["tail", 8], "ok", log_reply("n3", 5, 0, [[5, 1, ["w", "k", 13]]]))
    final = [*FINAL, [5, 2, ["n"]]]
    h.call(1, "audit", None, "ok", log_reply("n1", 5, 0, final))
    result = check(h)
    assert names(result) == ["uncommitted-entry-served"]
    text = result.anomalies[0].explanation
    assert "with the write of 13 to key 'k' of term 1 at index 5" in text
    assert ": an entry served that was never committed." in text
    assert "holds a leader's no-op of term 2 at index 5" in text
    assert "never committed" in text


def test_reads_above_the_low_water_mark_are_fine_and_below_it_are_not() -> None:
    ok = History()
    ok.call(0, "read-log", ["head", 2], "ok", log_reply("n2", 4, 2, FINAL[2:4]))
    ok.call(1, "audit", None, "ok", log_reply("n1", 4, 2, FINAL))
    assert check(ok).valid is True

    bad = History()
    bad.call(0, "read-log", ["head", 2], "ok", log_reply("n2", 4, 2, FINAL[1:3]))
    bad.call(1, "audit", None, "ok", log_reply("n1", 4, 2, FINAL))
    result = check(bad)
    assert names(result) == ["truncated-entry-served"]
    text = result.anomalies[0].explanation
    assert "1 entry (indices 2) at or below the low-water mark 2 that the same reply" in text
    assert "must never be served again" in text


def test_a_node_past_a_truncation_entry_must_not_serve_what_it_truncated() -> None:
    final = [*FINAL, [5, 1, ["t", 3]], [6, 1, ["w", "k", 14]]]
    h = History()
    h.call(0, "truncate", 1, "ok", {"upto": 3, "index": 5})
    # n2 had not reached entry 5 yet: its old head is still fine to serve
    h.call(1, "read-log", ["head", 2], "ok", log_reply("n2", 4, 0, final[0:2]))
    h.call(2, "audit", None, "ok", log_reply("n1", 6, 3, final))
    assert check(h).valid is True

    # n3 had passed entry 5 (HWM 6) but still says LWM 0 and serves entries 1..2
    h.call(3, "read-log", ["head", 2], "ok", log_reply("n3", 6, 0, final[0:2]), node="n3")
    result = check(h)
    assert names(result) == ["truncated-entry-served"]
    text = result.anomalies[0].explanation
    assert text.startswith("n3 answered a read-log by process 3 at 0.007 s with 2 entries")
    assert "(indices 1..2) at or below 3" in text and ": truncated entries served again." in text
    assert "truncate by process 0 moved the low-water mark" in text
    assert "this node's HWM (6) had passed that entry" in text
    assert "(its reply says LWM 0)" in text


def test_audits_that_disagree_below_both_hwms_are_a_divergence() -> None:
    h = History()
    h.call(0, "read-log", ["tail", 1], "ok", log_reply("n2", 4, 0, FINAL[3:]))
    h.call(1, "audit", None, "ok", log_reply("n1", 4, 0, FINAL))
    h.call(2, "audit", None, "ok", log_reply("n2", 3, 0, FINAL[:3]), node="n2")
    assert check(h).valid is True
    h.call(
        3,
        "audit",
        None,
        "ok",
        log_reply("n3", 3, 0, [*FINAL[:2], [3, 2, ["w", "k", 50]]]),
        node="n3",
    )
    result = check(h)
    assert names(result) == ["committed-logs-diverge"]
    assert result.anomalies[0].explanation.startswith(
        "n3's audit at 0.007 s (HWM 3) holds the write of 50"
    )
    assert ": committed logs diverge." in result.anomalies[0].explanation
    assert "committed entries are the same on every node" in result.anomalies[0].explanation


def test_without_an_audit_the_verdict_is_unknown_and_says_why() -> None:
    h = History()
    h.call(0, "write", ["k", 10], "ok", log_index=2)
    h.call(1, "read-log", ["tail", 8], "ok", log_reply("n2", 2, 0, FINAL[:2]))
    h.call(2, "audit", None, "info")
    result = check(h)
    assert result.valid == "unknown"
    assert "no audit of the final log succeeded" in result.details["reason"]


def test_failed_and_indeterminate_writes_need_not_be_in_the_final_log() -> None:
    h = History()
    h.call(0, "write", ["k", 77], "fail")
    h.call(1, "write", ["k", 78], "info")
    h.call(2, "read-log", ["tail", 8], "ok", log_reply("n2", 4, 0, FINAL))
    h.call(3, "audit", None, "ok", log_reply("n1", 4, 0, FINAL))
    assert check(h).valid is True


def test_the_lost_write_sentence_names_node_values_and_wall_clock() -> None:
    h = History()
    h.call(0, "write", ["k", 10], "ok", log_index=2)
    h.call(1, "write", ["k", 99], "ok", log_index=3, node="n3")
    h.call(2, "read-log", ["tail", 8], "ok", log_reply("n2", 2, 0, FINAL[:2]))
    h.call(3, "audit", None, "ok", log_reply("n1", 4, 0, FINAL))
    (a,) = check(h, {"time_zero_ms": 1_767_225_600_000}).anomalies  # 2026-01-01T00:00:00Z
    assert a.explanation.split(": an acknowledged write lost.")[0] == (
        "n3 (process 1) had write ['k', 99] acknowledged as entry 3 at 0.003 s (00:00:00.003Z), "
        "but the final committed log (audit of n1 at 0.007 s (00:00:00.007Z), HWM 4) holds the "
        "write of 11 to key 'k' of term 1 at index 3"
    )
