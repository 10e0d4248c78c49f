"""Partitions: grudge shapes as pure functions, and real iptables cuts between namespaces."""

from __future__ import annotations

import json
import os
import random
import socket
import textwrap
from collections.abc import Iterator

import pytest

from clusters.base import Node
from clusters.local import LocalCluster
from harness.history import Op
from nemesis.partition import (
    CHAIN,
    LOSS_CHAIN,
    LossNemesis,
    PartitionNemesis,
    bridge,
    complete_grudge,
    grudge_for,
    halves,
    isolate_one,
    majorities_ring,
    random_halves,
    validate_grudge,
)

FIVE = ["n1", "n2", "n3", "n4", "n5"]


def sees(grudge: dict[str, list[str]], names: list[str], node: str) -> set[str]:
    """The nodes ``node`` hears (itself included)."""
    return set(names) - set(grudge.get(node, []))


def symmetric(grudge: dict[str, list[str]]) -> bool:
    return all(a in grudge.get(b, []) for a, bs in grudge.items() for b in bs)


# -- shapes -------------------------------------------------------------------------------------


def test_a_complete_grudge_cuts_every_component_from_the_others() -> None:
    assert complete_grudge([["n1"], ["n2", "n3"]]) == {
        "n1": ["n2", "n3"],
        "n2": ["n1"],
        "n3": ["n1"],
    }
    assert complete_grudge([FIVE]) == {}


def test_one_isolates_a_single_random_node_the_same_for_the_same_seed() -> None:
    g = isolate_one(FIVE, random.Random(7))
    alone = [n for n, unheard in g.items() if len(unheard) == 4]
    assert len(alone) == 1
    assert all(g[n] == alone for n in FIVE if n != alone[0])
    assert isolate_one(FIVE, random.Random(7)) == g
    assert {
        next(iter(k for k, v in isolate_one(FIVE, random.Random(s)).items() if len(v) == 4))
        for s in range(30)
    } == set(FIVE)


def test_halves_cut_the_smaller_first_half_from_the_rest() -> None:
    assert halves(FIVE) == complete_grudge([["n1", "n2"], ["n3", "n4", "n5"]])
    g = random_halves(FIVE, random.Random(3))
    assert g == random_halves(FIVE, random.Random(3))
    sizes = sorted(len(sees(g, FIVE, n)) for n in FIVE)
    assert sizes == [2, 2, 3, 3, 3] and symmetric(g)


@pytest.mark.parametrize("n", [3, 4, 5, 7])
def test_in_a_majorities_ring_each_node_sees_a_different_majority(n: int) -> None:
    names = [f"n{i}" for i in range(1, n + 1)]
    for seed in range(10):
        g = majorities_ring(names, random.Random(seed))
        views = [frozenset(sees(g, names, x)) for x in names]
        assert all(len(v) >= n // 2 + 1 for v in views), g
        assert len(set(views)) == n, "no two nodes see the same majority"
        assert all(len(v) < n for v in views), "everyone is cut from someone"
    assert symmetric(majorities_ring(FIVE, random.Random(1)))


def test_a_bridge_node_hears_both_halves_which_do_not_hear_each_other() -> None:
    g = bridge(FIVE, random.Random(5))
    middle = [x for x in FIVE if x not in g and all(x not in v for v in g.values())]
    assert len(middle) == 1
    rest = [x for x in FIVE if x != middle[0]]
    components = {frozenset(sees(g, FIVE, x) - set(middle)) for x in rest}
    assert sorted(len(c) for c in components) == [2, 2] and symmetric(g)


def test_an_explicit_grudge_is_checked_and_put_in_node_order() -> None:
    assert validate_grudge({"n3": ["n2", "n1"], "n2": []}, FIVE) == {"n3": ["n1", "n2"]}
    with pytest.raises(ValueError, match="unknown node 'n9'"):
        validate_grudge({"n9": ["n1"]}, FIVE)
    with pytest.raises(ValueError, match="unknown node.*'x'"):
        validate_grudge({"n1": ["x"]}, FIVE)
    with pytest.raises(ValueError, match="itself"):
        validate_grudge({"n1": ["n1"]}, FIVE)
    with pytest.raises(ValueError, match="list of node names"):
        validate_grudge({"n1": "n2"}, FIVE)


def test_an_unknown_shape_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="majorities-ring"):
        grudge_for("triangle", FIVE, random.Random(0))


