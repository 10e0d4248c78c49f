"""The PBFT pattern: the replica state machine on an in-memory network (ordering, checkpoints,
view changes with prepared requests, what one liar can and cannot do, each seeded bug's
mechanism), its MACs, and four real processes on 127.0.0.1 (requests answered by f+1
replicas, a kill -9 recovered from the input log, a view change when the primary dies, the
control interface that makes a replica lie)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from loopback import LoopbackCluster, clusters, wait

from patterns.pbft.auth import NULL, digest, pair_key, sign, verify
from patterns.pbft.lies import LIE_VALUE, alternative
from patterns.pbft.replica import Replica, decide_new_view, execute_op

MEMBERS = ["n1", "n2", "n3", "n4"]

# -- the state machine on an in-memory network ------------------------------------------------

Drop = Callable[[str, str, dict[str, Any]], bool]


class Net:
    """Four replicas delivering to each other at once; ``drop(sender, dest, msg)`` loses
    messages (a partition, a dead replica)."""

    def __init__(self, bugs: tuple[str, ...] = (), checkpoint_every: int = 4) -> None:
        self.r = {
            m: Replica(m, MEMBERS, checkpoint_every=checkpoint_every, bugs=bugs) for m in MEMBERS
        }
        self.drop: Drop = lambda s, d, m: False

    def deliver(self, dest: str, event: dict[str, Any]) -> None:
        queue = [(dest, event)]
        while queue:
            to, ev = queue.pop(0)
            for d, m in self.r[to].handle(ev):
                if not self.drop(m["from"], d, m):
                    queue.append((d, m))

    def order(self, primary: str, rid: int, value: Any, key: int = 1) -> dict[str, Any]:
        req = {"client": "c", "rid": rid, "op": {"f": "write", "key": key, "value": value}}
        self.deliver(primary, {"kind": "order", "request": req})
        return req

    def timeout(self, *names: str) -> None:
        for name in names:
            self.deliver(name, {"kind": "timeout", "view": self.r[name].view})


def test_requests_are_executed_in_one_order_by_every_replica() -> None:
    net = Net()
    for i in range(1, 7):
        net.order("n1", i, i * 10)
    logs = {m: r.executed_log for m, r in net.r.items()}
    assert all(log == logs["n1"] for log in logs.values())
    assert [e[0] for e in logs["n1"]] == [1, 2, 3, 4, 5, 6]
    assert all(r.kv == {"1": 60} and r.last_exec == 6 for r in net.r.values())


def test_a_request_sent_again_is_not_executed_twice() -> None:
    net = Net()
    req = net.order("n1", 1, 5)
    net.deliver("n1", {"kind": "order", "request": req})  # the same request again: ignored
    net.order("n1", 2, 6)
    # a primary may propose it again (a liar replaying it): executed, it changes nothing
    pp = {"kind": "pre-prepare", "view": 0, "seq": 3, "digest": digest(req), "request": req}
    for backup in ("n2", "n3", "n4"):
        net.deliver(backup, {**pp, "from": "n1"})
    assert [e[0] for e in net.r["n2"].executed_log] == [1, 2, 3]
    assert [e[4] for e in net.r["n2"].executed_log] == [True, True, False]
    assert net.r["n2"].kv == {"1": 6}


def test_a_stable_checkpoint_truncates_the_log_and_a_laggard_fetches_the_state() -> None:
    net = Net(checkpoint_every=4)
    net.drop = lambda s, d, m: d == "n4"  # n4 hears nothing
    for i in range(1, 10):
        net.order("n1", i, i)
    n1, n4 = net.r["n1"], net.r["n4"]
    assert n1.low == 8 and min(n1.slots) > 8  # stable at 8: 1..8 dropped
    assert n4.last_exec == 0
    net.drop = lambda s, d, m: False
    for i in range(10, 14):  # checkpoint 12 reaches n4: it is behind, so it asks for the state
        net.order("n1", i, i)
    assert n4.fetch is not None and n4.fetch[0] == 12
    d, snap = n1.snapshot_at(12) or ("", {})
    net.deliver("n4", {"kind": "install", "seq": 12, "digest": d, "snapshot": snap})
    assert n4.last_exec == 13 and n4.kv == n1.kv and n4.installs == [12]


def test_a_view_change_reproposes_a_request_committed_at_only_one_replica() -> None:
    net = Net()
    net.order("n1", 1, 1)
    # the primary n1's commits for request 2 reach only n2; then n1 dies
    net.drop = lambda s, d, m: m["kind"] == "commit" and d != "n2"
    net.order("n1", 2, 99)
    assert net.r["n2"].last_exec == 2 and net.r["n3"].last_exec == 1
    net.drop = lambda s, d, m: "n1" in (s, d)
    net.timeout("n2", "n3")  # f+1 view changes: n4 joins
    assert all(net.r[m].view == 1 and not net.r[m].changing for m in ("n2", "n3", "n4"))
    assert all(net.r[m].kv == {"1": 99} for m in ("n2", "n3", "n4"))
    at2 = {m: [e for e in net.r[m].committed_log if e[0] == 2] for m in ("n2", "n3", "n4")}
    assert {e[2] for es in at2.values() for e in es} == {net.r["n2"].executed_log[1][1]}


def test_with_view_change_drops_prepared_the_committed_request_is_replaced() -> None:
    net = Net(bugs=("view-change-drops-prepared",))
    net.order("n1", 1, 1)
    net.drop = lambda s, d, m: m["kind"] == "commit" and d != "n2"
    net.order("n1", 2, 99)
    net.drop = lambda s, d, m: "n1" in (s, d)
    net.timeout("n2", "n3")  # f+1 view changes: n4 joins
    assert net.r["n2"].kv == {"1": 99} and net.r["n3"].kv == {"1": 1}  # diverged
    digests = {e[2] for m in ("n2", "n3") for e in net.r[m].committed_log if e[0] == 2}
    assert NULL in digests and len(digests) == 2


def equivocate(net: Net, seq: int) -> tuple[str, str]:
    """n1 (primary of view 0) pre-prepares request X for ``seq`` to n3 and n4 and the other
    request to n2, and commits both, as the equivocating liar does; the digests of both."""
    real = {"client": "c", "rid": seq, "op": {"f": "write", "key": 1, "value": seq}}
    alt = alternative(seq, real)
    for req, dests in ((real, ("n3", "n4")), (alt, ("n2",))):
        d = digest(req)
        for dest in dests:
            net.deliver(
                dest,
                {
                    "kind": "pre-prepare",
                    "view": 0,
                    "seq": seq,
                    "digest": d,
                    "request": req,
                    "from": "n1",
                },
            )
            net.deliver(dest, {"kind": "commit", "view": 0, "seq": seq, "digest": d, "from": "n1"})
    return digest(real), digest(alt)


def test_an_equivocating_primary_cannot_commit_two_requests_at_one_number() -> None:
    net = Net()
    net.drop = lambda s, d, m: d == "n1"  # the liar's own state does not matter here
    real, alt = equivocate(net, 1)
    assert net.r["n3"].committed_log[0][2] == real and net.r["n4"].committed_log[0][2] == real
    assert net.r["n2"].committed_log == []  # the victim is stuck, not wrong


def test_with_quorums_of_2f_an_equivocating_primary_commits_both() -> None:
    net = Net(bugs=("quorum-2f",))
    net.drop = lambda s, d, m: d == "n1"
    real, alt = equivocate(net, 1)
    assert net.r["n2"].committed_log[0][2] == alt
    assert net.r["n3"].committed_log[0][2] == real
    assert net.r["n2"].kv == {"1": LIE_VALUE} != net.r["n3"].kv


def vc(sender: str, *, prepared: list[list[Any]] = (), pre: list[list[Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {"kind": "view-change", "view": 1, "from": sender, "low": 0, "checkpoints": {"0": "d0"},
            "prepared": list(prepared), "pre_prepared": list(pre)}  # fmt: skip


def test_a_new_view_keeps_what_2f_plus_1_prepared_and_ignores_a_lone_liars_claim() -> None:
    req = {"client": "c", "rid": 1, "op": {"f": "write", "key": 1, "value": 1}}
    fake = alternative(1, req)
    d, fd = digest(req), digest(fake)
    honest = [vc(s, prepared=[[1, 0, d, req]], pre=[[1, 0, d]]) for s in ("n2", "n3")]
    liar = vc("n1", prepared=[[1, 0, fd, fake]], pre=[[1, 0, fd]])
    # the liar's claim contradicts the honest one in the same view: wait for the 4th
    assert decide_new_view([*honest, liar], 1, 3, 256) is None
    decided = decide_new_view([*honest, liar, vc("n4")], 1, 3, 256)
    assert decided == (0, "d0", [[1, d, req]])
    # alone (2f+1 prepared nothing else), the liar's claim is not taken: a null request
    decided = decide_new_view([liar, vc("n2"), vc("n3"), vc("n4")], 1, 3, 256)
    assert decided == (0, "d0", [[1, NULL, None]])


def test_macs_are_per_pair_and_a_forgery_fails() -> None:
    k12, k13 = pair_key("s", "n1", "n2"), pair_key("s", "n1", "n3")
    assert k12 == pair_key("s", "n2", "n1") != k13 != pair_key("t", "n1", "n3")
    msg = sign(k12, {"kind": "prepare", "from": "n1", "to": "n2", "seq": 1})
    assert verify(k12, msg) and not verify(k13, msg)
    assert not verify(k12, {**msg, "seq": 2})
    # n3 forging n1's message to n2 can only sign it with its own key with n2
    forged = sign(
        pair_key("s", "n3", "n2"), {"kind": "prepare", "from": "n1", "to": "n2", "seq": 1}
    )
    assert not verify(k12, forged)


# -- real processes ----------------------------------------------------------------------------

FAST = ("--secret", "test-secret", "--view-timeout-ms", "500", "--request-timeout-ms", "1500",
        "--checkpoint-every", "4")  # fmt: skip


class Cluster(LoopbackCluster):
    """Four PBFT replicas on loopback."""

    module = "pbft"

    def request(
        self, name: str, rid: int, op: dict[str, Any], kind: str = "request"
    ) -> dict[str, Any]:
        msg = {"type": kind, "client": "t", "rid": rid, "op": op, "timeout_ms": 2500}
        return self.call(name, msg, timeout=3.0)

    def everywhere(
        self, rid: int, op: dict[str, Any], names: list[str] | None = None
    ) -> dict[str, Any]:
        """Send the request to every replica of ``names`` one after the other (the primary
        first); the results by replica."""
        out = {}
        for name in names or self.names:
            reply = self.request(name, rid, op)
            out[name] = reply["value"]["result"] if reply.get("ok") else reply.get("error")
        return out

    def report(self, name: str) -> dict[str, Any]:
        return self.call(name, {"type": "log"})["value"]


@pytest.fixture
def pbft(tmp_path):
    with clusters(tmp_path, Cluster, FAST) as make:
        yield lambda bugs=(): make(4, bugs)


@pytest.mark.cluster
def test_four_replicas_answer_a_write_and_a_read_the_same(pbft) -> None:
    c = pbft()
    assert c.state("n1")["role"] == "primary" and c.state("n2")["role"] == "backup"
    assert c.everywhere(1, {"f": "write", "key": 7, "value": 3}) == dict.fromkeys(c.names, "ok")
    assert c.everywhere(2, {"f": "read", "key": 7}) == dict.fromkeys(c.names, 3)
    assert c.everywhere(3, {"f": "cas", "key": 7, "from": 2, "to": 4}) == dict.fromkeys(
        c.names, False
    )
    logs = [c.report(n)["executed"] for n in c.names]
    assert all(log == logs[0] for log in logs) and len(logs[0]) == 3


@pytest.mark.cluster
def test_a_replica_killed_and_restarted_replays_its_log_to_the_same_state(pbft) -> None:
    c = pbft()
    for rid in range(1, 4):
        c.everywhere(rid, {"f": "write", "key": 1, "value": rid})
    before = c.report("n3")
    c.kill("n3")
    c.start("n3")
    after = c.report("n3")
    assert after["executed"] == before["executed"] and after["last_exec"] == 3


@pytest.mark.cluster
def test_when_the_primary_dies_the_backups_change_view_and_go_on(pbft) -> None:
    c = pbft()
    c.everywhere(1, {"f": "write", "key": 1, "value": 1})
    c.kill("n1")
    # backups forward to the dead primary, time out, and move to view 1 (primary n2); the
    # first answers may time out meanwhile, so the same request is sent again until done
    others = ["n2", "n3", "n4"]
    write = {"f": "write", "key": 1, "value": 2}
    wait(lambda: c.everywhere(2, write, others) == dict.fromkeys(others, "ok"), 40, "the write")
    assert c.everywhere(3, {"f": "read", "key": 1}, others) == dict.fromkeys(others, 2)
    assert c.state("n2")["role"] == "primary"
    assert c.state("n3")["view"] >= 1


@pytest.mark.cluster
def test_a_replica_told_to_lie_answers_what_it_never_computed_and_stops_when_told(pbft) -> None:
    c = pbft()
    c.everywhere(1, {"f": "write", "key": 1, "value": 1})
    reply = c.call("n2", {"type": "lie", "mode": "wrong-reply"})
    assert reply["value"] == {"id": "n2", "mode": "wrong-reply", "was": None}
    assert c.state("n2")["lying"] == "wrong-reply"
    assert c.everywhere(2, {"f": "read", "key": 1}) == {"n1": 1, "n2": LIE_VALUE, "n3": 1, "n4": 1}
    c.call("n2", {"type": "lie", "mode": None})
    assert c.everywhere(3, {"f": "read", "key": 1}) == dict.fromkeys(c.names, 1)
    bad = c.call("n2", {"type": "lie", "mode": "gossip"})
    assert bad["error"] == "bad-request" and "equivocate" in bad["message"]


@pytest.mark.cluster
def test_a_forging_replica_is_ignored_unless_macs_go_unchecked(pbft) -> None:
    for bugs, split in (((), False), (("no-mac-check",), True)):
        c = pbft(bugs)
        c.everywhere(1, {"f": "write", "key": 1, "value": 1})
        c.call("n4", {"type": "lie", "mode": "forge-view-change"})
        views: dict[str, int] = {}

        def moved(c: Cluster = c, views: dict[str, int] = views) -> bool:
            views.update({n: c.state(n)["view"] for n in ("n1", "n2", "n3")})
            return all(v >= 1 for v in views.values())

        if split:  # forged view changes in the others' names: the replicas change view
            wait(moved, 10, "the forged view changes to move the replicas")
        else:
            c.everywhere(2, {"f": "write", "key": 1, "value": 2})  # work goes on, in view 0
            assert not moved() and views == dict.fromkeys(("n1", "n2", "n3"), 0)
        c.stop_all()


@pytest.mark.cluster
def test_an_await_only_waits_and_a_stale_process_gets_its_cached_result(pbft) -> None:
    c = pbft()
    waiting = c.request("n2", 1, {"f": "read", "key": 1}, kind="await")
    assert waiting["error"] == "timeout"  # nobody ordered it
    assert c.everywhere(2, {"f": "write", "key": 1, "value": 5})["n3"] == "ok"
    again = c.request("n3", 2, {"f": "write", "key": 1, "value": 5}, kind="await")
    assert again["value"]["result"] == "ok"


def test_the_register_ops_as_a_replica_executes_them() -> None:
    kv: dict[str, Any] = {}
    assert execute_op(kv, {"f": "cas", "key": 1, "from": None, "to": 2}) is False  # never written
    assert execute_op(kv, {"f": "write", "key": 1, "value": 0}) == "ok"
    assert execute_op(kv, {"f": "cas", "key": 1, "from": 0, "to": 2}) is True
    assert (
        execute_op(kv, {"f": "read", "key": 1}) == 2
        and execute_op(kv, {"f": "read", "key": 2}) is None
    )
