"""Interruptions and full disks, end to end: `splitbrain run` as a subprocess on a 3-node local
cluster, a signal or a full / read-only results directory at a moment the test waits for (a
fault in force in the history, a checker under way, setup blocked), then what is left: the exit
code, results.json, the heals in the history, and nothing of the run on the machine."""

from __future__ import annotations

import errno
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import registry
from harness.cli import _override, _parser
from harness.config import load_suite
from harness.history import Op, read_jsonl
from harness.run import prepare
from harness.store import spec_to_dict

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]

# A partition that starts half a second into the workload and lasts 30 s: a signal sent once
# the history shows it started arrives while the fault is in force.
TEST = """
  - name: {name}
    system: {{name: raft}}
    cluster: {{backend: local, nodes: {nodes}}}
    workload: {{name: register, concurrency: 3, rate: 30, keys: 2, ops_per_key: 100,
               timeout: 1.5}}
    nemesis: {{faults: [partition], quiet: 0.5, interval: 30, shapes: [one], recovery: 1}}
    time_limit: 30
    checkers: {checkers}
"""


def suite(tmp_path: Path, *names: str, nodes: int = 3, checkers: str = "[linearizable]") -> Path:
    path = tmp_path / "intr.yaml"
    tests = "".join(TEST.format(name=n, nodes=nodes, checkers=checkers) for n in names)
    path.write_text("suite: intr\ntests:" + tests)
    return path


class Run:
    """One `splitbrain run` in the background, its output in files."""

    def __init__(self, tmp_path: Path, suite_path: Path, results: Path, *extra: str) -> None:
        self.results = results
        self.out_path, self.err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.p = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "run", str(suite_path)]
                + ["--results", str(results), *extra],
                cwd=ROOT,
                env={**env, "SB_GATE_DIR": str(tmp_path / "gate")},
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,  # a group of its own, as a shell's foreground job
            )

    def ctrl_c(self) -> None:
        """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group, the
        controller and every command it runs at that moment."""
        os.killpg(self.p.pid, signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        return self.p.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def output(self) -> str:
        return self.out_path.read_text() + self.err_path.read_text()

    def run_dir(self, test: str = "t1") -> Path:
        return wait_for(lambda: next(iter(sorted((self.results / test).glob("2*"))), None), self)


def wait_for(condition: Callable[[], Any], run: Run | None = None, timeout: float = 45) -> Any:
    """Poll ``condition`` until it returns something true; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if run is not None and run.p.poll() is not None:
            pytest.fail(f"the run ended (exit {run.p.returncode}) first:\n{run.output}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {condition}:\n{run.output if run else ''}")


def history(run_dir: Path) -> list[Op]:
    path = run_dir / "history.jsonl"
    return read_jsonl(path) if path.exists() else []


def a_fault_in_force(run_dir: Path) -> bool:
    return any(
        op.process == "nemesis" and op.f == "start-partition" and op.type == "ok"
        for op in history(run_dir)
    )


def leftovers(run_dir: Path) -> dict[str, list[str]]:
    """What of this run's cluster still exists, found by its prefix and its directory."""
    prefix = json.loads((run_dir / "cluster.json").read_text())["prefix"]
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    procs = subprocess.run(["pgrep", "-f", str(run_dir.resolve())], capture_output=True, text=True)
    return {
        "namespaces": [n for n in ns.splitlines() if n.startswith(prefix)],
        "rules": [r for r in rules.splitlines() if prefix in r],
        "processes": procs.stdout.split(),
    }


NOTHING: dict[str, list[str]] = {"namespaces": [], "rules": [], "processes": []}


def partial_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]


def assert_every_partition_healed_in_the_history(ops: list[Op]) -> None:
    nemesis = [op for op in ops if op.process == "nemesis" and op.type != "invoke"]
    assert any(op.f == "start-partition" and op.type == "ok" for op in nemesis), nemesis
    # the last thing the nemesis did, after the partition that was in force, was to heal it
    assert nemesis[-1].f == "stop-partition" and nemesis[-1].type == "ok", nemesis


# -- signals -----------------------------------------------------------------------------------


