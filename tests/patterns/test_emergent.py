"""The emergent-leader pattern: the membership rules as pure logic (override, refutation,
suspicion timing out, each bug's rule), then real processes on 127.0.0.1: the oldest member
leads and acts with the others' agreement, a killed node leaves the views and the next oldest
takes over, a restarted or paused node rejoins with a higher incarnation, the mechanism of
each seeded bug, and the workload's client against a real node."""

from __future__ import annotations

import signal
from types import SimpleNamespace
from typing import Any, cast

import pytest
from loopback import LoopbackCluster, clusters, wait

from clusters.base import Node
from harness.history import Op
from patterns.emergent import ALIVE, DEAD, SUSPECT, Membership
from workloads.emergent import EmergentClient

# fast timings: a dead node is removed within about half a second
FAST = ("--period-ms", "50", "--ping-timeout-ms", "100", "--suspect-ms", "300",
        "--rpc-timeout-ms", "200")  # fmt: skip


def entry(inc: int, state: str, join: int = 5) -> dict[str, Any]:
    return {"inc": inc, "state": state, "join": join}


# -- the rules, pure --------------------------------------------------------------------------


def test_a_higher_incarnation_overrides_and_at_one_incarnation_death_overrides_life() -> None:
    m = Membership("n1", 1, 10, 0.0)
    m.merge({"n2": entry(1, ALIVE), "n3": entry(1, ALIVE, join=3)}, 0.0)
    assert m.live() == ["n1", "n2", "n3"] and m.leader() == "n3"  # joined first
    m.merge({"n3": entry(1, SUSPECT, join=3)}, 1.0)
    assert m.state_of("n3") == SUSPECT and m.leader() == "n3"  # a suspect is still a member
    m.merge({"n3": entry(1, ALIVE, join=3)}, 1.0)  # stale: same incarnation, lower rank
    assert m.state_of("n3") == SUSPECT
    m.merge({"n3": entry(1, DEAD, join=3)}, 2.0)
    assert m.live() == ["n1", "n2"] and m.leader() == "n2"
    m.merge({"n3": entry(1, ALIVE, join=3)}, 2.0)  # a tombstone holds against a stale alive
    assert m.state_of("n3") == DEAD
    m.merge({"n3": entry(2, ALIVE, join=3)}, 3.0)  # it refuted: back, with its seniority
    assert m.leader() == "n3"
    assert m.merge("junk", 3.0) == [] and m.merge({"n2": {"inc": -1}}, 3.0) == []


def test_an_accused_node_refutes_with_a_higher_incarnation() -> None:
    m = Membership("n1", 4, 10, 0.0)
    assert m.merge({"n1": entry(3, DEAD)}, 0.0) == []  # an old accusation: already refuted
    changes = m.merge({"n1": entry(4, SUSPECT)}, 0.0)
    assert m.inc == 5 and changes == ["refuted suspect at incarnation 4: now 5 (was 4)"]
    assert m.digest()["n1"] == {"inc": 5, "state": ALIVE, "join": 10}


def test_a_suspicion_times_out_into_a_death_unless_never_remove() -> None:
    for remove, expect in ((True, DEAD), (False, SUSPECT)):
        m = Membership("n1", 1, 10, 0.0, remove_dead=remove)
        m.merge({"n2": entry(1, ALIVE)}, 0.0)
        assert m.suspect("n2", 1.0) == ["n2 suspect (incarnation 1)"]
        assert m.expire(1.5, 1.0) == [] and m.state_of("n2") == SUSPECT
        m.expire(2.0, 1.0)
        assert m.state_of("n2") == expect


def test_without_incarnations_a_suspect_flaps_and_a_death_is_final() -> None:
    m = Membership("n1", 0, 10, 0.0, incarnations=False)
    m.merge({"n2": entry(0, ALIVE)}, 0.0)
    assert m.merge({"n1": entry(0, DEAD)}, 0.0) == [] and m.inc == 0  # cannot refute
    m.suspect("n2", 1.0)
    assert m.heard_from("n2", 1.1) == ["n2 alive (heard from it)"]  # flaps back
    m.merge({"n2": entry(0, SUSPECT)}, 1.2)  # ... and is accused again
    assert m.state_of("n2") == SUSPECT
    m.merge({"n2": entry(0, DEAD)}, 1.3)
    assert m.heard_from("n2", 1.4) == [] and m.state_of("n2") == DEAD  # never comes back
    correct = Membership("n1", 1, 10, 0.0)
    correct.merge({"n2": entry(1, SUSPECT)}, 0.0)
    assert correct.heard_from("n2", 0.1) == []  # only its refutation clears it


# -- real processes ---------------------------------------------------------------------------


class Cluster(LoopbackCluster):
    """n emergent-leader nodes on loopback, started in order: n1 is the oldest."""

    module = "emergent"

    def view(self, name: str) -> dict[str, Any]:
        reply = self.call(name, {"type": "view"})
        assert reply["ok"], reply
        return reply["value"]

    def act(self, name: str) -> dict[str, Any]:
        return self.call(name, {"type": "act"})

    def agreed(self, names: list[str], leader: str) -> bool:
        """Every node of ``names`` answers with those members and that leader."""
        want = sorted(names)
        return all(
            (st := self.status(n)) is not None and st["members"] == want and st["leader"] == leader
            for n in names
        )


