"""Every bad input, through the real command line: exit 3, one line naming the file / line /
key or flag, the bad value and what is allowed, and nothing created (no run directory, no
namespace, no process).

Each case writes its input files into an empty directory, runs ``splitbrain`` there as a
subprocess with ``--results results`` (for ``run``), and checks the exit code, that stderr is
one line holding every expected fragment, that the directory holds nothing but the inputs,
and that no network namespace or process of this run is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clusters.paths import run_dir

ROOT = Path(__file__).resolve().parents[2]

OK = "tests:\n  - name: a\n"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    words: tuple[str, ...]  # every one must be in the one line of stderr
    files: dict[str, bytes | str] = field(default_factory=dict)  # bytes, "dir" or "fifo"
    code: int = 3


def suite(body: str, *words: str, extra: tuple[str, ...] = (), id: str) -> Case:
    """A case running the suite ``body`` (s.yaml), with ``extra`` flags."""
    return Case(id, ("run", "s.yaml", *extra), words, {"s.yaml": body.encode()})


def one_test(body: str) -> str:
    """A suite of one test named ``a``, with ``body`` (indented test keys) added."""
    return OK + "".join(f"    {line}\n" for line in body.splitlines())


HISTORY = b'{"index":0,"time":1,"type":"invoke","process":0,"f":"read","value":null}\n'

CASES = [
    # -- the suite file itself ----------------------------------------------------------------
    Case("suite-missing", ("run", "nope.yaml"), ("nope.yaml", "no such file", "a YAML file")),
    Case(
        "suite-is-a-directory",
        ("run", "d"),
        ("d: cannot read the suite file: it is a directory", "expected a YAML file"),
        {"d": "dir"},
    ),
    Case(
        "suite-is-a-fifo",
        ("run", "f.yaml"),
        ("f.yaml: cannot read the suite file: it is a FIFO", "expected a YAML file"),
        {"f.yaml": "fifo"},
    ),
    Case(
        "suite-is-a-device",
        ("run", "/dev/null"),
        ("/dev/null: cannot read the suite file: it is a character device",),
    ),
    Case(
        "suite-not-utf8",
        ("run", "s.yaml"),
        ("s.yaml:2: not UTF-8 text: byte 0xe9", "a YAML file in UTF-8"),
        {"s.yaml": b"tests:\n  - name: caf\xe9\n"},
    ),
    suite("tests: [a\n", "s.yaml:2: not valid YAML", id="suite-not-yaml"),
    suite("", "s.yaml:1: the suite is empty", "expected a mapping with 'tests'", id="suite-empty"),
    suite("suite: x\n", "missing key 'tests'", id="suite-without-tests"),
    suite(
        "suit: x\n" + OK,
        "s.yaml:1 at 'suit'",
        "unknown key 'suit'; allowed: defaults, suite, tests",
        id="unknown-top-key",
    ),
    suite(
        one_test("colour: red"),
        "s.yaml:3 at 'tests[0].colour'",
        "unknown key; allowed: checkers, cluster,",
        "(in test 'a')",
        id="unknown-test-key",
    ),
    suite("defaults: [1]\n" + OK, "s.yaml:1 at 'defaults'", "a mapping", id="defaults-list"),
    suite(OK + "  - name: a\n", "s.yaml:3 at 'tests[1].name'", "used twice", id="name-twice"),
    # -- numbers: finite, in range, of the right type -------------------------------------------
    suite(
        one_test("time_limit: .inf"),
        "s.yaml:3 at 'tests[0].time_limit'",
        "expected a finite number, got '.inf'",
        id="time-limit-inf",
    ),
    suite(
        one_test("time_limit: .nan"),
        "s.yaml:3 at 'tests[0].time_limit'",
        "expected a finite number, got '.nan'",
        id="time-limit-nan",
    ),
    suite(
        one_test("time_limit: -5"),
        "s.yaml:3 at 'tests[0].time_limit'",
        "got -5.0; need a finite number of seconds > 0",
        id="time-limit-negative",
    ),
    suite(
        one_test("workload: {rate: .inf}"),
        "s.yaml:3 at 'tests[0].workload.rate'",
        "expected a finite number, got '.inf'",
        id="rate-inf",
    ),
    suite(
        one_test("cluster: {nodes: 1000}"),
        "s.yaml:3 at 'tests[0].cluster.nodes'",
        "got 1000; the local backend makes 1 to 200 nodes",
        id="nodes-1000",
    ),
    suite(
        one_test("cluster: {backend: docker, nodes: 201}"),
        "at 'tests[0].cluster.nodes'",
        "got 201; the docker backend makes 1 to 200 nodes",
        id="docker-nodes-201",
    ),
    suite(
        one_test("cluster: {nodes: 0}"),
        "s.yaml:3 at 'tests[0].cluster.nodes'",
        "got 0; need at least 1 node",
        id="nodes-0",
    ),
    suite(
        one_test("cluster: {nodes: five}"),
        "s.yaml:3 at 'tests[0].cluster.nodes'",
        "expected an integer, got 'five'",
        id="nodes-a-word",
    ),
    suite(
        one_test("cluster: {backend: k8s}"),
        "at 'tests[0].cluster.backend'",
        "unknown cluster backend 'k8s'; allowed: docker, local, ssh",
        id="backend-unknown",
    ),
    suite(
        one_test("system: {name: raft, port: 70000}"),
        "at 'tests[0].system.port'",
        "got 70000; need a TCP port from 1 to 65535",
        id="port-too-big",
    ),
    suite(
        one_test("nemesis: {loss: 2}"),
        "at 'tests[0].nemesis.loss'",
        "the loss fault's 'probability': got 2.0; need a number from 0.001 to 1",
        id="loss-above-1",
    ),
    suite(
        one_test("nemesis: {faults: [fire]}"),
        "at 'tests[0].nemesis.faults'",
        "unknown fault 'fire'; allowed: ",
        "kill, lose-unfsynced, loss, membership, partition, pause",
        id="fault-unknown",
    ),
    suite(
        one_test("system: etcd\nnemesis: {faults: [partition, clock]}"),
        "at 'tests[0].nemesis.faults'",
        "the clock fault cannot reach etcd: etcd is a Go program",
        id="fault-clock-on-etcd",
    ),
    suite(
        one_test("system: redis\nnemesis: {faults: [drift]}"),
        "at 'tests[0].nemesis.faults'",
        "the drift fault cannot reach redis: redis-server hangs at start under libfaketime",
        id="fault-drift-on-redis",
    ),
    suite(
        OK + "  - name: b\n    cluster: {backend: ssh, nodes: 3, hosts: [{address: 10.0.0.1}]}\n",
        "s.yaml:4 at 'tests[1].cluster.hosts'",
        "cluster.nodes is 3 but only 1 ssh host(s) are listed",
        "(in test 'b')",
        id="ssh-too-few-hosts-in-the-second-test",
    ),
    suite(
        one_test("cluster: {backend: ssh, inventory: hosts.yaml}"),
        "s.yaml:3 at 'tests[0].cluster.inventory'",
        "inventory hosts.yaml: cannot read it",
        id="ssh-inventory-missing",
    ),
    # -- names, resolved against the registries, in every test ----------------------------------
    suite(
        one_test("system: raftt"),
        "s.yaml:3 at 'tests[0].system.name'",
        "unknown system 'raftt'; allowed: ",
        "raft, redis",
        id="system-unknown",
    ),
    suite(
        OK + "  - name: b\n    system: {name: raft, bugs: [stale-reads]}\n",
        "s.yaml:4 at 'tests[1].system.bugs'",
        "raft has no seeded bug 'stale-reads'; allowed: stale-read, early-ack",
        "(in test 'b')",
        id="bug-typo-in-the-second-test",
    ),
    suite(
        one_test("workload: regster"),
        "s.yaml:3 at 'tests[0].workload.name'",
        "unknown workload 'regster'; allowed: ",
        " register,",
        id="workload-unknown",
    ),
    suite(
        one_test("workload: {name: queue, mix: {enqueue: 1}}"),
        "at 'tests[0].workload.name'",
        "raft has no client for workload 'queue'; it runs: register",
        id="workload-the-system-cannot-run",
    ),
    suite(
        one_test("checkers: [linearisable]"),
        "s.yaml:3 at 'tests[0].checkers'",
        "unknown checker 'linearisable'; allowed: ",
        " linearizable,",
        id="checker-unknown",
    ),
    # -- the mix: only the workload's ops -------------------------------------------------------
    suite(
        one_test("workload: {mix: {read: 1, delete: 1}}"),
        "s.yaml:3 at 'tests[0].workload.mix'",
        "the register workload has no op 'delete'; allowed: read, write, cas",
        id="mix-unknown-op",
    ),
    suite(
        one_test("workload: {mix: {read: 0}}"),
        "at 'tests[0].workload.mix'",
        "weights must be >= 0 and not all 0",
        id="mix-all-zero",
    ),
    suite(
        one_test("system: queue\nworkload: queue"),
        "at 'tests[0].workload.mix'",
        "the queue workload has no op 'cas', 'read', 'write'; allowed: enqueue, dequeue, ack",
        "the default mix",
        id="mix-default-for-the-queue",
    ),
    # -- options of systems and workloads, as each declares them --------------------------------
    suite(
        one_test("system: {name: etcd, options: {read: serializable}}"),
        "s.yaml:3 at 'tests[0].system.options.read'",
        "the etcd system has no option 'read'; allowed: binary, election_ms, extra_args, "
        "heartbeat_ms, members_wait_s, reads",
        id="etcd-option-typo",
    ),
    suite(
        one_test("system: {name: etcd, options: {reads: eventual}}"),
        "at 'tests[0].system.options.reads'",
        "got 'eventual'; allowed: linearizable, serializable",
        id="etcd-option-bad-value",
    ),
    suite(
        one_test("system: {name: raft, options: {heartbeat_ms: fast}}"),
        "at 'tests[0].system.options.heartbeat_ms'",
        "expected an integer, got 'fast'",
        id="raft-option-wrong-type",
    ),
    suite(
        one_test("system: {name: raft, options: {election_ms: '600'}}"),
        "at 'tests[0].system.options.election_ms'",
        "got '600'; expected MIN-MAX, e.g. 300-600",
        id="raft-option-not-a-range",
    ),
    suite(
        one_test("system: {name: twophase, options: {lock_wait_ms: 0}}\nworkload: bank"),
        "at 'tests[0].system.options.lock_wait_ms'",
        "got 0; need a number >= 1",
        id="twophase-option-below-minimum",
    ),
    suite(
        # (the register workload has one, status_every: redis' set workload has none)
        one_test("system: {name: redis}\nworkload: {name: set, options: {sync: true}}"),
        "at 'tests[0].workload.options.sync'",
        "the set workload on redis has no option 'sync'; allowed: none",
        id="workload-option-on-a-workload-with-none",
    ),
    suite(
        one_test("system: etcd\nworkload: {name: lock, options: {fencng: true}}"),
        "at 'tests[0].workload.options.fencng'",
        "has no option 'fencng'; allowed: fencing, hold_ms, lease_ttl, reads, writes",
        id="lock-option-typo",
    ),
    suite(
        one_test("system: lock\nworkload: {name: lock, options: {reads: 2}}"),
        "at 'tests[0].workload.options.reads'",
        "got 2; need a number from 0 to 1",
        id="lock-option-out-of-range",
    ),
    suite(
        one_test("system: zookeeper\nworkload: {options: {sync: maybe}}"),
        "at 'tests[0].workload.options.sync'",
        "expected true or false, got 'maybe'",
        id="zookeeper-option-not-a-bool",
    ),
    suite(
        one_test("system: etcd\nworkload: {name: watch, concurrency: 3, options: {watchers: 3}}"),
        "at 'tests[0].workload'",
        "'watchers' must be at least 1 and less than concurrency (3), got 3",
        id="watchers-not-below-concurrency",
    ),
    # -- flags of run ---------------------------------------------------------------------------
    suite(
        OK,
        "--nodes: got 1000; the local backend makes 1 to 200",
        "(in test 'a')",
        extra=("--nodes", "1000"),
        id="flag-nodes-1000",
    ),
    suite(
        OK,
        "argument --nodes: expected an integer >= 1, got '0'",
        extra=("--nodes", "0"),
        id="flag-nodes-0",
    ),
    suite(
        OK,
        "argument --time-limit: expected a finite number of seconds > 0, got 'nan'",
        extra=("--time-limit", "nan"),
        id="flag-time-limit-nan",
    ),
    suite(
        OK,
        "argument --time-limit: expected a finite number of seconds > 0, got 'inf'",
        extra=("--time-limit", "inf"),
        id="flag-time-limit-inf",
    ),
    suite(
        OK,
        "argument --time-limit: expected a finite number of seconds > 0, got '-3'",
        extra=("--time-limit=-3",),
        id="flag-time-limit-negative",
    ),
    suite(
        OK,
        "argument --seed: expected an integer, got 'abc'",
        extra=("--seed", "abc"),
        id="flag-seed-not-a-number",
    ),
    suite(
        OK,
        "argument --cluster: invalid choice: 'k8s'",
        "'docker', 'local', 'ssh'",
        extra=("--cluster", "k8s"),
        id="flag-cluster-unknown",
    ),
    suite(
        OK,
        "--bug: raft has no seeded bug 'nope'; allowed: stale-read",
        "(in test 'a')",
        extra=("--bug", "nope"),
        id="flag-bug-unknown",
    ),
    suite(
        OK,
        "--test: no test named 'zz' in s.yaml; it has: a",
        extra=("--test", "zz"),
        id="flag-test-unknown",
    ),
    suite(OK, "unrecognized arguments: --colour", extra=("--colour", "red"), id="flag-unknown"),
    suite(
        OK,
        "--inventory: inventory hosts.yaml: cannot read it",
        extra=("--cluster", "ssh", "--inventory", "hosts.yaml"),
        id="flag-inventory-missing",
    ),
    Case("no-subcommand", (), ("splitbrain: the following arguments are required: command",)),
    Case("unknown-subcommand", ("frobnicate",), ("invalid choice: 'frobnicate'",)),
    Case("run-without-a-suite", ("run",), ("the following arguments are required: suite",)),
    # -- the results root -----------------------------------------------------------------------
    Case(
        "results-is-a-file",
        ("run", "s.yaml", "--results", "out"),
        ("--results: out: it is a file, not a directory", "expected a results directory"),
        {"s.yaml": OK.encode(), "out": b"not a directory\n"},
    ),
    Case(
        "results-below-a-file",
        ("run", "s.yaml", "--results", "out/runs"),
        ("--results: out/runs: out is a file, not a directory",),
        {"s.yaml": OK.encode(), "out": b"not a directory\n"},
    ),
    # -- check: the history and its flags ------------------------------------------------------
    Case(
        "history-missing",
        ("check", "h.jsonl"),
        ("h.jsonl: cannot read the history: no such file", "expected a history file (jsonl, edn"),
    ),
    Case(
        "history-is-a-directory",
        ("check", "h"),
        ("h: cannot read the history: it is a directory",),
        {"h": "dir"},
    ),
    Case(
        "history-is-a-fifo",
        ("check", "h.jsonl"),
        ("h.jsonl: cannot read the history: it is a FIFO",),
        {"h.jsonl": "fifo"},
    ),
    Case(
        "history-is-binary",
        ("check", "h.jsonl"),
        ("h.jsonl: cannot read the history: it is binary (a NUL byte at offset 3)",),
        {"h.jsonl": b"\x89PN\x00\x01\x02"},
    ),
    Case(
        "history-not-utf8",
        ("check", "h.edn"),
        ("h.edn: cannot read the history: it is not UTF-8 text (byte 0xe9 at offset 22)",),
        {"h.edn": b"{:type :invoke :f :caf\xe9 :value nil}\n"},
    ),
    Case(
        "check-time-budget-negative",
        ("check", "h.jsonl", "--time-budget=-1"),
        ("argument --time-budget: expected a finite number of seconds > 0, got '-1'",),
        {"h.jsonl": HISTORY},
    ),
    Case(
        "check-time-budget-nan",
        ("check", "h.jsonl", "--time-budget", "nan"),
        ("argument --time-budget: expected a finite number of seconds > 0, got 'nan'",),
        {"h.jsonl": HISTORY},
    ),
    Case(
        "check-format-unknown",
        ("check", "h.jsonl", "--format", "csv"),
        ("argument --format: invalid choice: 'csv'", "'jsonl'"),
        {"h.jsonl": HISTORY},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_3_with_one_line_and_creates_nothing(case: Case, tmp_path: Path) -> None:
    for name, content in case.files.items():
        path = tmp_path / name
        if content == "dir":
            path.mkdir()
        elif content == "fifo":
            os.mkfifo(path)
        else:
            assert isinstance(content, bytes)
            path.write_bytes(content)
    before = _snapshot(tmp_path)
    namespaces = _namespaces()
    argv = list(case.argv)
    if argv[:1] == ["run"] and "--results" not in argv:
        argv += ["--results", "results"]
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,  # a FIFO opened for reading would block: fail, not hang
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == case.code, r.stderr
    assert len(lines) == 1, r.stderr
    for word in case.words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert _snapshot(tmp_path) == before  # no run directory, no results root, nothing else
    assert not (tmp_path / "results").exists()
    assert _ours(_namespaces() - namespaces, tmp_path) == set()
    assert _processes_in(tmp_path) == []


def test_a_results_root_that_cannot_be_written_exits_3_and_stays_empty(tmp_path: Path) -> None:
    """An immutable directory (``chattr +i``): not writable even by root."""
    (tmp_path / "s.yaml").write_text(OK)
    locked = tmp_path / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        r = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", "s.yaml", "--results", "locked/runs"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
        assert r.returncode == 3, r.stderr
        line = r.stderr.strip()
        assert "\n" not in line
        assert line.startswith("splitbrain: --results: locked/runs: locked (where it would be "
                               "made) cannot be written"), line  # fmt: skip
        assert "expected a directory this user can write" in line
        assert list(locked.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)


def test_there_are_at_least_40_bad_inputs() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


# -- what a run would leave behind ---------------------------------------------------------------


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _namespaces() -> set[str]:
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return {line.split()[0] for line in r.stdout.splitlines() if line.strip()}


def _ours(new: set[str], root: Path) -> set[str]:
    """Of namespaces that appeared meanwhile, those this run may have left: its prefix's lock
    names ``root``, or no lock holds it at all (other tests run beside this one, each holding
    its prefix's lock in the run directory, clusters.paths.run_dir(), while its namespaces
    exist)."""
    ours = set()
    for ns in new:
        lock = run_dir() / f"{ns.split('-')[0]}.lock"
        try:
            note = lock.read_text()
        except OSError:
            note = ""
        if not note or str(root) in note:
            ours.add(ns)
    return ours


def _processes_in(root: Path) -> list[str]:
    """Command lines of live processes that name ``root`` (a daemon a run started there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmd:
            found.append(cmd)
    return found


# -- the declarations those checks read --------------------------------------------------------


def test_every_builtin_system_and_workload_declares_its_options_and_mix() -> None:
    from harness import registry

    for s in registry.systems().values():
        registry.declared(s.options)  # a dataclass of option() fields, or a TypeError
        for workload, cls in s.client_options.items():
            assert workload in s.clients, (s.name, workload)
            registry.declared(cls)
    for w in registry.workloads().values():
        registry.declared(w.options)
    for kind in registry.GROUPS:
        assert not registry.broken(kind), registry.broken(kind)


PATTERN_SYSTEMS = [
    "raft", "leaderfollower", "paxos", "queue", "lock", "lease", "election", "twophase",
    "lamport", "hlc", "vclock", "clocksync", "crdt", "actor", "emergent",
]  # fmt: skip


@pytest.mark.parametrize("system", PATTERN_SYSTEMS)
def test_a_pattern_daemon_takes_every_option_its_system_declares(system: str) -> None:
    """The declared options of a reference pattern, at their defaults, passed on as flags as
    ``daemon.option_flags`` does, are exactly what the daemon's own parser takes: a
    declaration that drifts from the daemon would pass validation and fail at setup."""
    import argparse
    import importlib

    from harness.registry import declared, systems
    from workloads.daemon import option_flags

    info = systems()[system]
    declared_options = declared(info.options)
    assert declared_options
    given = {o.name: o.default for o in declared_options if o.default is not None}
    given.update({o.name: True for o in declared_options if o.type is bool})
    main = importlib.import_module(f"patterns.{system}.__main__")
    parser = argparse.ArgumentParser(exit_on_error=False)
    main.PATTERN.add_arguments(parser)
    ns = parser.parse_args(option_flags(given))
    daemon_options = {a.dest for a in parser._actions if a.dest != "help"}
    assert {o.name for o in declared_options} == daemon_options
    for name, value in given.items():
        parsed = getattr(ns, name)
        assert parsed == value or (
            isinstance(parsed, tuple) and "-".join(map(str, parsed)) == value
        )
