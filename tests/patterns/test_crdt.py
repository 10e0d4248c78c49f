"""The CRDT replicas as real processes on 127.0.0.1: counters and the OR-set converge on every
replica, a paused replica catches up, a killed one restarts with its state; the merges' laws
(pure); the mechanism of each seeded bug; and the ``crdt`` workload's client and generator
against a replica."""

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
from harness.spec import WorkloadSpec
from patterns.crdt import Counter, LWWRegister, ORSet, merge_entry
from workloads.crdt import CrdtClient, CrdtOps, CrdtWorkloadOptions

ARGS = ["--sync-ms", "50", "--rpc-timeout-ms", "300", "--settle-ms", "3000"]


class Crdt(LoopbackCluster):
    module = "crdt"

    def ok(self, name: str, req: dict[str, Any]) -> Any:
        reply = self.call(name, req)
        assert reply["ok"], reply
        return reply["value"]

    def add(self, name: str, counter: str, delta: int) -> Any:
        return self.ok(name, {"type": "add", "counter": counter, "delta": delta})

    def read(self, name: str, obj: str) -> Any:
        return self.ok(name, {"type": "read", "object": obj})

    def settle(self, name: str) -> dict[str, Any]:
        reply = self.call(name, {"type": "settle"}, timeout=6.0)
        assert reply["ok"], reply
        return reply["value"]

    def everywhere(self, obj: str, value: Any) -> Callable[[], bool]:
        return lambda: all(self.read(n, obj) == value for n in self.names)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Crdt]]:
    with clusters(tmp_path, Crdt, ARGS) as factory:
        yield factory


# -- the replicas ------------------------------------------------------------------------------


def test_counters_and_the_set_converge_on_every_replica(make: Callable[..., Crdt]) -> None:
    c = make()
    c.add("n1", "g", 3)
    c.add("n2", "g", 4)
    c.add("n1", "pn", 5)
    c.add("n3", "pn", -7)
    assert c.ok("n2", {"type": "set-add", "element": 1}) == {"dot": ["n2", 1]}
    c.ok("n3", {"type": "set-add", "element": "x"})
    wait(c.everywhere("g", 7), 5, "every replica to read g = 7")
    wait(c.everywhere("pn", -2), 5, "every replica to read pn = -2")
    wait(c.everywhere("set", [1, "x"]), 5, "every replica to hold 1 and x")
    assert c.ok("n1", {"type": "set-remove", "element": 1}) == {"removed": [["n2", 1]]}
    assert c.ok("n1", {"type": "set-remove", "element": 99}) == {"removed": []}
    wait(c.everywhere("set", ["x"]), 5, "every replica to drop 1")
    final = c.settle("n2")
    assert final["converged"] is True
    assert final["values"] == {"g": 7, "pn": -2, "set": ["x"], "reg": None}
    assert set(final["peers"].values()) == {final["digest"]}


def test_a_paused_replica_catches_up_when_it_resumes(make: Callable[..., Crdt]) -> None:
    c = make()
    c.ok("n1", {"type": "set-add", "element": 1})
    wait(lambda: c.read("n3", "set") == [1], 5, "n3 to hold 1")
    c.signal("n3", signal.SIGSTOP)
    c.add("n1", "g", 2)
    c.ok("n2", {"type": "set-remove", "element": 1})
    c.ok("n2", {"type": "set-add", "element": 2})
    c.signal("n3", signal.SIGCONT)
    final = c.settle("n3")
    assert final["converged"] is True
    assert final["values"] == {"g": 2, "pn": 0, "set": [2], "reg": None}


def test_a_killed_replica_restarts_with_its_state(make: Callable[..., Crdt]) -> None:
    c = make()
    c.add("n1", "g", 3)
    c.add("n1", "pn", -1)
    c.ok("n1", {"type": "set-add", "element": 1})
    c.ok("n1", {"type": "set-add", "element": 2})
    c.ok("n1", {"type": "set-remove", "element": 1})
    c.ok("n1", {"type": "write", "value": 42})
    c.kill(*c.names)  # no peer is left to hand the state back
    c.start("n1")
    assert (c.read("n1", "g"), c.read("n1", "pn")) == (3, -1)
    assert c.read("n1", "set") == [2] and c.read("n1", "reg") == 42
    assert c.ok("n1", {"type": "set-add", "element": 3}) == {"dot": ["n1", 3]}  # its dots go on


