"""The actor pattern as real processes on 127.0.0.1: messages through any node reach one
host, which applies them one at a time; a copy of a message is answered again, not applied;
a host killed or overtaken by a newer claim loses the actor, which lives on elsewhere with
its state; the mechanism of each seeded bug; and the workload's client against a real
node."""

from __future__ import annotations

import signal
from types import SimpleNamespace
from typing import Any, cast

import pytest
from loopback import LoopbackCluster, clusters

from clusters.base import Node
from harness.history import Op
from patterns.actor import host_of
from workloads.actor import ActorClient

FAST = ("--request-timeout-ms", "1500", "--forward-timeout-ms", "500", "--rpc-timeout-ms", "300")


class Cluster(LoopbackCluster):
    """n actor nodes on loopback."""

    module = "actor"

    def send(
        self, node: str, actor: str, op: str, arg: Any = None, *, sender: str = "s1", seq: int
    ) -> dict[str, Any]:
        req = {"type": "send", "actor": actor, "op": op, "arg": arg, "sender": sender, "seq": seq}
        return self.call(node, req, timeout=5.0)

    def ok(self, node: str, actor: str, op: str, arg: Any = None, **kw: Any) -> dict[str, Any]:
        reply = self.send(node, actor, op, arg, **kw)
        assert reply["ok"], reply
        return cast(dict[str, Any], reply["value"])


@pytest.fixture
def actor(tmp_path):
    with clusters(tmp_path, Cluster, FAST) as make:
        yield lambda bugs=(), n=3, extra=(): make(n, bugs, extra)


def test_messages_through_any_node_reach_one_host_in_order(actor) -> None:
    c = actor()
    first = c.ok("n1", "a1", "increment", seq=1)
    assert (first["result"], first["n"], first["via"], first["dup"]) == (1, 1, "n1", False)
    host, epoch = first["host"], first["epoch"]
    assert host == host_of(epoch, c.names)
    second = c.ok("n2", "a1", "append", 7, seq=2)
    third = c.ok("n3", "a1", "increment", seq=3)
    assert [(v["result"], v["n"]) for v in (second, third)] == [(1, 2), (2, 3)]
    read = c.ok("n2", "a1", "read", seq=4)
    assert read["result"] == {"count": 2, "log": [7]} and read["n"] == 3  # a read adds nothing
    assert {v["host"] for v in (second, third, read)} == {host}
    assert {v["epoch"] for v in (second, third, read)} == {epoch}
    assert c.state(host)["active"] == {"a1": epoch}


def test_a_copy_of_a_message_gets_its_first_reply_and_an_older_one_is_refused(actor) -> None:
    c = actor()
    c.ok("n1", "a1", "append", 1, seq=1)
    applied = c.ok("n1", "a1", "append", 2, seq=2)
    again = c.ok("n2", "a1", "append", 2, seq=2)
    assert again["dup"] is True and (again["result"], again["n"]) == (2, applied["n"])
    older = c.send("n3", "a1", "append", 1, seq=1)
    assert (older["ok"], older["error"], older["definite"]) == (False, "stale-message", True)
    assert c.ok("n1", "a1", "read", seq=3)["result"]["log"] == [1, 2]
    # another sender's numbers are its own
    assert c.ok("n1", "a1", "append", 3, sender="s2", seq=1)["result"] == 3


def test_a_killed_host_loses_the_actor_to_a_newer_epoch_with_its_state(actor) -> None:
    c = actor()
    first = c.ok("n1", "a1", "increment", seq=1)
    c.ok("n1", "a1", "append", 5, seq=2)
    host = first["host"]
    c.kill(host)
    entry = next(n for n in c.names if n != host)
    moved = c.ok(entry, "a1", "increment", seq=3)
    assert moved["host"] == entry and moved["epoch"] > first["epoch"]
    assert (moved["result"], moved["n"]) == (2, 3)
    c.start(host)  # back on its data, which names itself: it claims anew, from the majority
    read = c.ok(host, "a1", "read", seq=4)
    assert read["result"] == {"count": 2, "log": [5]} and read["n"] == 3
    assert read["epoch"] >= moved["epoch"]


