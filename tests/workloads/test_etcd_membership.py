"""The membership fault against a real etcd cluster (three members on loopback): a member
removed through etcd's API stops and leaves the member list while the others serve; added
back, it starts empty, joins as an existing cluster's member and catches up; a replace does
both at once; a kill's heal leaves a removed member down; and a suite asking the membership
fault of a system that does not offer it is refused when it is read."""

from __future__ import annotations

import random
import shutil
import threading
import time
from collections.abc import Iterator

import pytest
from hostnode import HostNode, free_base_port

from harness.config import ConfigError, parse_suite
from harness.history import Op
from nemesis.membership import MembershipNemesis
from workloads.etcd import ETCD_BINARY, EtcdClient, EtcdSystem
from workloads.etcd.api import post

pytestmark = pytest.mark.skipif(
    shutil.which(ETCD_BINARY) is None,
    reason=f"{ETCD_BINARY} is absent: install Debian's etcd-server (./setup does)",
)


@pytest.fixture
def etcd(tmp_path) -> Iterator[tuple[EtcdSystem, list[HostNode]]]:
    nodes = [HostNode(f"n{i}", tmp_path / f"n{i}") for i in range(1, 4)]
    system = EtcdSystem(free_base_port(6), nodes=nodes)
    threads = [threading.Thread(target=system.setup, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield system, nodes
    for n in nodes:
        system.teardown(n)


def op(f: str, value: object = None) -> Op:
    return Op(index=0, time=0, type="invoke", process="nemesis", f=f, value=value)


def members(system: EtcdSystem, via: HostNode) -> list[str]:
    host, port = system.endpoint(via)
    reply = post(f"http://{host}:{port}/v3/cluster/member/list", {}, timeout=5)
    return sorted(m.get("name") or "?" for m in reply.get("members", []))


def until(cond, what: str, within: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not within {within} s: {what}")


def done(nem: MembershipNemesis, f: str, value: object = None, within: float = 30.0) -> Op:
    """The op's completion once it is not refused: etcd refuses a reconfiguration while the
    cluster is not healthy (a member connected for less than 5 s), as right after a start."""
    deadline = time.monotonic() + within
    while True:
        c = nem.invoke(op(f, value))
        if c.type == "ok" or time.monotonic() > deadline or "unhealthy" not in (c.error or ""):
            return c
        time.sleep(0.2)


def client_on(system: EtcdSystem, node: HostNode) -> EtcdClient:
    c = EtcdClient(system, timeout=3.0)
    c.open(node)
    return c


def write(system: EtcdSystem, node: HostNode, key: int, value: int) -> bool:
    done = client_on(system, node).invoke(
        Op(index=0, time=0, type="invoke", process=0, f="write", value=[key, value])
    )
    return done.type == "ok"


def read(system: EtcdSystem, node: HostNode, key: int) -> object:
    done = client_on(system, node).invoke(
        Op(index=0, time=0, type="invoke", process=0, f="read", value=[key, None])
    )
    return done.value[1] if done.type == "ok" else None


def test_a_member_removed_leaves_and_comes_back_empty_and_catches_up(etcd) -> None:
    system, (n1, n2, n3) = etcd
    nem = MembershipNemesis(random.Random(1), system, nodes=[n1, n2, n3])
    nem.setup(None)  # type: ignore[arg-type]
    w = client_on(system, n1).invoke(
        Op(index=0, time=0, type="invoke", process=0, f="write", value=[1, 3])
    )
    assert w.type == "ok", w.error

    removed = done(nem, "remove-member", ["n3"])
    assert (removed.type, removed.value) == ("ok", ["n3"]), removed.error
    assert members(system, n1) == ["n1", "n2"]
    assert not n3.alive("etcd")
    system.start(n3)  # the kill fault's heal: a removed member stays down
    assert not n3.alive("etcd")
    # two of two members serve (once they have a leader: n3 may have been it)
    until(lambda: write(system, n2, 1, 4), "a write through n2 with n3 removed")

    added = done(nem, "add-member")
    assert (added.type, added.value) == ("ok", ["n3"]), added.error
    until(lambda: members(system, n1) == ["n1", "n2", "n3"], "n3 is a member again")
    until(lambda: read(system, n3, 1) == 4, "n3 caught up with the write made without it")


def test_a_replace_removes_and_adds_back_at_once_and_teardown_adds_back(etcd) -> None:
    system, (n1, n2, n3) = etcd
    nem = MembershipNemesis(random.Random(1), system, nodes=[n1, n2, n3])
    nem.setup(None)  # type: ignore[arg-type]
    replaced = done(nem, "replace-member", ["n2"])
    assert (replaced.type, replaced.value) == ("ok", ["n2"]), replaced.error
    until(lambda: members(system, n1) == ["n1", "n2", "n3"], "n2 back as a new member")
    removed = done(nem, "remove-member", ["n1"])
    assert removed.type == "ok", removed.error
    nem.teardown()
    until(lambda: members(system, n2) == ["n1", "n2", "n3"], "teardown added n1 back")


def test_a_system_that_does_not_offer_membership_is_refused_when_read() -> None:
    text = "tests:\n  - name: a\n    system: paxos\n    nemesis: {faults: [kill, membership]}\n"
    with pytest.raises(ConfigError) as e:
        parse_suite(text, source="m.yaml")
    assert "the membership fault needs a system that offers 'membership'; paxos does not" in str(
        e.value
    )
    assert "(systems that do: etcd" in str(e.value)
    ok = "tests:\n  - name: a\n    system: etcd\n    nemesis: {faults: [{name: membership}]}\n"
    assert parse_suite(ok).tests[0].nemesis.faults[0].name == "membership"
