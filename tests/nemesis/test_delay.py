"""The delay fault against real nodes: round trips between nodes get longer by the latency asked
for while it is in force, the clients' traffic from the controller does not, the heal lets
every held packet go, and nothing is left on the nodes; and a suite asking for a delay this
machine cannot make is refused when it is read."""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import time
from collections.abc import Iterator

import pytest

from clusters.base import Node
from clusters.local import LocalCluster
from harness.config import ConfigError, parse_suite
from harness.history import Op
from harness.registry import OptionError, parse_options
from nemesis import delay
from nemesis.delay import CHAIN, DAEMON, QUEUE, DelayNemesis, DelayOptions

needs_nfqueue = pytest.mark.skipif(
    delay.host_support()["nfqueue"][0] is False, reason="this kernel has no NFQUEUE"
)

PORT = 7700
ECHO = """
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7700)); s.listen(16)
def serve(c):
    with c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while (d := c.recv(4096)):
            c.sendall(d)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"""
PING = """
import json, socket, sys, time
c = socket.create_connection((sys.argv[1], 7700), timeout=10)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
out = []
for _ in range(int(sys.argv[2])):
    t = time.monotonic(); c.sendall(b"x"); c.recv(1); out.append((time.monotonic() - t) * 1000)
print(json.dumps(out))
"""


def invoke(nem: DelayNemesis, f: str, value: object = None) -> Op:
    return nem.invoke(Op("invoke", f, value, process="nemesis"))


def rtts(src: Node, dst: Node, n: int = 8) -> list[float]:
    """Round trips (ms) of one byte from ``src`` to ``dst``'s echo server, over TCP."""
    python = getattr(src, "python", "python3")
    r = src.exec([python, "-c", PING, dst.address, str(n)], timeout=60)
    return json.loads(r.stdout)


def controller_rtts(dst: Node, n: int = 8) -> list[float]:
    out = []
    with socket.create_connection((dst.address, PORT), timeout=10) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            t = time.monotonic()
            c.sendall(b"x")
            c.recv(1)
            out.append((time.monotonic() - t) * 1000)
    return out


def chain_rules(node: Node) -> str:
    return node.exec(["iptables", "-w", "5", "-t", "mangle", "-S"], check=False).stdout