def test_a_host_overtaken_by_a_newer_claim_stops_and_the_actor_lives_on(actor) -> None:
    c = actor()
    first = c.ok("n1", "a1", "increment", seq=1)
    host = first["host"]
    newer = first["epoch"] + 10 * len(c.names)  # another node's claim, made by hand
    newer += (c.names.index(host) + 1) % len(c.names) - newer % len(c.names)
    for n in c.names:
        assert c.call(n, {"type": "claim", "actor": "a1", "epoch": newer})["granted"]
    assert c.state(host)["active"] == {}  # the claim it promised ended its activation
    after = c.ok(host, "a1", "increment", seq=2)
    assert after["epoch"] > newer and after["result"] == 2 and after["n"] == 2


def test_without_a_majority_nothing_is_acknowledged(actor) -> None:
    c = actor()
    host = c.ok("n1", "a1", "increment", seq=1)["host"]
    for n in c.names:
        if n != host:
            c.kill(n)
    reply = c.send(host, "a1", "increment", seq=2)
    assert (reply["ok"], reply["error"]) == (False, "timeout")
    read = c.send(host, "a1", "read", seq=3)
    assert read["ok"] is False


def test_a_paused_host_gets_each_message_again_and_applies_it_once(actor) -> None:
    c = actor()
    host = c.ok("n1", "a1", "increment", seq=1)["host"]
    entry = next(n for n in c.names if n != host)
    c.signal(host, signal.SIGSTOP)
    try:
        lost = c.send(entry, "a1", "append", 9, seq=2)  # sent three times, never answered
    finally:
        c.signal(host, signal.SIGCONT)
    assert (lost["ok"], lost["error"], lost["definite"]) == (False, "timeout", False)
    assert c.ok(entry, "a1", "read", seq=3)["result"]["log"] == [9]


def test_bug_no_dedup_applies_a_copy_again(actor) -> None:
    c = actor(bugs=("no-dedup",))
    c.ok("n1", "a1", "append", 4, seq=1)
    again = c.ok("n2", "a1", "append", 4, seq=1)
    assert again["dup"] is False and again["result"] == 2
    assert c.ok("n1", "a1", "read", seq=2)["result"]["log"] == [4, 4]


def test_bug_persist_after_reply_loses_acknowledged_messages_with_the_host(actor) -> None:
    c = actor(bugs=("persist-after-reply",), extra=("--flush-ms", "20000"))
    first = c.ok("n1", "a1", "increment", seq=1)
    c.ok("n1", "a1", "increment", seq=2)
    c.kill(first["host"])
    entry = next(n for n in c.names if n != first["host"])
    read = c.ok(entry, "a1", "read", seq=3)
    assert read["result"]["count"] == 0 and read["epoch"] > first["epoch"]


def test_bug_stale_directory_acknowledges_without_a_majority(actor) -> None:
    c = actor(bugs=("stale-directory",))
    host = c.ok("n1", "a1", "increment", seq=1)["host"]
    for n in c.names:
        if n != host:
            c.kill(n)
    assert c.ok(host, "a1", "increment", seq=2)["result"] == 2  # a correct host would not
    assert c.ok(host, "a1", "read", seq=3)["result"]["count"] == 2


# -- the workload's client -------------------------------------------------------------------


def client_on(c: Cluster, name: str) -> ActorClient:
    client = ActorClient(timeout=3.0, port=c.ports[name])
    client.open(cast(Node, SimpleNamespace(name=name, address="127.0.0.1")))
    return client


def test_the_client_records_each_reply_with_its_sender_and_activation(actor) -> None:
    c = actor()
    client = client_on(c, "n2")
    try:
        inc = client.invoke(Op("invoke", "increment", ["a3", None], 4))
        assert (inc.type, inc.value) == ("ok", ["a3", 1])
        x = inc.extra
        assert (x["sender"], x["seq"], x["n"], x["via"], x["dup"]) == ("p4", 1, 1, "n2", False)
        assert x["host"] == host_of(x["epoch"], c.names)
        app = client.invoke(Op("invoke", "append", ["a3", 11], 4))
        assert (app.type, app.value, app.extra["len"], app.extra["seq"]) == ("ok", ["a3", 11], 1, 2)
        read = client.invoke(Op("invoke", "read", ["a3", None], 4))
        assert read.value == ["a3", {"count": 1, "log": [11]}]
        assert client.invoke(Op("invoke", "dance", ["a3", None], 4)).type == "fail"
        c.kill("n2")
        down = client.invoke(Op("invoke", "read", ["a3", None], 4))
        assert down.type == "fail" and down.extra["sender"] == "p4"
    finally:
        client.close()
