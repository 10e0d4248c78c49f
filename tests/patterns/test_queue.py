"""The replicated queue, as real processes on 127.0.0.1: FIFO delivery to one consumer,
acknowledgements, the audit, failover, and the mechanism of each seeded bug."""

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
FAST = ("--heartbeat-ms", "30", "--election-ms", "150-300", "--request-timeout-ms", "600",
        "--visibility-ms", "300")  # fmt: skip


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    """n queue nodes on loopback, each with its own port, data dir and log."""

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
        argv = [sys.executable, "-m", "patterns.queue", "--id", name,
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
                if (st := self.status(n)) and st["role"] == "leader" and st["commit"]
            ]
            return len(found) == 1

        wait(one, "one leader")
        return found[0]

    def enqueue(self, name: str, value: Any) -> dict[str, Any]:
        return self.call(name, {"type": "enqueue", "value": value})

    def dequeue(self, name: str, consumer: str) -> dict[str, Any]:
        return self.call(name, {"type": "dequeue", "consumer": consumer})


def wait(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.03)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def queues(tmp_path):
    made: list[Cluster] = []

    def make(bugs: tuple[str, ...] = ()) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}", 3, bugs)
        made.append(c)
        for name in c.names:
            c.start(name)
        return c

    yield make
    for c in made:
        c.stop_all()


def test_messages_come_out_in_order_once_each_and_acks_belong_to_their_consumer(queues) -> None:
    c = queues()
    for v in ("a", "b", "c"):
        assert c.enqueue(c.names[v == "b"], v)["ok"]
    got = [c.dequeue(n, "alice")["value"] for n in c.names]
    assert [m["value"] for m in got] == ["a", "b", "c"]
    assert c.dequeue("n2", "bob")["value"] is None  # empty: nothing is handed out twice
    refused = c.call("n2", {"type": "ack", "consumer": "bob", "ids": [got[0]["id"]]})
    assert (refused["ok"], refused["error"], refused["definite"]) == (False, "not-held", True)
    assert "held by alice" in refused["message"]
    ids = [m["id"] for m in got[:2]]
    for _ in range(2):  # idempotent
        done = c.call("n3", {"type": "ack", "consumer": "alice", "ids": ids})
        assert done["value"] == {"acked": ids, "refused": []}
    leader = c.leader()
    audit = c.call(leader, {"type": "audit"})["value"]
    assert audit["queue"] == [] and audit["acked"] == 2
    assert audit["inflight"] == [[got[2]["id"], "c", "alice"]]


def test_nothing_acknowledged_is_lost_when_the_leader_is(queues) -> None:
    c = queues()
    leader = c.leader()
    for v in range(5):
        assert c.enqueue(leader, v)["ok"]
    first = c.dequeue(leader, "alice")["value"]
    c.kill(leader)
    rest = [n for n in c.names if n != leader]
    new = c.leader(rest)
    assert [c.dequeue(new, "bob")["value"]["value"] for _ in range(4)] == [1, 2, 3, 4]
    audit = c.call(new, {"type": "audit"})["value"]
    assert [first["id"], 0, "alice"] in audit["inflight"]


@pytest.mark.parametrize("bugs", [(), ("redeliver-on-timeout",)])
def test_an_unacknowledged_message_goes_to_another_consumer_only_with_the_bug(queues, bugs) -> None:
    c = queues(bugs)
    c.enqueue("n1", "slow")
    assert c.dequeue("n1", "alice")["value"]["value"] == "slow"
    time.sleep(0.8)  # well past --visibility-ms 300
    again = c.dequeue("n2", "bob")["value"]
    assert (again and again["value"]) == ("slow" if bugs else None)


@pytest.mark.parametrize("bugs", [(), ("unreplicated-dequeue",)])
def test_a_leader_without_followers_hands_out_messages_only_with_the_bug(queues, bugs) -> None:
    c = queues(bugs)
    leader = c.leader()
    c.enqueue(leader, "m")
    for n in c.names:
        if n != leader:
            c.kill(n)
    reply = c.dequeue(leader, "alice")
    if bugs:
        assert reply["ok"] and reply["value"]["value"] == "m"
    else:
        assert (reply["ok"], reply["error"], reply["definite"]) == (False, "timeout", False)
