"""The first run on a fresh machine: an empty user cache, state made by several at once.

Issue #12: the README's first command failed where splitbrain had never run, because the five
nodes of the smoke cluster, set up in threads of one process, each compiled the libfaketime
sleep shim into the empty cache under one temporary name. CI never saw it: its cache survives.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from clusters import clock
from clusters.base import SetupError

ROOT = Path(__file__).resolve().parents[2]
have_cc = pytest.mark.skipif(
    not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")),
    reason="the sleep shim needs a C compiler",
)


def build_at_once(n: int) -> list[Path | BaseException | None]:
    """Call ``clock.build_shim()`` from ``n`` threads released together; returns what each
    returned or raised."""
    results: list[Path | BaseException | None] = [None] * n
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = clock.build_shim()
        except BaseException as e:  # noqa: BLE001 - the test reports what each thread met
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def leftovers(cache: Path) -> list[str]:
    """What the builds left in ``cache`` besides the library and its lock file: temporary
    libraries, sources, work directories."""
    return sorted(
        p.name
        for p in (cache / "splitbrain").iterdir()
        if not (p.is_file() and p.name.startswith(clock.SHIM_STEM) and p.suffix == ".so")
        and not (p.is_file() and p.suffix == ".lock")
    )


@have_cc
def test_threads_building_the_shim_into_an_empty_cache_all_get_the_one_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"  # not even the cache directory exists on a fresh machine
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    for _ in range(3):  # a race shows up in some rounds only: each round starts from nothing
        shutil.rmtree(cache, ignore_errors=True)
        results = build_at_once(8)
        assert not [r for r in results if not isinstance(r, Path)], results
        assert len(set(results)) == 1
        assert leftovers(cache) == []
        assert sorted((cache / "splitbrain").glob("*.so")) == results[:1]
        with open(results[0], "rb") as f:  # type: ignore[arg-type]
            assert f.read(4) == b"\x7fELF"


@have_cc
def test_processes_building_the_shim_into_an_empty_cache_all_succeed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    code = "from clusters import clock; print(clock.build_shim())"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1 and Path(paths.pop()).is_file(), outs
    assert leftovers(cache) == []


def test_a_cache_that_cannot_be_written_is_a_setup_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # root may write anywhere: a file in the way stops even root
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("without a C compiler nothing is written")
    with pytest.raises(SetupError) as e:
        clock.build_shim()
    assert str(blocker / "splitbrain") in str(e.value)
    assert "XDG_CACHE_HOME" in str(e.value)


# The smoke suite's cluster (the reference Raft store on 5 local nodes, set up in parallel) with
# every fault kind, shortened: the clock faults need the shim in the daemons.
SUITE = """
suite: first-run
tests:
  - name: raft-first-run
    system: {name: raft}
    cluster: {backend: local, nodes: 5}
    workload: {name: register, concurrency: 5, rate: 50, keys: 2, ops_per_key: 100, timeout: 1.5}
    nemesis:
      faults: [clock, partition]
      quiet: 0.5
      interval: 1.5
      shapes: [one]
      clock_max_ms: 5000
      recovery: 2
    time_limit: 8
"""


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
@have_cc
def test_a_five_node_run_with_an_empty_cache_sets_up_and_is_valid(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (tmp_path / "suite.yaml").write_text(SUITE)
    r = subprocess.run(
        [
            sys.executable, "-m", "harness.cli", "run", str(tmp_path / "suite.yaml"),
            "--results", str(tmp_path / "results"), "--seed", "12",
        ],
        cwd=ROOT,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    out = r.stdout + r.stderr
    assert "SETUP FAILED" not in out, out
    assert r.returncode == 0, out
    assert "raft-first-run: VALID" in out, out
    (results,) = (tmp_path / "results" / "raft-first-run").glob("*/results.json")
    applied = {f["f"] for f in json.loads(results.read_text())["faults"] if f["type"] == "ok"}
    assert applied & {"bump-clock", "strobe-clock"}, applied  # the daemons ran under the shim
    assert len(list((cache / "splitbrain").glob("*.so"))) == 1
    assert leftovers(cache) == []


def test_a_second_image_build_says_whom_it_waits_for_then_takes_its_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clusters.image import common

    monkeypatch.setenv("SPLITBRAIN_RUN_DIR", str(tmp_path / "run"))
    holding, release, waiting = threading.Event(), threading.Event(), threading.Event()
    said: list[str] = []
    order: list[str] = []

    def first() -> None:
        with common.build_lock(lambda line: None):
            order.append("first in")
            holding.set()
            release.wait(60)
            order.append("first out")

    def second() -> None:
        def say(line: str) -> None:
            said.append(line)
            waiting.set()

        with common.build_lock(say):
            order.append("second in")

    a = threading.Thread(target=first)
    a.start()
    assert holding.wait(60)
    b = threading.Thread(target=second)
    b.start()
    assert waiting.wait(60), "the second build never said it waits"
    assert order == ["first in"]  # it waits, and has not gone in
    release.set()
    a.join(60)
    b.join(60)
    assert order == ["first in", "first out", "second in"]
    assert len(said) == 1 and f"pid {os.getpid()}" in said[0], said
    assert str(tmp_path / "run" / "image.lock") in said[0]


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root")
@have_cc
def test_threads_copying_the_shim_to_a_node_at_once_all_get_it_and_leave_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clusters.local import LocalCluster

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    c = LocalCluster(1, workroot=tmp_path / "cluster")
    try:
        c.create()
        node = c.nodes[0]
        # as a node of the ssh backend: the shim must be copied into its workdir
        node.shares_filesystem = False  # type: ignore[attr-defined]
        results: list[str | BaseException | None] = [None] * 6
        start = threading.Barrier(len(results))

        def one(i: int) -> None:
            start.wait()
            try:
                results[i] = clock.shim_on(node)
            except BaseException as e:  # noqa: BLE001 - the test reports what each met
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        remote = f"{node.workdir}/{clock.build_shim().name}"  # type: ignore[union-attr]
        assert results == [remote] * len(results)
        assert [p.name for p in Path(node.workdir).iterdir() if ".tmp" in p.name] == []
        assert Path(remote).read_bytes() == clock.build_shim().read_bytes()  # type: ignore[union-attr]
    finally:
        c.destroy()
