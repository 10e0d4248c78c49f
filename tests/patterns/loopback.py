"""Reference-pattern daemons as real processes on 127.0.0.1, for the pattern tests.

``LoopbackCluster`` starts ``python -m patterns.<name>`` once per node, each with its own port,
data directory and log file, and talks to each through ``patterns._runtime.RpcClient``. A test
module subclasses it for the requests its pattern answers and makes clusters through
``clusters(tmp_path, ...)``, which kills every process at the end of the test and prints the
tail of every log (pytest shows it when the test failed).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from patterns._runtime import RpcClient, RpcError

ROOT = Path(__file__).resolve().parents[2]

C = TypeVar("C", bound="LoopbackCluster")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 (all held open while choosing, then closed),
    drawn from below the kernel's ephemeral range: a port from that range (what binding port
    0 gives) can be taken, before its node starts, as the source port of another node's
    outgoing connection, and the node then fails to bind it."""
    low = _ephemeral_low()
    candidates = random.sample(range(max(1024, low - 16384), low), min(low - 1024, 64 * n))
    socks: list[socket.socket] = []
    try:
        for port in candidates:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            if len(socks) == n:
                return [s.getsockname()[1] for s in socks]
        raise RuntimeError(f"no {n} free ports below {low}")
    finally:
        for s in socks:
            s.close()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 50 ms until it is true; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class LoopbackCluster:
    """``n`` nodes of ``patterns.<module>`` on loopback, named n1..nN."""

    module = ""  # set by each subclass: "raft", "election", ...

    def __init__(
        self, tmp: Path, n: int = 3, bugs: Sequence[str] = (), args: Sequence[str] = ()
    ) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.names = [f"n{i + 1}" for i in range(n)]
        self.ports = dict(zip(self.names, free_ports(n), strict=True))
        self.bugs = tuple(bugs)
        self.args = list(args)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rpcs: dict[str, RpcClient] = {}

    def peers(self, ports: dict[str, int] | None = None) -> str:
        return ",".join(f"{n}=127.0.0.1:{p}" for n, p in (ports or self.ports).items())

    def start(self, name: str, *, ports: dict[str, int] | None = None) -> None:
        """Start (or restart, on the same data) node ``name`` and wait until it answers
        status; ``ports`` overrides every member's port for this process (its own too)."""
        ports = ports or self.ports
        argv = [
            sys.executable,
            "-m",
            f"patterns.{self.module}",
            "--id",
            name,
            "--listen",
            f"127.0.0.1:{ports[name]}",
            "--peers",
            self.peers(ports),
            "--data",
            str(self.tmp / name),
            *self.args,
        ]
        for b in self.bugs:
            argv += ["--bug", b]
        with open(self.tmp / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if name in self.rpcs:
            self.rpcs[name].close()
        self.rpcs[name] = RpcClient(("127.0.0.1", ports[name]), timeout=3.0)
        wait(lambda: self.status(name) is not None, 10, f"{name} to answer status")

    def start_all(self: C) -> C:
        for name in self.names:
            self.start(name)
        return self

    def signal(self, name: str, sig: signal.Signals) -> None:
        os.killpg(self.procs[name].pid, sig)
        if sig == signal.SIGKILL:
            self.procs[name].wait(5)

    def kill(self, *names: str) -> None:
        for name in names:
            self.signal(name, signal.SIGKILL)

    def alive(self) -> list[str]:
        return [n for n in self.names if n in self.procs and self.procs[n].poll() is None]

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        for r in self.rpcs.values():
            r.close()

    def call(self, name: str, req: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
        return self.rpcs[name].call(req, timeout=timeout)

    def status(self, name: str) -> dict[str, Any] | None:
        """The node's status, or None when it does not answer within 0.5 s."""
        try:
            return self.call(name, {"type": "status"}, timeout=0.5)["value"]
        except RpcError:
            return None

    def state(self, name: str) -> dict[str, Any]:
        """The node's status; the test fails if the node does not answer."""
        st = self.status(name)
        assert st is not None, f"{name} did not answer status"
        return st

    def leader(
        self,
        among: list[str] | None = None,
        timeout: float = 10.0,
        *,
        is_leader: Callable[[dict[str, Any]], bool] | None = None,
    ) -> str:
        """The one node of ``among`` (default: the live ones) whose status says it leads and
        has committed in its term (``is_leader`` overrides that test); waits for exactly one."""
        test = is_leader or (lambda st: st.get("role") == "leader" and st.get("commit", 0) > 0)
        found: list[str] = []

        def one() -> bool:
            found[:] = [n for n in among or self.alive() if (st := self.status(n)) and test(st)]
            return len(found) == 1

        wait(one, timeout, "one leader")
        return found[0]

    def log_tails(self, chars: int = 3000) -> str:
        out = []
        for name in self.names:
            log = self.tmp / f"{name}.log"
            if log.exists():
                out.append(f"--- {log} ---\n" + log.read_text(errors="replace")[-chars:])
        return "\n".join(out)


@contextmanager
def clusters(tmp_path: Path, kind: type[C], args: Sequence[str] = ()) -> Iterator[Callable[..., C]]:
    """A factory ``make(n=3, bugs=(), extra=(), start=True)`` of ``kind`` clusters started
    with ``args + extra``; every process is killed on exit, then the logs' tails printed."""
    made: list[C] = []

    def make(
        n: int = 3, bugs: Sequence[str] = (), extra: Sequence[str] = (), start: bool = True
    ) -> C:
        c = kind(tmp_path / f"c{len(made)}", n, bugs, [*args, *extra])
        made.append(c)
        return c.start_all() if start else c

    try:
        yield make
    finally:
        for c in made:
            c.stop_all()
        for c in made:
            print(c.log_tails())
