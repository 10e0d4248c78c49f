"""Membership changes of the reference Raft store, as real processes on 127.0.0.1: a node
removed (the leader too) and added back empty catches up and keeps the data; the
configuration survives a restart; one change at a time; and the seeded bug
count-new-member-early commits with a member that holds nothing. The System, as the membership
fault drives it: tests/workloads/test_raft_membership_fault.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import LoopbackCluster, clusters, wait


class Cluster(LoopbackCluster):
    """Raft processes on loopback; a node in ``joining`` starts on an empty data directory
    marked to join (``join``)."""

    module = "raft"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joining: set[str] = set()

    def start(self, name: str, *, ports: dict[str, int] | None = None) -> None:
        if name in self.joining and not (self.tmp / name).exists():
            (self.tmp / name).mkdir(parents=True)
            (self.tmp / name / "join").touch()
        super().start(name, ports=ports)

    def write(self, name: str, key: Any, value: Any) -> dict[str, Any]:
        return self.call(name, {"type": "write", "key": key, "value": value})

    def read(self, name: str, key: Any) -> dict[str, Any]:
        return self.call(name, {"type": "read", "key": key})

    def change(self, via: str, kind: str, node: str) -> dict[str, Any]:
        return self.call(via, {"type": kind, "node": node, "timeout_ms": 5000}, timeout=8.0)

    def voters(self, name: str) -> list[str]:
        return list((self.status(name) or {}).get("voters", []))

    def wipe(self, name: str) -> None:
        self.kill(name)
        shutil.rmtree(self.tmp / name)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    # election timeouts wide enough for a busy machine; changes wait for commits anyway
    with clusters(tmp_path, Cluster, args=["--election-ms", "400-800"]) as make:
        yield make


def until_ok(call: Any, what: str, within: float = 30.0) -> dict[str, Any]:
    """``call()``'s reply once it is ok (a change is refused while an earlier one or the
    leader's first entry is not committed, or while no leader is known)."""
    last: list[dict[str, Any]] = []

    def ok() -> bool:
        last[:] = [call()]
        return last[0].get("ok") is True

    try:
        wait(ok, within, what)
    except AssertionError:
        raise AssertionError(f"{what}: last reply {last}") from None
    return last[0]


def test_a_node_removed_and_added_back_empty_catches_up(cluster) -> None:
    c = cluster(3)
    ldr = c.leader()
    for i in range(30):
        assert c.write(ldr, f"k{i}", i)["ok"]
    gone = next(n for n in c.names if n != ldr)
    until_ok(lambda: c.change(ldr, "remove-server", gone), f"{gone} removed")
    assert c.voters(ldr) == sorted(set(c.names) - {gone})
    c.wipe(gone)
    rest = [n for n in c.names if n != gone]
    assert c.write(ldr, "after", "removal")["ok"]  # two of two voters commit

    c.joining.add(gone)
    c.start(gone)
    assert c.state(gone)["voters"] == []  # outside the configuration: it never campaigns
    via = next(n for n in rest if n != ldr)  # a follower forwards the request to the leader
    added = until_ok(lambda: c.change(via, "add-server", gone), f"{gone} added back")
    assert added["value"]["voters"] == sorted(c.names)
    assert c.write(ldr, "after", "add")["ok"]
    commit = c.state(ldr)["commit"]
    wait(lambda: c.state(gone)["applied"] >= commit, 10, f"{gone} to catch up")
    assert c.state(gone)["voters"] == sorted(c.names)
    assert c.read(gone, "k7")["value"] == 7
    # asked again, a change already made is answered ok
    assert c.change(ldr, "add-server", gone)["ok"] is True


def test_the_leader_removes_itself_steps_down_and_the_data_survives(cluster) -> None:
    c = cluster(3)
    old = c.leader()
    for i in range(20):
        assert c.write(old, f"k{i}", i)["ok"]
    reply = until_ok(lambda: c.change(old, "remove-server", old), "the leader removed")
    assert old not in reply["value"]["voters"]
    rest = [n for n in c.names if n != old]
    wait(lambda: c.state(old)["role"] != "leader", 10, f"{old} to step down")
    new = c.leader(among=rest, timeout=15)
    assert new != old
    wait(lambda: c.state(old)["role"] == "follower", 5, f"{old} to stay a follower")
    assert c.read(new, "k13")["value"] == 13
    assert c.write(new, "k0", "new")["ok"]
    # the removed node, not a voter, never campaigns: its term stays while the others lead
    assert c.state(old)["voters"] == rest


def test_the_configuration_is_restored_after_a_restart(cluster) -> None:
    c = cluster(3)
    ldr = c.leader()
    gone = next(n for n in c.names if n != ldr)
    until_ok(lambda: c.change(ldr, "remove-server", gone), f"{gone} removed")
    c.wipe(gone)
    rest = [n for n in c.names if n != gone]
    c.kill(*rest)
    for n in rest:
        c.start(n)
    assert c.state(rest[0])["voters"] == rest
    ldr = c.leader(among=rest, timeout=15)
    assert c.write(ldr, "x", 1)["ok"]


def test_only_one_change_at_a_time_and_unknown_nodes_refused(cluster) -> None:
    c = cluster(3)
    ldr = c.leader()
    bad = c.change(ldr, "add-server", "n9")
    assert bad["error"] == "bad-request" and bad["definite"] is True
    f1, f2 = (n for n in c.names if n != ldr)
    # both followers down: removing one cannot commit (the leader is one voter of two left);
    # nothing else may start while that configuration is uncommitted
    c.kill(f1, f2)
    first = c.change(ldr, "remove-server", f1)
    assert first["ok"] is False and first["error"] == "timeout" and first["definite"] is False
    second = c.change(ldr, "add-server", f1)
    assert second["error"] == "change-in-progress" and second["definite"] is True
    assert c.state(ldr)["voters"] == sorted([ldr, f2])  # in force once appended
    c.start(f2)
    # committed once f2 is back: the removal asked again is answered ok
    until_ok(lambda: c.change(ldr, "remove-server", f1), f"{f1} removed")


def test_count_new_member_early_commits_with_a_member_that_holds_nothing(cluster) -> None:
    """With the bug, a member added while it is down counts as a voter holding what it was
    sent: the leader then commits with no other node up (the correct store refuses the add
    as the member cannot catch up)."""
    for bug, added in ((("count-new-member-early",), True), ((), False)):
        c = cluster(3, bugs=bug)
        ldr = c.leader()
        gone = next(n for n in c.names if n != ldr)
        until_ok(lambda: c.change(ldr, "remove-server", gone), f"{gone} removed")  # noqa: B023
        c.wipe(gone)  # and never started again
        reply = c.change(ldr, "add-server", gone)
        assert (reply["ok"] is True) == added, reply
        other = next(n for n in c.names if n not in (ldr, gone))
        c.kill(other)
        write = c.write(ldr, "x", "alone")
        assert (write.get("ok") is True) == added, write
