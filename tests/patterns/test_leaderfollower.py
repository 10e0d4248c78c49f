"""The leader-follower log, as real processes on 127.0.0.1: acknowledged writes with their
index, what followers may show (up to their high-water mark, above the low-water mark),
truncation on every node, failover, and the mechanism of each seeded bug."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patterns._runtime import RpcClient, RpcError

ROOT = Path(__file__).resolve().parents[2]
FAST = ("--heartbeat-ms", "30", "--election-ms", "150-300", "--request-timeout-ms", "600")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    """n log nodes on loopback, each with its own port, data dir and log."""

    def __init__(self, tmp: Path, n: int, bugs: tuple[str, ...]) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.names = [f"n{i + 1}" for i in range(n)]
        self.ports = dict(zip(self.names, free_ports(n), strict=True))
        self.bugs = bugs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rpcs: dict[str, RpcClient] = {}

    def start(self, name: str) -> None:
        peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in self.ports.items())
        argv = [sys.executable, "-m", "patterns.leaderfollower", "--id", name,
                "--listen", f"127.0.0.1:{self.ports[name]}", "--peers", peers,
                "--data", str(self.tmp / name), *FAST]  # fmt: skip
        for b in self.bugs:
            argv += ["--bug", b]
        with open(self.tmp / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.rpcs[name] = RpcClient(("127.0.0.1", self.ports[name]), timeout=3.0)
        wait(lambda: self.status(name) is not None, f"{name} to answer status")

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

    def status(self, name: str) -> dict[str, Any] | None:
        try:
            return self.call(name, {"type": "status"}, timeout=0.5)["value"]
        except RpcError:
            return None

    def leader(self, among: list[str] | None = None) -> str:
        found: list[str] = []

        def one() -> bool:
            found[:] = [
                n
                for n in among or self.names
                if (st := self.status(n)) and st["role"] == "leader" and st["hwm"] > 0
            ]
            return len(found) == 1

        wait(one, "one leader")
        return found[0]

    def read_log(self, name: str, where: str = "tail", count: int = 64) -> dict[str, Any]:
        return self.call(name, {"type": "read-log", "from": where, "count": count})["value"]


def wait(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.03)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def logs(tmp_path):
    made: list[Cluster] = []

    def make(bugs: tuple[str, ...] = (), n: int = 3) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}", n, bugs)
        made.append(c)
        for name in c.names:
            c.start(name)
        return c

    yield make
    for c in made:
        c.stop_all()


def test_followers_show_acknowledged_writes_up_to_their_hwm_only(logs) -> None:
    c = logs()
    leader = c.leader()
    follower = next(n for n in c.names if n != leader)
    indices = [c.call(follower, {"type": "write", "key": "k", "value": v})["value"]["index"]
               for v in range(5)]  # fmt: skip
    assert indices == sorted(indices) and len(set(indices)) == 5
    assert c.call(follower, {"type": "read", "key": "k"})["value"] == 4
    wait(lambda: c.read_log(follower)["hwm"] >= indices[-1], "the follower to learn the HWM")
    seen = c.read_log(follower)
    assert all(e[0] <= seen["hwm"] for e in seen["entries"])
    assert [e[2] for e in seen["entries"] if e[0] in indices] == [["w", "k", v] for v in range(5)]
    assert seen["hwm"] <= c.status(leader)["hwm"]


def test_truncation_moves_every_nodes_low_water_mark_and_reads_start_above_it(logs) -> None:
    c = logs()
    leader = c.leader()
    for v in range(10):
        c.call(leader, {"type": "write", "key": "k", "value": v})
    t = c.call(c.names[0], {"type": "truncate", "keep": 3})["value"]
    assert t["upto"] > 0 and t["index"] > t["upto"]
    for n in c.names:
        wait(lambda n=n: c.read_log(n)["hwm"] >= t["index"], f"{n} to apply the truncation")
        head = c.read_log(n, "head", 4)
        assert head["lwm"] == t["upto"]
        assert head["entries"][0][0] == t["upto"] + 1
    audit = c.call(leader, {"type": "audit"})["value"]
    assert [e[0] for e in audit["entries"]] == list(range(1, audit["hwm"] + 1))  # all kept


def test_acknowledged_writes_survive_the_loss_of_the_leader(logs) -> None:
    c = logs()
    leader = c.leader()
    acked = [c.call(leader, {"type": "write", "key": "k", "value": v})["value"]["index"]
             for v in range(5)]  # fmt: skip
    c.kill(leader)
    rest = [n for n in c.names if n != leader]
    new = c.leader(rest)
    audit = c.call(new, {"type": "audit"})["value"]
    held = {e[0]: e[2] for e in audit["entries"]}
    assert [held[i] for i in acked] == [["w", "k", v] for v in range(5)]


@pytest.mark.parametrize("bugs", [(), ("ack-before-replication",)])
def test_a_leader_without_followers_acknowledges_only_with_the_bug(logs, bugs) -> None:
    c = logs(bugs)
    leader = c.leader()
    for n in c.names:
        if n != leader:
            c.kill(n)
    reply = c.call(leader, {"type": "write", "key": "k", "value": "lonely"})
    if bugs:
        assert reply["ok"] and reply["value"]["index"] > c.status(leader)["hwm"]
    else:
        assert (reply["ok"], reply["error"], reply["definite"]) == (False, "timeout", False)


@pytest.mark.parametrize("bugs", [(), ("read-past-hwm",)])
def test_entries_above_the_hwm_are_served_only_with_the_bug(logs, bugs) -> None:
    c = logs(bugs)
    leader = c.leader()
    for n in c.names:
        if n != leader:
            c.kill(n)
    c.call(leader, {"type": "write", "key": "k", "value": "pending"}, timeout=3.0)
    tail = c.read_log(leader)
    above = [e for e in tail["entries"] if e[0] > tail["hwm"]]
    assert [e[2] for e in above] == ([["w", "k", "pending"]] if bugs else [])


@pytest.mark.parametrize("bugs", [(), ("lwm-leader-only",)])
def test_followers_keep_serving_truncated_entries_only_with_the_bug(logs, bugs) -> None:
    c = logs(bugs)
    leader = c.leader()
    for v in range(6):
        c.call(leader, {"type": "write", "key": "k", "value": v})
    t = c.call(leader, {"type": "truncate", "keep": 2})["value"]
    follower = next(n for n in c.names if n != leader)
    wait(lambda: c.read_log(follower)["hwm"] >= t["index"], "the follower to apply it")
    head = c.read_log(follower, "head", 2)
    assert head["entries"][0][0] == (1 if bugs else t["upto"] + 1)
    assert c.read_log(leader, "head", 2)["lwm"] == t["upto"]
