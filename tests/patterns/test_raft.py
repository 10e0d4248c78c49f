"""The reference Raft store, as real processes on 127.0.0.1: elections, replication, the
client protocol, crash recovery, and the mechanism of each seeded bug."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from loopback import ROOT, LoopbackCluster, clusters, free_ports, wait

from patterns._runtime import ConnectFailed, RpcClient, RpcError


class Cluster(LoopbackCluster):
    """n Raft processes on loopback, each with its own port, data dir and log file."""

    module = "raft"

    def followers(self, leader: str) -> list[str]:
        return [n for n in self.names if n != leader]

    def write(self, name: str, key: Any, value: Any) -> dict[str, Any]:
        return self.call(name, {"type": "write", "key": key, "value": value})

    def read(self, name: str, key: Any) -> dict[str, Any]:
        return self.call(name, {"type": "read", "key": key})


@pytest.fixture
def cluster(tmp_path):
    """A factory of clusters, all of whose processes are killed at the end of the test
    (their logs' tails are printed then: pytest shows them if the test failed)."""
    with clusters(tmp_path, Cluster) as make:
        yield make


# -- elections, replication, the client protocol ----------------------------------------------


@pytest.mark.parametrize("n", [3, 5])
def test_a_cluster_elects_one_leader_that_every_node_follows(cluster, n):
    c = cluster(n)
    leader = c.leader()
    wait(
        lambda: all((c.status(m) or {}).get("leader") == leader for m in c.names),
        5,
        "every node to follow the leader",
    )
    statuses = [c.status(m) for m in c.names]
    assert [s["role"] for s in statuses].count("leader") == 1
    assert len({s["term"] for s in statuses}) == 1
    lead = next(s for s in statuses if s["role"] == "leader")
    assert lead["term"] in lead["led_terms"]


def test_reads_writes_and_cas_behave_as_a_register_per_key(cluster):
    c = cluster(3)
    ldr = c.leader()
    missing = c.read(ldr, "x")
    assert missing["ok"] is True and missing["value"] is None
    assert c.write(ldr, "x", 1)["ok"] is True
    assert c.read(ldr, "x")["value"] == 1
    assert c.call(ldr, {"type": "cas", "key": "x", "from": 1, "to": 2})["ok"] is True
    bad = c.call(ldr, {"type": "cas", "key": "x", "from": 1, "to": 3})
    assert bad["ok"] is False and bad["error"] == "cas-mismatch" and bad["definite"] is True
    assert c.read(ldr, "x")["value"] == 2
    assert c.read(ldr, "y")["value"] is None  # keys are independent
    assert c.write(ldr, 7, {"any": ["json"]})["ok"] is True
    assert c.read(ldr, 7)["value"] == {"any": ["json"]}
    assert c.call(ldr, {"type": "cas", "key": 7, "from": None, "to": 1})["error"] == "cas-mismatch"
    assert c.call(ldr, {"type": "cas", "key": "z", "from": None, "to": 1})["ok"] is True
    bad = c.call(ldr, {"type": "write", "key": "x"})
    assert bad["error"] == "bad-request" and bad["definite"] is True
    assert c.call(ldr, {"type": "nope"})["error"] == "bad-request"


def test_writes_are_replicated_to_every_node(cluster):
    c = cluster(5)
    ldr = c.leader()
    for i in range(20):
        assert c.write(ldr, f"k{i}", i)["ok"]
    commit = c.status(ldr)["commit"]
    wait(
        lambda: all(c.status(n)["applied"] >= commit for n in c.names),
        5,
        "every node to apply the writes",
    )
    last = {c.status(n)["last_index"] for n in c.names}
    assert last == {commit}


def test_followers_forward_requests_to_the_leader(cluster):
    c = cluster(3)
    ldr = c.leader()
    f1, f2 = c.followers(ldr)
    assert c.write(f1, "x", "via-follower")["ok"] is True
    assert c.read(f2, "x")["value"] == "via-follower"
    assert c.call(f2, {"type": "cas", "key": "x", "from": "via-follower", "to": 2})["ok"]
    bad = c.call(f1, {"type": "cas", "key": "x", "from": "nope", "to": 3})
    assert bad["error"] == "cas-mismatch" and bad["definite"] is True
    assert c.status(f1)["role"] == "follower"


def test_without_a_known_leader_a_node_answers_not_leader_definitely(cluster):
    c = cluster(3, start=False)
    c.start("n1")  # its peers never start: no leader can be elected
    reply = c.write("n1", "x", 1)
    assert reply["ok"] is False
    assert reply["error"] == "not-leader" and reply["definite"] is True
    assert reply["leader"] is None
    assert c.status("n1")["role"] in ("follower", "candidate")


# -- crashes --------------------------------------------------------------------------------


class Writers:
    """Threads that each write 1, 2, 3, ... to a key of their own through a node, and
    remember the highest value acknowledged."""

    def __init__(self, c: Cluster, nodes: list[str]) -> None:
        self.acked: dict[str, int] = {}
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(c, nodes[i % len(nodes)], f"w{i}"))
            for i in range(6)
        ]
        for t in self.threads:
            t.start()

    def _run(self, c: Cluster, node: str, key: str) -> None:
        rpc = RpcClient(("127.0.0.1", c.ports[node]), timeout=2.0)
        v = 0
        while not self.stop.is_set():
            v += 1
            try:
                reply = rpc.call({"type": "write", "key": key, "value": v})
            except RpcError:
                time.sleep(0.02)
                continue
            if reply["ok"]:
                self.acked[key] = v
            else:
                time.sleep(0.02)
        rpc.close()

    def acked_after(self, before: dict[str, int], n: int, timeout: float = 30) -> None:
        """Wait until ``n`` writes beyond ``before`` (an earlier ``dict(self.acked)``) are
        acknowledged: a loaded machine writes far fewer per second than an idle one."""

        def more() -> int:
            now = dict(self.acked)
            return sum(v - before.get(k, 0) for k, v in now.items())

        wait(lambda: more() >= n, timeout, f"{n} more acknowledged writes")

    def finish(self) -> dict[str, int]:
        self.stop.set()
        for t in self.threads:
            t.join(10)
        return dict(self.acked)


