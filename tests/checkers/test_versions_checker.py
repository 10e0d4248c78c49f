"""The versions checker on recorded histories: writes with growing versions pass; a version
given twice, a version that goes back against real time, a cas that skipped an acknowledged
write (also when that write wrote the very value the cas expected, which values alone never
show), a cas or a read whose version names another value; ops without versions are a note."""

from __future__ import annotations

from typing import Any

from checkers.linearizable import LinearizableChecker
from checkers.versions import VersionsChecker
from harness.history import Op
from harness.registry import CheckerInfo, lookup

MS = 1_000_000
ZERO = {"time_zero_ms": 1_767_225_600_000}


class H:
    """A history built op by op, 10 ms apart."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def _op(self, t: str, p: int, f: str, v: Any, extra: dict[str, Any] | None = None) -> None:
        i = len(self.ops)
        self.ops.append(Op(t, f, v, p, (i + 1) * 10 * MS, i, "n1", None, extra or {}))

    def invoke(self, p: int, f: str, v: Any) -> H:
        self._op("invoke", p, f, v)
        return self

    def ok(self, p: int, f: str, v: Any, **extra: Any) -> H:
        self._op("ok", p, f, v, extra)
        return self

    def done(self, p: int, f: str, v: Any, **extra: Any) -> H:
        """Invoke and complete at once."""
        return self.invoke(p, f, v).ok(p, f, v, **extra)


def check(h: H) -> Any:
    return VersionsChecker().check(h.ops, ZERO)


def test_it_is_registered() -> None:
    assert lookup(CheckerInfo, "versions", "checker").make(None).name == "versions"


def test_growing_versions_and_cas_that_follow_them_are_valid() -> None:
    h = (
        H()
        .done(0, "write", ["k", 1], version=5)
        .done(1, "cas", ["k", [1, 2]], saw_version=5, version=9)
        .done(0, "read", ["k", 2], read_version=9)
        .done(2, "write", ["j", 1], version=10)
    )
    r = check(h)
    assert r.valid is True and r.details["versioned"] == 4 and r.details["keys"] == 2


def test_no_versions_is_a_note_and_valid() -> None:
    r = check(H().done(0, "write", ["k", 1]).done(0, "read", ["k", 1]))
    assert (
        r.valid is True
        and r.details["versioned"] == 0
        and "nothing to check" in (r.details["note"])
    )


def test_a_version_given_to_two_writes_of_a_key() -> None:
    r = check(H().done(0, "write", ["k", 1], version=5).done(1, "write", ["k", 2], version=5))
    (a,) = r.anomalies
    assert a.name == "version-reused" and a.data == {"key": "k", "version": 5}


def test_a_later_write_with_a_lower_version() -> None:
    r = check(H().done(0, "write", ["k", 1], version=7).done(1, "write", ["k", 2], version=6))
    (a,) = r.anomalies
    assert a.name == "version-went-backwards" and a.data == {"key": "k", "earlier": 7, "later": 6}
    assert "the write of 1 by process 0 (acknowledged at 0.020 s (00:00:00.020Z))" in (
        a.explanation
    )


def test_concurrent_writes_may_take_versions_in_any_order() -> None:
    h = (
        H()
        .invoke(0, "write", ["k", 1])
        .invoke(1, "write", ["k", 2])
        .ok(0, "write", ["k", 1], version=8)
        .ok(1, "write", ["k", 2], version=7)
    )
    assert check(h).valid is True


def test_a_cas_that_skipped_a_write_of_the_value_it_expected() -> None:
    """The bug the issue describes: w1 writes 1 (v5), w2 writes 2 (v6), w3 writes 1 (v7); a cas
    1 -> 3 compares with w1 (v5) yet is accepted after w3 (v8). Values alone: the cas found 1,
    which w3 had written: linearizable. Versions: it skipped v6 and v7."""
    h = (
        H()
        .done(0, "write", ["k", 1], version=5)
        .invoke(1, "cas", ["k", [1, 3]])
        .done(2, "write", ["k", 2], version=6)
        .done(2, "write", ["k", 1], version=7)
        .ok(1, "cas", ["k", [1, 3]], saw_version=5, version=8)
        .done(0, "read", ["k", 3], read_version=8)
    )
    assert LinearizableChecker("cas-register").check(h.ops, ZERO).valid is True
    r = check(h)
    (a,) = r.anomalies
    assert a.name == "cas-missed-write" and r.valid is False
    assert a.data == {"key": "k", "saw_version": 5, "version": 8, "missed": [6, 7]}
    assert "was accepted although another acknowledged write had come in" in a.explanation


def test_a_missed_write_of_the_expected_value_is_said_so() -> None:
    h = (
        H()
        .done(0, "write", ["k", 1], version=5)
        .invoke(1, "cas", ["k", [1, 3]])
        .done(2, "write", ["k", 1], version=6)
        .ok(1, "cas", ["k", [1, 3]], saw_version=5, version=8)
    )
    (a,) = check(h).anomalies
    assert "the value the cas expected: a check of values alone sees nothing wrong" in (
        a.explanation
    )


def test_a_cas_that_names_a_version_of_another_value() -> None:
    h = H().done(0, "write", ["k", 2], version=5)
    h.done(1, "cas", ["k", [1, 3]], saw_version=5, version=6)
    (a,) = check(h).anomalies
    assert a.name == "cas-saw-wrong-value"
    assert a.data == {"key": "k", "saw_version": 5, "expected": 1, "had": 2}


def test_a_read_whose_version_wrote_another_value() -> None:
    h = H().done(0, "write", ["k", 2], version=5).done(1, "read", ["k", 4], read_version=5)
    (a,) = check(h).anomalies
    assert a.name == "read-version-mismatch" and a.data["written"] == 2 and a.data["read"] == 4


def test_a_version_of_an_unknown_write_is_not_judged() -> None:
    h = H().invoke(0, "write", ["k", 2])  # never acknowledged: its version is unknown
    h.done(1, "cas", ["k", [2, 3]], saw_version=4, version=6).done(
        1, "read", ["k", 3], read_version=6
    )
    assert check(h).valid is True