def test_bad_requests_are_refused_definitely(make: Callable[..., Crdt]) -> None:
    c = make(n=1)
    for req in (
        {"type": "add", "counter": "g", "delta": -1},
        {"type": "add", "counter": "pn", "delta": True},
        {"type": "add", "counter": "zz", "delta": 1},
        {"type": "read", "object": "zz"},
        {"type": "set-add", "element": [1]},
        {"type": "write"},
    ):
        reply = c.call("n1", req)
        assert reply["ok"] is False and reply["error"] == "bad-request", (req, reply)


# -- the merges (pure) -------------------------------------------------------------------------


def test_the_merges_are_idempotent_and_commutative() -> None:
    assert merge_entry(5, 5, 0) == 5 and merge_entry(5, 3, 0) == 5 and merge_entry(3, 5, 3) == 5
    a, b = ORSet(), ORSet()
    a.add("n1", 1)
    b.add("n2", 2)
    b.add("n2", 3)
    b.remove(3)
    ab, ba = ORSet(dict(a.entries), dict(a.cc)), ORSet(dict(b.entries), dict(b.cc))
    ab.merge(b)
    ba.merge(a)
    assert ab.to_json() == ba.to_json() and ab.elements() == [1, 2]
    again = ORSet.from_json(ab.to_json())
    again.merge(b)
    assert again.to_json() == ab.to_json()
    r1, r2 = LWWRegister(), LWWRegister()
    r1.write("old", 1.0, "n1")
    r2.write("new", 2.0, "n2")
    assert r1.merge(r2) and not r1.merge(r2) and r1.value == "new"


def test_an_add_the_remove_did_not_see_survives_it() -> None:
    a, b = ORSet(), ORSet()
    a.add("n1", "e")
    b.merge(a)
    b.add("n2", "e")  # concurrent with the remove below: a new dot
    assert a.remove("e") == [("n1", 1)]
    a.merge(b)
    assert a.elements() == ["e"] and a.entries["e"] == {("n2", 1)}


def test_seeded_bug_mechanisms_in_the_merges() -> None:
    # merge-sum: the same report applied twice counts twice
    g = Counter()
    g.merge_own("n1", (5, 0), (0, 0), by_sum=True)
    g.merge_own("n1", (5, 0), (0, 0), by_sum=True)
    assert g.value == 10
    # no-tombstones: the removed element comes back from a replica that still holds it
    a, b = ORSet(), ORSet()
    a.add("n1", "e")
    b.merge(a)
    a.remove("e")
    a.merge(b, tombstones=False)
    assert a.elements() == ["e"]
    # pn-single-counter: a decrement lowers the one entry; a peer keeps the higher one
    pn, peer = Counter(), Counter()
    pn.add("n1", 5, single=True)
    peer.merge_own("n1", pn.own("n1"), (0, 0))
    pn.add("n1", -3, single=True)
    peer.merge_own("n1", pn.own("n1"), (5, 0))
    assert (pn.value, peer.value) == (2, 5)


# -- the seeded bugs on real replicas ------------------------------------------------------------


def test_merge_sum_counts_the_gossips_a_paused_replica_took_late_twice(
    make: Callable[..., Crdt],
) -> None:
    c = make(bugs=["merge-sum"])
    c.signal("n2", signal.SIGSTOP)
    c.add("n1", "g", 5)
    wait(lambda: c.read("n3", "g") == 5, 5, "n3 to read 5")  # gossips to n2 queue meanwhile
    wait(lambda: "n2" in c.state("n1")["unreachable"], 5, "n1 to give up on n2 a few times")
    c.signal("n2", signal.SIGCONT)
    wait(lambda: c.read("n2", "g") > 5, 5, "n2 to count n1's increments more than once")


