"""The leader-follower log, as real processes on 127.0.0.1: acknowledged writes with their
index, what followers may show (up to their high-water mark, above the low-water mark),
truncation on every node, failover, and the mechanism of each seeded bug."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from loopback import LoopbackCluster, clusters, wait

FAST = ("--heartbeat-ms", "30", "--election-ms", "150-300", "--request-timeout-ms", "600")


class Cluster(LoopbackCluster):
    """n log nodes on loopback, each with its own port, data dir and log."""

    module = "leaderfollower"

    def leader(self, among: list[str] | None = None, timeout: float = 10.0, **_: Any) -> str:
        def leads(st: dict[str, Any]) -> bool:
            return st["role"] == "leader" and st["hwm"] > 0

        return super().leader(among, timeout, is_leader=leads)

    def read_log(self, name: str, where: str = "tail", count: int = 64) -> dict[str, Any]:
        return self.call(name, {"type": "read-log", "from": where, "count": count})["value"]


def applied(c: Cluster, name: str, index: int) -> bool:
    """Whether node ``name``'s high-water mark has reached ``index``."""
    return bool(c.read_log(name)["hwm"] >= index)


@pytest.fixture
def logs(tmp_path):
    with clusters(tmp_path, Cluster, FAST) as make:
        yield lambda bugs=(), n=3: make(n, bugs)


def test_followers_show_acknowledged_writes_up_to_their_hwm_only(logs) -> None:
    c = logs()
    leader = c.leader()
    follower = next(n for n in c.names if n != leader)
    indices = [
        c.call(follower, {"type": "write", "key": "k", "value": v})["value"]["index"]
        for v in range(5)
    ]
    assert indices == sorted(indices) and len(set(indices)) == 5
    assert c.call(follower, {"type": "read", "key": "k"})["value"] == 4
    wait(lambda: c.read_log(follower)["hwm"] >= indices[-1], 10, "the follower to learn the HWM")
    seen = c.read_log(follower)
    assert all(e[0] <= seen["hwm"] for e in seen["entries"])
    assert [e[2] for e in seen["entries"] if e[0] in indices] == [["w", "k", v] for v in range(5)]
    assert seen["hwm"] <= c.status(leader)["hwm"]


def test_truncation_moves_every_nodes_low_water_mark_and_reads_start_above_it(logs) -> None:
    c = logs()
    leader = c.leader()
    for v in range(10):
        c.call(leader, {"type": "write", "key": "k", "value": v})
    t = c.call(c.names[0], {"type": "truncate", "keep": 3})["value"]
    assert t["upto"] > 0 and t["index"] > t["upto"]
    for n in c.names:
        wait(partial(applied, c, n, t["index"]), 10, f"{n} to apply the truncation")
        head = c.read_log(n, "head", 4)
        assert head["lwm"] == t["upto"]
        assert head["entries"][0][0] == t["upto"] + 1
    audit = c.call(leader, {"type": "audit"})["value"]
    assert [e[0] for e in audit["entries"]] == list(range(1, audit["hwm"] + 1))  # all kept


def test_acknowledged_writes_survive_the_loss_of_the_leader(logs) -> None:
    c = logs()
    leader = c.leader()
    acked = [
        c.call(leader, {"type": "write", "key": "k", "value": v})["value"]["index"]
        for v in range(5)
    ]
    c.kill(leader)
    rest = [n for n in c.names if n != leader]
    new = c.leader(rest)
    # the followers may not have heard that the last write committed before the leader died:
    # the new leader commits it with its first entry (its no-op), a moment after it is elected
    wait(lambda: c.status(new)["hwm"] >= acked[-1], 10, f"{new} to commit every acked write")
    audit = c.call(new, {"type": "audit"})["value"]
    held = {e[0]: e[2] for e in audit["entries"]}
    assert [held[i] for i in acked] == [["w", "k", v] for v in range(5)]


@pytest.mark.parametrize("bugs", [(), ("ack-before-replication",)])
def test_a_leader_without_followers_acknowledges_only_with_the_bug(logs, bugs) -> None:
    c = logs(bugs)
    leader = c.leader()
    for n in c.names:
        if n != leader:
            c.kill(n)
    reply = c.call(leader, {"type": "write", "key": "k", "value": "lonely"})
    if bugs:
        assert reply["ok"] and reply["value"]["index"] > c.status(leader)["hwm"]
    else:
        assert (reply["ok"], reply["error"], reply["definite"]) == (False, "timeout", False)


@pytest.mark.parametrize("bugs", [(), ("read-past-hwm",)])
def test_entries_above_the_hwm_are_served_only_with_the_bug(logs, bugs) -> None:
    c = logs(bugs)
    leader = c.leader()
    for n in c.names:
        if n != leader:
            c.kill(n)
    c.call(leader, {"type": "write", "key": "k", "value": "pending"}, timeout=3.0)
    tail = c.read_log(leader)
    above = [e for e in tail["entries"] if e[0] > tail["hwm"]]
    assert [e[2] for e in above] == ([["w", "k", "pending"]] if bugs else [])


@pytest.mark.parametrize("bugs", [(), ("lwm-leader-only",)])
def test_followers_keep_serving_truncated_entries_only_with_the_bug(logs, bugs) -> None:
    c = logs(bugs)
    leader = c.leader()
    for v in range(6):
        c.call(leader, {"type": "write", "key": "k", "value": v})
    t = c.call(leader, {"type": "truncate", "keep": 2})["value"]
    follower = next(n for n in c.names if n != leader)
    wait(lambda: c.read_log(follower)["hwm"] >= t["index"], 10, "the follower to apply it")
    head = c.read_log(follower, "head", 2)
    assert head["entries"][0][0] == (1 if bugs else t["upto"] + 1)
    assert c.read_log(leader, "head", 2)["lwm"] == t["upto"]
