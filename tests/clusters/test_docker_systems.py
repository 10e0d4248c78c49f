"""Third-party systems in Docker: a node image with a system's Debian packages on top
(``clusters.image.packages``), and one short etcd test run end to end on containers.

The image with etcd-server is built on first use: on a machine that has the Debian base
already (``./setup --tests`` builds it), the etcd-server layer (the host's apt downloads about
8 MB, a container installs it) and the node layers on it took 28 s on the 2-core CI machine,
and the end-to-end test 51 s in all (25 s once the image is cached)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusters import docker as dk
from clusters.image import build, common, packages
from harness.registry import systems

ROOT = Path(__file__).resolve().parents[2]
_WHY_NOT = dk.docker_available()
needs_docker = [
    pytest.mark.cluster,
    pytest.mark.skipif(_WHY_NOT is not None, reason=f"no Docker engine: {_WHY_NOT}"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the docker backend's prefix lock needs root"),
]


# -- no engine needed ----------------------------------------------------------------------------


def test_third_party_systems_declare_the_debian_packages_their_nodes_need() -> None:
    known = systems()
    assert known["etcd"].node_packages == ("etcd-server",)
    assert set(known["redis"].node_packages) == {"redis-server", "redis-sentinel"}
    assert known["raft"].node_packages == ()  # the node image serves the reference patterns


def test_the_packages_image_tag_names_the_parent_and_the_package_set_in_any_order() -> None:
    a, _ = packages.packages_tag("sha256:1", ["redis-server", "redis-sentinel"])
    b, _ = packages.packages_tag("sha256:1", ["redis-sentinel", "redis-server", "redis-server"])
    c, _ = packages.packages_tag("sha256:2", ["redis-server", "redis-sentinel"])
    assert a == b != c
    assert a.startswith(f"{common.BASE_REPO}:redis-sentinel-")


def test_a_malformed_package_name_is_refused_before_anything_is_built() -> None:
    with pytest.raises(common.ImageError, match=r"not Debian package names: \['etcd server'\]"):
        packages.ensure_packages_image(
            None, "splitbrain-node:latest", ["etcd server"], force=False, say=print
        )


def test_image_build_for_an_unknown_system_is_bad_input_naming_the_systems() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "harness.cli", "image", "build", "--system", "etcdd"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 3
    assert "unknown system 'etcdd' for --system; allowed:" in p.stderr
    assert "etcd" in p.stderr.split("allowed:")[1]


# -- on the engine --------------------------------------------------------------------------------


class TestOnTheEngine:
    pytestmark = needs_docker

    def test_a_package_the_host_apt_does_not_know_fails_naming_it_and_the_step(self) -> None:
        with pytest.raises(common.ImageError) as e:
            build.ensure_image(packages=["splitbrain-no-such-package"], progress=lambda _: None)
        message = str(e.value)
        assert "resolving splitbrain-no-such-package with the host's apt failed" in message
        assert "Unable to locate package splitbrain-no-such-package" in message

    def test_etcd_runs_in_docker_and_a_short_linearizable_test_ends_valid(
        self, tmp_path: Path
    ) -> None:
        cmd = [
            sys.executable, "-m", "harness.cli", "run", "suites/etcd.yaml",
            "--cluster", "docker", "--test", "etcd-linearizable", "--time-limit", "10",
            "--seed", "7", "--results", str(tmp_path),
        ]  # fmt: skip
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        run = next((tmp_path / "etcd-linearizable").iterdir())
        results = json.loads((run / "results.json").read_text())
        assert results["valid"] is True
        assert results["checkers"]["linearizable"]["valid"] is True
        ok = results["checkers"]["stats"]["details"]["by_f"]
        assert all(ok[f]["ok"] > 0 for f in ("read", "write", "cas")), ok
        cluster = json.loads((run / "cluster.json").read_text())
        assert cluster["backend"] == "docker"
        assert cluster["image"].startswith(f"{common.IMAGE_REPO}:etcd-server-")
        # the members ran in the containers and their logs came back with the results
        log = (run / "nodes" / "n1" / "etcd.log").read_text()
        assert "became leader" in log or "elected leader" in log
        left = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"label={dk.RUN_LABEL}={cluster['prefix']}"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert left == ""

    def test_clean_removes_the_install_container_a_killed_build_left(self) -> None:
        import docker

        api = docker.from_env().api
        name = "splitbrain-build-testleftover"
        api.create_container(
            build.ensure_image(progress=lambda _: None),
            command=["true"],
            name=name,
            labels={"splitbrain.image": "build"},
        )
        try:
            removed = dk.clean()
            assert f"build container {name}" in removed
            assert api.containers(all=True, filters={"name": name}) == []
        finally:
            common.remove_container(docker.from_env(), name)
