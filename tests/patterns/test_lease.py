"""The lease pattern as real processes on 127.0.0.1: holders take turns under growing epochs,
a paused or clock-stepped holder stops acting, and the mechanism of each seeded bug."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from loopback import free_ports

from clusters import clock
from clusters.base import Completed, Node
from patterns._runtime import RpcClient, RpcError

ROOT = Path(__file__).resolve().parents[2]
LEASE_MS = 300
ARGS = [
    "--resources",
    "3",
    "--lease-ms",
    str(LEASE_MS),
    "--renew-ms",
    "80",
    "--tenure-ms",
    "5000-5000",
]


class LoopbackNode:
    """Just enough of a Node for ``clusters.clock``: commands run on this host."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name, self.address, self.workdir = name, "127.0.0.1", str(workdir)
        self.shares_filesystem = True

    def exec(self, argv: Sequence[str], *, timeout: float = 30, check: bool = True) -> Completed:
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"{argv} exited {p.returncode}: {p.stderr}")
        return Completed(tuple(argv), p.returncode, p.stdout, p.stderr)


class Nodes:
    """n lease nodes on loopback; ``faked`` nodes run under libfaketime."""

    def __init__(
        self,
        tmp: Path,
        n: int,
        bugs: tuple[str, ...],
        faked: Sequence[str],
        extra: Sequence[str] = (),
    ) -> None:
        self.tmp = tmp
        self.names = [f"n{i + 1}" for i in range(n)]
        self.ports = dict(zip(self.names, free_ports(n), strict=True))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rpcs: dict[str, RpcClient] = {}
        peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in self.ports.items())
        # LoopbackNode is the part of a Node that clusters.clock uses
        self.hosts = {n: cast(Node, LoopbackNode(n, tmp / n)) for n in self.names}
        for name in self.names:
            (tmp / name).mkdir(parents=True)
            env = dict(os.environ)
            if name in faked:
                clock.reset(self.hosts[name])
                env.update(clock.faketime_env(self.hosts[name]))
            argv = [
                sys.executable,
                "-m",
                "patterns.lease",
                "--id",
                name,
                "--listen",
                f"127.0.0.1:{self.ports[name]}",
                "--peers",
                peers,
                "--data",
                str(tmp / name / "data"),
                *ARGS,
                *extra,
            ]
            for b in bugs:
                argv += ["--bug", b]
            with open(tmp / f"{name}.log", "ab") as log:
                self.procs[name] = subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.rpcs[name] = RpcClient(("127.0.0.1", self.ports[name]), timeout=3.0)
        for name in self.names:
            wait(lambda name=name: self.status(name) is not None, 10, f"{name} to answer")

    def signal(self, name: str, sig: signal.Signals) -> None:
        os.killpg(self.procs[name].pid, sig)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGCONT)
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def status(self, name: str) -> dict[str, Any] | None:
        try:
            return self.rpcs[name].call({"type": "status"}, timeout=0.5)["value"]
        except RpcError:
            return None

    def act(self, name: str) -> list[list[Any]]:
        reply = self.rpcs[name].call({"type": "act"})
        return reply["value"] if reply["ok"] else []

    def holding(self, timeout: float = 5.0) -> tuple[str, str, int]:
        """Some (node, resource, epoch) being held now."""
        found: list[tuple[str, str, int]] = []

        def any_held() -> bool:
            for n in self.names:
                for r, e in self.act(n):
                    found.append((n, r, e))
                    return True
            return False

        wait(any_held, timeout, "some node to hold a lease")
        return found[0]

    def taken_over(self, resource: str, epoch: int, by_other_than: str) -> None:
        wait(
            lambda: any(
                r == resource and e > epoch
                for n in self.names
                if n != by_other_than
                for r, e in self.act(n)
            ),
            5,
            f"another node to hold {resource} under an epoch after {epoch}",
        )

    def act_at_resume(self, name: str) -> list[list[Any]]:
        """Ask a stopped node to act (the request waits in its socket), then let it go on:
        the answer is what it does the moment it runs again."""
        result: list[Any] = []
        rpc = RpcClient(("127.0.0.1", self.ports[name]), timeout=5.0)
        t = threading.Thread(target=lambda: result.append(rpc.call({"type": "act"})))
        t.start()
        time.sleep(0.2)
        self.signal(name, signal.SIGCONT)
        t.join(6)
        reply = result[0]
        return reply["value"] if reply["ok"] else []


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.03)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def nodes(tmp_path: Path) -> Any:
    made: list[Nodes] = []

    def make(
        bugs: tuple[str, ...] = (), faked: Sequence[str] = (), extra: Sequence[str] = ()
    ) -> Nodes:
        c = Nodes(tmp_path / f"c{len(made)}", 3, bugs, faked, extra)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
    for c in made:
        for name in c.names:
            log = c.tmp / f"{name}.log"
            if log.exists():
                print(f"--- {log} ---\n" + log.read_text()[-2000:])


