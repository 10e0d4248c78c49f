"""The lock pattern as real processes on 127.0.0.1: grants and fencing tokens, leases that run
out, the protected storage, and the mechanism of each seeded bug."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from loopback import LoopbackCluster, clusters, wait

from patterns.lock import home_of

TTL_MS = 500


class Nodes(LoopbackCluster):
    """n lock nodes on loopback, each with its own port, data directory and log."""

    module = "lock"

    def acquire(self, name: str, key: Any, owner: str = "c") -> dict[str, Any]:
        return self.call(name, {"type": "acquire", "key": key, "owner": owner})

    def write(self, name: str, key: Any, token: int, value: Any) -> dict[str, Any]:
        return self.call(name, {"type": "write", "key": key, "token": token, "value": value})


@pytest.fixture
def nodes(tmp_path: Path) -> Any:
    with clusters(tmp_path, Nodes, ("--ttl-ms", str(TTL_MS), "--election-ms", "150-300")) as make:
        yield make


def test_grants_carry_tokens_that_grow_and_a_held_lock_is_refused(nodes: Any) -> None:
    c = nodes()
    ldr = c.leader()
    follower = next(n for n in c.names if n != ldr)
    first = c.acquire(follower, "a", "alice")  # forwarded to the leader
    assert first["ok"] and first["value"] == {"token": 1, "ttl_ms": TTL_MS}
    refused = c.acquire(ldr, "a", "bob")
    assert refused["ok"] is False and refused["error"] == "locked" and refused["definite"]
    assert c.acquire(ldr, "b")["value"]["token"] == 1  # locks are independent
    assert c.call(ldr, {"type": "release", "key": "a", "token": 1})["ok"]
    assert c.acquire(follower, "a", "bob")["value"]["token"] == 2
    wrong = c.call(ldr, {"type": "release", "key": "a", "token": 1})
    assert wrong["error"] == "not-holder" and wrong["definite"] is True


def test_a_lease_that_is_not_released_runs_out_and_the_next_grant_has_a_larger_token(
    nodes: Any,
) -> None:
    c = nodes()
    ldr = c.leader()
    assert c.acquire(ldr, "k")["value"]["token"] == 1
    assert c.acquire(ldr, "k")["error"] == "locked"
    time.sleep(TTL_MS / 1000 + 0.1)
    assert c.acquire(ldr, "k")["value"]["token"] == 2
    late = c.call(ldr, {"type": "release", "key": "k", "token": 1})
    assert late["error"] == "not-holder"  # the first holder lost it: its release is refused


def test_the_storage_refuses_an_older_token_and_keeps_accepted_writes_in_order_durably(
    nodes: Any,
) -> None:
    c = nodes()
    c.leader()
    key = "s"
    home = home_of(key, c.names)
    other = next(n for n in c.names if n != home)
    assert c.write(other, key, 2, "x")["ok"]  # forwarded to the home node
    assert c.write(home, key, 2, "y")["ok"]  # the same holder writes again
    stale = c.write(other, key, 1, "z")
    assert stale["ok"] is False and stale["error"] == "stale-token" and stale["definite"]
    assert c.write(home, key, 3, "w")["ok"]
    c.kill(home)
    c.start(home)
    read = c.call(other, {"type": "read", "key": key})
    assert read["value"] == [[2, "x"], [2, "y"], [3, "w"]]


def test_tokens_go_on_growing_under_a_new_leader(nodes: Any) -> None:
    c = nodes()
    ldr = c.leader()
    for token in (1, 2, 3):
        assert c.acquire(ldr, "t")["value"]["token"] == token
        assert c.call(ldr, {"type": "release", "key": "t", "token": token})["ok"]
    c.kill(ldr)
    new = c.leader()
    assert new != ldr
    wait(
        lambda: c.acquire(new, "t").get("value", {}).get("token") == 4,
        5,
        "the new leader to grant token 4",
    )


def test_no_fencing_lets_a_stale_holder_write_after_a_newer_one(nodes: Any) -> None:
    c = nodes(bugs=("no-fencing",))
    c.leader()
    assert c.write("n1", "s", 2, "new")["ok"]
    assert c.write("n2", "s", 1, "old")["ok"]  # a correct storage refuses it
    assert c.call("n3", {"type": "read", "key": "s"})["value"] == [[2, "new"], [1, "old"]]


def test_term_token_gives_every_grant_of_a_term_the_same_token(nodes: Any) -> None:
    c = nodes(bugs=("term-token",))
    ldr = c.leader()
    term = c.status(ldr)["term"]  # type: ignore[index]
    assert c.acquire(ldr, "q")["value"]["token"] == term
    assert c.call(ldr, {"type": "release", "key": "q", "token": term})["ok"]
    assert c.acquire(ldr, "q")["value"]["token"] == term  # a correct lock gives 2


def test_early_grant_acknowledges_a_grant_no_majority_has(nodes: Any) -> None:
    right = nodes()
    ldr = right.leader()
    for n in right.names:
        if n != ldr:
            right.kill(n)
    reply = right.acquire(ldr, "e")  # alone, a correct leader cannot commit the grant
    assert reply["ok"] is False and reply["error"] == "timeout" and reply["definite"] is False

    buggy = nodes(bugs=("early-grant",))
    ldr = buggy.leader()
    for n in buggy.names:
        if n != ldr:
            buggy.kill(n)
    assert buggy.acquire(ldr, "e")["value"]["token"] == 1
