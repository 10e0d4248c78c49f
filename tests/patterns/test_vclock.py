"""The vector-clock store as real processes on 127.0.0.1: concurrent writes become siblings on
every replica and a write that read them replaces them; a paused replica catches up when it
resumes; a killed replica remembers what it showed; the mechanism of each seeded bug; and the
client and generator of the ``vclock`` workload against a replica."""

from __future__ import annotations

import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from loopback import LoopbackCluster, clusters, wait

from clusters.base import Node
from harness.generator import Context
from harness.history import Op
from workloads.vclock import VClockClient, VClockOps

ARGS = ["--sync-ms", "50", "--rpc-timeout-ms", "300", "--settle-ms", "3000"]


class VClock(LoopbackCluster):
    module = "vclock"

    def read(self, name: str, key: str) -> dict[str, Any]:
        reply = self.call(name, {"type": "read", "key": key})
        assert reply["ok"], reply
        return reply["value"]

    def values(self, name: str, key: str) -> list[Any]:
        return sorted(self.read(name, key)["values"])

    def write(self, name: str, key: str, value: Any, context: dict[str, int]) -> dict[str, Any]:
        reply = self.call(name, {"type": "write", "key": key, "value": value, "context": context})
        assert reply["ok"], reply
        return reply["value"]

    def settle(self, name: str) -> dict[str, Any]:
        reply = self.call(name, {"type": "settle"}, timeout=6.0)
        assert reply["ok"], reply
        return reply["value"]


def holds(c: VClock, node: str, values: list[Any]) -> Callable[[], bool]:
    """Whether ``node`` now holds exactly ``values`` (sorted) as the siblings of k."""
    return lambda: c.values(node, "k") == values


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., VClock]]:
    with clusters(tmp_path, VClock, ARGS) as factory:
        yield factory


def test_concurrent_writes_are_siblings_everywhere_until_a_write_that_read_them(
    make: Callable[..., VClock],
) -> None:
    c = make()
    c.write("n1", "k", "a", {})
    c.write("n2", "k", "b", {})
    c.write("n1", "k", "c", {})  # the same (empty) context again: concurrent with a, on n1 too
    for n in c.names:
        wait(holds(c, n, ["a", "b", "c"]), 5, f"{n} to hold a, b and c")
    seen = c.read("n3", "k")
    assert seen["context"] == {"n1": 2, "n2": 1}
    reply = c.write("n3", "k", "d", seen["context"])
    assert reply["dot"] == ["n3", 1]
    assert reply["context"] == {"n1": 2, "n2": 1, "n3": 1}
    for n in c.names:
        wait(holds(c, n, ["d"]), 5, f"{n} to hold d alone")
    final = c.settle("n1")
    assert final["converged"] is True and final["values"] == {"k": ["d"]}
    assert set(final["peers"].values()) == {final["digest"]}


def test_a_write_replaces_only_what_its_context_covered(make: Callable[..., VClock]) -> None:
    c = make()
    c.write("n1", "k", "a", {})
    ctx = c.read("n1", "k")["context"]
    c.write("n2", "k", "b", {})  # not seen by the next write
    wait(lambda: c.values("n1", "k") == ["a", "b"], 5, "n1 to hold a and b")
    c.write("n1", "k", "c", ctx)
    assert c.values("n1", "k") == ["b", "c"]


def test_a_paused_replica_catches_up_when_it_resumes(make: Callable[..., VClock]) -> None:
    c = make()
    c.write("n1", "k", "before", {})
    wait(lambda: c.values("n3", "k") == ["before"], 5, "n3 to hold the first write")
    c.signal("n3", signal.SIGSTOP)
    ctx = c.read("n1", "k")["context"]
    c.write("n1", "k", "during", ctx)
    c.write("n2", "j", "also", {})
    c.signal("n3", signal.SIGCONT)
    final = c.settle("n3")
    assert final["converged"] is True
    assert final["values"] == {"j": ["also"], "k": ["during"]}