def test_no_tombstones_brings_a_removed_element_back(make: Callable[..., Crdt]) -> None:
    c = make(bugs=["no-tombstones"])
    c.ok("n1", {"type": "set-add", "element": 7})
    wait(c.everywhere("set", [7]), 5, "every replica to hold 7")
    assert c.ok("n1", {"type": "set-remove", "element": 7}) == {"removed": [["n1", 1]]}
    wait(lambda: c.read("n1", "set") == [7], 5, "7 to come back on n1")


def test_pn_single_counter_loses_a_decrement_on_the_other_replicas(
    make: Callable[..., Crdt],
) -> None:
    c = make(bugs=["pn-single-counter"])
    c.add("n1", "pn", 5)
    wait(c.everywhere("pn", 5), 5, "every replica to read 5")
    c.add("n1", "pn", -3)
    c.add("n1", "g", 1)  # gossiped with the decrement
    wait(lambda: c.read("n2", "g") == 1, 5, "n2 to hear n1's next gossip")
    assert (c.read("n1", "pn"), c.read("n2", "pn")) == (2, 5)


# -- the workload's client and generator -------------------------------------------------------


def test_the_client_records_what_each_op_did(make: Callable[..., Crdt]) -> None:
    c = make(n=2)
    client = CrdtClient(port=c.ports["n1"], timeout=2.0, settle=3.0)
    client.open(cast(Node, type("N", (), {"name": "n1", "address": "127.0.0.1"})()))

    def run(f: str, value: Any = None) -> Op:
        return client.invoke(Op("invoke", f, value, process=0, node="n1"))

    assert run("g-add", 3).type == "ok"
    assert run("pn-add", -2).value == -2
    add = run("set-add", 9)
    assert add.type == "ok" and add.extra["dot"] == ["n1", 1]
    assert run("set-read").value == [9]
    assert run("set-remove", 9).extra["removed"] == [["n1", 1]]
    assert run("reg-write", 4).extra["won"] is True
    assert (run("g-read").value, run("pn-read").value, run("reg-read").value) == (3, -2, 4)
    final = run("final-read")
    assert final.type == "ok" and final.extra["converged"] is True
    assert final.value == {"g": 3, "pn": -2, "set": [], "reg": 4}
    assert run("nonsense").type == "fail"
    client.close()


def test_the_generator_removes_only_added_elements_and_keeps_some() -> None:
    spec = WorkloadSpec(name="crdt", mix={"set-add": 1, "set-remove": 1, "pn-add": 1})
    ops = CrdtOps(spec, CrdtWorkloadOptions(keep=0.5, max_delta=3))
    ctx = Context(time=0.0, thread=0, process=0, rng=random.Random(4))
    drawn = [ops.op(ctx) for _ in range(400)]
    added = [o["value"] for o in drawn if o["f"] == "set-add"]
    removed = [o["value"] for o in drawn if o["f"] == "set-remove"]
    assert added == list(range(1, len(added) + 1))
    assert set(removed) <= set(added) and len(set(removed)) == len(removed)
    assert 0 < len(set(added) - set(removed)) < len(added)
    assert all(1 <= abs(o["value"]) <= 3 for o in drawn if o["f"] == "pn-add")
    with pytest.raises(ValueError, match="no op cas, read, write"):
        CrdtOps(WorkloadSpec(name="crdt"), CrdtWorkloadOptions())


def test_the_generator_draws_the_decrements_share_of_the_pn_adds() -> None:
    spec = WorkloadSpec(name="crdt", mix={"pn-add": 1})
    for share, low, high in ((0.5, 400, 600), (0.75, 650, 850), (0.0, 0, 0), (1.0, 1000, 1000)):
        ops = CrdtOps(spec, CrdtWorkloadOptions(decrements=share))
        ctx = Context(time=0.0, thread=0, process=0, rng=random.Random(5))
        values = [ops.op(ctx)["value"] for _ in range(1000)]
        assert low <= sum(v < 0 for v in values) <= high, share
        assert 0 not in values
