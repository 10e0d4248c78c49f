"""The CASPaxos register, as real processes on 127.0.0.1: the client protocol, rounds that
survive a lost minority, durable acceptors, and the mechanism of each seeded bug."""

from __future__ import annotations

from typing import Any

import pytest
from loopback import LoopbackCluster, clusters


class Cluster(LoopbackCluster):
    """n Paxos processes on loopback, each with its own port, data dir and log."""

    module = "paxos"


@pytest.fixture
def paxos(tmp_path):
    with clusters(tmp_path, Cluster) as make:
        yield make


def test_reads_writes_and_cas_agree_whichever_node_is_asked(paxos) -> None:
    c = paxos()
    assert c.call("n1", {"type": "write", "key": "x", "value": 1})["ok"]
    assert c.call("n2", {"type": "read", "key": "x"})["value"] == 1
    assert c.call("n3", {"type": "cas", "key": "x", "from": 1, "to": 2})["ok"]
    miss = c.call("n1", {"type": "cas", "key": "x", "from": 1, "to": 3})
    assert (miss["ok"], miss["error"], miss["definite"]) == (False, "cas-mismatch", True)
    assert "found 2" in miss["message"]
    assert c.call("n3", {"type": "read", "key": "x"})["value"] == 2
    assert c.call("n2", {"type": "read", "key": "never-written"})["value"] is None
    bad = c.call("n1", {"type": "write", "key": [1]})
    assert (bad["error"], bad["definite"]) == ("bad-request", True)


def test_a_majority_keeps_working_and_a_restarted_acceptor_remembers(paxos) -> None:
    c = paxos()
    c.call("n1", {"type": "write", "key": 7, "value": "a"})
    c.kill("n3")
    # every key, whatever its home, is still served by the two that are left
    for k in range(6):
        assert c.call("n1", {"type": "write", "key": k, "value": k})["ok"], k
        assert c.call("n2", {"type": "read", "key": k})["value"] == k
    c.kill("n1")
    c.start("n3")  # n3 missed the writes; n2 (which has them) and n3 are a majority
    for k in range(6):
        assert c.call("n3", {"type": "read", "key": k})["value"] == k
    c.kill("n2")
    c.start("n1")
    c.start("n2")  # every acceptor restarted from its own disk
    assert c.call("n2", {"type": "read", "key": 5})["value"] == 5


def test_a_minority_alone_answers_unavailable_definitely(paxos) -> None:
    c = paxos(extra=("--request-timeout-ms", "400"))
    c.kill("n2")
    c.kill("n3")
    reply = c.call("n1", {"type": "write", "key": "x", "value": 1})
    assert (reply["ok"], reply["error"], reply["definite"]) == (False, "unavailable", True)


def _prepare(c: Cluster, node: str, key: Any, ballot: list[Any]) -> dict[str, Any]:
    return c.call(node, {"type": "prepare", "key": key, "ballot": ballot})


@pytest.mark.parametrize("bugs", [(), ("forget-promise",)])
def test_forget_promise_lets_a_restarted_acceptor_promise_below_what_it_accepted(
    paxos, bugs
) -> None:
    c = paxos(bugs=bugs)
    # n1's acceptor accepts "new" under ballot 10, then promises ballot 50
    assert _prepare(c, "n1", "k", [10, "n2"])["promised"]
    accept = {"type": "accept", "key": "k", "ballot": [10, "n2"], "value": "new"}
    assert c.call("n1", accept)["accepted"]
    assert _prepare(c, "n1", "k", [50, "n2"])["promised"]
    c.kill("n1")
    c.start("n1")
    low = _prepare(c, "n1", "k", [1, "n3"])  # below both the promise and the accepted ballot
    if not bugs:
        assert (low["promised"], low["ballot"]) == (False, [50, "n2"])
        return
    assert low["promised"] and low["value"] == "new"
    # and it accepts under that low ballot, replacing the ballot its value was chosen with
    reply = c.call("n1", {"type": "accept", "key": "k", "ballot": [1, "n3"], "value": "old"})
    assert reply["accepted"]


@pytest.mark.parametrize("bugs", [(), ("local-read",)])
def test_local_read_answers_from_an_acceptor_that_missed_writes(paxos, bugs) -> None:
    c = paxos(bugs=bugs, extra=("--no-forward",))
    assert c.call("n3", {"type": "write", "key": "x", "value": 1})["ok"]
    c.kill("n3")
    assert c.call("n1", {"type": "write", "key": "x", "value": 2})["ok"]
    c.start("n3")
    got = c.call("n3", {"type": "read", "key": "x"})["value"]
    # with the bug: whatever n3's acceptor last took (1, or nothing if the first write's
    # accept went to the other two), never the write it missed
    assert got == 2 if not bugs else got in (1, None)
