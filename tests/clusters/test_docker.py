"""The Docker backend on the real engine: the node image, containers on a network of the run's
own with only NET_ADMIN, commands, daemons and files through the engine, and clean-up.

The first run builds the node image (about 2 minutes from nothing: debootstrap of a Debian
base, then the node layers); later runs find it cached. The faults themselves are observed in
``tests/e2e/test_backends.py``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters import docker as dk
from clusters.base import CommandFailed, Node, SetupError
from clusters.image import build, common

ROOT = Path(__file__).resolve().parents[2]
_WHY_NOT = dk.docker_available()
needs_docker = [
    pytest.mark.cluster,
    pytest.mark.skipif(_WHY_NOT is not None, reason=f"no Docker engine: {_WHY_NOT}"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the docker backend's prefix lock needs root"),
]

# -- no engine needed ----------------------------------------------------------------------------


def test_the_host_mirror_is_read_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    d = tmp_path / "etc/apt/sources.list.d"
    d.mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list").write_text(
        "# a comment\ndeb http://security.debian.org/debian-security bookworm-security main\n"
    )
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main contrib\n\n"
        "Types: deb\nURIs: http://other.example/debian\nSuites: trixie\nComponents: main\n"
    )
    (d / "off.sources.disabled").write_text("Types: deb\nURIs: http://no/debian\nSuites: x\n")
    m = build.host_mirror("bookworm", root=str(tmp_path))
    assert (m.uri, m.suite) == ("http://mirror.example/debian", "bookworm")
    assert m.source.endswith("debian.sources")
    # no entry for the suite: any Debian archive of the host, for the suite asked
    assert build.host_mirror("bullseye", root=str(tmp_path)).uri == "http://mirror.example/debian"


def test_a_host_without_a_debian_source_falls_back_to_deb_debian_org(tmp_path: Path) -> None:
    (tmp_path / "etc/apt").mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list").write_text(
        "deb [signed-by=/k.gpg] http://x/ubuntu jammy main\n"
    )
    m = build.host_mirror("bookworm", root=str(tmp_path))
    assert (m.uri, m.source) == ("http://deb.debian.org/debian", "default")


def test_the_image_hash_changes_with_the_patterns_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    first = common.digest(build.tree_digest(tmp_path))
    (tmp_path / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"other junk")
    assert common.digest(build.tree_digest(tmp_path)) == first
    (tmp_path / "a.py").write_text("x = 2\n")
    assert common.digest(build.tree_digest(tmp_path)) != first


# -- on the engine --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_image() -> str:
    """The node image, built once (cold: ~2 min; cached: <1 s)."""
    if _WHY_NOT is not None:
        pytest.skip(f"no Docker engine: {_WHY_NOT}")
    t = time.monotonic()
    tag = build.ensure_image()
    print(f"node image {tag} ready in {time.monotonic() - t:.1f}s")
    return tag


@pytest.fixture(scope="module")
def cluster(
    node_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dk.DockerCluster]:
    c = dk.DockerCluster(3, workroot=tmp_path_factory.mktemp("docker"), image=node_image)
    try:
        c.create()
        yield c
    finally:
        c.destroy()


def _inspect(c: dk.DockerCluster, node: Node) -> dict:
    return dk.docker_client().api.inspect_container(node.container)  # type: ignore[attr-defined]


class TestOnTheEngine:
    pytestmark = needs_docker

    def test_the_image_is_cached_by_its_inputs(self, node_image: str) -> None:
        t = time.monotonic()
        assert build.ensure_image() == node_image
        assert time.monotonic() - t < 20, "a cached image is a lookup, not a build"
        labels = dk.docker_client().api.inspect_image(node_image)["Config"]["Labels"]
        assert labels[common.IMAGE_LABEL] == "node"
        assert node_image.endswith(labels[common.INPUTS_LABEL][:12])

    def test_nodes_are_containers_with_net_admin_only_on_fixed_addresses(
        self, cluster: dk.DockerCluster
    ) -> None:
        assert cluster.subnet is not None
        hosts = list(cluster.subnet.hosts())
        assert [n.address for n in cluster.nodes] == [
            str(hosts[10]),
            str(hosts[11]),
            str(hosts[12]),
        ]
        for node in cluster.nodes:
            info = _inspect(cluster, node)
            hc = info["HostConfig"]
            assert hc["Privileged"] is False
            assert hc["CapAdd"] == ["NET_ADMIN"]
            assert info["Config"]["Labels"][dk.RUN_LABEL] == cluster.prefix
            assert info["Config"]["Labels"][dk.NODE_LABEL] == node.name
            nets = info["NetworkSettings"]["Networks"]
            assert list(nets) == [cluster.network]
            assert nets[cluster.network]["IPAddress"] == node.address
            # CAP_NET_ADMIN is bit 12 of the effective set; CAP_SYS_ADMIN (21) is absent
            status = node.exec(["cat", "/proc/self/status"]).stdout
            eff = int(next(x for x in status.splitlines() if x.startswith("CapEff")).split()[1], 16)
            assert eff & (1 << 12) and not eff & (1 << 21)
        net = dk.docker_client().api.inspect_network(cluster.network)
        assert net["Internal"] is True and net["Labels"][dk.RUN_LABEL] == cluster.prefix

    def test_a_node_routes_only_to_its_own_subnet(self, cluster: dk.DockerCluster) -> None:
        n1 = cluster.nodes[0]
        routes = n1.exec(["ip", "-4", "route"]).stdout.strip().splitlines()
        assert routes and all(r.startswith(str(cluster.subnet)) for r in routes), routes
        probe = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=2)"
        r = n1.exec(["python3", "-c", probe], check=False)
        assert r.returncode != 0 and "unreachable" in r.stderr.lower()

    def test_exec_reports_exit_codes_output_and_timeouts(self, cluster: dk.DockerCluster) -> None:
        n1 = cluster.nodes[0]
        r = n1.exec(["sh", "-c", 'echo out "$1"; echo err >&2; exit 3', "sh", "a b"], check=False)
        assert (r.returncode, r.stdout, r.stderr) == (3, "out a b\n", "err\n")
        with pytest.raises(CommandFailed, match="exited 3"):
            n1.exec(["sh", "-c", "exit 3"])
        t = time.monotonic()
        r = n1.exec(["sleep", "30"], timeout=1, check=False)
        assert r.returncode == 124 and time.monotonic() - t < 10
        with pytest.raises(TypeError):
            n1.exec("echo hi")  # type: ignore[arg-type]

    def test_a_daemon_runs_in_its_own_group_logs_to_the_workdir_and_takes_signals(
        self, cluster: dk.DockerCluster
    ) -> None:
        n2 = cluster.nodes[1]
        pid = n2.spawn(
            "sleeper", ["sh", "-c", "echo started $FOO; exec sleep 300"], env={"FOO": "bar baz"}
        )
        try:
            stat = n2.exec(["ps", "-o", "pid=,pgid=,sid=", "-p", str(pid)]).stdout.split()
            assert stat == [str(pid)] * 3
            assert n2.alive("sleeper")
            with pytest.raises(RuntimeError, match="already running"):
                n2.spawn("sleeper", ["sleep", "1"])
            assert n2.signal("sleeper", signal.SIGSTOP)
            assert n2.exec(["ps", "-o", "stat=", "-p", str(pid)]).stdout.startswith("T")
            assert n2.alive("sleeper"), "a stopped daemon is alive"
            assert n2.signal("sleeper", signal.SIGKILL)
            deadline = time.monotonic() + 5
            while n2.alive("sleeper") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not n2.alive("sleeper")
            assert not n2.signal("sleeper", signal.SIGKILL)
            log = n2.exec(["cat", f"{n2.workdir}/sleeper.log"]).stdout
            assert "spawn sh -c" in log and "started bar baz" in log
        finally:
            n2.signal("sleeper", signal.SIGKILL)

    def test_files_go_in_and_out_as_trees(self, cluster: dk.DockerCluster, tmp_path: Path) -> None:
        n3 = cluster.nodes[2]
        src = tmp_path / "src"
        (src / "sub").mkdir(parents=True)
        (src / "a.txt").write_text("alpha\n")
        (src / "sub" / "b.bin").write_bytes(bytes(range(256)))
        n3.put(src, "tree")
        assert n3.exec(["cat", f"{n3.workdir}/tree/a.txt"]).stdout == "alpha\n"
        n3.put(src / "a.txt", "/tmp/deep/one.txt")
        assert n3.exec(["cat", "/tmp/deep/one.txt"]).stdout == "alpha\n"
        back = tmp_path / "back"
        n3.get("tree", back)
        assert (back / "sub" / "b.bin").read_bytes() == bytes(range(256))
        n3.get("/tmp/deep/one.txt", tmp_path / "x" / "one.txt")
        assert (tmp_path / "x" / "one.txt").read_text() == "alpha\n"

    def test_the_state_file_records_the_run(self, cluster: dk.DockerCluster) -> None:
        state = json.loads(cluster.state_file.read_text())
        assert state["backend"] == "docker" and state["prefix"] == cluster.prefix
        assert [n["container"] for n in state["nodes"]] == [
            f"{cluster.prefix}-n{i}" for i in (1, 2, 3)
        ]

    def test_a_missing_image_is_a_setup_error_that_leaves_nothing(self, tmp_path: Path) -> None:
        c = dk.DockerCluster(1, workroot=tmp_path, image="splitbrain-node:does-not-exist")
        with pytest.raises(SetupError, match="splitbrain image build"):
            c.create()
        assert not dk.docker_client().api.containers(
            all=True, filters={"label": f"{dk.RUN_LABEL}={c.prefix}"}
        )
        c.destroy()  # safe after a failed create

    def test_clean_removes_what_a_killed_controller_left_and_spares_live_runs(
        self, cluster: dk.DockerCluster, node_image: str, tmp_path: Path
    ) -> None:
        script = (
            "import sys, time\n"
            "from clusters.docker import DockerCluster\n"
            f"c = DockerCluster(2, workroot={str(tmp_path)!r}, image={node_image!r})\n"
            "c.create(); print(c.prefix, flush=True); time.sleep(600)\n"
        )
        p = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            prefix = p.stdout.readline().strip()  # type: ignore[union-attr]
            assert prefix, "the controller did not create its cluster"
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        api = dk.docker_client().api
        mine = {"label": f"{dk.RUN_LABEL}={prefix}"}
        assert len(api.containers(all=True, filters=mine)) == 2
        removed = dk.clean()
        assert f"container {prefix}-n1" in removed and f"network {prefix}-net" in removed
        assert not api.containers(all=True, filters=mine)
        assert not api.networks(filters=mine)
        assert (
            f"{prefix}-dk"
            not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        )
        # the live cluster of this module was left alone
        assert len(api.containers(filters={"label": f"{dk.RUN_LABEL}={cluster.prefix}"})) == 3

    def test_destroy_removes_everything_and_is_idempotent(
        self, node_image: str, tmp_path: Path
    ) -> None:
        c = dk.DockerCluster(1, workroot=tmp_path, image=node_image)
        c.create()
        c.destroy()
        c.destroy()
        api = dk.docker_client().api
        assert not api.containers(all=True, filters={"label": f"{dk.RUN_LABEL}={c.prefix}"})
        assert not api.networks(names=[c.network])
        assert json.loads(c.state_file.read_text())["destroyed_at"]
