"""Kill / restart and pause / resume of a real daemon (a tiny TCP echo server) on each node."""

from __future__ import annotations

import os
import random
import signal
import socket
import textwrap
import time
from collections.abc import Iterator

import pytest

from clusters.base import Node, SetupError
from clusters.local import LocalCluster
from harness.history import Op
from nemesis.compose import compose
from nemesis.process import KillNemesis, PauseNemesis
from workloads.system import HasPrimaries, Killable, Pausable, System

PORT = 7411
DAEMON = "echo"

ECHO = textwrap.dedent("""
    import socket, sys, threading
    srv = socket.create_server(("0.0.0.0", int(sys.argv[1])), reuse_port=False)
    def serve(conn):
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
""")


def echo(node: Node, timeout: float = 0.5) -> str:
    """'ok' if the node's daemon echoes, 'refused' if nothing listens, 'silent' if it does
    not answer in time (a paused process: the kernel still accepts the connection)."""
    try:
        with socket.create_connection((node.address, PORT), timeout=timeout) as s:
            s.sendall(b"ping")
            return "ok" if s.recv(4) == b"ping" else "garbled"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "silent"


class EchoSystem:
    """The echo daemon as a System: Killable, Pausable, and n1 is its "primary"."""

    def setup(self, node: Node) -> None:
        self.start(node)

    def start(self, node: Node) -> None:
        python = getattr(node, "python", "python3")
        node.spawn(DAEMON, [python, "-c", ECHO, str(PORT)])
        deadline = time.monotonic() + 5
        while echo(node) != "ok":
            if time.monotonic() > deadline:
                raise SetupError(f"echo did not come up on {node.name}")
            time.sleep(0.02)

    def teardown(self, node: Node) -> None:
        node.signal(DAEMON, signal.SIGKILL)

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.workdir}/{DAEMON}.log"]

    def kill(self, node: Node) -> None:
        node.signal(DAEMON, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while node.alive(DAEMON) and time.monotonic() < deadline:
            time.sleep(0.01)

    def pause(self, node: Node) -> None:
        node.signal(DAEMON, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        node.signal(DAEMON, signal.SIGCONT)

    def primaries(self, nodes: list[Node]) -> list[Node]:
        return [n for n in nodes if n.name == "n1"]


def test_the_echo_system_fulfils_the_contracts() -> None:
    s = EchoSystem()
    assert all(isinstance(s, p) for p in (System, Killable, Pausable, HasPrimaries))


def test_a_system_without_the_power_is_refused_at_construction() -> None:
    with pytest.raises(SetupError, match="Killable"):
        KillNemesis(random.Random(0), system=object())
    with pytest.raises(SetupError, match="Pausable"):
        PauseNemesis(random.Random(0), system=object())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root")
    c = LocalCluster(3, workroot=tmp_path_factory.mktemp("process"))
    system = EchoSystem()
    try:
        c.create()
        for node in c.nodes:
            system.setup(node)
        yield c
    finally:
        c.destroy()


@pytest.fixture
def system(cluster: LocalCluster) -> Iterator[EchoSystem]:
    s = EchoSystem()
    yield s
    for node in cluster.nodes:  # whatever a test did, leave every daemon up and running
        s.resume(node)
        if not node.alive(DAEMON):
            s.start(node)


def invoke(nem: object, f: str, value: object = None) -> Op:
    return nem.invoke(Op("invoke", f, value, process="nemesis"))  # type: ignore[attr-defined]


@pytest.mark.cluster
def test_a_paused_process_does_not_answer_and_answers_again_after_resume(
    cluster: LocalCluster, system: EchoSystem
) -> None:
    nem = PauseNemesis(random.Random(0), system)
    nem.setup(cluster)
    n1, n2, _ = cluster.nodes
    paused = invoke(nem, "pause", ["n1"])
    assert (paused.type, paused.value) == ("ok", ["n1"])
    assert echo(n1) == "silent"
    assert n1.alive(DAEMON), "a stopped process is still alive"
    assert echo(n2) == "ok"
    resumed = invoke(nem, "resume")
    assert (resumed.type, resumed.value) == ("ok", ["n1"])
    assert echo(n1, timeout=2) == "ok"
    assert invoke(nem, "resume").value == [], "nothing left to resume"


@pytest.mark.cluster
def test_a_killed_process_is_gone_and_start_brings_it_back(
    cluster: LocalCluster, system: EchoSystem
) -> None:
    nem = KillNemesis(random.Random(0), system)
    nem.setup(cluster)
    n2 = cluster.nodes[1]
    old = int(open(f"{n2.workdir}/{DAEMON}.pid").read())
    killed = invoke(nem, "kill", "n2")
    assert (killed.type, killed.value) == ("ok", ["n2"])
    assert not n2.alive(DAEMON)
    assert echo(n2) == "refused"
    assert not os.path.exists(f"/proc/{old}") or "Z" in open(f"/proc/{old}/stat").read()
    started = invoke(nem, "start")
    assert (started.type, started.value) == ("ok", ["n2"])
    assert echo(n2) == "ok"
    assert int(open(f"{n2.workdir}/{DAEMON}.pid").read()) != old


@pytest.mark.cluster
def test_targets_pick_the_right_number_of_nodes_and_the_primaries(
    cluster: LocalCluster, system: EchoSystem
) -> None:
    nem = KillNemesis(random.Random(3), system)
    nem.setup(cluster)
    majority = invoke(nem, "kill", "majority")
    assert majority.type == "ok" and len(majority.value) == 2
    assert sorted(invoke(nem, "start").value) == sorted(majority.value)
    assert invoke(nem, "kill", "primaries").value == ["n1"]
    assert invoke(nem, "start").value == ["n1"]
    assert len(invoke(nem, "kill", "minority").value) == 1
    invoke(nem, "start")
    bad = invoke(nem, "kill", "everyone")
    assert bad.type == "info" and "minority" in (bad.error or "")
    assert all(echo(n) == "ok" for n in cluster.nodes)


@pytest.mark.cluster
def test_teardown_resumes_the_paused_and_restarts_the_killed(
    cluster: LocalCluster, system: EchoSystem
) -> None:
    nem = compose([KillNemesis(random.Random(0), system), PauseNemesis(random.Random(0), system)])
    nem.setup(cluster)
    assert invoke(nem, "pause", ["n1", "n3"]).value == ["n1", "n3"]
    assert invoke(nem, "kill", ["n2"]).value == ["n2"]
    assert [echo(n) for n in cluster.nodes] == ["silent", "refused", "silent"]
    nem.teardown()
    assert [echo(n, timeout=2) for n in cluster.nodes] == ["ok", "ok", "ok"]
    nem.teardown()  # nothing left to undo
