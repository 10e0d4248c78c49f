"""The two-phase commit pattern as real processes on 127.0.0.1: commit, abort, recovery after
a crash of a participant or the coordinator, and the mechanism of each seeded bug."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from loopback import free_ports

from patterns._runtime import RpcClient, RpcError
from patterns.twophase import home_of

ROOT = Path(__file__).resolve().parents[2]


class Nodes:
    """n twophase nodes on loopback, each with its own port, data directory and log."""

    def __init__(
        self, tmp: Path, n: int, bugs: tuple[str, ...] = (), extra: tuple[str, ...] = ()
    ) -> None:
        self.tmp = tmp
        self.names = [f"n{i + 1}" for i in range(n)]
        self.ports = dict(zip(self.names, free_ports(n), strict=True))
        self.bugs = bugs
        self.extra = list(extra)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rpcs: dict[str, RpcClient] = {}

    def start(self, name: str, *, wait_ready: bool = True) -> None:
        peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in self.ports.items())
        argv = [
            sys.executable,
            "-m",
            "patterns.twophase",
            "--id",
            name,
            "--listen",
            f"127.0.0.1:{self.ports[name]}",
            "--peers",
            peers,
            "--data",
            str(self.tmp / name),
            "--doubt-ms",
            "300",
            "--retry-ms",
            "100",
            "--prepare-timeout-ms",
            "500",
            "--lock-wait-ms",
            "200",
        ]
        for b in self.bugs:
            argv += ["--bug", b]
        argv += self.extra
        with open(self.tmp / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.rpcs[name] = RpcClient(("127.0.0.1", self.ports[name]), timeout=3.0)
        if wait_ready:
            wait(lambda: self.status(name) is not None, 10, f"{name} to answer")

    def start_all(self) -> None:
        for n in self.names:
            self.start(n)

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(5)
        self.rpcs[name].close()

    def pause(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGCONT)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGCONT)
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)

    def call(self, name: str, msg: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
        return self.rpcs[name].call(msg, timeout=timeout)

    def status(self, name: str) -> dict[str, Any] | None:
        try:
            r = self.call(name, {"type": "status"}, 0.5)
        except RpcError:
            return None
        return r.get("value")

    def txn(self, name: str, ops: list[list[Any]], timeout: float = 3.0) -> dict[str, Any]:
        return self.call(name, {"type": "txn", "ops": ops}, timeout)

    def store_of(self, name: str) -> dict[str, Any]:
        return self.call(name, {"type": "read-store"})["value"]

    def key_on(self, owner: str, avoid: set[Any] = frozenset()) -> int:  # type: ignore[assignment]
        """A key whose participant is ``owner``."""
        for k in range(1000):
            if home_of(k, self.names) == owner and k not in avoid:
                return k
        raise AssertionError(f"no key hashes to {owner}")


def wait(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def make_nodes(tmp_path: Path):
    made: list[Nodes] = []

    def make(n: int = 3, bugs: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> Nodes:
        nodes = Nodes(tmp_path, n, bugs, extra)
        made.append(nodes)
        nodes.start_all()
        return nodes

    yield make
    for nodes in made:
        nodes.stop()


def read(nodes: Nodes, via: str, *keys: int) -> list[Any]:
    r = nodes.txn(via, [["r", k, None] for k in keys])
    assert r["ok"], r
    return [m[2] for m in r["value"]]


def test_a_transaction_across_participants_commits_everywhere_and_reads_its_own_writes(
    make_nodes,
) -> None:
    nodes = make_nodes()
    a, b = nodes.key_on("n2"), nodes.key_on("n3")
    r = nodes.txn("n1", [["append", a, 1], ["append", b, 2], ["r", a, None]])
    assert r["ok"] and r["value"][2] == ["r", a, [1]]
    nodes.txn("n2", [["append", a, 3], ["append", b, 4]])
    assert read(nodes, "n3", a, b) == [[1, 3], [2, 4]]


def test_a_conflict_on_a_prepared_key_aborts_definitely_and_leaves_nothing(make_nodes) -> None:
    nodes = make_nodes()
    a, b = nodes.key_on("n2"), nodes.key_on("n3")
    # a prepared transaction holds a's lock: the coordinator n1 is paused before it decides
    # (its prepare is sent by hand, as n1 would)
    r = nodes.call(
        "n2", {"type": "prepare", "txn": "n1.x.1", "coord": "n1", "ops": [[0, ["append", a, 9]]]}
    )
    assert r["value"]["vote"] == "yes"
    r = nodes.txn("n3", [["append", a, 1], ["append", b, 2]])
    assert r["ok"] is False and r["error"] == "aborted" and r["definite"] is True
    # n1 never logged a decision for n1.x.1: presumed abort releases the lock
    wait(lambda: nodes.txn("n3", [["append", a, 5]])["ok"], 5, "presumed abort")
    assert read(nodes, "n1", a, b) == [[5], None]


def test_a_restarted_participant_keeps_its_prepared_transaction_and_commits_it(
    make_nodes,
) -> None:
    nodes = make_nodes()
    a = nodes.key_on("n2")
    nodes.call(
        "n2", {"type": "prepare", "txn": "n3.x.1", "coord": "n3", "ops": [[0, ["append", a, 7]]]}
    )
    nodes.kill("n2")
    nodes.start("n2")
    assert nodes.status("n2")["prepared"] == 1  # in doubt, locks held
    assert nodes.txn("n1", [["append", a, 1]])["ok"] is False
    r = nodes.call("n2", {"type": "commit", "txn": "n3.x.1", "writes": [["append", a, 7]]})
    assert r["ok"]
    assert read(nodes, "n1", a) == [[7]]


def test_a_killed_participant_gets_the_logged_commit_again_after_restart(make_nodes) -> None:
    nodes = make_nodes()
    a, b = nodes.key_on("n2"), nodes.key_on("n3")
    nodes.pause("n3")  # n3 will not answer its commit; the coordinator re-sends it
    try:
        # votes are collected while n3 is paused: the transaction aborts, nothing changes
        r = nodes.txn("n1", [["append", a, 1], ["append", b, 2]], timeout=5)
        assert r["ok"] is False
    finally:
        nodes.resume("n3")
    # n1 counts n3 as unreachable for a moment (a prepare timeout) after its silence: retry until
    # the prepare is sent again; each attempt that aborts leaves nothing
    wait(
        lambda: nodes.txn("n1", [["append", a, 3], ["append", b, 4]], timeout=5)["ok"],
        5,
        "n3 to be asked again",
    )
    nodes.kill("n3")
    nodes.start("n3")
    assert read(nodes, "n2", a, b) == [[3], [4]]


def test_a_silent_participant_is_skipped_for_a_while_and_then_asked_again(make_nodes) -> None:
    # the last --prepare-timeout-ms wins over the fixture's 500: n1 waits 2 s for a vote,
    # then skips the peer that did not answer for 2 s
    nodes = make_nodes(extra=("--prepare-timeout-ms", "2000"))
    a, b = nodes.key_on("n2"), nodes.key_on("n3")
    nodes.pause("n3")
    try:
        r = nodes.txn("n1", [["append", a, 1], ["append", b, 2]], timeout=5)
    finally:
        nodes.resume("n3")
    assert r["ok"] is False and "no answer" in r["message"]
    # n3 answers again (and, late, prepares the first transaction: presumed abort will free
    # it), but n1 does not ask it yet: it counts as not answering, n2's vote on a was yes
    r = nodes.txn("n1", [["append", a, 3], ["append", b, 4]])
    assert r["ok"] is False and "{'n3': 'no answer'}" in r["message"]
    wait(
        lambda: nodes.txn("n1", [["append", a, 5], ["append", b, 6]])["ok"],
        10,
        "n1 to ask n3 again",
    )
    assert read(nodes, "n2", a, b) == [[5], [6]]


def test_a_transaction_with_a_dead_participant_aborts_and_commits_once_it_is_back(
    make_nodes,
) -> None:
    nodes = make_nodes()
    a, b = nodes.key_on("n2"), nodes.key_on("n3")
    nodes.kill("n3")
    # n3 is down: its prepare gets no vote, so the transaction aborts
    assert nodes.txn("n1", [["append", a, 1], ["append", b, 2]])["ok"] is False
    nodes.start("n3")
    # (n1 skips n3 for a prepare timeout after its silence: an attempt before that aborts)
    wait(lambda: nodes.txn("n1", [["append", a, 5], ["append", b, 6]])["ok"], 5, "a commit")
    nodes.kill("n1")
    nodes.start("n1")
    assert read(nodes, "n1", a, b) == [[5], [6]]


def test_an_in_doubt_participant_learns_a_presumed_abort_from_a_later_incarnation(
    make_nodes,
) -> None:
    nodes = make_nodes()
    a = nodes.key_on("n2")
    r = nodes.txn("n1", [["append", a, 1]])
    assert r["ok"]
    nodes.call(
        "n2", {"type": "prepare", "txn": "n1.gone.1", "coord": "n1", "ops": [[0, ["append", a, 2]]]}
    )
    # n1 never decided n1.gone.1 (an earlier incarnation): presumed abort
    wait(lambda: nodes.status("n2")["prepared"] == 0, 5, "in-doubt resolution")
    assert read(nodes, "n3", a) == [[1]]


def test_bug_commit_without_all_votes_commits_over_a_no_vote(make_nodes) -> None:
    nodes = make_nodes(bugs=("commit-without-all-votes",))
    a, b = nodes.key_on("n2"), nodes.key_on("n3")
    nodes.call(
        "n2", {"type": "prepare", "txn": "n1.x.1", "coord": "n1", "ops": [[0, ["append", a, 9]]]}
    )
    # n2 votes no (a is locked), yet the transaction commits and n2 applies it blindly
    r = nodes.txn("n3", [["append", a, 1], ["append", b, 2]])
    assert r["ok"] is True
    assert read(nodes, "n1", b) == [[2]]
    assert nodes.store_of("n2") == {str(a): [1]}  # applied around the lock of n1.x.1


def test_bug_forget_prepared_drops_locks_and_applies_the_commit_late(make_nodes) -> None:
    nodes = make_nodes(bugs=("forget-prepared",))
    a = nodes.key_on("n2")
    nodes.call(
        "n2", {"type": "prepare", "txn": "n3.x.1", "coord": "n3", "ops": [[0, ["append", a, 7]]]}
    )
    nodes.kill("n2")
    nodes.start("n2")
    assert nodes.status("n2")["prepared"] == 0
    assert nodes.txn("n1", [["append", a, 1]])["ok"] is True  # the lock was forgotten
    nodes.call("n2", {"type": "commit", "txn": "n3.x.1", "writes": [["append", a, 7]]})
    assert read(nodes, "n1", a) == [[1, 7]]  # 7 lands after a later transaction's 1


def test_bug_no_decision_log_loses_half_a_commit_when_the_coordinator_crashes(
    make_nodes,
) -> None:
    # n1 sends its commits to n2, then (a second later) to n3; it dies in between
    nodes = make_nodes(bugs=("no-decision-log",), extra=("--commit-gap-ms", "1500"))
    a, b = nodes.key_on("n2"), nodes.key_on("n3")
    t = threading.Thread(
        target=_swallow,
        args=(lambda: nodes.txn("n1", [["append", a, 1], ["append", b, 2]], timeout=5),),
    )
    t.start()
    wait(lambda: nodes.store_of("n2").get(str(a)), 5, "n2 to apply the commit")
    nodes.kill("n1")
    t.join(10)
    nodes.start("n1")
    # n3 asks n1, whose log has no decision: presumed abort, while n2 kept its half
    wait(lambda: nodes.status("n3")["prepared"] == 0, 10, "n3 to resolve")
    assert nodes.store_of("n2").get(str(a)) == [1]
    assert str(b) not in nodes.store_of("n3")


def test_the_decision_log_survives_the_same_crash_without_the_bug(make_nodes) -> None:
    nodes = make_nodes(extra=("--commit-gap-ms", "1500"))
    a, b = nodes.key_on("n2"), nodes.key_on("n3")
    t = threading.Thread(
        target=_swallow,
        args=(lambda: nodes.txn("n1", [["append", a, 1], ["append", b, 2]], timeout=5),),
    )
    t.start()
    wait(lambda: nodes.store_of("n2").get(str(a)), 5, "n2 to apply the commit")
    nodes.kill("n1")
    t.join(10)
    nodes.start("n1")
    wait(lambda: nodes.status("n3")["prepared"] == 0, 10, "n3 to resolve")
    assert nodes.store_of("n3").get(str(b)) == [2]


def _swallow(f: Callable[[], Any]) -> None:
    try:
        f()
    except RpcError:
        pass
