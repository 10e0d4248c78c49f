"""The member-states step's own logic (``harness/members.py``), on small Systems written for
it: it waits until the members report one index, no longer than ``members_wait_s``, stops
when asked, and records a System that raises as members that did not converge, with why.
The readings of real etcd and Redis are in tests/workloads/test_*_members.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.history import Journal
from harness.members import converged, offers, record_member_states
from workloads.system import MemberState


class Catching:
    """Members whose indexes meet after ``meet`` readings."""

    def __init__(self, meet: int, wait_s: float = 30.0) -> None:
        self.meet, self.readings, self.members_wait_s = meet, 0, wait_s

    def member_states(self, nodes: Sequence[Any], timeout: float) -> dict[str, MemberState]:
        self.readings += 1
        behind = 0 if self.readings >= self.meet else 1
        return {
            "n1": MemberState(index=10, revision=5, at=5, digest="d", keys={"k": 1}),
            "n2": MemberState(index=10 - behind, revision=5, at=5, digest="d", keys={"k": 1}),
        }


class Raising:
    members_wait_s = 0.0

    def member_states(self, nodes: Sequence[Any], timeout: float) -> dict[str, MemberState]:
        raise RuntimeError("the member list could not be read")


def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "history.jsonl", time.monotonic_ns)


def test_it_waits_until_the_members_reach_one_index(tmp_path: Path) -> None:
    system = Catching(meet=3)
    assert offers(system) and not offers(object())
    j = journal(tmp_path)
    done = record_member_states(system, [], j)
    assert system.readings == 3
    assert (done.type, done.f, done.process, done.error) == ("ok", "member-states", "nemesis", None)
    assert done.value["n1"] == {"index": 10, "revision": 5, "at": 5, "digest": "d",
                                "keys": {"k": 1}, "error": None, "info": {}}  # fmt: skip
    # one digest: n2's keys are n1's, not written again
    assert done.value["n2"]["keys"] is None
    assert done.value["n2"]["info"] == {"keys_as": "n1", "key_count": 1}
    assert [op.type for op in j.ops] == ["invoke", "ok"]


def test_it_waits_no_longer_than_members_wait_s(tmp_path: Path) -> None:
    system = Catching(meet=10**9, wait_s=0.3)
    t = time.monotonic()
    done = record_member_states(system, [], journal(tmp_path))
    assert time.monotonic() - t < 10
    assert done.type == "info" and done.error is not None
    assert done.error.startswith("members-not-converged: after 0.3 s (")
    assert "n1 at index 10, n2 at index 9" in done.error


def test_a_signal_stops_the_wait(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    done = record_member_states(Catching(meet=10**9), [], journal(tmp_path), stop)
    assert done.type == "info"


def test_a_system_that_raises_is_recorded_not_raised(tmp_path: Path) -> None:
    done = record_member_states(Raising(), [], journal(tmp_path))
    assert (done.type, done.value) == ("info", {})
    assert done.error == "members-not-converged: RuntimeError: the member list could not be read"


def test_converged_needs_every_member_read_at_one_index() -> None:
    assert not converged({})
    assert converged({"a": MemberState(index=3), "b": MemberState(index=3)})
    assert not converged({"a": MemberState(index=3), "b": MemberState(index=None)})
    assert not converged({"a": MemberState(index=3), "b": MemberState(index=3, error="x")})
