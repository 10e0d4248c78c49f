"""The membership fault on the reference Raft store (RaftSystem, real processes on this host):
the leader removed through the store's own reconfiguration, stopped and wiped; a kill's heal
leaves it down; added back empty, it catches up; a replace does both at once."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostnode import HostNode, free_base_port

from harness.history import Op
from nemesis.membership import MembershipNemesis
from workloads.raft import RaftClient, RaftSystem


def wait(cond: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {within} s: {what}")


@pytest.fixture
def raft(tmp_path: Path) -> Iterator[tuple[RaftSystem, list[HostNode]]]:
    nodes = [HostNode(f"n{i}", tmp_path / f"n{i}") for i in range(1, 4)]
    system = RaftSystem(
        port=free_base_port(3), nodes=nodes, extra_args=["--election-ms", "400-800"]
    )
    threads = [threading.Thread(target=system.setup, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield system, nodes
    for n in nodes:
        system.teardown(n)


def op(f: str, value: object = None, process: Any = "nemesis") -> Op:
    return Op(index=0, time=0, type="invoke", process=process, f=f, value=value)


def client_op(system: RaftSystem, node: HostNode, f: str, value: object) -> Op:
    c = RaftClient(system, timeout=3.0)
    c.open(node)
    try:
        return c.invoke(op(f, value, process=0))
    finally:
        c.close()


def test_the_membership_fault_removes_the_leader_and_adds_it_back(raft) -> None:
    system, nodes = raft
    nem = MembershipNemesis(random.Random(1), system, nodes=nodes, retry_s=20)
    nem.setup(None)  # type: ignore[arg-type]
    wait(lambda: len(system.primaries(nodes)) == 1, 20, "a leader")
    assert client_op(system, nodes[0], "write", [1, 5]).type == "ok"

    removed = nem.invoke(op("remove-member", "primaries"))
    assert removed.type == "ok", removed.error
    (name,) = removed.value
    gone = next(n for n in nodes if n.name == name)
    assert not gone.alive("raft")
    system.start(gone)  # the kill fault's heal: a removed member stays down
    assert not gone.alive("raft")
    rest = [n for n in nodes if n is not gone]
    wait(lambda: client_op(system, rest[0], "write", [1, 6]).type == "ok", 20, "a write")

    added = nem.invoke(op("add-member"))
    assert (added.type, added.value) == ("ok", [name]), added.error
    assert gone.alive("raft")
    wait(lambda: client_op(system, gone, "read", [1, None]).value == [1, 6], 20, "read via it")
    replaced = nem.invoke(op("replace-member", [rest[0].name]))
    assert replaced.type == "ok", replaced.error
    wait(lambda: client_op(system, rest[0], "read", [1, None]).value == [1, 6], 20, "replaced")