def queue_bound(node: Node) -> bool:
    r = node.exec(["cat", "/proc/net/netfilter/nfnetlink_queue"], check=False)
    return any(line.split()[:1] == [str(QUEUE)] for line in r.stdout.splitlines())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(3, workroot=tmp_path_factory.mktemp("delaynem"))
    try:
        c.create()
        for node in c.nodes:
            node.spawn("echo", [node.python, "-c", ECHO])  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                for node in c.nodes:
                    socket.create_connection((node.address, PORT), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield c
    finally:
        c.destroy()


@pytest.fixture
def nemesis(cluster: LocalCluster) -> Iterator[DelayNemesis]:
    nem = DelayNemesis(random.Random(3), options=DelayOptions(method="nfqueue"))
    nem.setup(cluster)
    try:
        yield nem
    finally:
        nem.teardown()
        for node in cluster.nodes:
            assert f"-N {CHAIN}" not in chain_rules(node)
            assert not node.alive(DAEMON)


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
@needs_nfqueue
def test_a_delay_on_every_node_lengthens_each_round_trip_between_nodes_until_the_heal(
    cluster: LocalCluster, nemesis: DelayNemesis
) -> None:
    n1, n2, n3 = cluster.nodes
    assert min(rtts(n1, n2)) < 100  # before: no delay
    done = invoke(nemesis, "start-delay", {"nodes": "all", "latency_ms": 100, "jitter_ms": 0})
    assert done.type == "ok", done.error
    assert done.value["nodes"] == ["n1", "n2", "n3"]
    assert done.value["method"] == {"n1": "nfqueue", "n2": "nfqueue", "n3": "nfqueue"}
    assert all(queue_bound(n) for n in cluster.nodes)
    # held on input at both ends: the request at n2, the reply at n1
    assert min(rtts(n1, n2)) >= 200 and min(rtts(n3, n1)) >= 200
    # the controller's clients are not delayed
    assert min(controller_rtts(n2)) < 100
    healed = invoke(nemesis, "stop-delay")
    assert (healed.type, healed.value) == ("ok", "healed")
    assert min(rtts(n1, n2)) < 100
    assert not any(n.alive(DAEMON) for n in cluster.nodes)
    assert not any(queue_bound(n) for n in cluster.nodes)


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
@needs_nfqueue
def test_a_delay_on_one_node_lengthens_only_its_round_trips_and_jitter_spreads_them(
    cluster: LocalCluster, nemesis: DelayNemesis
) -> None:
    n1, n2, n3 = cluster.nodes
    done = invoke(
        nemesis,
        "start-delay",
        {"nodes": ["n2"], "latency_ms": 80, "jitter_ms": 30, "distribution": "normal"},
    )
    assert done.type == "ok", done.error
    assert done.value["nodes"] == ["n2"] and done.value["distribution"] == "normal"
    to_n2 = rtts(n1, n2, 20)
    assert statistics.median(to_n2) >= 50
    assert max(to_n2) - min(to_n2) > 5  # jitter
    assert min(rtts(n1, n3)) < 50  # n3 is not delayed, nor is n1
    # a new delay replaces the one in force
    again = invoke(nemesis, "start-delay", {"nodes": ["n3"], "latency_ms": 60, "jitter_ms": 0})
    assert again.type == "ok" and again.value["nodes"] == ["n3"]
    assert min(rtts(n1, n3)) >= 60 and min(rtts(n1, n2)) < 50


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
@needs_nfqueue
def test_a_delay_per_link_lengthens_that_link_alone(
    cluster: LocalCluster, nemesis: DelayNemesis
) -> None:
    n1, n2, n3 = cluster.nodes
    link = {"nodes": ["n1"], "peers": ["n2"], "latency_ms": 80, "jitter_ms": 0}
    done = invoke(nemesis, "start-delay", link)
    assert done.type == "ok", done.error
    assert (done.value["nodes"], done.value["peers"]) == (["n1"], ["n2"])
    assert min(rtts(n2, n1)) >= 80  # n2 -> n1 is held at n1
    assert min(rtts(n3, n1)) < 50 and min(rtts(n2, n3)) < 50  # no other link


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
@needs_nfqueue
def test_a_bad_value_is_an_info_naming_it_and_changes_nothing(
    cluster: LocalCluster, nemesis: DelayNemesis
) -> None:
    bad = invoke(nemesis, "start-delay", {"latency": 5})
    assert bad.type == "info" and "unknown start-delay key" in (bad.error or "")
    bad = invoke(nemesis, "start-delay", {"latency_ms": -5})
    assert bad.type == "info" and "latency_ms" in (bad.error or "")
    assert not any(n.alive(DAEMON) for n in cluster.nodes)


def test_auto_is_refused_when_this_machine_has_neither_netem_nor_nfqueue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    none = {"netem": (False, "no netem (x)"), "nfqueue": (False, "no NFQUEUE (y)")}
    monkeypatch.setattr(delay, "host_support", lambda: none)
    with pytest.raises(OptionError) as e:
        parse_options(DelayOptions, {}, "the delay fault")
    assert "cannot be made on this machine: no netem (x); no NFQUEUE (y)" in str(e.value)
    # a method named explicitly is the user's to vouch for (the nodes may be other machines)
    assert parse_options(DelayOptions, {"method": "nfqueue"}, "the delay fault").method == "nfqueue"
    unknown = {"netem": (None, "netem unknown"), "nfqueue": (False, "no NFQUEUE")}
    monkeypatch.setattr(delay, "host_support", lambda: unknown)
    assert parse_options(DelayOptions, {}, "the delay fault").method == "auto"


def test_a_suite_asking_for_a_delay_this_machine_cannot_make_is_refused_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    none = {"netem": (False, "no netem (x)"), "nfqueue": (False, "no NFQUEUE (y)")}
    monkeypatch.setattr(delay, "host_support", lambda: none)
    text = (
        "tests:\n  - name: a\n    system: clocksync\n    workload: {name: clocksync}\n"
        "    nemesis:\n      faults: [partition, delay]\n"
    )
    with pytest.raises(ConfigError) as e:
        parse_suite(text, source="x.yaml")
    assert "x.yaml:6 at 'tests[0].nemesis.faults': the delay fault cannot be made" in str(e.value)


def test_the_fault_kind_is_registered_and_says_what_this_machine_supports() -> None:
    from harness.registry import FaultInfo, lookup

    info = lookup(FaultInfo, "delay", "fault")
    assert info is delay.DELAY and info.heal == "stop-delay" and info.pick is not None
    assert "this machine:" in info.description
    op, value = info.pick(DelayOptions(targets=("one", "all")), 1, random.Random(1), 5.0)
    assert (op, value) == ("start-delay", {"nodes": "all", "peers": "all"})
