"""The members checker on recorded histories: members that agree, members that never reached
one index, a member at another revision, a member with a key the others lack or with another
value (named by member, key and revision), a digest that differs while every key agrees, and
members that could not be read."""

from __future__ import annotations

from typing import Any

from checkers.members import MembersChecker
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, lookup

MS = 1_000_000
ZERO = {"time_zero_ms": 1_767_225_600_000}  # 2026-01-01T00:00:00.000Z


def state(index: Any = 40, revision: Any = 12, keys: Any = None, **kw: Any) -> dict[str, Any]:
    keys = {"splitbrain/1": [7, "3"], "splitbrain/2": [12, "4"]} if keys is None else keys
    s = {"index": index, "revision": revision, "at": 12, "digest": f"range:{sorted(keys.items())}",
         "keys": keys, "error": None, "info": {}}  # fmt: skip
    s.update(kw)
    return s


def reading(states: dict[str, dict[str, Any]], type: str = "ok") -> list[Op]:
    return [
        Op("invoke", "write", ["1", 3], 0, 1 * MS, 0, "n1"),
        Op("ok", "write", ["1", 3], 0, 2 * MS, 1, "n1"),
        Op("invoke", "member-states", None, NEMESIS, 1000 * MS, 2),
        Op("ok" if type == "ok" else "info", "member-states", states, NEMESIS, 1500 * MS, 3),
    ]


def check(states: dict[str, dict[str, Any]], type: str = "ok") -> Any:
    return MembersChecker().check(reading(states, type), ZERO)


def test_it_is_registered() -> None:
    assert lookup(CheckerInfo, "members", "checker").make(None).name == "members"


def test_members_that_agree_are_valid() -> None:
    r = check({n: state() for n in ("n1", "n2", "n3")})
    assert r.valid is True and not r.anomalies
    assert r.details["converged"] is True and r.details["members"] == ["n1", "n2", "n3"]


def test_no_reading_is_unknown() -> None:
    r = MembersChecker().check(reading({})[:2], ZERO)
    assert r.valid == "unknown" and "no member-states op" in r.details["reason"]


def test_members_at_different_indexes_never_converged() -> None:
    r = check({"n1": state(), "n2": state(), "n3": state(index=31, revision=9)}, "info")
    (a,) = [a for a in r.anomalies if a.name == "members-not-converged"]
    assert r.valid is False
    assert "n1, n2 at 40" in a.explanation and "n3 at 31" in a.explanation
    assert "1.500 s (00:00:01.500Z)" in a.explanation


def test_a_member_at_another_revision_at_the_same_index_disagrees() -> None:
    r = check({"n1": state(), "n2": state(revision=11), "n3": state()})
    (a,) = r.anomalies
    assert a.name == "members-disagree" and r.valid is False
    assert a.data == {"member": "n2", "key": None, "revision": 11, "others": ["n1", "n3"],
                      "others_revision": 12, "index": 40}  # fmt: skip
    assert a.explanation.startswith(
        "n2 is at revision 11 while n1 and n3 are at revision 12, every member at applied index 40"
    )


def test_a_key_that_differs_is_named_by_member_key_and_revision() -> None:
    lost = {"splitbrain/1": [7, "3"]}  # n3 lacks key 2
    other = {"splitbrain/1": [7, "1"], "splitbrain/2": [12, "4"]}  # n2 has another value
    r = check({"n1": state(), "n2": state(keys=other), "n3": state(keys=lost), "n4": state()})
    assert r.valid is False
    by_member = {a.data["member"]: a for a in r.anomalies}
    assert set(by_member) == {"n2", "n3"}
    a2, a3 = by_member["n2"], by_member["n3"]
    assert (a2.data["key"], a2.data["revision"], a2.data["value"], a2.data["others_value"]) == (
        "splitbrain/1", 12, [7, "1"], [7, "3"],
    )  # fmt: skip
    assert a2.explanation.startswith(
        "n2 has key 'splitbrain/1' = [7, \"1\"] at revision 12 while n1 and n4 have key "
        "'splitbrain/1' = [7, \"3\"]"
    )
    assert a3.data["key"] == "splitbrain/2" and a3.data["value"] is None
    assert a3.explanation.startswith("n3 has no key 'splitbrain/2' at revision 12")


def test_members_read_at_different_revisions_are_not_compared_key_by_key() -> None:
    behind = state(index=31, revision=9, at=9, keys={"splitbrain/1": [7, "3"]})
    r = check({"n1": state(), "n2": state(), "n3": behind}, "info")
    assert [a.name for a in r.anomalies] == ["members-not-converged"]


def test_a_digest_that_differs_while_every_key_agrees_is_named() -> None:
    r = check({"n1": state(), "n2": state(), "n3": state(digest="hashkv:1")})
    (a,) = r.anomalies
    assert a.name == "members-disagree" and a.data["member"] == "n3" and a.data["key"] is None
    assert "digest at revision 12 is hashkv:1" in a.explanation


def test_a_member_that_could_not_be_read_is_unknown_not_a_pass() -> None:
    r = check({"n1": state(), "n2": state(), "n3": {"error": "timed out", "index": None}})
    assert r.valid == "unknown" and not r.anomalies
    assert r.details["unreadable"] == {"n3": "timed out"}
    assert "n3: timed out" in r.details["reason"]


def test_the_last_reading_is_the_one_checked() -> None:
    h = reading({"n1": state(), "n2": state(revision=3)})
    h += reading({"n1": state(), "n2": state()})[2:]
    assert MembersChecker().check(h, ZERO).valid is True


def test_members_whose_keys_the_harness_left_out_agree_by_their_digest() -> None:
    trimmed = {**state(), "keys": None, "info": {"keys_as": "n1", "key_count": 2}}
    r = check({"n1": state(), "n2": trimmed, "n3": dict(trimmed)})
    assert r.valid is True, r.anomalies