@pytest.fixture
def emergent(tmp_path):
    with clusters(tmp_path, Cluster, FAST) as make:
        yield lambda bugs=(), n=3, extra=(): make(n, bugs, extra)


def test_the_oldest_member_leads_and_acts_with_the_others_agreement(emergent) -> None:
    c = emergent()
    wait(lambda: c.agreed(c.names, "n1"), 5, "every view to hold n1..n3 with n1 leading")
    reply = c.act("n1")
    assert reply["ok"], reply
    assert reply["value"] == {"leader": "n1", "inc": 1, "members": c.names, "agreed": c.names}
    other = c.act("n2")
    assert (other["ok"], other["error"], other["leader"]) == (False, "not-leader", "n1")
    assert other["definite"] is True
    assert c.state("n1")["role"] == "leader" and c.state("n3")["role"] == "member"


def test_a_killed_leader_leaves_every_view_and_the_next_oldest_leads(emergent) -> None:
    c = emergent()
    wait(lambda: c.agreed(c.names, "n1"), 5, "agreement on n1")
    c.kill("n1")
    wait(lambda: c.agreed(["n2", "n3"], "n2"), 5, "n1 removed and n2 leading")
    wait(lambda: c.act("n2")["ok"], 3, "n2 to act")
    c.start("n1")  # a restart is a new join: n1 comes back the youngest, incarnation 2
    wait(lambda: c.agreed(c.names, "n2"), 5, "n1 back as a member")
    assert c.view("n3")["incarnations"]["n1"] == 2


def test_a_paused_leader_refutes_its_death_and_leads_again(emergent) -> None:
    c = emergent()
    wait(lambda: c.agreed(c.names, "n1"), 5, "agreement on n1")
    c.signal("n1", signal.SIGSTOP)
    wait(lambda: c.agreed(["n2", "n3"], "n2"), 5, "paused n1 declared dead")
    c.signal("n1", signal.SIGCONT)  # it keeps its join time: back, it is the oldest again
    wait(lambda: c.agreed(c.names, "n1"), 5, "n1 back, refuted, leading")
    assert c.view("n2")["incarnations"]["n1"] >= 2


def test_a_leader_acts_only_when_a_majority_it_reaches_agrees_unless_lead_alone(emergent) -> None:
    slow = ("--suspect-ms", "20000")  # the paused members stay suspects: live, silent
    for bugs, acted in (((), False), (("lead-alone",), True)):
        c: Cluster = emergent(bugs, extra=slow)
        names = c.names
        wait(lambda: c.agreed(names, "n1"), 5, "agreement on n1")  # noqa: B023 - used at once
        c.signal("n2", signal.SIGSTOP)
        c.signal("n3", signal.SIGSTOP)
        reply = c.act("n1")
        assert reply["ok"] is acted, reply
        if not acted:
            assert reply["error"] == "not-confirmed" and reply["definite"] is True
            assert "1 of 3 live members agree, 2 needed" in reply["message"]
        c.stop_all()


def test_never_remove_keeps_a_killed_node_as_a_member(emergent) -> None:
    c = emergent(("never-remove",))
    wait(lambda: c.agreed(c.names, "n1"), 5, "agreement on n1")
    c.kill("n1")
    wait(lambda: c.view("n2")["members"] == c.names and c.act("n2")["error"] == "not-leader", 2,
         "n2 to keep dead n1 as its leader")  # fmt: skip
    with pytest.raises(AssertionError):  # n1 is suspected, never removed
        wait(lambda: "n1" not in c.view("n2")["members"], 1.5, "n1 removed")


def test_without_incarnations_a_paused_node_never_comes_back(emergent) -> None:
    c = emergent(("no-incarnation",))
    wait(lambda: c.agreed(c.names, "n1"), 5, "agreement on n1")
    assert c.view("n1")["inc"] == 0
    c.signal("n3", signal.SIGSTOP)
    wait(lambda: c.agreed(["n1", "n2"], "n1"), 5, "paused n3 declared dead")
    c.signal("n3", signal.SIGCONT)
    wait(lambda: c.view("n3")["members"] == c.names, 3, "n3 to see everyone")
    with pytest.raises(AssertionError):  # the others never take it back
        wait(lambda: "n3" in c.view("n1")["members"], 1.5, "n3 back in n1's view")


def test_the_workload_client_against_a_real_node(emergent) -> None:
    c = emergent(n=2)
    wait(lambda: c.agreed(c.names, "n1"), 5, "agreement on n1")
    system = SimpleNamespace(port_of=lambda node: c.ports[node.name])
    results = {}
    for name in c.names:
        client = EmergentClient(cast(Any, system), timeout=2.0)
        client.open(cast(Node, SimpleNamespace(name=name, address="127.0.0.1")))
        results[name] = {
            f: client.invoke(Op("invoke", f, None, 0, node=name)) for f in ("view", "act")
        }
        client.close()
    v = results["n2"]["view"]
    assert v.type == "ok" and v.value["leader"] == "n1" and v.value["members"] == c.names
    assert results["n1"]["act"].type == "ok" and results["n1"]["act"].value["inc"] == 1
    assert (results["n2"]["act"].type, results["n2"]["act"].error) == ("fail", "not-leader")
