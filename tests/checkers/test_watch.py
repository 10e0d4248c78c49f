"""The watch checker on hand-written histories: a valid one, and one for each rule broken."""

from __future__ import annotations

from typing import Any

from checkers.base import check_safely
from checkers.watch import WatchChecker
from harness.history import Op


class History:
    """Builds a history one op at a time, 1 ms apart."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(
        self,
        type: str,
        f: str,
        value: Any,
        process: int | str,
        error: str | None = None,
        node: str = "n1",
    ) -> None:
        n = len(self.ops)
        self.ops.append(Op(type, f, value, process, (n + 1) * 1_000_000, n, node, error))

    def write(
        self,
        process: int,
        key: str,
        v: int,
        outcome: str,
        revision: int | None = None,
        error: str | None = None,
    ) -> None:
        self.add("invoke", "write", [key, v], process)
        done = [key, {"value": v, "revision": revision}] if outcome == "ok" else [key, v]
        self.add(outcome, "write", done, process, error)

    def poll(
        self,
        process: int,
        start: int | None,
        events: list[list[Any]],
        *,
        catch_up: int | None = None,
        caught_up: bool = True,
        compacted: list[list[int]] | None = None,
    ) -> None:
        f = "watch" if catch_up is None else "catch-up"
        self.add("invoke", f, {"start": "first"}, process)
        value: dict[str, Any] = {"watcher": f"w{process}", "start": start, "events": events}
        if catch_up is not None:
            value |= {"target": catch_up, "caught_up": caught_up}
        if compacted:
            value["compacted"] = compacted
        self.add("ok", f, value, process)


def check(h: History, ctx: dict[str, Any] | None = None) -> Any:
    return WatchChecker().check(h.ops, ctx or {})


def names(result: Any) -> set[str]:
    return {a.name for a in result.anomalies}


def valid_history() -> History:
    """Two watchers (one from revision 1, one from 3), three acknowledged writes, one that
    failed, one of unknown outcome that happened (revision 4)."""
    h = History()
    h.poll(0, 1, [])
    h.write(5, "a", 1, "ok", 2)
    h.write(6, "b", 2, "ok", 3)
    h.write(6, "b", 9, "fail", error="connection-refused")
    h.poll(0, 1, [[2, "a", 1]])
    h.write(7, "a", 3, "info", error="timeout")
    h.poll(1, 3, [[3, "b", 2], [4, "a", 3]])
    h.write(8, "b", 4, "ok", 5)
    h.poll(0, 1, [[3, "b", 2], [4, "a", 3], [5, "b", 4]], catch_up=5)
    h.poll(1, 3, [[5, "b", 4]], catch_up=5)
    return h


def test_watchers_that_agree_and_have_every_write_are_valid() -> None:
    r = check(valid_history())
    assert r.valid is True, r.anomalies
    assert r.details["writes-acknowledged"] == 3
    assert r.details["watchers"]["w1"] == {
        "node": "n1",
        "start": 3,
        "events": 3,
        "upto": 5,
        "caught_up": True,
    }


def test_a_watcher_that_skips_an_acknowledged_write_missed_an_event() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.write(5, "a", 2, "ok", 3)
    h.write(5, "a", 3, "ok", 4)
    h.poll(0, 1, [[2, "a", 1], [4, "a", 3]])  # 3 is missing between 2 and 4
    showed = h.ops[-1]
    h.write(5, "a", 4, "ok", 5)
    h.poll(0, 1, [[5, "a", 4]], catch_up=5)
    r = check(h)
    assert r.valid is False
    assert names(r) == {"missed-event"}
    (a,) = r.anomalies
    assert a.data["revision"] == 3 and "between revisions 2 and 4" in a.explanation
    assert "an acknowledged write" in a.explanation
    # the evidence is the poll that went past revision 3, not the watcher's last one
    assert a.ops[-1] == showed.to_dict()


def test_a_watcher_that_never_gets_the_last_write_after_catching_up_missed_it() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.write(5, "a", 2, "ok", 3)
    h.poll(0, 1, [[2, "a", 1]], catch_up=3)  # says it caught up to 3, never delivered 3
    assert names(check(h)) == {"missed-event"}


def test_an_event_received_by_one_watcher_only_is_a_gap_in_the_other() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.write(5, "a", 2, "info", error="timeout")  # happened: watcher 0 saw it at 3
    h.write(5, "a", 3, "ok", 4)
    h.poll(0, 1, [[2, "a", 1], [3, "a", 2], [4, "a", 3]], catch_up=4)
    h.poll(1, 1, [[2, "a", 1], [4, "a", 3]], catch_up=4)
    r = check(h)
    assert names(r) == {"missed-event"}
    assert r.anomalies[0].data["watcher"] == "w1"
    assert "received by another watcher" in r.anomalies[0].explanation


def test_events_out_of_revision_order_or_twice_are_reported() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.write(5, "b", 2, "ok", 3)
    h.poll(0, 1, [[3, "b", 2], [2, "a", 1]], catch_up=3)
    h.poll(1, 1, [[2, "a", 1], [3, "b", 2], [3, "b", 2]], catch_up=3)
    r = check(h)
    assert r.valid is False
    assert names(r) == {"out-of-order", "duplicate-event"}


def test_an_event_before_the_watch_start_revision_is_reported() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.write(5, "a", 2, "ok", 3)
    h.poll(0, 3, [[2, "a", 1], [3, "a", 2]], catch_up=3)
    assert names(check(h)) == {"event-before-start"}


def test_an_event_for_a_write_that_failed_is_reported() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.write(6, "a", 2, "fail", error="connection-refused")
    h.poll(0, 1, [[2, "a", 1], [3, "a", 2]], catch_up=3)
    r = check(h)
    assert names(r) == {"event-for-failed-write"}
    assert "connection-refused" in r.anomalies[0].explanation


def test_an_event_no_write_made_is_reported() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.poll(0, 1, [[2, "a", 1], [3, "a", 77], [4, "b", 1]], catch_up=2)
    r = check(h)
    assert names(r) == {"unknown-event"}
    assert len(r.anomalies) == 2  # 77 never written; 1 was written to a, not b


def test_an_event_at_another_revision_than_the_acknowledged_one_is_reported() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.poll(0, 1, [[5, "a", 1]], catch_up=5)
    r = check(h)
    assert "wrong-revision" in names(r)


def test_watchers_that_disagree_about_a_revision_are_reported() -> None:
    h = History()
    h.write(5, "a", 1, "info", error="timeout")
    h.write(6, "b", 2, "info", error="timeout")
    h.write(7, "a", 3, "ok", 4)
    h.poll(0, 1, [[3, "a", 1], [4, "a", 3]], catch_up=4)
    h.poll(1, 1, [[3, "b", 2], [4, "a", 3]], catch_up=4)
    r = check(h)
    assert "watchers-disagree" in names(r)


def test_revisions_that_go_against_real_time_are_reported() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 5)
    h.write(5, "a", 2, "ok", 4)  # invoked after revision 5 was acknowledged
    h.poll(0, 1, [[4, "a", 2], [5, "a", 1]], catch_up=5)
    r = check(h)
    assert names(r) == {"revision-order"}
    assert r.anomalies[0].data == {"revision": 4, "earlier": 5}


def test_two_acknowledged_writes_at_one_revision_are_reported() -> None:
    h = History()
    h.add("invoke", "write", ["a", 1], 5)
    h.add("invoke", "write", ["b", 2], 6)
    h.add("ok", "write", ["a", {"value": 1, "revision": 2}], 5)
    h.add("ok", "write", ["b", {"value": 2, "revision": 2}], 6)
    h.poll(0, 1, [[2, "a", 1]], catch_up=2)
    assert "revision-order" in names(check(h))


def test_a_watcher_that_did_not_catch_up_leaves_the_verdict_unknown() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.write(5, "a", 2, "ok", 3)
    h.poll(0, 1, [[2, "a", 1]], catch_up=3, caught_up=False)
    r = check(h)
    assert r.valid == "unknown"
    assert "w0" in r.details["reason"]


def test_a_compacted_range_is_not_counted_as_missed() -> None:
    h = History()
    for i, rev in enumerate((2, 3, 4), start=1):
        h.write(5, "a", i, "ok", rev)
    h.poll(0, 1, [[2, "a", 1], [4, "a", 3]], catch_up=4, compacted=[[3, 3]])
    assert check(h).valid is True


def test_no_watcher_or_no_event_is_unknown_not_valid() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    assert check(h).valid == "unknown"
    h.poll(0, 1, [], catch_up=1)
    assert check(h).valid == "unknown"


def test_a_malformed_history_is_unknown_not_a_crash() -> None:
    """The checker raises on it; the one guard the run and ``check`` use makes that unknown."""
    h = History()
    h.add("invoke", "write", ["a", 1], 5)
    h.add("ok", "write", ["a", {"value": 1, "revision": "x"}], 5)
    r = check_safely(WatchChecker(), h.ops, {})
    assert r.valid == "unknown" and "checker failed" in r.details["reason"]


def txn(
    h: History, process: int, puts: list[tuple[str, int]], outcome: str, revision: int | None = None
) -> None:
    micro = [["w", k, v] for k, v in puts]
    h.add("invoke", "txn", micro, process)
    h.add(
        outcome, "txn", {"txn": micro, "revision": revision} if outcome == "ok" else micro, process
    )


def test_the_puts_of_one_txn_share_a_revision_and_arrive_in_one_response() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    txn(h, 6, [("a", 2), ("b", 3)], "ok", 3)
    h.poll(0, 1, [[2, "a", 1, 1], [3, "a", 2, 2], [3, "b", 3, 2]], catch_up=3)
    r = check(h)
    assert r.valid is True, r.anomalies
    assert r.details["writes-acknowledged"] == 3


def test_a_txn_split_over_two_watch_responses_is_not_atomic() -> None:
    h = History()
    txn(h, 6, [("a", 2), ("b", 3)], "ok", 3)
    h.poll(0, 1, [[3, "a", 2, 1], [3, "b", 3, 2]], catch_up=3)
    r = check(h)
    assert names(r) == {"split-revision"}
    assert r.anomalies[0].data["responses"] == [1, 2]


def test_half_a_txn_is_a_missed_event() -> None:
    h = History()
    txn(h, 6, [("a", 2), ("b", 3)], "ok", 3)
    h.poll(0, 1, [[3, "a", 2, 1]], catch_up=3)
    r = check(h)
    assert names(r) == {"missed-event"}
    assert "other events of that revision" in r.anomalies[0].explanation


def test_one_key_twice_in_one_revision_is_a_duplicate_event() -> None:
    h = History()
    txn(h, 6, [("a", 2), ("b", 3)], "ok", 3)
    h.poll(0, 1, [[3, "a", 2, 1], [3, "b", 3, 1], [3, "a", 2, 1]], catch_up=3)
    assert names(check(h)) == {"duplicate-event"}


def test_the_missed_event_sentence_names_watcher_node_write_and_wall_clock() -> None:
    h = History()
    h.write(5, "a", 1, "ok", 2)
    h.write(5, "a", 2, "ok", 3)
    h.write(5, "a", 3, "ok", 4)
    h.poll(0, 1, [[2, "a", 1], [4, "a", 3]])
    h.write(5, "a", 4, "ok", 5)
    h.poll(0, 1, [[5, "a", 4]], catch_up=5)
    (a,) = check(h, {"time_zero_ms": 1_767_225_600_000}).anomalies  # 2026-01-01T00:00:00Z
    assert a.explanation.split(". ")[0] == (
        "n1 (watcher w0), watching from revision 1, never received revision 3's event key 'a' "
        "= 2 (an acknowledged write by n1 (process 5) at 0.004 s (00:00:00.004Z)), between "
        "revisions 2 and 4 (the poll that showed it answered at 0.008 s (00:00:00.008Z)): a "
        "missed event"
    )


def diverged(writes: int) -> History:
    """``writes`` acknowledged writes; watcher w0 receives them all, w1 (on a member that
    diverged) every tenth, with another value at every 70th: a missed event per other write,
    and the watchers disagree."""
    h = History()
    h.poll(0, 1, [])
    h.poll(1, 1, [])
    got: dict[int, list[list[Any]]] = {0: [], 1: []}
    for i in range(writes):
        h.write(5 + i % 4, f"k{i % 5}", i, "ok", i + 2)
        got[0].append([i + 2, f"k{i % 5}", i])
        if i % 10 == 0:
            got[1].append([i + 2, f"k{i % 5}", i if i % 70 else -i - 1])
        if i % 100 == 99 or i == writes - 1:
            for w in (0, 1):
                last = i == writes - 1
                h.poll(w, 1, got[w], catch_up=writes + 1 if last else None)
                got[w] = []
    return h


def test_every_missed_event_is_counted_and_only_the_reported_ones_are_explained(
    monkeypatch: Any,
) -> None:
    import checkers.watch as watch

    explained = []
    real = watch._missed_event

    def counting(*args: Any) -> Any:
        explained.append(args[1])
        return real(*args)

    monkeypatch.setattr(watch, "_missed_event", counting)
    r = WatchChecker(max_reports=5).check(diverged(20_000).ops, {})
    counts = r.details["anomaly-counts"]
    assert counts["missed-event"] == 18_000  # w1 missed nine writes in ten
    assert counts["watchers-disagree"] == counts["unknown-event"] == 286  # 0, 70, ... 19,950
    assert len(explained) == 5  # the reported ones: the other 17,995 cost a count each
    assert sum(a.name == "missed-event" for a in r.anomalies) == 5
    assert all(sum(a.name == n for a in r.anomalies) == 5 for n in counts)


def test_a_compacted_range_is_not_missed_and_the_rest_of_the_watch_is() -> None:
    h = History()
    for i in range(10):
        h.write(5, "a", i, "ok", i + 2)
    h.poll(0, 1, [[2, "a", 0], [11, "a", 9]], catch_up=11, compacted=[[3, 5], [4, 6], [9, 9]])
    r = check(h)
    missed = sorted(a.data["revision"] for a in r.anomalies if a.name == "missed-event")
    assert r.details["anomaly-counts"] == {"missed-event": 3}
    assert missed == [7, 8, 10]
