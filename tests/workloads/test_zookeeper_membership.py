"""The membership fault against a real ZooKeeper ensemble (three servers on loopback, dynamic
reconfiguration): a member removed by ``reconfig -remove`` stops and leaves the committed
config while the others serve; a kill's heal leaves it down; added back, it starts empty,
follows the leader, is ``reconfig -add``-ed and catches up; a replace does both at once, and
teardown adds back what is still removed; a suite may ask the membership fault of ZooKeeper."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hostnode import HostNode, free_base_port

from harness.config import parse_suite
from harness.history import Op
from nemesis.membership import MembershipNemesis
from workloads.system import Reconfigurable

pytest.importorskip("kazoo", reason="kazoo is absent: ./setup --tests installs it")

from workloads.zookeeper import (  # noqa: E402
    JAVA,
    ZOOKEEPER_JAR,
    ZooKeeperClient,
    ZooKeeperOptions,
    ZooKeeperSystem,
)
from workloads.zookeeper.reconfig import admin_session, read_ensemble  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (os.path.exists(ZOOKEEPER_JAR) and shutil.which(JAVA)),
    reason=f"{ZOOKEEPER_JAR} or {JAVA} is absent: install Debian's zookeeper (./setup --tests "
    "does)",
)


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[tuple[ZooKeeperSystem, list[HostNode]]]:
    nodes = [HostNode(f"n{i}", tmp_path / f"n{i}") for i in range(1, 4)]
    # short ticks so that a joiner syncs quickly
    system = ZooKeeperSystem(free_base_port(9), nodes=nodes, options=ZooKeeperOptions(tick_ms=200))
    errors: list[BaseException] = []

    def setup(n: HostNode) -> None:
        try:
            system.setup(n)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=setup, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        yield system, nodes
    finally:
        for n in nodes:
            system.teardown(n)


def op(f: str, value: object = None) -> Op:
    return Op(index=0, time=0, type="invoke", process="nemesis", f=f, value=value)


def members(system: ZooKeeperSystem, via: HostNode) -> list[str]:
    """The names of the servers in the config the leader last committed."""
    with admin_session(*system.endpoint(via), timeout=10.0) as zk:
        servers, _ = read_ensemble(zk, timeout=10.0)
    return sorted(system.nodes[i - 1].name for i in servers)


def until(cond: Callable[[], object], what: str, within: float = 40.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - a session that does not start yet, tried again
            pass
        time.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


def client_op(system: ZooKeeperSystem, node: HostNode, f: str, value: object) -> Op:
    """One op through a fresh session with ``node``'s server (reads sync first)."""
    c = ZooKeeperClient(system, timeout=5.0, sync=True)
    c.open(node)
    try:
        return c.invoke(Op(index=0, time=0, type="invoke", process=0, f=f, value=value))
    finally:
        c.close()


def written(system: ZooKeeperSystem, node: HostNode, key: str, v: int) -> bool:
    return client_op(system, node, "write", [key, v]).type == "ok"


def read(system: ZooKeeperSystem, node: HostNode, key: str) -> object:
    done = client_op(system, node, "read", [key, None])
    return done.value[1] if done.type == "ok" else None


def test_a_member_removed_leaves_and_comes_back_empty_and_catches_up(ensemble) -> None:
    system, (n1, n2, n3) = ensemble
    nem = MembershipNemesis(random.Random(1), system, nodes=[n1, n2, n3], retry_s=10.0)
    nem.setup(None)  # type: ignore[arg-type]
    until(lambda: written(system, n1, "a", 3), "a write through n1")

    removed = nem.invoke(op("remove-member", ["n3"]))
    assert (removed.type, removed.value) == ("ok", ["n3"]), removed.error
    assert members(system, n1) == ["n1", "n2"]
    assert not n3.alive("zookeeper")
    assert os.listdir(system.data_dir(n3)) == []  # wiped
    system.start(n3)  # the kill fault's heal: a removed member stays down
    assert not n3.alive("zookeeper")
    # two of two members serve (once they have a leader: n3 may have been it)
    until(lambda: written(system, n2, "a", 4), "a write through n2 with n3 removed")

    added = nem.invoke(op("add-member"))
    assert (added.type, added.value) == ("ok", ["n3"]), added.error
    assert members(system, n1) == ["n1", "n2", "n3"]
    until(lambda: read(system, n3, "a") == 4, "n3 caught up with the write made without it")
    # it is a voting member now: with n1 down, n2 and n3 are the quorum
    system.kill(n1)
    until(lambda: written(system, n3, "a", 5), "a write through n3 with n1 down")


def test_a_replace_removes_and_adds_back_at_once_and_teardown_adds_back(ensemble) -> None:
    system, (n1, n2, n3) = ensemble
    nem = MembershipNemesis(random.Random(1), system, nodes=[n1, n2, n3], retry_s=10.0)
    nem.setup(None)  # type: ignore[arg-type]
    until(lambda: written(system, n1, "b", 1), "a write through n1")
    leader = nem.invoke(op("replace-member", "primaries"))
    assert leader.type == "ok" and len(leader.value) == 1, leader.error
    assert members(system, n1 if leader.value != ["n1"] else n2) == ["n1", "n2", "n3"]
    replaced = next(n for n in (n1, n2, n3) if n.name == leader.value[0])
    until(lambda: read(system, replaced, "b") == 1, f"{replaced.name} caught up after its replace")

    removed = nem.invoke(op("remove-member", ["n1"]))
    assert removed.type == "ok", removed.error
    assert members(system, n2) == ["n2", "n3"]
    nem.teardown()
    assert members(system, n2) == ["n1", "n2", "n3"]
    until(lambda: read(system, n1, "b") == 1, "n1 back and caught up")


def retried(change: Callable[[HostNode], None], node: HostNode, within: float = 30.0) -> None:
    """``change(node)``, tried again while it raises RuntimeError (as the fault's retry_s
    does): a removal that deposes the leader leaves the rest electing for a moment."""
    deadline = time.monotonic() + within
    while True:
        try:
            return change(node)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def test_the_last_member_is_not_removed(ensemble) -> None:
    system, (n1, n2, n3) = ensemble
    retried(system.remove_member, n2)
    retried(system.remove_member, n3)
    assert members(system, n1) == ["n1"]
    until(lambda: written(system, n1, "c", 1), "a write on an ensemble of one")
    with pytest.raises(RuntimeError, match="no member left"):
        system.remove_member(n1)
    with pytest.raises(RuntimeError, match="not a member"):
        system.remove_member(n2)
    retried(system.add_member, n3)
    assert members(system, n1) == ["n1", "n3"]
    until(lambda: read(system, n3, "c") == 1, "n3 caught up")


def test_a_suite_may_ask_membership_of_zookeeper() -> None:
    assert isinstance(ZooKeeperSystem(nodes=[]), Reconfigurable)
    text = "tests:\n  - name: a\n    system: zookeeper\n    nemesis: {faults: [kill, membership]}\n"
    faults = parse_suite(text, source="m.yaml").tests[0].nemesis.faults
    assert [f.name for f in faults] == ["kill", "membership"]
