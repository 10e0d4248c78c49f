"""The election pattern as real processes on 127.0.0.1: one leader per term, leader actions
confirmed by a majority, terms that survive a crash, and the mechanism of each seeded bug.
A node killed stands in for a node cut off by a partition."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from patterns._runtime import RpcClient, RpcError

ROOT = Path(__file__).resolve().parents[2]


class Nodes:
    """n election nodes on loopback, each with its own port, data directory and log."""

    def __init__(self, tmp: Path, n: int, bugs: tuple[str, ...]) -> None:
        self.tmp = tmp
        self.names = [f"n{i + 1}" for i in range(n)]
        socks = [socket.socket() for _ in self.names]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        self.ports = {name: s.getsockname()[1] for name, s in zip(self.names, socks, strict=True)}
        for s in socks:
            s.close()
        self.bugs = bugs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rpcs: dict[str, RpcClient] = {}

    def start(self, name: str) -> None:
        peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in self.ports.items())
        argv = [sys.executable, "-m", "patterns.election", "--id", name,
                "--listen", f"127.0.0.1:{self.ports[name]}", "--peers", peers,
                "--data", str(self.tmp / name), "--election-ms", "150-300"]  # fmt: skip
        for b in self.bugs:
            argv += ["--bug", b]
        with open(self.tmp / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.rpcs[name] = RpcClient(("127.0.0.1", self.ports[name]), timeout=3.0)
        wait(lambda: self.status(name) is not None, 10, f"{name} to answer")

    def kill(self, *names: str) -> None:
        for name in names:
            os.killpg(self.procs[name].pid, signal.SIGKILL)
            self.procs[name].wait(5)

    def alive(self) -> list[str]:
        return [n for n in self.names if self.procs[n].poll() is None]

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def status(self, name: str) -> dict[str, Any] | None:
        try:
            return self.rpcs[name].call({"type": "status"}, timeout=0.5)["value"]
        except RpcError:
            return None

    def act(self, name: str) -> dict[str, Any]:
        return self.rpcs[name].call({"type": "act"})

    def leader(self, timeout: float = 10.0) -> str:
        """The one node that is leader and can act."""
        found: list[str] = []

        def one() -> bool:
            found[:] = [n for n in self.alive() if self.act(n)["ok"]]
            return len(found) == 1

        wait(one, timeout, "one leader that acts")
        return found[0]


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def nodes(tmp_path: Path) -> Any:
    made: list[Nodes] = []

    def make(n: int = 3, bugs: tuple[str, ...] = ()) -> Nodes:
        c = Nodes(tmp_path / f"c{len(made)}", n, bugs)
        c.tmp.mkdir()
        made.append(c)
        for name in c.names:
            c.start(name)
        return c

    yield make
    for c in made:
        c.stop()
    for c in made:
        for name in c.names:
            log = c.tmp / f"{name}.log"
            if log.exists():
                print(f"--- {log} ---\n" + log.read_text()[-2000:])


def test_one_leader_is_elected_and_only_it_acts(nodes: Any) -> None:
    c = nodes(5)
    ldr = c.leader()
    term = c.act(ldr)["value"]["term"]
    assert c.act(ldr)["value"] == {"term": term, "leader": ldr}
    for n in c.names:
        if n != ldr:
            reply = c.act(n)
            assert reply["error"] == "not-leader" and reply["definite"] is True
    statuses = [c.status(n) for n in c.names]
    assert [s["id"] for s in statuses if term in s["led_terms"]] == [ldr]  # type: ignore[index]
    assert all(s["term"] == term for s in statuses)  # type: ignore[index]


def test_a_new_leader_leads_a_later_term_and_terms_survive_a_restart(nodes: Any) -> None:
    c = nodes(3)
    old = c.leader()
    old_term = c.act(old)["value"]["term"]
    c.kill(old)
    new = c.leader()
    assert new != old and c.act(new)["value"]["term"] > old_term
    c.start(old)  # it comes back with its term and led_terms from disk
    st = c.status(old)
    assert st is not None and st["term"] >= old_term and old_term in st["led_terms"]


def test_a_leader_cut_off_from_the_majority_cannot_act(nodes: Any) -> None:
    c = nodes(3)
    ldr = c.leader()
    c.kill(*[n for n in c.names if n != ldr])
    reply = c.act(ldr)
    assert reply["ok"] is False and reply["error"] == "not-confirmed" and reply["definite"]


def test_no_confirm_lets_a_leader_cut_off_from_the_majority_act(nodes: Any) -> None:
    c = nodes(3, bugs=("no-confirm",))
    ldr = c.leader()
    c.kill(*[n for n in c.names if n != ldr])
    assert c.act(ldr)["ok"] is True


def test_two_of_five_elect_no_leader(nodes: Any) -> None:
    c = nodes(5)
    ldr = c.leader()
    c.kill(ldr, *[n for n in c.names if n != ldr][:2])
    time.sleep(1.5)  # several election timeouts
    assert not any(c.act(n)["ok"] for n in c.alive())
    assert all(c.status(n)["role"] != "leader" for n in c.alive())  # type: ignore[index]


@pytest.mark.parametrize("bug", ["minority-quorum", "double-count"])
def test_with_the_bug_two_of_five_elect_a_leader(nodes: Any, bug: str) -> None:
    c = nodes(5, bugs=(bug,))
    ldr = c.leader()
    c.kill(ldr, *[n for n in c.names if n != ldr][:2])
    wait(lambda: any(c.status(n)["role"] == "leader" for n in c.alive()), 5,  # type: ignore[index]
         "one of the two left to become leader")  # fmt: skip
    if bug == "minority-quorum":  # it also confirms its actions with two of five
        assert any(c.act(n)["ok"] for n in c.alive())
