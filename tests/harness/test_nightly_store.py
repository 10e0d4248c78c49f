"""Run directories made by runs that start together (``--jobs``, pytest-xdist): never shared."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from harness.store import RunDir, code_version


def _make(root: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(str(RunDir.create(Path(root), "same-test").path))


def test_runs_of_one_test_started_in_the_same_second_get_a_directory_each(tmp_path):
    made: list[str] = []
    barrier = threading.Barrier(8)

    def one() -> None:
        barrier.wait()
        made.append(str(RunDir.create(tmp_path, "same-test").path))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 8 and len(set(made)) == 8
    assert (tmp_path / "latest").resolve() in {Path(p).resolve() for p in made}


def test_runs_in_separate_processes_get_a_directory_each(tmp_path):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_make, args=(str(tmp_path), out)) for _ in range(6)]
    for p in procs:
        p.start()
    paths = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert len(set(paths)) == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".latest")]


def test_the_code_version_names_the_commit_and_whether_the_tree_was_changed(tmp_path):
    here = code_version(str(Path(__file__)))
    assert here is not None and len(here["commit"]) == 40
    assert isinstance(here["dirty"], bool) and (here["diff"] is None) == (not here["dirty"])
    assert code_version(str(tmp_path)) is None  # not a git tree