def test_ctrl_c_stops_the_whole_suite_and_a_second_one_still_heals_and_records_the_heal(
    tmp_path,
):
    run = Run(tmp_path, suite(tmp_path, "t1", "t2"), tmp_path / "results")
    d = run.run_dir("t1")
    wait_for(lambda: a_fault_in_force(d), run)
    run.ctrl_c()
    wait_for(lambda: "tearing down" in (d / "harness.log").read_text(), run)
    run.ctrl_c()  # impatient: it must not cut the healing and the teardown short
    code = run.wait()
    assert code == 2, run.output
    assert "Traceback" not in run.output
    assert "not run: t2" in run.output
    assert not (tmp_path / "results" / "t2").exists()  # the next test never started
    results = json.loads((d / "results.json").read_text())
    assert results["interrupted"] is True and results["signal"] == "SIGINT"
    assert results["exit_code"] == 2 and results["valid"] == "unknown"
    assert results["checkers"]["linearizable"]["valid"] is True
    assert_every_partition_healed_in_the_history(history(d))
    assert leftovers(d) == NOTHING
    junit = (tmp_path / "results" / "intr-junit.xml").read_text()
    assert 'tests="1"' in junit


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_sighup_and_sigterm_heal_tear_down_and_write_the_results(tmp_path, sig):
    run = Run(tmp_path, suite(tmp_path, "t1"), tmp_path / "results")
    d = run.run_dir()
    wait_for(lambda: a_fault_in_force(d), run)
    run.p.send_signal(sig)
    assert run.wait() == 2, run.output
    assert "Traceback" not in run.output
    results = json.loads((d / "results.json").read_text())
    assert results["interrupted"] is True and results["signal"] == sig.name
    assert_every_partition_healed_in_the_history(history(d))
    assert leftovers(d) == NOTHING


