"""The backends as the registry hands them out, and the paths and state files they share.
Nothing here makes a cluster: ``make`` only builds the object, which ``create()`` would
bring up."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from clusters import paths, prefix, state
from clusters.docker import DockerCluster
from clusters.local import LocalCluster
from clusters.ssh import SshCluster
from harness import registry
from harness.spec import ClusterSpec


def hosts(*addresses: str) -> tuple[dict[str, Any], ...]:
    return tuple({"address": a} for a in addresses)


def test_the_three_built_in_backends_are_registered_with_their_bounds() -> None:
    backends = registry.backends()
    assert {"local", "docker", "ssh"} <= set(backends)
    assert backends["local"].max_nodes == 200 and backends["docker"].max_nodes == 200
    assert backends["ssh"].max_nodes is None  # as many as hosts are given
    assert all(b.description and b.clean is not None for b in backends.values())


@pytest.mark.parametrize(
    ("name", "kind"), [("local", LocalCluster), ("docker", DockerCluster), ("ssh", SshCluster)]
)
def test_make_builds_the_cluster_of_a_spec_and_makes_nothing(
    name: str, kind: type[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.RUN_DIR_ENV, str(tmp_path / "run"))
    spec = ClusterSpec(backend=name, nodes=3, hosts=hosts("10.0.0.1", "10.0.0.2", "10.0.0.3"))
    cluster: Any = registry.lookup(registry.BackendInfo, name, "backend").make(
        spec, tmp_path / "work", ("etcd-server",)
    )
    assert isinstance(cluster, kind)
    assert cluster.nodes == []
    assert not (tmp_path / "work").exists() and not (tmp_path / "run").exists()
    if name == "docker":
        assert cluster.packages == ("etcd-server",)


def test_the_ssh_backend_checks_its_host_list_when_the_suite_is_read() -> None:
    check = registry.backends()["ssh"].check
    assert check is not None
    check(ClusterSpec(backend="ssh", nodes=2, hosts=hosts("a", "b", "c")))
    with pytest.raises(ValueError, match=r"cluster.nodes is 4 but only 3 ssh host\(s\)"):
        check(ClusterSpec(backend="ssh", nodes=4, hosts=hosts("a", "b", "c")))
    with pytest.raises(ValueError, match="the ssh backend needs hosts"):
        check(ClusterSpec(backend="ssh", nodes=1))


def test_every_host_path_moves_with_its_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env in (paths.RUN_DIR_ENV, paths.CACHE_DIR_ENV, paths.BUILD_DIR_ENV, paths.SSH_WORKDIR_ENV):
        monkeypatch.delenv(env, raising=False)
    defaults = (paths.run_dir(), paths.cache_dir(), paths.build_dir(), paths.ssh_workdir())
    assert defaults == (
        Path("/run/splitbrain"),
        Path("/var/cache/splitbrain"),
        Path("/var/tmp"),
        "/var/tmp/splitbrain",
    )
    for env in (paths.RUN_DIR_ENV, paths.CACHE_DIR_ENV, paths.BUILD_DIR_ENV):
        monkeypatch.setenv(env, str(tmp_path / env))
    monkeypatch.setenv(paths.SSH_WORKDIR_ENV, "/srv/sb")
    assert paths.run_dir() == tmp_path / paths.RUN_DIR_ENV
    assert paths.cache_dir() == tmp_path / paths.CACHE_DIR_ENV
    assert paths.build_dir() == tmp_path / paths.BUILD_DIR_ENV
    assert SshCluster([{"address": "a"}], workroot=tmp_path).workdir == "/srv/sb"


def test_a_held_prefix_lock_lives_in_the_run_dir_and_marks_the_prefix_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.RUN_DIR_ENV, str(tmp_path))
    lock = prefix.PrefixLock("sbtest1")
    assert not prefix.is_live("sbtest1")
    lock.hold("a test")
    try:
        assert (tmp_path / "sbtest1.lock").read_text().endswith(" a test\n")
        assert prefix.is_live("sbtest1")
        with pytest.raises(Exception, match="in use by a live cluster"):
            prefix.PrefixLock("sbtest1").hold("another")
    finally:
        lock.release()
    assert not prefix.is_live("sbtest1") and not (tmp_path / "sbtest1.lock").exists()


@pytest.mark.parametrize("bad", ["", "Sb1", "1sb", "s", "sb-1", "a" * 13])
def test_a_prefix_that_would_not_name_interfaces_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="expected a prefix of 2-12 lowercase"):
        prefix.check_prefix(bad)
    assert prefix.PREFIX_RE.match(prefix.new_prefix())


def test_a_state_file_is_never_read_half_written(tmp_path: Path) -> None:
    path = tmp_path / "sub" / state.STATE_FILE
    big = {"nodes": ["n" * 1000] * 200}
    state.write_state(path, {"nodes": []})
    seen: list[dict[str, object]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(json.loads(path.read_text()))  # raises on a torn file

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(200):
            state.write_state(path, big if i % 2 else {"nodes": []})
    finally:
        stop.set()
        reader.join()
    assert seen and all(s in (big, {"nodes": []}) for s in seen)
    assert [p.name for p in path.parent.iterdir()] == [state.STATE_FILE]  # no temporary left
    state.mark_destroyed(path, ["link sbx-br"])
    after = state.read_state(path)
    assert after["removed"] == ["link sbx-br"] and "destroyed_at" in after
    assert state.read_state(tmp_path / "missing.json") == {}
