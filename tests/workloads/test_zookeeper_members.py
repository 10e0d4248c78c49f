"""ZooKeeper's side of "members that disagree" and of versions, on real servers: after writes
and a killed server's return, the harness's member-states step reads every server of an
ensemble through a session pinned to it, at one zxid, and the members checker finds them
equal; a removed server is left out; two servers at the same zxid holding different data are
named by member and key; and every acknowledged write, cas and read carries the znode version
and zxid ZooKeeper gave it, which the versions checker accepts."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostnode import HostNode, free_base_port

from checkers.members import MembersChecker
from checkers.versions import VersionsChecker
from harness.history import NEMESIS, Journal, Op
from harness.members import record_member_states
from workloads.system import MemberStates

pytest.importorskip("kazoo", reason="kazoo is absent: ./setup --tests installs it")

from workloads.zookeeper import (  # noqa: E402
    JAVA,
    ZOOKEEPER,
    ZOOKEEPER_JAR,
    ZooKeeperClient,
    ZooKeeperOptions,
    ZooKeeperSystem,
    server_mode,
)
from workloads.zookeeper.members import read_members  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (os.path.exists(ZOOKEEPER_JAR) and shutil.which(JAVA)),
    reason=f"{ZOOKEEPER_JAR} or {JAVA} is absent: install Debian's zookeeper (./setup --tests "
    "does)",
)


def set_up(system: ZooKeeperSystem, nodes: list[HostNode]) -> None:
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
    assert not errors, errors


@pytest.fixture(scope="module")
def ensemble(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ZooKeeperSystem, list[HostNode]]]:
    root = tmp_path_factory.mktemp("zookeeper-members")
    nodes = [HostNode(f"n{i}", root / f"n{i}") for i in range(1, 4)]
    options = ZooKeeperOptions(tick_ms=200, members_wait_s=40.0)
    system = ZooKeeperSystem(free_base_port(9), nodes=nodes, options=options)
    try:
        set_up(system, nodes)
        yield system, nodes
    finally:
        for n in nodes:
            system.teardown(n)


def opened(system: ZooKeeperSystem, node: HostNode) -> ZooKeeperClient:
    """A client whose session may take up to 30 s to start on a loaded machine."""
    c = ZooKeeperClient(system, timeout=30.0, sync=True)
    c.open(node)
    c.timeout = 5.0
    return c


def invoke(client: ZooKeeperClient, f: str, value: object) -> Op:
    return client.invoke(Op(index=0, time=0, type="invoke", process=0, f=f, value=value))


def recorded(system: ZooKeeperSystem, nodes: list[HostNode], tmp_path: Path) -> Op:
    journal = Journal(tmp_path / "history.jsonl", time.monotonic_ns)
    return record_member_states(system, list(nodes), journal)


def test_it_is_read_member_by_member_and_checked_by_default() -> None:
    assert isinstance(ZooKeeperSystem(nodes=[]), MemberStates)
    assert {"members", "versions"} <= set(ZOOKEEPER.checkers)


def test_servers_that_applied_one_stream_agree_at_one_zxid(ensemble, tmp_path: Path) -> None:
    system, (n1, n2, n3) = ensemble
    c = opened(system, n1)
    try:
        for k, v in (("a", 1), ("b", 2), ("a", 3)):
            assert invoke(c, "write", [k, v]).type == "ok"
    finally:
        c.close()
    # a server that missed writes while it was down catches up before it is read
    system.kill(n3)
    c = opened(system, n2)
    try:
        assert invoke(c, "write", ["b", 4]).type == "ok"
    finally:
        c.close()
    system.start(n3)
    done = recorded(system, [n1, n2, n3], tmp_path)
    assert done.type == "ok", done.error
    states = done.value
    assert sorted(states) == ["n1", "n2", "n3"]
    assert len({s["index"] for s in states.values()}) == 1
    assert len({s["digest"] for s in states.values()}) == 1
    for s in states.values():
        assert s["at"] == s["index"] and s["error"] is None
        assert s["revision"] <= s["index"]
    # one digest: the step keeps the first member's keys only (the others name it)
    keys = states["n1"]["keys"]
    assert keys["/splitbrain/a"][1:] == [1, "3"]  # version 1 (created at 0), value 3
    assert keys["/splitbrain/b"][1:] == [1, "4"]
    result = MembersChecker().check([*_client_ops(), done], {})
    assert result.valid is True, result.anomalies


def test_a_removed_server_is_not_read(ensemble, tmp_path: Path) -> None:
    system, nodes = ensemble
    deadline = time.monotonic() + 30
    while True:  # a removal that deposes the leader leaves the rest electing for a moment
        try:
            system.remove_member(nodes[0])
            break
        except RuntimeError:
            assert time.monotonic() < deadline
            time.sleep(0.25)
    try:
        done = recorded(system, nodes, tmp_path)
        assert done.type == "ok" and sorted(done.value) == ["n2", "n3"], done.error
    finally:
        deadline = time.monotonic() + 30
        while system.removed:
            try:
                system.add_member(nodes[0])
            except RuntimeError:
                assert time.monotonic() < deadline
                time.sleep(0.25)


def test_acknowledged_writes_cas_and_reads_carry_versions(ensemble) -> None:
    system, nodes = ensemble
    c = opened(system, nodes[1])
    history: list[Op] = []
    try:
        for f, value in (
            ("write", ["v", 1]),  # creates it: version 0
            ("write", ["v", 2]),
            ("cas", ["v", [2, 3]]),
            ("cas", ["v", [2, 4]]),  # a mismatch: no version
            ("read", ["v", None]),
        ):
            inv = Op(index=len(history), time=len(history), type="invoke", process=0, f=f,
                     value=value)  # fmt: skip
            done = c.invoke(inv)
            done.index, done.time = len(history) + 1, len(history) + 1
            history += [inv, done]
    finally:
        c.close()
    w1, w2, cas, miss, read = history[1::2]
    assert (w1.extra["version"], w2.extra["version"]) == (0, 1)
    assert (cas.extra["saw_version"], cas.extra["version"]) == (1, 2)
    assert w1.extra["zxid"] < w2.extra["zxid"] < cas.extra["zxid"]
    assert miss.type == "fail" and "version" not in miss.extra
    assert read.value == ["v", 3] and read.extra["read_version"] == 2
    assert read.extra["read_zxid"] == cas.extra["zxid"]
    result = VersionsChecker().check(history, {})
    assert result.valid is True and result.details["versioned"] == 4, result


def test_two_servers_at_one_zxid_with_other_data_are_named(tmp_path: Path) -> None:
    """Two standalone servers, each given the same transactions but one different value: at
    the same zxid their data differs, as members that applied different entries would."""
    a, b = HostNode("n1", tmp_path / "a"), HostNode("n2", tmp_path / "b")
    systems = [ZooKeeperSystem(free_base_port(3), nodes=[n]) for n in (a, b)]
    try:
        for system, node in zip(systems, (a, b), strict=True):
            system.setup(node)
            assert server_mode(*system.endpoint(node)) == "standalone"
        for system, node, v in zip(systems, (a, b), (5, 6), strict=True):
            c = opened(system, node)
            try:
                assert invoke(c, "write", ["k", 1]).type == "ok"
                assert invoke(c, "write", ["k", v]).type == "ok"
            finally:
                c.close()
        # the two servers read as the members of one system are
        members = {"n1": systems[0].endpoint(a), "n2": systems[1].endpoint(b)}
        states = {n: s.to_dict() for n, s in read_members(members, 5.0).items()}
    finally:
        for system, node in zip(systems, (a, b), strict=True):
            system.teardown(node)
    done = Op("ok", "member-states", states, NEMESIS, 3, 3)
    assert states["n1"]["index"] == states["n2"]["index"], states
    assert states["n1"]["digest"] != states["n2"]["digest"]
    result = MembersChecker().check([*_client_ops(), done], {})
    assert result.valid is False
    (a1,) = [x for x in result.anomalies if x.name == "members-disagree"]
    assert "/splitbrain/k" in a1.explanation, a1.explanation


def _client_ops() -> list[Op]:
    return [
        Op("invoke", "write", ["a", 1], 0, 1, 0, "n1"),
        Op("ok", "write", ["a", 1], 0, 2, 1, "n1"),
    ]
