"""The disk faults in whole runs of ``splitbrain run`` (a subprocess, as a user runs it): the
Raft store's ``no-fsync`` caught by suites/raft-lose-unfsynced.yaml; a run
stopped by SIGTERM unmounts its file systems; a run killed by SIGKILL leaves them mounted and
``splitbrain clean`` removes them and their helpers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.history import read_jsonl
from nemesis import diskfs

ROOT = Path(__file__).resolve().parents[2]
SUITE = str(ROOT / "suites" / "raft-lose-unfsynced.yaml")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts)"),
    pytest.mark.skipif(
        diskfs.unavailable("local") is not None, reason=f"{diskfs.unavailable('local')}"
    ),
]


def splitbrain(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def mounts_under(path: Path) -> list[str]:
    return [where for _, where in diskfs.mounts() if where.startswith(str(path))]


def helpers_under(path: Path) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"lazyfs-" in argv[0] and any(str(path).encode() in a for a in argv):
                found.append(int(entry.name))
    return found


def wait_for_a_loss(results: Path, p: subprocess.Popen[str], timeout: float = 120) -> Path:
    """The run directory, once its history holds a lose-unfsynced that was done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert p.poll() is None, p.stdout.read() if p.stdout else ""
        for h in results.glob("raft-register/2*/history.jsonl"):
            try:
                ops = read_jsonl(h)
            except Exception:  # noqa: BLE001 - a line being written
                continue
            if any(o.f == "lose-unfsynced" and o.type == "ok" for o in ops):
                return h.parent
        time.sleep(0.2)
    raise AssertionError("no lose-unfsynced was done in time")


def test_no_fsync_is_caught_and_nothing_is_left_mounted(tmp_path: Path) -> None:
    results = tmp_path / "r"
    # the suite as it is (two rounds in 30 s): the first round gave evidence in each of 5 bench
    # runs (bench/README.md), the second is a margin for a busy machine
    p = splitbrain("run", SUITE, "--bug", "no-fsync", "--seed", "3", "--results", str(results))
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out  # invalid, as a seeded bug is expected to be
    [run] = [f.parent for f in results.glob("raft-register/2*/results.json")]
    data = json.loads((run / "results.json").read_text())
    assert data["valid"] is False, out
    kinds = {a["name"] for a in data["checkers"]["linearizable"]["anomalies"]}
    assert "nonlinearizable" in kinds, kinds
    lost = [f for f in data["faults"] if f["f"] == "lose-unfsynced"]
    assert lost and lost[0]["type"] == "ok", data["faults"]
    assert not mounts_under(tmp_path) and not helpers_under(tmp_path)


def test_sigterm_unmounts_and_sigkill_then_clean_removes_everything(tmp_path: Path) -> None:
    results = tmp_path / "r"
    args = ["run", SUITE, "--time-limit", "60", "--results"]
    stopped = splitbrain(*args, str(results / "term"))
    killed = splitbrain(*args, str(results / "kill"))
    try:
        wait_for_a_loss(results / "term", stopped)
        wait_for_a_loss(results / "kill", killed)
        assert len(mounts_under(results / "term")) == 3
        assert len(mounts_under(results / "kill")) == 3
        os.killpg(stopped.pid, signal.SIGTERM)
        os.killpg(killed.pid, signal.SIGKILL)
        stopped.communicate(timeout=180)
        killed.wait(30)
    finally:
        for p in (stopped, killed):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert not mounts_under(results / "term"), "a run stopped by SIGTERM unmounts"
    assert not helpers_under(results / "term")
    assert len(mounts_under(results / "kill")) == 3, "SIGKILL leaves the mounts"
    clean = splitbrain("clean")
    out, _ = clean.communicate(timeout=120)
    assert clean.returncode == 0, out
    assert "mount " in out, out
    assert not mounts_under(tmp_path), "splitbrain clean unmounts them"
    assert not helpers_under(tmp_path), "and stops their helpers"
    assert not list(results.glob("**/*.lazyfs-synced")), "no synced copies are left"
    mount = subprocess.run(["mount"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in mount


def test_a_backend_without_it_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    """SSH hosts are refused (the docker backend has it: tests/nemesis/test_disk_docker.py).
    The inventory is read, no host is connected to."""
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(
        "hosts: [" + ", ".join(f"{{address: 192.0.2.{i}}}" for i in (1, 2, 3)) + "]"
    )
    p = splitbrain(
        "run", SUITE, "--cluster", "ssh", "--inventory", str(inventory),
        "--results", str(tmp_path / "r"),
    )  # fmt: skip
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 3, out
    assert "the lose-unfsynced fault cannot be made here" in out
    assert "an SSH host is a machine of the user's own" in out
    assert len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / "r" / "raft-register").exists(), "no run was started"
