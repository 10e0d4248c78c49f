"""The Lamport-clock pattern as real processes on 127.0.0.1: every event ticks, a receive takes
the larger stamp, the clock survives a kill -9, sends to a node that is down or stopped
fail as they should, the mechanism of each seeded bug, and the workload's client against a
real node."""

from __future__ import annotations

import signal
from types import SimpleNamespace
from typing import Any, cast

import pytest
from loopback import LoopbackCluster, clusters, wait

from clusters.base import Node
from harness.history import Op
from workloads.lamport import LamportClient, LamportSystem

FAST = ("--rpc-timeout-ms", "300", "--reserve", "50")


class Cluster(LoopbackCluster):
    """n Lamport nodes on loopback."""

    module = "lamport"

    def local(self, name: str) -> dict[str, Any]:
        reply = self.call(name, {"type": "local"})
        assert reply["ok"], reply
        return reply["value"]["local"]

    def send(self, name: str, to: str) -> dict[str, Any]:
        return self.call(name, {"type": "send", "to": to})


@pytest.fixture
def lamport(tmp_path):
    with clusters(tmp_path, Cluster, FAST) as make:
        yield lambda bugs=(), n=3: make(n, bugs)


def test_every_event_ticks_and_a_receive_takes_the_larger_stamp_plus_one(lamport) -> None:
    c = lamport()
    assert [c.local("n1")["c"] for _ in range(3)] == [1, 2, 3]
    assert c.local("n2") == {"node": "n2", "inc": 1, "seq": 1, "c": 1}
    reply = c.send("n1", "n2")
    assert reply["ok"], reply
    v = reply["value"]
    assert v["to"] == "n2" and v["msg"] == "n1.1.4"
    assert v["send"] == {"node": "n1", "inc": 1, "seq": 4, "c": 4}
    assert v["recv"] == {"node": "n2", "inc": 1, "seq": 2, "c": 5}  # max(1, 4) + 1
    assert c.local("n2")["c"] == 6
    back = c.send("n2", "n1")["value"]  # n1 (at 4) hears of 7: 8
    assert (back["send"]["c"], back["recv"]["c"]) == (7, 8)
    assert c.local("n3")["c"] == 1  # n3 heard from no one
    st = c.state("n1")
    assert (st["clock"], st["inc"], st["events"], st["bugs"]) == (8, 1, 5, [])


def test_a_node_killed_and_restarted_stamps_above_everything_it_stamped_before(lamport) -> None:
    c = lamport()
    # more events than the reserve (50): the durable ceiling moved on at least once
    stamps = [c.local("n1")["c"] for _ in range(60)]
    c.kill("n1")
    c.start("n1")
    after = c.local("n1")
    assert after["inc"] == 2 and after["seq"] == 1
    assert after["c"] > max(stamps)
    c.kill("n1")
    c.start("n1")
    assert c.local("n1")["c"] > after["c"] and c.state("n1")["inc"] == 3


def test_a_send_to_a_node_that_is_down_fails_definitely_with_its_send_event(lamport) -> None:
    c = lamport()
    c.kill("n2")
    reply = c.send("n1", "n2")
    assert (reply["ok"], reply["error"], reply["definite"]) == (False, "unavailable", True)
    assert reply["send"] == {"node": "n1", "inc": 1, "seq": 1, "c": 1}
    assert reply["to"] == "n2" and reply["msg"] == "n1.1.1"
    assert c.local("n1")["c"] == 2  # the send was an event all the same


def test_a_send_to_a_stopped_node_is_unknown_and_may_be_received_later(lamport) -> None:
    c = lamport()
    c.signal("n2", signal.SIGSTOP)
    try:
        reply = c.send("n1", "n2")
    finally:
        c.signal("n2", signal.SIGCONT)
    assert (reply["ok"], reply["error"], reply["definite"]) == (False, "timeout", False)
    assert reply["send"]["c"] == 1
    # the message was in n2's socket: n2 receives it when it runs again (stamp 2)
    wait(lambda: c.state("n2")["events"] == 1, 5, "n2 to receive the message")
    assert c.state("n2")["clock"] == 2


def test_a_send_names_another_member(lamport) -> None:
    c = lamport()
    for to in ("n1", "n7", None):
        reply = c.send("n1", cast(str, to))
        assert (reply["ok"], reply["error"], reply["definite"]) == (False, "bad-request", True)
    assert c.state("n1")["events"] == 0  # nothing happened


def test_bug_no_max_stamps_a_receive_below_its_send(lamport) -> None:
    c = lamport(bugs=("no-max",))
    for _ in range(5):
        c.local("n1")
    v = c.send("n1", "n2")["value"]
    assert v["send"]["c"] == 6 and v["recv"]["c"] == 1


def test_bug_send_no_tick_gives_a_send_the_stamp_of_the_previous_event(lamport) -> None:
    c = lamport(bugs=("send-no-tick",))
    assert c.local("n1")["c"] == 1
    v = c.send("n1", "n2")["value"]
    assert v["send"] == {"node": "n1", "inc": 1, "seq": 2, "c": 1}
    assert v["recv"]["c"] == 2


def test_bug_volatile_clock_counts_from_zero_after_a_restart(lamport) -> None:
    c = lamport(bugs=("volatile-clock",))
    for _ in range(4):
        c.local("n1")
    c.kill("n1")
    c.start("n1")
    assert c.local("n1") == {"node": "n1", "inc": 2, "seq": 1, "c": 1}


# -- the workload's client -------------------------------------------------------------------


def client_on(c: Cluster, name: str) -> LamportClient:
    """A LamportClient on node ``name`` of ``c``, its system naming every member."""
    nodes = [cast(Node, SimpleNamespace(name=n, address="127.0.0.1")) for n in c.names]
    system = LamportSystem("lamport", nodes=nodes)
    client = LamportClient(system, timeout=2.0, port=c.ports[name])
    client.open(nodes[c.names.index(name)])
    return client


def invoke(client: LamportClient, f: str, value: Any = None) -> Op:
    return client.invoke(Op("invoke", f, value, 0, node="n1"))


def test_the_client_records_each_event_and_picks_destinations_among_the_others(lamport) -> None:
    c = lamport()
    client = client_on(c, "n1")
    try:
        done = invoke(client, "local")
        assert (done.type, done.value) == (
            "ok",
            {"local": {"node": "n1", "inc": 1, "seq": 1, "c": 1}},
        )
        to_n2 = invoke(client, "send", {"pick": 0.1})
        assert to_n2.type == "ok" and to_n2.value["to"] == "n2"
        assert to_n2.value["send"]["c"] == 2 and to_n2.value["recv"]["c"] == 3
        assert to_n2.value["msg"] == "n1.1.2"
        assert invoke(client, "send", {"pick": 0.9}).value["to"] == "n3"
        c.kill("n3")
        lost = invoke(client, "send", {"pick": 0.99})
        assert (lost.type, lost.error) == ("fail", "unavailable")
        assert (
            lost.value["to"] == "n3" and lost.value["send"]["c"] == 4 and "recv" not in lost.value
        )
        assert invoke(client, "dance").type == "fail"
    finally:
        client.close()


def test_the_client_fails_definitely_when_its_node_is_down(lamport) -> None:
    c = lamport()
    client = client_on(c, "n2")
    c.kill("n2")
    try:
        done = invoke(client, "send", {"pick": 0.5})
        assert done.type == "fail" and done.value == {"to": "n3"}
    finally:
        client.close()
