"""The lock checker on small hand-written histories: one valid and one invalid per rule, and
explanations that say what happened and what to fix."""

from __future__ import annotations

from typing import Any

from checkers.lock import LockChecker
from harness.history import Op

LEASE = 1000  # ms


class H:
    """A history built op by op: ``call`` an invocation, ``done`` its completion; times in ms."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def call(self, t: int, process: int, f: str, value: Any, node: str = "n1") -> H:
        return self._add(Op("invoke", f, value, process, t * 1_000_000, node=node))

    def done(
        self,
        t: int,
        process: int,
        f: str,
        value: Any,
        type: str = "ok",
        error: str | None = None,
        node: str = "n1",
    ) -> H:
        return self._add(Op(type, f, value, process, t * 1_000_000, node=node, error=error))

    def op(self, t0: int, t1: int, process: int, f: str, inv: Any, out: Any, type: str = "ok") -> H:
        return self.call(t0, process, f, inv).done(t1, process, f, out, type)

    def _add(self, op: Op) -> H:
        op.index = len(self.ops)
        self.ops.append(op)
        return self

    def check(self, ctx: dict[str, Any] | None = None) -> Any:
        return LockChecker().check(self.ops, ctx or {})


def grant(token: int) -> dict[str, int]:
    return {"token": token, "lease_ms": LEASE}


def hold(h: H, t: int, process: int, key: int, token: int, value: int) -> H:
    """acquire at t, write ``value`` at t+10, release at t+20 (each taking 5 ms)."""
    h.op(t, t + 5, process, "acquire", [key, None], [key, grant(token)])
    h.op(t + 10, t + 15, process, "write", [key, value], [key, [token, value]])
    return h.op(t + 20, t + 25, process, "release", [key, None], [key, token])


def names(result: Any) -> list[str]:
    return [a.name for a in result.anomalies]


# -- mutual exclusion -------------------------------------------------------------------------


def test_holders_one_after_another_with_growing_tokens_are_valid() -> None:
    h = H()
    hold(h, 0, 1, 7, 1, 100)
    hold(h, 30, 2, 7, 2, 101)
    h.op(60, 65, 3, "read", [7, None], [7, [[1, 100], [2, 101]]])
    r = h.check()
    assert r.valid is True, r.anomalies
    assert r.details["grants"] == 2


def test_a_grant_while_another_is_held_and_its_lease_has_not_run_out_is_a_mutex_violation() -> None:
    h = H()
    h.op(0, 5, 1, "acquire", [7, None], [7, grant(1)])
    h.op(100, 105, 2, "acquire", [7, None], [7, grant(2)])  # 100 ms < the 1000 ms lease
    h.op(200, 205, 1, "release", [7, None], [7, 1])
    h.op(210, 215, 2, "release", [7, None], [7, 2])
    r = h.check()
    assert r.valid is False
    assert names(r) == ["mutual-exclusion"]
    text = r.anomalies[0].explanation
    assert text.startswith("n1 (process 2) was granted lock 7 at 0.105 s (token 2) while n1 ")
    assert "a grant acknowledged before a majority had it" in text


def test_a_grant_after_the_previous_holders_lease_ran_out_is_not_a_violation() -> None:
    h = H()
    h.op(0, 5, 1, "acquire", [7, None], [7, grant(1)])
    h.op(10, 2000, 1, "write", [7, 50], [7, [1, 50]], type="info")  # the holder stalls
    h.op(1100, 1105, 2, "acquire", [7, None], [7, grant(2)])  # after 0 + 1000 ms
    h.op(1110, 1115, 2, "release", [7, None], [7, 2])
    assert h.check().valid is True


def test_a_grant_just_before_the_lease_could_have_run_out_is_a_violation() -> None:
    h = H()
    h.op(0, 5, 1, "acquire", [7, None], [7, grant(1)])
    h.op(10, 2000, 1, "write", [7, 50], [7, [1, 50]], type="info")
    h.op(900, 905, 2, "acquire", [7, None], [7, grant(2)])  # 900 ms: the lease still ran
    assert names(h.check()) == ["mutual-exclusion"]


# -- tokens -----------------------------------------------------------------------------------


def test_two_grants_with_one_token_are_reported_with_both_holders() -> None:
    h = H()
    hold(h, 0, 1, 3, 4, 100)
    hold(h, 30, 2, 3, 4, 101)
    r = h.check()
    assert "token-reused" in names(r)
    a = next(a for a in r.anomalies if a.name == "token-reused")
    assert a.explanation.startswith(
        "n1 (process 2) was granted lock 3 with fencing token 4 at 0.035 s, but n1 (process 1) "
        "had been granted it with the same token 4 at 0.005 s: one token for two grants."
    )
    assert "not from the leader's term" in a.explanation
    assert a.data == {"key": 3, "token": 4}


def test_a_token_smaller_than_one_acknowledged_earlier_went_backwards() -> None:
    h = H()
    hold(h, 0, 1, 3, 9, 100)
    hold(h, 30, 2, 3, 8, 101)
    r = h.check()
    assert "token-went-backwards" in names(r)
    a = next(a for a in r.anomalies if a.name == "token-went-backwards")
    assert "granted lock 3 with token 8" in a.explanation and "larger token 9" in a.explanation
    assert "the token went backwards." in a.explanation
    assert "Keep the generation in the replicated state" in a.explanation


def test_concurrent_grants_may_come_in_either_token_order() -> None:
    # overlapping acquires: whichever was granted first, nothing is proven about order
    h = H()
    h.op(0, 50, 1, "acquire", [3, None], [3, grant(2)])
    h.op(10, 20, 2, "acquire", [3, None], [3, {"token": 1, "lease_ms": 5}])
    r = h.check()
    assert "token-went-backwards" not in names(r) and "token-reused" not in names(r)


# -- storage ----------------------------------------------------------------------------------


def test_a_read_showing_an_older_token_after_a_newer_one_is_a_stale_write_accepted() -> None:
    h = H()
    h.op(0, 5, 1, "acquire", [5, None], [5, grant(1)])
    h.op(10, 1500, 1, "write", [5, 100], [5, [1, 100]], type="info")  # delivered late
    hold(h, 1100, 2, 5, 2, 101)
    h.op(1600, 1605, 3, "read", [5, None], [5, [[2, 101], [1, 100]]])
    r = h.check()
    assert names(r) == ["stale-write-accepted"]
    text = r.anomalies[0].explanation
    assert text.startswith("n1 (process 3) read key 5 at 1.605 s and found the write with token 1")
    assert "newer token 2" in text and "the storage let a stale holder write." in text
    assert "value 100 by process 1" in text and "of unknown outcome" in text
    assert "the fencing check" in text


def test_an_acknowledged_write_with_a_token_older_than_one_already_accepted_is_stale() -> None:
    h = H()
    h.op(0, 5, 1, "acquire", [5, None], [5, grant(1)])
    hold(h, 1100, 2, 5, 2, 101)
    h.op(1200, 1205, 1, "write", [5, 100], [5, [1, 100]])  # acknowledged: no check was made
    r = h.check()
    assert "stale-write-accepted" in names(r)
    a = next(a for a in r.anomalies if a.name == "stale-write-accepted")
    assert a.explanation.startswith(
        "n1 (process 1) had its write of 100 to key 5 with token 1 acknowledged at 1.205 s"
    )


def test_a_stale_write_the_storage_refused_is_fine() -> None:
    h = H()
    h.op(0, 5, 1, "acquire", [5, None], [5, grant(1)])
    hold(h, 1100, 2, 5, 2, 101)
    h.call(1200, 1, "write", [5, 100]).done(1205, 1, "write", [5, [1, 100]], "fail", "stale-token")
    h.op(1300, 1305, 3, "read", [5, None], [5, [[2, 101]]])
    assert h.check().valid is True


def test_an_acknowledged_write_missing_from_a_later_read_is_lost() -> None:
    h = H()
    hold(h, 0, 1, 5, 1, 100)
    h.op(100, 105, 3, "read", [5, None], [5, []])
    r = h.check()
    assert names(r) == ["acknowledged-write-lost"]
    assert r.anomalies[0].explanation.startswith(
        "n1 (process 3) read key 5 (invoked at 0.100 s) without the write of 100 with token 1 "
        "that n1 (process 1) had had acknowledged at 0.015 s: an acknowledged write lost."
    )


def test_a_history_without_any_grant_is_unknown() -> None:
    h = H()
    h.call(0, 1, "acquire", [1, None]).done(5, 1, "acquire", [1, None], "fail", "locked")
    r = h.check()
    assert r.valid == "unknown" and "no lock was ever granted" in r.details["reason"]


def test_the_two_holders_sentence_names_nodes_tokens_times_and_wall_clock() -> None:
    h = H()
    h.call(0, 1, "acquire", [7, None], "n1").done(5, 1, "acquire", [7, grant(41)], node="n1")
    h.call(100, 2, "acquire", [7, None], "n3").done(120, 2, "acquire", [7, grant(42)], node="n3")
    r = h.check({"time_zero_ms": 1_767_225_600_000})  # 2026-01-01T00:00:00.000Z
    (a,) = [a for a in r.anomalies if a.name == "mutual-exclusion"]
    assert a.explanation.splitlines()[0].startswith(
        "n3 (process 2) was granted lock 7 at 0.120 s (00:00:00.120Z) (token 42) while n1 "
        "(process 1) still held it (granted at 0.005 s (00:00:00.005Z), token 41, not released, "
        "lease 1000 ms from 0.000 s (00:00:00.000Z)): two holders."
    )
    assert a.data["holder"]["node"] == "n1" and a.data["second"]["node"] == "n3"


def test_two_overlapping_grants_name_the_one_that_could_not_be_placed() -> None:
    h = H()
    h.call(0, 1, "acquire", [7, None], "n1").done(50, 1, "acquire", [7, grant(1)], node="n1")
    h.call(10, 2, "acquire", [7, None], "n2").done(60, 2, "acquire", [7, grant(2)], node="n2")
    (a,) = h.check().anomalies
    assert a.explanation.startswith(
        "n2 (process 2) ran acquire of lock 7 (asked at 0.010 s, ok at 0.060 s), and no order "
        "of the lock's acquires and releases before it leaves the lock free for it: two holders."
    )


def test_two_holders_late_in_a_long_run_are_found_without_pairing_every_grant(
    monkeypatch: Any,
) -> None:
    """1,000 grants of one lock, one after another, then a grant while the last holder still
    holds it: the two are named, each grant's hold worked out once (not once per pair of
    grants, each pair looking for its release among every operation)."""
    import checkers.lock as lock

    looked = []
    real = lock._lease_ns

    def lease_ns(result: Any) -> int:
        looked.append(1)
        return real(result)

    monkeypatch.setattr(lock, "_lease_ns", lease_ns)
    h = H()
    for i in range(1_000):
        hold(h, 30 * i, i % 10, 1, i + 1, i)
    t = 30 * 1_000
    h.op(t, t + 5, 0, "acquire", [1, None], [1, grant(1_001)])
    h.op(t + 10, t + 15, 1, "acquire", [1, None], [1, grant(1_002)])  # 0 still holds it
    r = h.check()
    assert names(r)[:1] == ["mutual-exclusion"]
    assert "while n1 (process 0) still held it" in r.anomalies[0].explanation
    assert len(looked) <= 3 * 1_002