needs_faketime = pytest.mark.skipif(
    clock.find_libfaketime() is None, reason="libfaketime is not installed"
)


def test_holders_take_turns_and_each_epoch_belongs_to_one_node(nodes: Any) -> None:
    c = nodes(extra=("--tenure-ms", "200-400"))  # short tenures: leases move all the time
    seen: dict[tuple[str, int], set[str]] = {}
    last_epoch: dict[str, int] = {}
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        for n in c.names:
            for r, e in c.act(n):
                seen.setdefault((r, e), set()).add(n)
                # once an epoch has acted, no earlier one acts again
                assert e >= last_epoch.get(r, 0), (
                    f"{n} acted under {r} {e} after epoch {last_epoch[r]}"
                )
                last_epoch[r] = e
        time.sleep(0.01)
    assert {r for r, _ in seen} == {"r0", "r1", "r2"}
    assert all(len(holders) == 1 for holders in seen.values()), seen
    moved = {
        r for r in last_epoch if len({n for (r2, _), ns in seen.items() if r2 == r for n in ns}) > 1
    }
    assert moved, f"no lease moved from one node to another in 3 s: {seen}"


def test_a_holder_paused_past_its_lease_stops_acting_when_it_resumes(nodes: Any) -> None:
    c = nodes()
    holder, resource, epoch = c.holding()
    c.signal(holder, signal.SIGSTOP)
    c.taken_over(resource, epoch, holder)
    acted = c.act_at_resume(holder)
    assert [resource, epoch] not in acted


def test_stale_flag_acts_on_after_a_pause_under_a_lease_another_node_holds(nodes: Any) -> None:
    c = nodes(bugs=("stale-flag",))
    holder, resource, epoch = c.holding()
    c.signal(holder, signal.SIGSTOP)
    c.taken_over(resource, epoch, holder)
    assert [resource, epoch] in c.act_at_resume(holder)


@needs_faketime
@pytest.mark.parametrize("bug", [None, "local-clock"])
def test_a_holder_whose_wall_clock_steps_back_keeps_acting_only_with_local_clock(
    nodes: Any, bug: str | None
) -> None:
    c = nodes(bugs=(bug,) if bug else (), faked=("n1", "n2", "n3"))
    holder, resource, epoch = c.holding()
    # the holder stops (so it cannot renew), its wall clock steps back 5 s, its lease passes on
    c.signal(holder, signal.SIGSTOP)
    clock.set_offset(c.hosts[holder], -5.0)
    c.taken_over(resource, epoch, holder)
    acted = c.act_at_resume(holder)
    time.sleep(0.3)  # well past its lease, and past two failed renewals
    acted += c.act(holder)
    if bug:
        assert [resource, epoch] in acted  # it believes its wall clock: 5 s of lease left
    else:
        assert [resource, epoch] not in acted
