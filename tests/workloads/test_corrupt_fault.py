"""The corrupt fault against the real Raft store (three nodes on loopback): the node's
process is stopped, the newest file of its data directory loses its tail (or gets bits
flipped), the store drops the torn tail when it starts again at the heal, catches up from
the leader, and the cluster keeps serving; the completion says what changed where."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from hostnode import HostNode, free_base_port

from harness.history import Op
from harness.registry import FaultInfo, lookup
from nemesis.corrupt import CorruptNemesis, CorruptOptions
from workloads.raft import RaftClient, RaftSystem


@pytest.fixture
def cluster(tmp_path):
    nodes = [HostNode(f"n{i + 1}", tmp_path / f"n{i + 1}") for i in range(3)]
    system = RaftSystem([], port=free_base_port(3), nodes=nodes)
    for n in nodes:
        system.setup(n)
    yield system, nodes
    for n in nodes:
        n.signal("raft", signal.SIGCONT)
        n.signal("raft", signal.SIGKILL)


def write(system: RaftSystem, node: HostNode, key: int, value: int) -> bool:
    c = RaftClient(system, timeout=2.0)
    c.open(node)
    try:
        done = c.invoke(Op(type="invoke", f="write", value=[key, value], process=0))
    finally:
        c.close()
    return done.type == "ok"


def until(cond, what: str, within: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {within} s: {what}")


def nemesis_op(f: str, value: object = None) -> Op:
    return Op(type="invoke", f=f, value=value, process="nemesis")


@pytest.mark.parametrize("mode", ["truncate", "bitflip"])
def test_a_corrupted_node_is_down_until_the_heal_and_the_cluster_serves(cluster, mode) -> None:
    system, nodes = cluster
    n3 = nodes[2]
    for v in range(20):
        until(lambda v=v: write(system, nodes[v % 2], v % 3, v), f"write {v}")
    opts = CorruptOptions(fraction=0.2)
    nem = CorruptNemesis(random.Random(7), system, nodes=nodes, options=opts)
    nem.setup(None)  # type: ignore[arg-type]
    data = Path(system.data_dir(n3))
    before = {p.name: p.stat().st_size for p in data.iterdir() if p.is_file()}

    done = nem.invoke(nemesis_op("corrupt", {"nodes": ["n3"], "mode": mode}))
    assert done.type == "ok", done.error
    assert done.value["nodes"] == ["n3"] and done.value["mode"] == mode
    changed = done.value["changed"]["n3"]
    assert len(changed) == 1 and all(n > 0 for n in changed.values())
    ((name, count),) = changed.items()
    after = (data / name).stat().st_size
    if mode == "truncate":
        assert after == before[name] - count
    else:
        assert after == before[name]
    assert not n3.alive("raft")
    assert write(system, nodes[0], 9, 99) or write(system, nodes[1], 9, 99)  # two of three

    healed = nem.invoke(nemesis_op("start-corrupted"))
    if healed.type == "ok":  # it started on what was left, and serves again
        assert healed.value == ["n3"]
        until(lambda: write(system, n3, 9, 100), "n3 serves again")
    else:  # the store refused its own data: said, with the node
        assert "n3" in (healed.error or ""), healed.error
    assert os.path.isdir(data)


def test_the_fault_kind_is_registered_with_its_heal_and_pick() -> None:
    info = lookup(FaultInfo, "corrupt", "fault")
    assert info.heal == "start-corrupted" and info.pick is not None
    f, value = info.pick(CorruptOptions(), 1, random.Random(1), 5.0)
    assert (f, value) == ("corrupt", {"nodes": "one", "mode": "truncate"})
