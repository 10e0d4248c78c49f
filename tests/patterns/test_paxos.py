"""The CASPaxos register, as real processes on 127.0.0.1: the client protocol, rounds that
survive a lost minority, durable acceptors, and the mechanism of each seeded bug."""

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


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    """n Paxos processes on loopback, each with its own port, data dir and log."""

    def __init__(self, tmp: Path, n: int, bugs: tuple[str, ...], extra: tuple[str, ...]) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.names = [f"n{i + 1}" for i in range(n)]
        self.ports = dict(zip(self.names, free_ports(n), strict=True))
        self.bugs = bugs
        self.extra = list(extra)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rpcs: dict[str, RpcClient] = {}

    def start(self, name: str) -> None:
        peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in self.ports.items())
        argv = [sys.executable, "-m", "patterns.paxos", "--id", name,
                "--listen", f"127.0.0.1:{self.ports[name]}", "--peers", peers,
                "--data", str(self.tmp / name), *self.extra]  # fmt: skip
        for b in self.bugs:
            argv += ["--bug", b]
        with open(self.tmp / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.rpcs[name] = RpcClient(("127.0.0.1", self.ports[name]), timeout=3.0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.call(name, {"type": "status"}, timeout=0.5)
                return
            except RpcError:
                time.sleep(0.05)
        raise AssertionError(f"{name} did not answer status")

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(5)
        self.rpcs[name].close()

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        for r in self.rpcs.values():
            r.close()

    def call(self, name: str, req: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
        return self.rpcs[name].call(req, timeout=timeout)


@pytest.fixture
def paxos(tmp_path):
    made: list[Cluster] = []

    def make(n: int = 3, bugs: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}", n, bugs, extra)
        made.append(c)
        for name in c.names:
            c.start(name)
        return c

    yield make
    for c in made:
        c.stop_all()


def test_reads_writes_and_cas_agree_whichever_node_is_asked(paxos) -> None:
    c = paxos()
    assert c.call("n1", {"type": "write", "key": "x", "value": 1})["ok"]
    assert c.call("n2", {"type": "read", "key": "x"})["value"] == 1
    assert c.call("n3", {"type": "cas", "key": "x", "from": 1, "to": 2})["ok"]
    miss = c.call("n1", {"type": "cas", "key": "x", "from": 1, "to": 3})
    assert (miss["ok"], miss["error"], miss["definite"]) == (False, "cas-mismatch", True)
    assert "found 2" in miss["message"]
    assert c.call("n3", {"type": "read", "key": "x"})["value"] == 2
    assert c.call("n2", {"type": "read", "key": "never-written"})["value"] is None
    bad = c.call("n1", {"type": "write", "key": [1]})
    assert (bad["error"], bad["definite"]) == ("bad-request", True)


def test_a_majority_keeps_working_and_a_restarted_acceptor_remembers(paxos) -> None:
    c = paxos()
    c.call("n1", {"type": "write", "key": 7, "value": "a"})
    c.kill("n3")
    # every key, whatever its home, is still served by the two that are left
    for k in range(6):
        assert c.call("n1", {"type": "write", "key": k, "value": k})["ok"], k
        assert c.call("n2", {"type": "read", "key": k})["value"] == k
    c.kill("n1")
    c.start("n3")  # n3 missed the writes; n2 (which has them) and n3 are a majority
    for k in range(6):
        assert c.call("n3", {"type": "read", "key": k})["value"] == k
    c.kill("n2")
    c.start("n1")
    c.start("n2")  # every acceptor restarted from its own disk
    assert c.call("n2", {"type": "read", "key": 5})["value"] == 5


def test_a_minority_alone_answers_unavailable_definitely(paxos) -> None:
    c = paxos(extra=("--request-timeout-ms", "400"))
    c.kill("n2")
    c.kill("n3")
    reply = c.call("n1", {"type": "write", "key": "x", "value": 1})
    assert (reply["ok"], reply["error"], reply["definite"]) == (False, "unavailable", True)


def _prepare(c: Cluster, node: str, key: Any, ballot: list[Any]) -> dict[str, Any]:
    return c.call(node, {"type": "prepare", "key": key, "ballot": ballot})


@pytest.mark.parametrize("bugs", [(), ("forget-promise",)])
def test_forget_promise_lets_a_restarted_acceptor_promise_below_what_it_accepted(
    paxos, bugs
) -> None:
    c = paxos(bugs=bugs)
    # n1's acceptor accepts "new" under ballot 10, then promises ballot 50
    assert _prepare(c, "n1", "k", [10, "n2"])["promised"]
    accept = {"type": "accept", "key": "k", "ballot": [10, "n2"], "value": "new"}
    assert c.call("n1", accept)["accepted"]
    assert _prepare(c, "n1", "k", [50, "n2"])["promised"]
    c.kill("n1")
    c.start("n1")
    low = _prepare(c, "n1", "k", [1, "n3"])  # below both the promise and the accepted ballot
    if not bugs:
        assert (low["promised"], low["ballot"]) == (False, [50, "n2"])
        return
    assert low["promised"] and low["value"] == "new"
    # and it accepts under that low ballot, replacing the ballot its value was chosen with
    reply = c.call("n1", {"type": "accept", "key": "k", "ballot": [1, "n3"], "value": "old"})
    assert reply["accepted"]


@pytest.mark.parametrize("bugs", [(), ("local-read",)])
def test_local_read_answers_from_an_acceptor_that_missed_writes(paxos, bugs) -> None:
    c = paxos(bugs=bugs, extra=("--no-forward",))
    assert c.call("n3", {"type": "write", "key": "x", "value": 1})["ok"]
    c.kill("n3")
    assert c.call("n1", {"type": "write", "key": "x", "value": 2})["ok"]
    c.start("n3")
    got = c.call("n3", {"type": "read", "key": "x"})["value"]
    # with the bug: whatever n3's acceptor last took (1, or nothing if the first write's
    # accept went to the other two), never the write it missed
    assert got == 2 if not bugs else got in (1, None)
