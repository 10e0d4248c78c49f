"""The disk faults (``nemesis.disk``) on real nodes of the local backend: a daemon in each
node's network namespace appends to a file in its data directory, syncing every other line;
``lose-unfsynced`` kills it and leaves only the synced lines, ``restart-lost`` starts it on
them; ``fill-disk`` makes its appends fail with ENOSPC and ``free-disk`` ends that;
``slow-disk`` slows them; ``unprepare`` leaves nothing mounted. The daemon runs through
``ip netns exec``, so these also show that it sees the file system mounted on the host path."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from appender import DAEMON, AppenderSystem, send

from clusters.base import Node, SetupError
from clusters.local import LocalCluster, LocalNode
from harness.history import NEMESIS, Op
from nemesis import disk, diskfs

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
    pytest.mark.skipif(
        diskfs.unavailable("local") is not None, reason=f"{diskfs.unavailable('local')}"
    ),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(2, workroot=tmp_path_factory.mktemp("disk"))
    system = AppenderSystem()
    try:
        c.create()
        for node in c.nodes:
            disk.prepare(node, system)  # as the run does: before the system's setup
            system.setup(node)
        yield c
    finally:
        for node in c.nodes:
            system.teardown(node)
            disk.unprepare(node)
        c.destroy()


def op(f: str, value: Any = None) -> Op:
    return Op("invoke", f, value, NEMESIS)


def log_of(node: Node) -> str:
    with open(f"{AppenderSystem().data_dir(node)}/log") as fh:
        return fh.read()


def test_lose_unfsynced_keeps_the_synced_lines_and_the_heal_restarts(
    cluster: LocalCluster,
) -> None:
    n1, n2 = cluster.nodes
    system = AppenderSystem()
    nemesis = disk.LoseUnfsyncedNemesis(random.Random(1), system)
    nemesis.setup(cluster)
    for line in ("sync 1", "unsynced 2", "sync 3", "unsynced 4"):
        assert send(n1, line)["ok"] and send(n2, line)["ok"]
    done = nemesis.invoke(op("lose-unfsynced", ["n1"]))
    assert done.type == "ok", done.error
    assert done.value["nodes"] == ["n1"]
    assert done.value["lost"]["n1"] == {"restored": 1, "emptied": 0, "removed": 0, "bytes": 11}
    assert log_of(n1) == "sync 1\nunsynced 2\nsync 3\n", "what the last fsync covered stays"
    assert log_of(n2).endswith("unsynced 4\n"), "the other node lost nothing"
    healed = nemesis.invoke(op("restart-lost"))
    assert healed.type == "ok" and healed.value == ["n1"]
    assert send(n1, "sync 5")["ok"]
    assert log_of(n1).endswith("sync 3\nsync 5\n")
    nemesis.teardown()


def test_a_full_disk_fails_appends_until_the_heal(cluster: LocalCluster) -> None:
    n1, n2 = cluster.nodes
    nemesis = disk.DiskFullNemesis(random.Random(1), AppenderSystem())
    nemesis.setup(cluster)
    done = nemesis.invoke(op("fill-disk", ["n2"]))
    assert done.type == "ok" and done.value == {"nodes": ["n2"]}, done
    assert send(n2, "sync full") == {"ok": False, "errno": 28}
    assert send(n1, "sync other")["ok"], "only the target's disk is full"
    healed = nemesis.invoke(op("free-disk"))
    assert healed.type == "ok" and healed.value == ["n2"]
    assert send(n2, "sync free")["ok"]
    nemesis.teardown()


def test_a_process_that_exited_while_the_disk_was_full_is_started_by_the_heal(
    cluster: LocalCluster,
) -> None:
    _, n2 = cluster.nodes
    system = AppenderSystem()
    nemesis = disk.DiskFullNemesis(random.Random(1), system)
    nemesis.setup(cluster)
    assert nemesis.invoke(op("fill-disk", ["n2"])).type == "ok"
    system.kill(n2)  # as etcd stops at its first failed WAL write
    assert not n2.alive(DAEMON)
    healed = nemesis.invoke(op("free-disk"))
    assert healed.type == "ok" and healed.value == ["n2"]
    assert n2.alive(DAEMON) and send(n2, "sync back")["ok"]
    nemesis.teardown()


def test_a_slow_disk_slows_appends_until_the_heal(cluster: LocalCluster) -> None:
    n1, _ = cluster.nodes
    nemesis = disk.SlowDiskNemesis(random.Random(1), AppenderSystem())
    nemesis.setup(cluster)
    done = nemesis.invoke(op("slow-disk", {"nodes": ["n1"], "delay_ms": 1000}))
    assert done.type == "ok" and done.value == {"nodes": ["n1"], "delay_ms": 1000}, done
    reply = send(n1, "sync slow")
    assert reply["ok"] and reply["took"] >= 2.0, reply  # a write and an fsync, 1 s each
    bad = nemesis.invoke(op("slow-disk", {"nodes": ["n1"], "delay_ms": -3}))
    assert bad.type == "info" and "delay_ms" in (bad.error or "")
    nemesis.teardown()  # the heal, as at the end of a run
    reply = send(n1, "sync fast")
    assert reply["ok"] and reply["took"] < 1.0, reply


def test_the_disk_faults_refuse_a_system_that_does_not_say_where_its_data_is() -> None:
    with pytest.raises(SetupError, match="Killable, HasData"):
        disk.LoseUnfsyncedNemesis(random.Random(0), object())
    node = LocalNode("n1", "sbtest-n1", "10.0.0.1", "/nonexistent")
    with pytest.raises(SetupError, match="HasData"):
        disk.prepare(node, object())