def test_sighup_after_the_terminal_is_gone_still_heals_and_writes_the_results(tmp_path):
    # the run's output goes to a terminal (a pty) that is closed before the hangup: every
    # line printed after it fails (EIO), as when an SSH session drops
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "harness.cli", "run", str(suite(tmp_path, "t1"))]
    p = subprocess.Popen(
        [*argv, "--results", str(tmp_path / "results")],
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        d = wait_for(lambda: next(iter((tmp_path / "results" / "t1").glob("2*")), None))
        wait_for(lambda: a_fault_in_force(d))
    finally:
        os.close(master)
    p.send_signal(signal.SIGHUP)
    assert p.wait(timeout=60) == 2
    results = json.loads((d / "results.json").read_text())
    assert results["interrupted"] is True and results["signal"] == "SIGHUP"
    assert results["exit_code"] == 2
    assert_every_partition_healed_in_the_history(history(d))
    assert leftovers(d) == NOTHING


GATE = '''
"""A checker that waits, so that a test can act while the checkers run: it says it started
(SB_GATE_DIR/started) and waits until SB_GATE_DIR/open exists."""
import os, time
from pathlib import Path

from checkers.base import Result
from harness.registry import CheckerInfo


class Gate:
    def check(self, history, ctx):
        d = Path(os.environ["SB_GATE_DIR"])
        (d / "started").write_text(str(len(history)))
        deadline = time.monotonic() + 50
        while not (d / "open").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return Result(True, [], {"ops": len(history)})


GATE = CheckerInfo("gate", "waits until the test opens the gate", lambda options: Gate())
'''


@pytest.fixture
def gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A checker plugin, installed the way a third-party one is (an entry point of
    ``splitbrain.checkers``), on the PYTHONPATH of the runs of this test and of this test."""
    site = tmp_path / "site"
    (site / "sb_gate-0.1.dist-info").mkdir(parents=True)
    (site / "sb_gate.py").write_text(GATE)
    meta = site / "sb_gate-0.1.dist-info"
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: sb-gate\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text("[splitbrain.checkers]\ngate = sb_gate:GATE\n")
    (tmp_path / "gate").mkdir()
    monkeypatch.syspath_prepend(str(site))
    registry.refresh()  # this process may have read the entry points before
    yield tmp_path / "gate"
    monkeypatch.undo()
    registry.refresh()


def test_ctrl_c_while_the_checkers_run_writes_interrupted_results_and_a_complete_rerun_line(
    tmp_path, gate
):
    # the suite says 5 nodes, a 30 s limit and no bug; the command line changes all of them
    path = suite(tmp_path, "t1", nodes=5, checkers="[linearizable, gate]")
    overrides = ["--nodes", "3", "--time-limit", "2", "--seed", "11", "--bug", "early-ack"]
    run = Run(tmp_path, path, tmp_path / "results", *overrides, "--cluster", "local")
    wait_for(lambda: (gate / "started").exists(), run, timeout=50)
    d = run.run_dir()
    assert leftovers(d) == NOTHING  # the checkers run after the teardown
    run.p.send_signal(signal.SIGINT)
    assert run.wait() == 2, run.output
    assert "Traceback" not in run.output
    results = json.loads((d / "results.json").read_text())
    assert results["interrupted"] is True and results["valid"] == "unknown"
    assert results["error"] == "interrupted while checking: no verdict"
    assert results["op_counts"]["ok"] > 0

    # the run again line makes the same test: every override is in it
    rerun = results["rerun"]
    assert f"run again: {rerun}" in run.stdout
    argv = shlex.split(rerun)
    assert argv[:2] == ["splitbrain", "run"]
    args = _parser().parse_args(argv[1:])
    (suite_file,) = args.suite  # run takes several suites: the rerun names one
    (test,) = [t for t in load_suite(suite_file).tests if t.name in args.test]
    ran = yaml.safe_load((d / "spec.yaml").read_text())
    del ran["rerun"]
    # what ran is the suite's test with the command line's overrides, resolved as a run
    # resolves it (the system's default port filled in)
    assert spec_to_dict(prepare(_override(test, args)).spec) == ran
    assert ran["cluster"]["nodes"] == 3 and ran["system"]["bugs"] == ["early-ack"]


@pytest.fixture
def create_lock() -> Iterator[None]:
    """Hold the lock the local backend takes to make a cluster: a run's setup waits on it."""
    from clusters import prefix

    with prefix.create_lock():
        yield


def test_a_run_interrupted_during_setup_checks_nothing_and_says_so(tmp_path, create_lock):
    run = Run(tmp_path, suite(tmp_path, "t1"), tmp_path / "results")
    d = run.run_dir()
    wait_for(lambda: (d / "harness.log").exists() and "seed" in (d / "harness.log").read_text())
    run.p.send_signal(signal.SIGINT)  # the setup waits for the lock this test holds
    assert run.wait() == 2, run.output
    assert "Traceback" not in run.output
    assert "t1: UNKNOWN" in run.stdout
    assert "nothing was checked" in run.stdout
    assert "linearizable: valid" not in run.stdout
    assert "history up to the interruption was checked" not in run.stdout
    results = json.loads((d / "results.json").read_text())
    assert results["interrupted"] is True and results["checkers"] == {}
    assert results["exit_code"] == 2
    assert not (d / "history.jsonl").exists()
    assert not (d / "cluster.json").exists() or leftovers(d) == NOTHING


# -- full and read-only disks ------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs for --results."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> None:
    """Write zeros on ``disk`` until no byte more fits."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 4096, 1):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)


def assert_a_clear_storage_message(run: Run, why: str) -> None:
    assert why in run.output, run.output
    assert "Traceback" not in run.output and "Logging error" not in run.output, run.output


def test_a_full_disk_at_setup_fails_the_setup_cleanly(tmp_path, small_disk):
    fill(small_disk)
    run = Run(tmp_path, suite(tmp_path, "t1"), small_disk)
    assert run.wait() == 4, run.output
    assert_a_clear_storage_message(run, "the disk is full")
    assert "t1: SETUP FAILED: cannot write" in run.stdout
    assert partial_files(small_disk) == []
    assert not list(small_disk.rglob("cluster.json"))  # no cluster was made


def test_a_full_disk_mid_run_stops_the_run_heals_and_leaves_no_partial_files(tmp_path, small_disk):
    run = Run(tmp_path, suite(tmp_path, "t1", checkers="[stats]"), small_disk)
    d = run.run_dir()
    wait_for(lambda: a_fault_in_force(d), run)
    fill(small_disk)
    assert run.wait() == 2, run.output
    assert_a_clear_storage_message(run, "the disk is full")
    assert f"cannot write {d / 'history.jsonl'}" in run.output
    assert "t1: UNKNOWN" in run.stdout
    assert partial_files(small_disk) == []
    assert leftovers(d) == NOTHING


def test_a_full_disk_at_the_end_keeps_the_verdict_on_screen_and_no_partial_files(
    tmp_path, small_disk, gate
):
    path = suite(tmp_path, "t1", checkers="[stats, gate]")
    run = Run(tmp_path, path, small_disk, "--time-limit", "2")
    wait_for(lambda: (gate / "started").exists(), run, timeout=50)
    d = run.run_dir()
    fill(small_disk)
    (gate / "open").touch()
    assert run.wait() == 2, run.output
    assert_a_clear_storage_message(run, "the disk is full")
    assert f"cannot write {d / 'results.json'}" in run.stdout
    assert "t1: UNKNOWN" in run.stdout and "  gate: valid" in run.stdout
    assert partial_files(small_disk) == []
    assert not (d / "results.json").exists()
    assert leftovers(d) == NOTHING
    assert_every_partition_healed_in_the_history(history(d))


def test_a_read_only_test_directory_fails_the_setup_with_a_clear_message(tmp_path):
    # a read-only --results itself is refused up front (exit 3, by the command line); here
    # the results root can be written but the test's own directory is a read-only mount
    results = tmp_path / "results"
    ro = results / "t1"
    ro.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], check=True)
    try:
        run = Run(tmp_path, suite(tmp_path, "t1"), results)
        assert run.wait() == 4, run.output
        assert_a_clear_storage_message(run, "the file system is read-only")
        assert f"t1: SETUP FAILED: cannot create the run directory {ro}/" in run.stdout
        assert list(ro.iterdir()) == []
        assert partial_files(results) == []
        assert (results / "intr-junit.xml").exists()
    finally:
        subprocess.run(["umount", str(ro)], check=False)