def assert_no_acknowledged_write_lost(c: Cluster, via: str, acked: dict[str, int]) -> None:
    assert acked, "no write was acknowledged at all"
    for key, v in acked.items():
        got = c.read(via, key)
        assert got["ok"], got
        # later writes may have taken effect without an acknowledgment, never fewer
        assert got["value"] >= v, f"{key}: acknowledged {v}, read {got['value']}"


def test_kill_9_of_the_leader_loses_no_acknowledged_write(cluster):
    c = cluster(5)
    ldr = c.leader()
    writers = Writers(c, c.followers(ldr))
    writers.acked_after({}, 10)
    c.kill(ldr)
    at_kill = dict(writers.acked)
    writers.acked_after(at_kill, 10)  # a new leader is elected and takes writes
    acked = writers.finish()
    new = c.leader(among=c.followers(ldr))
    assert new != ldr
    c.start(ldr)  # the old leader recovers from its files and catches up
    assert_no_acknowledged_write_lost(c, ldr, acked)
    assert c.status(ldr)["role"] == "follower"


def test_a_restart_of_every_node_keeps_every_acknowledged_write(cluster):
    c = cluster(3)
    ldr = c.leader()
    writers = Writers(c, c.names)
    writers.acked_after({}, 10)
    acked = writers.finish()
    terms = {n: c.status(n)["term"] for n in c.names}
    for n in c.names:
        c.kill(n)
    for n in c.names:
        c.start(n)
    ldr = c.leader()
    assert c.status(ldr)["term"] > max(terms.values())  # terms survive a restart
    assert_no_acknowledged_write_lost(c, ldr, acked)


