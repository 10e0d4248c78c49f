"""etcd's members read alone after the writes stop (``EtcdSystem.member_states``), on real
etcd: three members on 127.0.0.1 reach one applied index and agree, key by key and by
HashKV; the harness step records the reading and the members checker passes it; the same
reading with one member's key or revision changed (etcd cannot be made to diverge on
purpose) is caught, naming member, key and revision; the register client keeps the
revisions etcd gives (versions checker); extra_args reach etcd's command line; and a short
run on the local cluster records member-states and passes both checkers."""

from __future__ import annotations

import copy
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostnode import HostNode, free_base_port

from checkers.members import MembersChecker
from checkers.versions import VersionsChecker
from harness.history import Journal, Op
from harness.members import converged, record_member_states
from harness.registry import parse_options
from harness.spec import FaultSpec
from workloads.etcd import ETCD, ETCD_BINARY, EtcdClient, EtcdOptions, EtcdSystem
from workloads.etcd.members import hashkv
from workloads.system import MemberStates

pytestmark = pytest.mark.skipif(
    shutil.which(ETCD_BINARY) is None,
    reason=f"{ETCD_BINARY} is absent: install Debian's etcd-server (./setup does)",
)

EXTRA = ("--snapshot-count", "777", "--max-txn-ops", "64")


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EtcdSystem, list[HostNode]]]:
    root = tmp_path_factory.mktemp("etcd-members")
    nodes = [HostNode(f"n{i}", root / f"n{i}") for i in range(1, 4)]
    options: EtcdOptions = parse_options(
        ETCD.options, {"extra_args": list(EXTRA), "members_wait_s": 30}, "the etcd system"
    )
    system = EtcdSystem(free_base_port(6), nodes=nodes, options=options)
    threads = [threading.Thread(target=system.setup, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield system, nodes
    for n in nodes:
        system.teardown(n)


def invoke(client: EtcdClient, f: str, value: object, process: int = 0) -> Op:
    return client.invoke(Op(index=0, time=0, type="invoke", process=process, f=f, value=value))


def settled(system: EtcdSystem, nodes: list[HostNode]) -> dict:
    """A reading in which every member is at one applied index (waits up to 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        states = system.member_states(nodes, 5.0)
        if converged(states) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def test_etcd_offers_member_states_and_extra_args_reach_its_command_line(etcd) -> None:
    system, nodes = etcd
    assert isinstance(system, MemberStates) and system.members_wait_s == 30.0
    for n in nodes:
        cmdline = Path(f"/proc/{n.procs['etcd'].pid}/cmdline").read_bytes().split(b"\0")
        assert [a.decode() for a in cmdline[-1 - len(EXTRA) : -1]] == list(EXTRA)
    assert {"members", "versions", "promises"} <= set(ETCD.checkers)
    assert EtcdOptions().extra_args == () and EtcdOptions().members_wait_s == 30.0


def test_members_agree_key_by_key_and_by_hashkv_at_one_revision(etcd, tmp_path: Path) -> None:
    system, nodes = etcd
    clients = [EtcdClient(system, timeout=5.0) for _ in nodes]
    for c, n in zip(clients, nodes, strict=True):
        c.open(n)
    for i in range(6):
        assert invoke(clients[i % 3], "write", [f"m{i}", i]).type == "ok"
    states = settled(system, nodes)
    assert converged(states), states
    assert {s.revision for s in states.values()} == {states["n1"].revision}
    assert {s.at for s in states.values()} == {states["n1"].revision}
    digests = {s.digest for s in states.values()}
    assert len(digests) == 1 and next(iter(digests)).startswith("hashkv:")
    keys = states["n2"].keys
    assert keys is not None and keys["splitbrain/m3"][1] == "3"
    assert all(s.keys == keys for s in states.values())
    assert states["n1"].info["range_digest"] == states["n3"].info["range_digest"]

    journal = Journal(tmp_path / "history.jsonl", time.monotonic_ns)
    done = record_member_states(system, nodes, journal)
    journal.close()
    assert (done.type, done.f, done.process) == ("ok", "member-states", "nemesis")
    r = MembersChecker().check(journal.ops, {})
    assert r.valid is True, r
    assert r.details["converged"] is True and r.details["members"] == ["n1", "n2", "n3"]

    # the same reading, with what a crash-consistency bug leaves: n3 lost the write of m3
    # (and so is one revision behind at the same applied index)
    h = copy.deepcopy(journal.ops)
    n3 = h[-1].value["n3"]
    assert n3["keys"] is None and n3["info"]["keys_as"] == "n1"  # one digest: n1's keys
    n3["keys"] = {k: v for k, v in h[-1].value["n1"]["keys"].items() if k != "splitbrain/m3"}
    n3["digest"] = "hashkv:1"
    n3["revision"] -= 1
    r = MembersChecker().check(h, {})
    assert r.valid is False
    found = {(a.data["member"], a.data["key"]) for a in r.anomalies}
    assert found == {("n3", None), ("n3", "splitbrain/m3")}
    lost = next(a for a in r.anomalies if a.data["key"] == "splitbrain/m3")
    at = states["n1"].at
    assert lost.explanation.startswith(f"n3 has no key 'splitbrain/m3' at revision {at}")


def test_hashkv_is_etcds_own_and_the_range_digest_is_the_fallback(etcd) -> None:
    system, nodes = etcd
    states = settled(system, nodes)
    at = states["n1"].at
    assert at is not None
    host, port = system.endpoint(nodes[0])
    hk = hashkv(host, port, at, 5.0)
    assert hk is not None and states["n1"].digest == f"hashkv:{hk[0]}"
    # no etcdctl: every member's digest is of the range, and still they agree
    import workloads.etcd.members as m

    saved = m.ETCDCTL, os.environ.get("PATH")
    m.ETCDCTL, os.environ["PATH"] = "/nonexistent/etcdctl", "/nonexistent"
    try:
        fallback = system.member_states(nodes, 5.0)
    finally:
        m.ETCDCTL = saved[0]
        os.environ["PATH"] = saved[1] or ""
    assert {s.digest for s in fallback.values()} == {f"range:{states['n1'].info['range_digest']}"}


def test_the_register_client_keeps_the_revisions_etcd_gives(etcd) -> None:
    system, nodes = etcd
    c = EtcdClient(system, timeout=5.0)
    c.open(nodes[0])
    history: list[Op] = []
    for f, v in [("write", ["v", 1]), ("cas", ["v", [1, 2]]), ("read", ["v", None]),
                 ("cas", ["v", [1, 3]])]:  # fmt: skip
        inv = Op("invoke", f, v, 0, len(history), len(history))
        done = c.invoke(inv)
        done.index, done.time = len(history) + 1, len(history) + 1
        history += [inv, done]
    write, cas, read, missed = history[1], history[3], history[5], history[7]
    assert write.extra["version"] > 0
    assert cas.extra["saw_version"] == write.extra["version"]
    assert cas.extra["version"] > write.extra["version"]
    assert read.value == ["v", 2] and read.extra["read_version"] == cas.extra["version"]
    assert read.extra["revision"] >= cas.extra["version"]
    assert missed.type == "fail" and "version" not in missed.extra
    r = VersionsChecker().check(history, {})
    assert r.valid is True and r.details["versioned"] == 3


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
def test_a_run_with_kills_records_member_states_and_both_checkers_pass(tmp_path: Path) -> None:
    from harness.run import run_test
    from harness.spec import ClusterSpec, NemesisSpec, SystemSpec, TestSpec, WorkloadSpec

    spec = TestSpec(
        name="etcd-members",
        system=SystemSpec(name="etcd", port=2379),
        cluster=ClusterSpec(nodes=3),
        workload=WorkloadSpec(concurrency=6, rate=80, ops_per_key=100),
        nemesis=NemesisSpec(
            faults=(FaultSpec("kill"),), quiet=1, interval=2, kill_targets=("one",), recovery=1
        ),
        time_limit=6,
        seed=11,
    )
    out = run_test(spec, results_root=tmp_path, out=open(os.devnull, "w"))
    checkers = out.results["checkers"]
    assert checkers["members"]["valid"] is True, checkers["members"]
    assert checkers["members"]["details"]["members"] == ["n1", "n2", "n3"]
    assert checkers["versions"]["valid"] is True, checkers["versions"]
    assert checkers["versions"]["details"]["versioned"] > 50
    assert "member-states" not in {f["f"] for f in out.results["faults"]}
