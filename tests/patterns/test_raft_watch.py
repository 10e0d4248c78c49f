"""Watches on the reference Raft store, as real processes on 127.0.0.1: revisions in the
replies, watches from a revision and from now, resuming on another node, and the mechanism of
each seeded watch bug."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from loopback import clusters, wait
from test_raft import Cluster


class WatchCluster(Cluster):
    def watch(self, name: str, wid: str, start: Any, prefix: str = "") -> dict[str, Any]:
        req = {"type": "watch", "watch": wid, "prefix": prefix, "start": start}
        return self.call(name, req)

    def rewatch(self, name: str, wid: str, after: int, prefix: str = "") -> dict[str, Any]:
        req = {"type": "rewatch", "watch": wid, "prefix": prefix, "after": after}
        return self.call(name, req)

    def poll(self, name: str, wid: str, wait_ms: int = 200) -> dict[str, Any]:
        return self.call(name, {"type": "poll", "watch": wid, "wait_ms": wait_ms})

    def events_through(self, name: str, wid: str, revision: int) -> list[list[Any]]:
        """Poll ``wid`` on ``name`` until it is complete through ``revision``; its events."""
        got: list[list[Any]] = []
        upto = [0]

        def done() -> bool:
            reply = self.poll(name, wid)
            assert reply["ok"], reply
            got.extend(reply["value"]["events"])
            upto[0] = reply["value"]["revision"]
            return upto[0] >= revision

        wait(done, 10, f"watch {wid} on {name} to reach revision {revision}")
        return got


#: long election timeouts, so that no follower deposes the leader on a loaded machine while a
#: test relies on who leads (no test here kills or pauses the leader)
STEADY = ("--election-ms", "1500-3000")


@pytest.fixture
def cluster(tmp_path):
    with clusters(tmp_path, WatchCluster, args=STEADY) as make:
        yield make


def write(c: WatchCluster, name: str, key: Any, value: Any) -> int:
    reply = c.write(name, key, value)
    assert reply["ok"], reply
    return int(reply["revision"])


# -- the protocol ---------------------------------------------------------------------------------


def test_every_node_delivers_every_change_in_order_at_the_revision_its_write_got(cluster):
    c = cluster(3)
    ldr = c.leader()
    revs = [write(c, c.names[i % 3], f"w/{i % 2}", i) for i in range(6)]
    txn = c.call(ldr, {"type": "txn", "puts": [["w/0", "a"], ["w/1", "b"], ["other", 1]]})
    assert txn["ok"], txn
    assert revs == sorted(revs) and txn["revision"] > revs[-1]
    expected = [[r, f"w/{i % 2}", i] for i, r in enumerate(revs)]
    expected += [[txn["revision"], "w/0", "a"], [txn["revision"], "w/1", "b"]]
    for n in c.names:
        assert c.watch(n, f"all-{n}", 1, prefix="w/")["value"]["start"] == 1
        assert c.events_through(n, f"all-{n}", txn["revision"]) == expected
    assert c.read(ldr, "other")["value"] == 1  # the txn's puts all happened
    revision = c.call(c.names[0], {"type": "revision"})
    assert revision["ok"] and revision["value"] >= txn["revision"]


def test_a_watch_from_now_starts_after_what_the_node_has_applied(cluster):
    c = cluster(3)
    ldr = c.leader()
    before = write(c, ldr, "k", "before")
    wait(lambda: c.state(ldr)["applied"] >= before, 5, "the write applied")
    start = c.watch(ldr, "now", "now")["value"]["start"]
    assert start > before
    after = write(c, ldr, "k", "after")
    assert c.events_through(ldr, "now", after) == [[after, "k", "after"]]


def test_a_poll_waits_for_the_next_change_and_returns_it(cluster):
    c = cluster(3)
    ldr = c.leader()
    c.watch(ldr, "w", "now")
    empty = c.poll(ldr, "w", wait_ms=100)["value"]
    assert empty["events"] == []
    rev = write(c, ldr, "k", 1)
    assert c.events_through(ldr, "w", rev) == [[rev, "k", 1]]


def test_a_watch_resumed_on_another_node_after_a_kill_continues_after_the_last_revision(cluster):
    c = cluster(3)
    ldr = c.leader()
    first = [write(c, ldr, "k", i) for i in range(3)]
    home = c.followers(ldr)[0]
    c.watch(home, "w", 1)
    seen = c.events_through(home, "w", first[-1])
    c.kill(home)
    rest = [write(c, ldr, "k", i) for i in range(3, 6)]
    other = c.followers(ldr)[1]
    assert c.rewatch(other, "w", seen[-1][0])["value"]["start"] == seen[-1][0] + 1
    assert c.events_through(other, "w", rest[-1]) == [[r, "k", 3 + i] for i, r in enumerate(rest)]


def test_a_stale_poll_of_an_earlier_registration_takes_nothing_from_the_new_one(cluster):
    """A paused node may read a poll of a connection its client gave up on after the
    client's rewatch: that poll names the old epoch and is refused, so the new registration
    still delivers everything after the last revision the client saw."""
    c = cluster(3)
    ldr = c.leader()
    revs = [write(c, ldr, "k", i) for i in range(3)]
    old = c.watch(ldr, "w", 1)["value"]["epoch"]
    new = c.rewatch(ldr, "w", revs[0])["value"]["epoch"]
    assert new != old
    stale = c.call(ldr, {"type": "poll", "watch": "w", "wait_ms": 0, "epoch": old})
    assert stale["ok"] is False and stale["error"] == "unknown-watch", stale
    fresh = c.call(ldr, {"type": "poll", "watch": "w", "wait_ms": 0, "epoch": new})
    assert [e[0] for e in fresh["value"]["events"]] == revs[1:]


def test_a_restarted_node_answers_unknown_watch_and_serves_a_rewatch_once_caught_up(cluster):
    c = cluster(3)
    ldr = c.leader()
    revs = [write(c, ldr, "k", i) for i in range(4)]
    home = c.followers(ldr)[0]
    c.watch(home, "w", 1)
    c.events_through(home, "w", revs[1])
    c.kill(home)
    c.start(home)
    reply = c.poll(home, "w")
    assert reply["ok"] is False and reply["error"] == "unknown-watch" and reply["definite"]
    c.rewatch(home, "w", revs[1])
    assert [e[0] for e in c.events_through(home, "w", revs[-1])] == revs[2:]


MALFORMED = [
    {"type": "watch", "watch": "w", "prefix": "", "start": 0},
    {"type": "watch", "watch": "", "prefix": "", "start": 1},
    {"type": "watch", "watch": "w", "prefix": 3, "start": 1},
    {"type": "rewatch", "watch": "w", "prefix": "", "after": -1},
    {"type": "poll", "watch": 5},
    {"type": "poll", "watch": "w", "wait_ms": "soon"},
    {"type": "txn", "puts": []},
    {"type": "txn", "puts": [["k"]]},
]


def test_malformed_watch_and_txn_requests_are_refused(cluster):
    c = cluster(1)
    for req in MALFORMED:
        reply = c.call("n1", dict(req))
        assert reply["ok"] is False and reply["error"] == "bad-request", (req, reply)


# -- seeded bugs ----------------------------------------------------------------------------------


def resumed_after_a_pause(c: WatchCluster) -> tuple[list[list[Any]], list[int]]:
    """A watch on a follower, resumed (rewatch) after the follower was paused while two
    writes committed: its events, and the revisions of every write."""
    ldr = c.leader()
    home = c.followers(ldr)[0]
    revs = [write(c, ldr, "k", 0)]
    c.watch(home, "w", 1)
    seen = c.events_through(home, "w", revs[0])
    c.signal(home, signal.SIGSTOP)
    revs += [write(c, ldr, "k", i) for i in (1, 2)]
    c.signal(home, signal.SIGCONT)
    wait(lambda: c.state(home)["applied"] >= revs[-1], 5, "the follower to catch up")
    c.rewatch(home, "w", seen[-1][0])
    revs.append(write(c, ldr, "k", 3))
    return seen + c.events_through(home, "w", revs[-1]), revs


def test_watch_resume_now_loses_what_committed_while_the_watch_was_broken(cluster):
    events, revs = resumed_after_a_pause(cluster(3, bugs=("watch-resume-now",)))
    assert [e[0] for e in events] == [revs[0], revs[3]]  # the gap: revs[1], revs[2]


def test_without_watch_resume_now_a_resumed_watch_misses_nothing(cluster):
    events, revs = resumed_after_a_pause(cluster(3))
    assert [e[0] for e in events] == revs


def uncommitted_write_seen(c: WatchCluster) -> list[list[Any]]:
    """With both followers paused, the leader appends a write it cannot commit: what a watch
    on the leader returns meanwhile."""
    ldr = c.leader()
    c.watch(ldr, "w", "now")
    for f in c.followers(ldr):
        c.signal(f, signal.SIGSTOP)
    try:
        reply = c.write(ldr, "k", "never")
        assert reply["ok"] is False and reply["error"] == "timeout"
        return list(c.poll(ldr, "w", wait_ms=300)["value"]["events"])
    finally:
        for f in c.followers(ldr):
            c.signal(f, signal.SIGCONT)


def test_watch_before_commit_delivers_a_write_no_majority_has(cluster):
    events = uncommitted_write_seen(cluster(3, bugs=("watch-before-commit",)))
    assert [e[1:] for e in events] == [["k", "never"]]


def test_without_watch_before_commit_an_uncommitted_write_is_not_delivered(cluster):
    assert uncommitted_write_seen(cluster(3)) == []


def written_between_polls(c: WatchCluster) -> tuple[list[list[Any]], list[int]]:
    ldr = c.leader()
    c.watch(ldr, "w", "now")
    revs = [write(c, ldr, "k", 0)]
    events = c.events_through(ldr, "w", revs[0])  # the watch fired
    revs += [write(c, ldr, "k", 1)]  # between two polls
    wait(lambda: c.state(ldr)["applied"] >= revs[-1], 5, "the write applied")
    events += c.poll(ldr, "w", wait_ms=0)["value"]["events"]  # re-arms it, with the bug
    revs += [write(c, ldr, "k", 2)]
    return events + c.events_through(ldr, "w", revs[-1]), revs


def test_watch_rearm_late_misses_a_change_made_between_two_polls(cluster):
    events, revs = written_between_polls(cluster(3, bugs=("watch-rearm-late",)))
    assert [e[0] for e in events] == [revs[0], revs[2]]


def test_without_watch_rearm_late_a_change_between_two_polls_is_delivered(cluster):
    events, revs = written_between_polls(cluster(3))
    assert [e[0] for e in events] == revs
