"""The disk faults (``nemesis.disk``) on real nodes of the docker backend: the containers of a
cluster made with ``needs=("fuse",)`` (as a run naming a disk fault makes them) get
``/dev/fuse`` and CAP_SYS_ADMIN, and the lazy file system is mounted inside each over its work
directory, through ``exec``, ``put`` and ``spawn`` only. A daemon in each container appends to a
file in its data directory, syncing the lines that start with "sync"; ``lose-unfsynced`` kills
it and leaves only the synced lines, ``restart-lost`` starts it on them; ``fill-disk`` makes its
appends fail with ENOSPC until ``free-disk``; ``slow-disk`` slows them until ``fast-disk``;
``unprepare`` leaves nothing mounted, no helper and no synced copies in the containers. A
container made without the need has no ``/dev/fuse`` and no SYS_ADMIN. The first test may
build the node image (about 2 minutes, once)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from appender import DAEMON, AppenderSystem, send

from clusters.base import Node, SetupError
from harness.history import NEMESIS, Op
from nemesis import disk, diskfs


def _docker_why_not() -> str | None:
    try:
        from clusters.docker import docker_available
    except ImportError as e:
        return str(e)
    return docker_available()


DOCKER_WHY_NOT = _docker_why_not()
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (prefix locks)"),
    pytest.mark.skipif(DOCKER_WHY_NOT is not None, reason=f"no Docker: {DOCKER_WHY_NOT}"),
    pytest.mark.skipif(
        diskfs.unavailable("docker") is not None, reason=f"{diskfs.unavailable('docker')}"
    ),
]


@pytest.fixture(scope="module")
def node_image() -> str:
    from clusters.image import ensure_image

    return ensure_image()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, node_image: str) -> Iterator[Any]:
    from clusters.docker import DockerCluster

    c = DockerCluster(
        2, workroot=tmp_path_factory.mktemp("diskdocker"), image=node_image, needs=("fuse",)
    )
    system = AppenderSystem()
    try:
        c.create()
        for node in c.nodes:
            disk.prepare(node, system)  # as the run does: before the system's setup
            system.setup(node)
        yield c
    finally:
        try:
            for node in c.nodes:
                system.teardown(node)
                disk.unprepare(node)
        finally:
            c.destroy()


def op(f: str, value: Any = None) -> Op:
    return Op("invoke", f, value, NEMESIS)


def log_of(node: Node) -> str:
    return node.exec(["cat", f"{AppenderSystem().data_dir(node)}/log"]).stdout


def test_it_is_mounted_inside_the_container_and_not_on_the_host(cluster: Any) -> None:
    for node in cluster.nodes:
        assert diskfs.is_mounted(node)
        assert node.alive(diskfs.DAEMON)
        # the helper needs no FUSE package in the image: libfuse3 is linked in
        assert node.exec(["sh", "-c", "command -v fusermount3"], check=False).returncode != 0
    assert not [w for _, w in diskfs.mounts() if w == cluster.nodes[0].workdir]


def test_lose_unfsynced_keeps_the_synced_lines_and_the_heal_restarts(cluster: Any) -> None:
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
    assert not n1.alive(DAEMON), "a power cut kills the system"
    assert log_of(n1) == "sync 1\nunsynced 2\nsync 3\n", "what the last fsync covered stays"
    assert log_of(n2).endswith("unsynced 4\n"), "the other node lost nothing"
    healed = nemesis.invoke(op("restart-lost"))
    assert healed.type == "ok" and healed.value == ["n1"]
    assert send(n1, "sync 5")["ok"]
    assert log_of(n1).endswith("sync 3\nsync 5\n")
    nemesis.teardown()


def test_a_full_disk_fails_appends_until_the_heal(cluster: Any) -> None:
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


def test_a_slow_disk_slows_appends_until_the_heal(cluster: Any) -> None:
    n1, _ = cluster.nodes
    nemesis = disk.SlowDiskNemesis(random.Random(1), AppenderSystem())
    nemesis.setup(cluster)
    done = nemesis.invoke(op("slow-disk", {"nodes": ["n1"], "delay_ms": 1000}))
    assert done.type == "ok" and done.value == {"nodes": ["n1"], "delay_ms": 1000}, done
    reply = send(n1, "sync slow")
    assert reply["ok"] and reply["took"] >= 2.0, reply  # a write and an fsync, 1 s each
    nemesis.teardown()  # the heal, as at the end of a run
    reply = send(n1, "sync fast")
    assert reply["ok"] and reply["took"] < 1.0, reply


def test_unprepare_leaves_nothing_mounted_and_no_helper(cluster: Any) -> None:
    """Last (the module's cluster is not mounted after it): as the run's teardown does, the
    system stopped, then unprepare; a second unprepare (the fixture's) is a no-op."""
    system = AppenderSystem()
    for node in cluster.nodes:
        system.teardown(node)
        disk.unprepare(node)
        assert not diskfs.is_mounted(node)
        assert not node.alive(diskfs.DAEMON)
        shadow = f"{node.workdir}.lazyfs-synced"
        assert node.exec(["test", "-e", shadow], check=False).returncode == 1, "no synced copies"
        # the files stay as the system wrote them, in the plain directory underneath
        assert "sync 5" in log_of(node) or "sync free" in log_of(node)
    with pytest.raises(RuntimeError, match="no lazy file system is mounted"):
        diskfs.control(cluster.nodes[0], "checkpoint")


def test_a_container_made_without_the_need_gets_no_fuse(
    tmp_path: Path, node_image: str, cluster: Any
) -> None:
    from clusters.docker import DockerCluster, docker_client

    api = docker_client().api
    given = api.inspect_container(cluster.nodes[0].container)["HostConfig"]
    assert "SYS_ADMIN" in given["CapAdd"] and given["Devices"][0]["PathOnHost"] == "/dev/fuse"
    plain = DockerCluster(1, workroot=tmp_path, image=node_image)
    try:
        plain.create()
        host = api.inspect_container(plain.prefix + "-n1")["HostConfig"]
        assert host["CapAdd"] == ["NET_ADMIN"] and not host["Devices"], host
        with pytest.raises(SetupError, match="did not mount"):
            disk.prepare(plain.nodes[0], AppenderSystem())
        assert not plain.nodes[0].alive(diskfs.DAEMON)
    finally:
        plain.destroy()