def test_a_killed_replica_restarts_with_every_version_it_showed(
    make: Callable[..., VClock],
) -> None:
    c = make()
    c.write("n1", "k", "a", {})
    c.write("n2", "k", "b", {})
    wait(lambda: c.values("n1", "k") == ["a", "b"], 5, "n1 to hold a and b")
    shown = c.read("n1", "k")
    c.kill(*c.names)  # no peer is left to hand the versions back
    c.start("n1")
    after = c.read("n1", "k")
    assert sorted(after["values"]) == ["a", "b"] and after["context"] == shown["context"]
    assert c.write("n1", "k", "c", {})["dot"] == ["n1", 2]  # its own counter survived too


def test_lww_keeps_one_of_two_concurrent_writes(make: Callable[..., VClock]) -> None:
    c = make(bugs=["lww"])
    c.write("n1", "k", "a", {})
    c.write("n2", "k", "b", {})
    final = c.settle("n3")
    assert final["converged"] is True
    assert final["values"] == {"k": ["b"]}  # the later stamp; a, acknowledged, is gone


@pytest.mark.parametrize("bug", [None, "bad-merge"])
def test_a_merge_with_the_minimum_forgets_the_nodes_own_dot_and_reuses_it(
    make: Callable[..., VClock], bug: str | None
) -> None:
    c = make(bugs=[bug] if bug else [])
    first = c.write("n1", "k", "a", {})
    assert first["dot"] == ["n1", 1]
    wait(lambda: c.values("n2", "k") == ["a"], 5, "n2 to hold a")
    if bug:
        # a peer that had not seen n1's dot merged with it: n1's context lost its own entry
        wait(lambda: "n1" not in c.read("n1", "k")["context"], 5, "n1 to forget its dot")
    else:
        wait(lambda: c.read("n1", "k")["context"] == {"n1": 1}, 5, "the context to stay")
    second = c.write("n1", "k", "b", {})
    if bug:
        assert second["dot"] == ["n1", 1]  # the dot of a, again: b took its place
        assert c.values("n1", "k") == ["b"]
        assert c.settle("n2")["values"] == {"k": ["b"]}  # a was acknowledged, and is gone
    else:
        assert second["dot"] == ["n1", 2]
        assert c.values("n1", "k") == ["a", "b"]
        assert c.settle("n2")["values"] == {"k": ["a", "b"]}


class _Host:
    """What ``PatternClient.open`` reads of a node: its address."""

    name, address = "n1", "127.0.0.1"


def test_the_client_records_what_each_write_replaced_even_when_it_times_out(
    make: Callable[..., VClock],
) -> None:
    c = make()
    client = VClockClient(port=c.ports["n1"], timeout=0.5, settle=3.0)
    client.open(cast(Node, _Host()))
    try:

        def do(f: str, value: Any) -> Op:
            return client.invoke(Op("invoke", f, value, 0, node="n1"))

        assert do("read", ["k", None]).value == ["k", []]
        first = do("write", ["k", 1])
        assert first.type == "ok" and first.extra == {"saw": [], "context": {}, "dot": ["n1", 1]}
        read = do("read", ["k", None])
        assert read.value == ["k", [1]] and read.extra == {"context": {"n1": 1}}
        c.signal("n1", signal.SIGSTOP)
        late = Op("invoke", "write", ["k", 2], 0, node="n1")
        done = client.invoke(late)
        # unknown outcome; the invocation itself says what the write replaced, so the
        # runner's own info completion (made from it) would too
        assert done.type == "info" and done.extra["saw"] == [1]
        assert late.extra == {"saw": [1], "context": {"n1": 1}}
        assert late.complete("info", late.value).extra["saw"] == [1]
        c.signal("n1", signal.SIGCONT)
        final = do("final-read", None)
        assert final.type == "ok" and final.value == {"k": [2]} and final.extra["converged"]
    finally:
        client.close()


def test_a_read_is_followed_by_a_write_of_its_key_on_the_same_thread_for_rmw() -> None:
    ops = VClockOps(keys=3, writes=0.0, rmw=1.0)
    rng = random.Random(1)
    drawn = [ops.op(Context(time=0.0, thread=t % 2, process=t % 2, rng=rng)) for t in range(8)]
    for t in (0, 1):
        mine = drawn[t::2]
        assert [o["f"] for o in mine] == ["read", "write"] * 2
        assert mine[1]["value"][0] == mine[0]["value"][0]
    values = [o["value"][1] for o in drawn if o["f"] == "write"]
    assert len(set(values)) == len(values) == 4  # every written value is new
