"""A Node whose commands and daemons run on this host, for the tests of Systems on 127.0.0.1.

Several members of a system share the one address, so a System gives each its own ports
(``free_base_port``) and the node its own work directory.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from clusters.base import Completed
from clusters.local import group_members, wait_stopped


class HostNode:
    """A Node whose commands and daemons run on this host, in ``workdir``, on 127.0.0.1.
    ``spawned_env`` is the environment the last ``spawn`` added."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.address = "127.0.0.1"
        self.workdir = str(workdir)
        self.python = sys.executable
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.spawned_env: dict[str, str] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    def exec(self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True) -> Completed:
        r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{argv} exited {r.returncode}: {r.stderr}")
        return Completed(tuple(argv), r.returncode, r.stdout, r.stderr)

    def spawn(self, name, argv, env=None, cwd=None) -> int:
        self.spawned_env = dict(env or {})
        with open(Path(self.workdir) / f"{name}.log", "ab") as log:
            p = subprocess.Popen(
                list(argv),
                env={**os.environ, **(env or {})},
                cwd=cwd or self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = p
        return p.pid

    def signal(self, name: str, sig: signal.Signals) -> bool:
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return False
        os.killpg(p.pid, sig)
        if sig == signal.SIGKILL:
            p.wait(5)
        elif sig == signal.SIGSTOP:  # as a LocalNode: returns once every thread is stopped
            wait_stopped(group_members(p.pid))
        return True

    def alive(self, name: str) -> bool:
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def put(self, local, remote) -> None:
        if Path(local).is_dir():
            shutil.copytree(local, remote, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(local, remote)

    def get(self, remote, local) -> None:
        shutil.copy(remote, local)


def free_base_port(n: int) -> int:
    """A port p such that p .. p+n-1 are free now, drawn from below the kernel's ephemeral
    range: a port from that range (what binding port 0 gives) can be taken as the source port
    of another node's outgoing connection while a daemon is down between a kill and its
    restart, which then fails with "Address already in use"."""
    low = _ephemeral_low()
    for _ in range(200):
        base = random.randrange(max(1024, low - 16384), low - n)
        socks = []
        try:
            for i in range(n):
                t = socket.socket()
                socks.append(t)
                t.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise RuntimeError("no free port range")


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