# -- on a real cluster --------------------------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, socket, sys, threading
    out = {}
    def probe(a):
        s = socket.socket()
        s.settimeout(float(sys.argv[1]))
        try:
            s.connect((a, 9)); out[a] = True
        except ConnectionRefusedError:
            out[a] = True
        except OSError:
            out[a] = False
        finally:
            s.close()
    threads = [threading.Thread(target=probe, args=(a,)) for a in sys.argv[2:]]
    for t in threads: t.start()
    for t in threads: t.join()
    print(json.dumps(out))
""")


def reach(src: Node, dsts: list[Node], timeout: float = 0.4) -> dict[str, bool]:
    """Which of ``dsts`` ``src`` reaches over TCP (a refused connect is a reply)."""
    python = getattr(src, "python", "python3")
    r = src.exec([python, "-c", PROBE, str(timeout), *(d.address for d in dsts)], timeout=10)
    by_addr = json.loads(r.stdout)
    return {d.name: by_addr[d.address] for d in dsts}


def matrix(cluster: LocalCluster) -> dict[str, dict[str, bool]]:
    return {a.name: reach(a, [b for b in cluster.nodes if b is not a]) for a in cluster.nodes}


def controller_reaches(node: Node) -> bool:
    try:
        socket.create_connection((node.address, 9), timeout=0.4).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return True


class Leader:
    """A system that reports the node called ``name`` as its primary (or none)."""

    def __init__(self, name: str | None) -> None:
        self.name = name

    def primaries(self, nodes: list[Node]) -> list[Node]:
        return [n for n in nodes if n.name == self.name]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root")
    c = LocalCluster(3, workroot=tmp_path_factory.mktemp("partition"))
    try:
        c.create()
        yield c
    finally:
        c.destroy()


@pytest.fixture
def nemesis(cluster: LocalCluster) -> Iterator[PartitionNemesis]:
    nem = PartitionNemesis(random.Random(42), system=Leader("n2"))
    try:
        nem.setup(cluster)
        yield nem
    finally:
        nem.teardown()


def start(nem: PartitionNemesis | LossNemesis, f: str, value: object) -> Op:
    return nem.invoke(Op("invoke", f, value, process="nemesis"))


@pytest.mark.cluster
def test_a_partitioned_node_cannot_reach_the_peers_it_is_cut_from_and_reaches_the_others(
    cluster: LocalCluster, nemesis: PartitionNemesis
) -> None:
    assert all(all(row.values()) for row in matrix(cluster).values())
    done = start(nemesis, "start-partition", {"n1": ["n2"], "n2": ["n1"]})
    assert (done.type, done.error) == ("ok", None)
    assert done.value == {"shape": "grudge", "grudge": {"n1": ["n2"], "n2": ["n1"]}}
    m = matrix(cluster)
    assert m["n1"] == {"n2": False, "n3": True}
    assert m["n2"] == {"n1": False, "n3": True}
    assert m["n3"] == {"n1": True, "n2": True}
    assert all(controller_reaches(n) for n in cluster.nodes), "clients still reach every node"

    healed = start(nemesis, "stop-partition", None)
    assert (healed.type, healed.value) == ("ok", "healed")
    assert all(all(row.values()) for row in matrix(cluster).values())


@pytest.mark.cluster
def test_one_isolates_the_node_it_names_and_a_new_partition_replaces_the_old(
    cluster: LocalCluster, nemesis: PartitionNemesis
) -> None:
    start(nemesis, "start-partition", "halves")
    done = start(nemesis, "start-partition", "one")
    assert done.type == "ok" and done.value["shape"] == "one"
    grudge = done.value["grudge"]
    alone = next(n for n, unheard in grudge.items() if len(unheard) == 2)
    m = matrix(cluster)
    assert not any(m[alone].values())
    rest = [n for n in m if n != alone]
    assert m[rest[0]][rest[1]] and m[rest[1]][rest[0]]
    assert not m[rest[0]][alone]


@pytest.mark.cluster
def test_the_primaries_shape_isolates_the_node_the_system_names(
    cluster: LocalCluster, nemesis: PartitionNemesis
) -> None:
    done = start(nemesis, "start-partition", "leader")
    assert done.type == "ok"
    assert done.value == {
        "shape": "leader",
        "primaries": ["n2"],
        "grudge": {"n1": ["n2"], "n2": ["n1", "n3"], "n3": ["n2"]},
    }
    assert matrix(cluster)["n2"] == {"n1": False, "n3": False}
    nemesis.system = Leader(None)
    nothing = start(nemesis, "start-partition", "primaries")
    assert nothing.type == "info" and "no primaries" in (nothing.error or "")
    assert all(all(row.values()) for row in matrix(cluster).values())


@pytest.fixture
def loss(cluster: LocalCluster) -> Iterator[LossNemesis]:
    nem = LossNemesis(random.Random(42))
    try:
        nem.setup(cluster)
        yield nem
    finally:
        nem.teardown()


@pytest.mark.cluster
def test_total_packet_loss_cuts_the_nodes_but_not_the_clients_and_heals(
    cluster: LocalCluster, loss: LossNemesis
) -> None:
    done = start(loss, "start-loss", {"probability": 1.0})
    assert done.type == "ok"
    assert done.value == {"nodes": ["n1", "n2", "n3"], "probability": 1.0, "mode": "drop"}
    assert not any(any(row.values()) for row in matrix(cluster).values())
    assert all(controller_reaches(n) for n in cluster.nodes)
    healed = start(loss, "stop-loss", None)
    assert (healed.type, healed.value) == ("ok", "healed")
    assert all(all(row.values()) for row in matrix(cluster).values())

    reset = start(loss, "start-loss", {"probability": 0.5, "mode": "reset", "nodes": ["n3"]})
    assert reset.value == {"nodes": ["n3"], "probability": 0.5, "mode": "reset"}
    rules = cluster.nodes[2].exec(["iptables", "-S", LOSS_CHAIN]).stdout
    assert "--probability 0.5" in rules and "tcp-reset" in rules
    bad = start(loss, "start-loss", {"probability": 2})
    assert bad.type == "info" and "(0, 1]" in (bad.error or "")


@pytest.mark.cluster
def test_loss_and_a_partition_each_heal_only_their_own_chain(
    cluster: LocalCluster, nemesis: PartitionNemesis, loss: LossNemesis
) -> None:
    n3 = cluster.nodes[2]
    start(loss, "start-loss", {"probability": 0.5})
    start(nemesis, "start-partition", "halves")
    assert start(nemesis, "stop-partition", None).type == "ok"
    assert "--probability 0.5" in n3.exec(["iptables", "-S", LOSS_CHAIN]).stdout
    assert "-j DROP" not in n3.exec(["iptables", "-S", CHAIN]).stdout
    start(nemesis, "start-partition", "halves")
    assert start(loss, "stop-loss", None).type == "ok"
    assert "statistic" not in n3.exec(["iptables", "-S", LOSS_CHAIN]).stdout
    assert "-j DROP" in "".join(n.exec(["iptables", "-S", CHAIN]).stdout for n in cluster.nodes)


@pytest.mark.cluster
def test_drop_output_also_drops_at_the_sender(cluster: LocalCluster) -> None:
    nem = PartitionNemesis(random.Random(1), drop_output=True)
    try:
        nem.setup(cluster)
        start(nem, "start-partition", {"n1": ["n2"]})
        n1_rules = cluster.nodes[0].exec(["iptables", "-S", CHAIN]).stdout
        n2_rules = cluster.nodes[1].exec(["iptables", "-S", CHAIN]).stdout
        assert f"-s {cluster.nodes[1].address}/32 -j DROP" in n1_rules
        assert f"-d {cluster.nodes[0].address}/32 -j DROP" in n2_rules
        assert "-d" not in n1_rules and "-s" not in n2_rules
    finally:
        nem.teardown()


@pytest.mark.cluster
def test_teardown_removes_the_chains_and_a_bad_value_is_an_info(cluster: LocalCluster) -> None:
    nem = PartitionNemesis(random.Random(1))
    loss = LossNemesis(random.Random(1))
    nem.setup(cluster)
    loss.setup(cluster)
    try:
        bad = start(nem, "start-partition", {"n1": ["n7"]})
        assert bad.type == "info" and "n7" in (bad.error or "")
        start(nem, "start-partition", "majorities-ring")
        start(loss, "start-loss", {"probability": 0.1})
    finally:
        nem.teardown()
        loss.teardown()
    nem.teardown()  # twice is fine
    loss.teardown()
    for node in cluster.nodes:
        rules = node.exec(["iptables", "-S"]).stdout
        assert "SPLITBRAIN" not in rules
    assert all(all(row.values()) for row in matrix(cluster).values())
