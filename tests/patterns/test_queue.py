"""The replicated queue, as real processes on 127.0.0.1: FIFO delivery to one consumer,
acknowledgements, the audit, failover, and the mechanism of each seeded bug."""

from __future__ import annotations

import time
from typing import Any

import pytest
from loopback import LoopbackCluster, clusters

FAST = (
    "--heartbeat-ms",
    "30",
    "--election-ms",
    "150-300",
    "--request-timeout-ms",
    "600",
    "--visibility-ms",
    "300",
)


class Cluster(LoopbackCluster):
    """n queue nodes on loopback, each with its own port, data dir and log."""

    module = "queue"

    def leader(self, among: list[str] | None = None, timeout: float = 10.0, **_: Any) -> str:
        def leads(st: dict[str, Any]) -> bool:
            return st["role"] == "leader" and bool(st["commit"])

        return super().leader(among, timeout, is_leader=leads)

    def enqueue(self, name: str, value: Any) -> dict[str, Any]:
        return self.call(name, {"type": "enqueue", "value": value})

    def dequeue(self, name: str, consumer: str) -> dict[str, Any]:
        return self.call(name, {"type": "dequeue", "consumer": consumer})


@pytest.fixture
def queues(tmp_path):
    with clusters(tmp_path, Cluster, FAST) as make:
        yield lambda bugs=(): make(3, bugs)


def test_messages_come_out_in_order_once_each_and_acks_belong_to_their_consumer(queues) -> None:
    c = queues()
    for v in ("a", "b", "c"):
        assert c.enqueue(c.names[v == "b"], v)["ok"]
    got = [c.dequeue(n, "alice")["value"] for n in c.names]
    assert [m["value"] for m in got] == ["a", "b", "c"]
    assert c.dequeue("n2", "bob")["value"] is None  # empty: nothing is handed out twice
    refused = c.call("n2", {"type": "ack", "consumer": "bob", "ids": [got[0]["id"]]})
    assert (refused["ok"], refused["error"], refused["definite"]) == (False, "not-held", True)
    assert "held by alice" in refused["message"]
    ids = [m["id"] for m in got[:2]]
    for _ in range(2):  # idempotent
        done = c.call("n3", {"type": "ack", "consumer": "alice", "ids": ids})
        assert done["value"] == {"acked": ids, "refused": []}
    leader = c.leader()
    audit = c.call(leader, {"type": "audit"})["value"]
    assert audit["queue"] == [] and audit["acked"] == 2
    assert audit["inflight"] == [[got[2]["id"], "c", "alice"]]


def test_nothing_acknowledged_is_lost_when_the_leader_is(queues) -> None:
    c = queues()
    leader = c.leader()
    for v in range(5):
        assert c.enqueue(leader, v)["ok"]
    first = c.dequeue(leader, "alice")["value"]
    c.kill(leader)
    rest = [n for n in c.names if n != leader]
    new = c.leader(rest)
    assert [c.dequeue(new, "bob")["value"]["value"] for _ in range(4)] == [1, 2, 3, 4]
    audit = c.call(new, {"type": "audit"})["value"]
    assert [first["id"], 0, "alice"] in audit["inflight"]


@pytest.mark.parametrize("bugs", [(), ("redeliver-on-timeout",)])
def test_an_unacknowledged_message_goes_to_another_consumer_only_with_the_bug(queues, bugs) -> None:
    c = queues(bugs)
    c.enqueue("n1", "slow")
    assert c.dequeue("n1", "alice")["value"]["value"] == "slow"
    time.sleep(0.8)  # well past --visibility-ms 300
    again = c.dequeue("n2", "bob")["value"]
    assert (again and again["value"]) == ("slow" if bugs else None)


@pytest.mark.parametrize("bugs", [(), ("unreplicated-dequeue",)])
def test_a_leader_without_followers_hands_out_messages_only_with_the_bug(queues, bugs) -> None:
    c = queues(bugs)
    leader = c.leader()
    c.enqueue(leader, "m")
    for n in c.names:
        if n != leader:
            c.kill(n)
    reply = c.dequeue(leader, "alice")
    if bugs:
        assert reply["ok"] and reply["value"]["value"] == "m"
    else:
        assert (reply["ok"], reply["error"], reply["definite"]) == (False, "timeout", False)
