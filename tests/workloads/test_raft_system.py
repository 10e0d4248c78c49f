"""RaftSystem on real processes: a minimal Node that runs everything on this host, with every
node on 127.0.0.1 (so each gets its own port) and its own work directory."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from hostnode import HostNode, free_base_port

from clusters import clock
from clusters.base import Node, SetupError
from harness.history import Op
from workloads.raft import RaftClient, RaftSystem, node_status
from workloads.system import HasPrimaries, Killable, Pausable, System


@pytest.fixture
def nodes(tmp_path):
    made = [HostNode(f"n{i + 1}", tmp_path / f"n{i + 1}") for i in range(3)]
    yield made
    for n in made:
        n.signal("raft", signal.SIGCONT)
        n.signal("raft", signal.SIGKILL)


def primary(system: RaftSystem, nodes: list[Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = system.primaries(nodes)
        if len(found) == 1:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("no single primary")


def op(f, value):
    return Op(type="invoke", f=f, value=value, process=0)


def test_raft_system_fulfils_the_system_protocols():
    s = RaftSystem([])
    assert isinstance(s, System) and isinstance(s, Killable)
    assert isinstance(s, Pausable) and isinstance(s, HasPrimaries)


def test_setup_installs_and_starts_a_cluster_that_serves_clients(nodes):
    assert all(isinstance(n, Node) for n in nodes)
    system = RaftSystem([], port=free_base_port(3), nodes=nodes)
    for n in nodes:
        system.setup(n)
    installed = {p.name for p in os.scandir(Path(nodes[0].workdir) / "code" / "patterns")}
    assert {"__init__.py", "_runtime", "raft"} <= installed
    assert {system.port_of(n) for n in nodes} == {system.port + i for i in range(3)}
    leader = primary(system, nodes)
    follower = next(n for n in nodes if n is not leader)
    client = RaftClient(system, timeout=2.0)  # as the registry makes it: its port by node
    client.open(follower)
    assert client.invoke(op("write", ["x", 1])).type == "ok"
    assert client.invoke(op("read", ["x", None])).value == ["x", 1]
    status = client.invoke(op("status", None)).value
    assert status["id"] == follower.name and status["leader"] in {n.name for n in nodes}
    client.close()
    log = Path(system.log_files(leader)[0])
    assert log == Path(leader.workdir) / "raft.log" and "leader of term" in log.read_text()
    assert "PYTHONUNBUFFERED" in leader.spawned_env


def test_kill_start_pause_and_resume_act_on_the_daemon(nodes):
    system = RaftSystem([], port=free_base_port(3))
    system.configure(nodes)
    for n in nodes:
        system.setup(n)
    leader = primary(system, nodes)
    client = RaftClient(system, timeout=2.0)
    client.open(leader)
    assert client.invoke(op("write", ["k", "before"])).type == "ok"

    system.kill(leader)
    assert not leader.alive("raft")
    others = [n for n in nodes if n is not leader]
    new = primary(system, others)
    system.start(leader)  # same data: the write is still there
    assert node_status("127.0.0.1", system.port_of(leader))["role"] == "follower"

    system.pause(new)
    assert node_status("127.0.0.1", system.port_of(new), timeout=0.3) is None
    assert new not in system.primaries(nodes)
    system.resume(new)
    primary(system, nodes)
    client.open(leader)
    assert client.invoke(op("read", ["k", None])).value == ["k", "before"]
    client.close()

    for n in nodes:
        system.teardown(n)
    assert not any(n.alive("raft") for n in nodes)


def test_setup_needs_the_nodes_first(nodes):
    with pytest.raises(SetupError, match="configure"):
        RaftSystem([]).setup(nodes[0])


def test_a_client_opened_on_a_node_its_system_does_not_know_is_an_error(nodes):
    system = RaftSystem([], port=free_base_port(3), nodes=nodes[:2])
    with pytest.raises(SetupError, match="does not know node 'n3'"):
        RaftClient(system).open(nodes[2])
    with pytest.raises(ValueError, match="needs the system it talks to, or a port"):
        RaftClient()


def test_a_daemon_that_exits_at_start_is_a_setup_error_showing_its_log(nodes):
    system = RaftSystem(["no-such-bug"], port=free_base_port(3), nodes=nodes)
    with pytest.raises(SetupError) as e:
        system.setup(nodes[0])
    assert "exited" in str(e.value) and "unknown bug(s) no-such-bug" in str(e.value)


def test_the_clock_environment_is_passed_to_the_daemon(nodes, monkeypatch):
    def faketime_env(node):
        return {"FAKETIME_TEST_MARK": node.name, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    monkeypatch.setattr(clock, "faketime_env", faketime_env)
    system = RaftSystem([], port=free_base_port(3), nodes=nodes)
    system.setup(nodes[1])
    assert nodes[1].spawned_env["FAKETIME_TEST_MARK"] == "n2"
