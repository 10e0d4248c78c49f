"""Every reference pattern's workloads, end to end without the command line: the System and
the clients made by the registrations (clients with the System, which gives each its node's
port), the workload's generators with typed options, driven by the runner against a real
one-node daemon on this host."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from hostnode import HostNode, free_base_port

from harness.generator import clients_and_nemesis, limit, phases
from harness.history import Journal
from harness.registry import (
    NoOptions,
    SystemInfo,
    WorkloadInfo,
    declared,
    lookup,
    parse_options,
)
from harness.runner import Runner, Worker
from harness.spec import SystemSpec, WorkloadSpec

# (system, workload, workload spec keys): every client a pattern registers
PAIRS = [
    ("raft", "register", {}),
    ("paxos", "register", {}),
    ("leaderfollower", "register", {}),
    ("leaderfollower", "log", {"mix": {"read": 2, "write": 2, "read-log": 1, "truncate": 0.1}}),
    ("lock", "lock", {"options": {"writes": 1}}),
    ("lease", "lease", {}),
    ("election", "election", {}),
    ("queue", "queue", {"mix": {"enqueue": 3, "dequeue": 2, "ack": 2}, "options": {"hold": 0}}),
    ("twophase", "list-append", {}),
    ("twophase", "bank", {"options": {"accounts": 3, "initial_balance": 20}}),
]

#: the systems whose workload's ops succeed only once the node leads (or holds a lease)
LEADS = {"lease", "election"}


@pytest.mark.parametrize(("system_name", "workload_name", "given"), PAIRS)
def test_a_patterns_workload_runs_against_its_daemon(
    system_name: str, workload_name: str, given: dict[str, Any], tmp_path
) -> None:
    sysinfo: SystemInfo = lookup(SystemInfo, system_name, "system")
    winfo: WorkloadInfo = lookup(WorkloadInfo, workload_name, "workload")
    node = HostNode("n1", tmp_path / "n1")
    system = sysinfo.make(
        SystemSpec(name=system_name, port=free_base_port(1)),
        [node],
        parse_options(sysinfo.options, {}, system_name),
    )
    wspec = WorkloadSpec(name=workload_name, concurrency=3, rate=0, timeout=2.0, **given)
    client_cls = sysinfo.client_options.get(workload_name, NoOptions)
    client_keys = {o.name for o in declared(client_cls)} & set(wspec.options)
    client_options: Any = parse_options(
        client_cls, {k: wspec.options[k] for k in client_keys}, "the client"
    )
    wopts: Any = parse_options(
        winfo.options, {k: v for k, v in wspec.options.items() if k not in client_keys}, "w"
    )
    main, final = winfo.generators(wspec, wopts)
    make_client = sysinfo.clients[workload_name]

    def open_client() -> Any:
        client = make_client(wspec, client_options, system)
        client.open(node)
        return client

    try:
        system.setup(node)
        if system_name in LEADS:  # acts are refused until the node leads / holds a lease
            deadline = time.monotonic() + 20
            while not system.primaries([node]) and time.monotonic() < deadline:
                time.sleep(0.05)
        t0 = time.monotonic_ns()
        journal = Journal(tmp_path / "history.jsonl", lambda: time.monotonic_ns() - t0)
        steps = [clients_and_nemesis(limit(60, main), None)]
        if final is not None:
            steps.append(clients_and_nemesis(final, None))
        workers = [Worker(node.name, open_client) for _ in range(wspec.concurrency)]
        runner = Runner(phases(*steps), journal, workers, seed=1, timeout=wspec.timeout)
        runner.run()
        assert not runner.errors
    finally:
        node.signal(system_name, signal.SIGKILL)
    done = [o for o in journal.ops if o.type != "invoke"]
    assert len(done) == len(journal.ops) // 2 >= 60
    assert runner.stats.timed_out == 0
    answered = {o.f for o in done if o.type in ("ok", "fail") and "connect" not in str(o.error)}
    # every kind of op the workload drew got a definite answer from the daemon at least once
    assert answered == {o.f for o in journal.ops if o.type == "invoke"}, [
        (o.f, o.type, o.error) for o in done if o.type != "ok"
    ][:10]
    assert any(o.type == "ok" and o.f != "status" for o in done)
