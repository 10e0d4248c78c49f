"""The CASPaxos register (``patterns/paxos``) as a System, and ``PatternSystem``, the System
of any reference pattern that runs as ``python3 -m patterns.<module>`` with the shared
command line (the leader-follower log and the queue use it too).

The Paxos register speaks the Raft store's client protocol, so it runs the ``register``
workload (``workloads/register.py``) with the Raft client, and is checked against the
cas-register model, key by key.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping, Sequence
from typing import Any

from clusters.base import Node, SetupError
from workloads.raft import DEFAULT_PORT, RaftClient, RaftSystem, node_status

__all__ = ["PAXOS_BUGS", "PatternSystem", "register"]

PAXOS_BUGS = {
    "forget-promise": "acceptors keep promises in memory only: after a restart they promise, "
    "and accept, ballots below ones they already accepted, so older values come back; shown "
    "by killing every node (kill target 'all', or 'majority') while clients keep using the "
    "same keys",
    "local-read": "reads are answered from the local acceptor's value without a Paxos round; "
    "shown by a partition that cuts a node or a minority off while the rest keep writing "
    "(shapes 'one', 'halves'): stale reads",
}


class PatternSystem(RaftSystem):
    """A reference pattern ``patterns/<module>`` on every node: installed, started with
    ``--id --listen --peers --data`` (plus ``--bug`` for each seeded bug, and ``options`` as
    ``--key value`` flags: ``{"visibility_ms": 800}`` becomes ``--visibility-ms 800``),
    killed, paused and asked for its primaries (the nodes whose ``status`` says
    ``role: leader``) as ``RaftSystem`` does for Raft. Its daemon is named after the
    module: log ``<workdir>/<module>.log``, data ``<workdir>/<module>-data``."""

    def __init__(
        self,
        module: str,
        bugs: Sequence[str] = (),
        port: int = DEFAULT_PORT,
        *,
        nodes: Sequence[Node] | None = None,
        options: Mapping[str, Any] | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        self.module = module
        super().__init__(
            bugs, port, nodes=nodes, ready_timeout=ready_timeout,
            extra_args=_flags(options or {}),
        )  # fmt: skip

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.workdir}/{self.module}.log"]

    def kill(self, node: Node) -> None:
        node.signal(self.module, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while node.alive(self.module) and time.monotonic() < deadline:
            time.sleep(0.02)

    def start(self, node: Node) -> None:
        node.spawn(self.module, self._argv(node), env=self._env(node), cwd=self._code_dir(node))
        self._wait_ready(node)

    def pause(self, node: Node) -> None:
        node.signal(self.module, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        node.signal(self.module, signal.SIGCONT)

    def _argv(self, node: Node) -> list[str]:
        argv = super()._argv(node)
        argv[argv.index("patterns.raft")] = f"patterns.{self.module}"
        return argv

    def _data_dir(self, node: Node) -> str:  # type: ignore[override]
        return f"{node.workdir}/{self.module}-data"

    def _wait_ready(self, node: Node) -> None:
        port = self.port_of(node)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if node_status(node.address, port, timeout=0.5) is not None:
                return
            if not node.alive(self.module):
                break
            time.sleep(0.1)
        try:
            tail = node.exec(["tail", "-n", "20", self.log_files(node)[0]], check=False).stdout
        except Exception as e:  # noqa: BLE001 - the log tail only decorates the error
            tail = f"(could not read the log: {e})"
        state = "is running but" if node.alive(self.module) else "exited and"
        raise SetupError(
            f"{self.module} on {node.name} {state} did not answer status on "
            f"{node.address}:{port} within {self.ready_timeout:g}s; last lines of its log:\n{tail}"
        )


def _flags(options: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in options.items():
        flag = "--" + str(k).replace("_", "-")
        if v is True:
            out.append(flag)
        elif v not in (False, None):
            out += [flag, str(v)]
    return out


def register() -> list[Any]:
    """The ``paxos`` system: runs the ``register`` workload with the Raft client."""
    from harness.spec import SystemSpec, WorkloadSpec
    from workloads.registry import SystemInfo

    def make(spec: SystemSpec, nodes: list[Any]) -> PatternSystem:
        return PatternSystem("paxos", spec.bugs, spec.port, nodes=nodes, options=spec.options)

    def client(spec: WorkloadSpec) -> RaftClient:
        return RaftClient(timeout=spec.timeout)

    return [
        SystemInfo(
            "paxos",
            "reference CASPaxos register (patterns/paxos): read, write, cas per key, each a "
            "Paxos round; no leader",
            PAXOS_BUGS,
            make,
            {"register": client},
        )
    ]