def test_the_server_survives_kill_9_at_any_moment_under_load(cluster):
    c = cluster(3)
    c.leader()
    writers = Writers(c, c.names)
    for i in range(6):
        time.sleep(0.15 + 0.1 * (i % 3))
        victim = c.names[i % 3]
        c.kill(victim)
        c.start(victim)  # recovery from whatever the kill left, a torn tail included
    c.leader(timeout=15)
    writers.acked_after(dict(writers.acked), 6)  # writes go on after the last restart
    acked = writers.finish()
    assert_no_acknowledged_write_lost(c, c.leader(), acked)
    for n in c.names:
        assert c.procs[n].poll() is None, f"{n} died"


def test_a_torn_record_at_the_end_of_the_log_is_dropped_on_restart(cluster):
    c = cluster(3)
    ldr = c.leader()
    assert c.write(ldr, "x", 1)["ok"]
    for n in c.names:
        c.kill(n)
    with open(c.tmp / "n1" / "log.bin", "ab") as fh:
        fh.write(b'\x00\x00\x01\x00\xde\xad\xbe\xef[5,{"op":"wri')  # a write cut short
    for n in c.names:
        c.start(n)
    ldr = c.leader()
    assert c.read(ldr, "x")["value"] == 1
    assert "torn" in (c.tmp / "n1.log").read_text()


# -- seeded bugs ----------------------------------------------------------------------------


def isolate_old_leader(c: Cluster) -> tuple[str, list[str]]:
    """Cut the leader off from the others on loopback, where iptables is not at hand: kill
    the followers and restart them on new ports, with the leader's address pointing at a
    closed port. The old leader keeps its term and its role (nothing tells it otherwise),
    and cannot reach the others; they cannot reach it, and elect a leader of their own."""
    old = c.leader()
    followers = c.followers(old)
    assert c.write(old, "x", "old")["ok"]
    commit = c.state(old)["commit"]
    wait(lambda: all(c.state(f)["applied"] >= commit for f in followers), 5, "replication")
    moved = dict(zip(c.names, free_ports(len(c.names)), strict=True))
    for f in followers:
        c.kill(f)
        c.ports[f] = moved[f]
    for f in followers:
        c.start(f, ports={**c.ports, old: moved[old]})
    c.leader(among=followers)
    assert c.write(followers[0], "x", "new")["ok"]
    assert c.state(old)["role"] == "leader"
    return old, followers


def test_stale_read_a_deposed_leader_answers_an_old_value(cluster):
    c = cluster(3, bugs=("stale-read",))
    old, followers = isolate_old_leader(c)
    reply = c.read(old, "x")
    assert reply == {"id": reply["id"], "ok": True, "value": "old"}  # "new" was acknowledged


def test_without_stale_read_a_deposed_leader_cannot_confirm_it_leads_and_refuses(cluster):
    c = cluster(3)
    old, followers = isolate_old_leader(c)
    reply = c.read(old, "x")
    assert reply["ok"] is False and reply["error"] == "timeout" and reply["definite"] is True
    assert c.read(followers[1], "x")["value"] == "new"


def test_early_ack_acknowledges_a_write_no_follower_has_and_loses_it(cluster):
    c = cluster(3, bugs=("early-ack",))
    ldr = c.leader()
    followers = c.followers(ldr)
    for f in followers:  # (a paused follower would still find the entry in its socket)
        c.kill(f)
    assert c.write(ldr, "x", "acked")["ok"] is True  # no follower could have it
    c.kill(ldr)
    for f in followers:
        c.start(f)
    new = c.leader(among=followers)
    assert c.read(new, "x")["value"] is None  # the acknowledged write is gone


def test_without_early_ack_a_write_no_follower_has_is_not_acknowledged(cluster):
    c = cluster(3)
    ldr = c.leader()
    for f in c.followers(ldr):
        c.signal(f, signal.SIGSTOP)
    reply = c.write(ldr, "x", "never")
    assert reply["ok"] is False and reply["error"] == "timeout" and reply["definite"] is False
    for f in c.followers(ldr):
        c.signal(f, signal.SIGCONT)


