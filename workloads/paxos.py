"""The CASPaxos register (``patterns/paxos``) as a System (``workloads.daemon.PatternSystem``).

The Paxos register speaks the Raft store's client protocol, so it runs the ``register``
workload (``workloads/register.py``) with the Raft client, and is checked against the
cas-register model, key by key.
"""

from __future__ import annotations

from typing import Any

from workloads.daemon import PatternSystem
from workloads.raft import RaftClient

__all__ = ["PAXOS_BUGS", "register"]

PAXOS_BUGS = {
    "forget-promise": "acceptors keep promises in memory only: after a restart they promise, "
    "and accept, ballots below ones they already accepted, so older values come back; shown "
    "by killing every node (kill target 'all', or 'majority') while clients keep using the "
    "same keys",
    "local-read": "reads are answered from the local acceptor's value without a Paxos round; "
    "shown by a partition that cuts a node or a minority off while the rest keep writing "
    "(shapes 'one', 'halves'): stale reads",
}


def register() -> list[Any]:
    """The ``paxos`` system: runs the ``register`` workload with the Raft client."""
    from harness.spec import SystemSpec, WorkloadSpec
    from workloads.registry import Option, SystemInfo, ms

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
            options=(
                ms("request_timeout_ms", 1000, "how long a client request may take"),
                ms("rpc_timeout_ms", 500, "how long one prepare or accept waits"),
                Option("no_forward", bool, False, "propose on the node asked, not the key's home"),
            ),
        )
    ]