def test_no_fsync_writes_reach_the_kernel_so_a_kill_of_every_node_keeps_them(cluster):
    """no-fsync never syncs: only a power cut (the lose-unfsynced fault, tests/nemesis/
    test_disk_e2e.py) loses its writes; a kill of every process keeps them all."""
    c = cluster(3, bugs=("no-fsync",))
    ldr = c.leader()
    for i in range(10):
        assert c.write(ldr, f"k{i}", i)["ok"]
    assert (c.tmp / ldr / "log.bin").stat().st_size > 0  # in the kernel, not in a buffer
    for n in c.names:
        c.kill(n)
    for n in c.names:
        c.start(n)
    ldr = c.leader()
    assert [c.read(ldr, f"k{i}")["value"] for i in range(10)] == list(range(10))


def ask_vote(c: Cluster, node: str, term: int, candidate: str) -> bool:
    req = {
        "type": "request_vote",
        "term": term,
        "candidate": candidate,
        "last_index": 0,
        "last_term": 0,
    }
    return c.call(node, req)["granted"]


@pytest.mark.parametrize("bugs", [(), ("vote-twice",)])
def test_vote_twice_grants_a_second_candidate_of_the_same_term(cluster, bugs):
    # n1 alone, with an election timeout too long to start elections of its own
    c = cluster(3, bugs=bugs, extra=("--election-ms", "60000-60000"), start=False)
    c.start("n1")
    assert ask_vote(c, "n1", 5, "n2") is True
    assert ask_vote(c, "n1", 5, "n2") is True  # the same candidate again: fine
    assert ask_vote(c, "n1", 5, "n3") is bool(bugs)
    c.kill("n1")  # the vote is durable: after a restart n1 still refuses (or not) n3
    c.start("n1")
    assert ask_vote(c, "n1", 5, "n3") is bool(bugs)
    assert ask_vote(c, "n1", 6, "n3") is True


def test_vote_twice_elects_two_leaders_in_one_term_when_nodes_time_out_together(cluster):
    """Every node is paused and resumed at once, so their election timers fire together:
    several candidates of one term, and each voter grants every one of them. (About half
    of the rounds end with two leaders of one term; the correct store never has any.)"""
    c = cluster(5, bugs=("vote-twice",))

    def led_twice() -> list[int]:
        led = [t for n in c.names for t in c.status(n)["led_terms"]]
        return sorted({t for t in led if led.count(t) > 1})

    deadline = time.monotonic() + 40
    while not led_twice() and time.monotonic() < deadline:
        wait(
            lambda: any((c.status(n) or {}).get("role") == "leader" for n in c.names),
            10,
            "a leader",
        )
        for n in c.names:
            c.signal(n, signal.SIGSTOP)
        time.sleep(0.8)
        for n in c.names:
            c.signal(n, signal.SIGCONT)
        time.sleep(1.0)
    assert led_twice(), "no term with two leaders in 40 s"


def test_without_vote_twice_nodes_timing_out_together_never_elect_two_leaders(cluster):
    c = cluster(5)
    for _ in range(3):
        c.leader()
        for n in c.names:
            c.signal(n, signal.SIGSTOP)
        time.sleep(0.8)
        for n in c.names:
            c.signal(n, signal.SIGCONT)
    c.leader()
    led = [t for n in c.names for t in c.status(n)["led_terms"]]
    assert len(led) >= 2 and len(led) == len(set(led))  # re-elections, none doubled


def test_an_unknown_bug_is_refused_with_the_list_of_bugs(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "patterns.raft",
            "--id",
            "n1",
            "--listen",
            "127.0.0.1:1",
            "--data",
            str(tmp_path),
            "--bug",
            "nope",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert "early-ack, no-fsync, stale-read, vote-twice" in r.stderr


def test_connecting_to_a_dead_node_is_a_definite_failure(cluster):
    c = cluster(3, start=False)
    with pytest.raises(ConnectFailed):
        RpcClient(("127.0.0.1", c.ports["n1"])).call({"type": "status"})
