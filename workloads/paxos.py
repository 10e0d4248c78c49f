"""The CASPaxos register (``patterns/paxos``) as a System (``workloads.daemon.PatternSystem``).

The Paxos register speaks the Raft store's client protocol, so it runs the ``register``
workload (``workloads/register.py``) with the Raft client, and is checked against the
cas-register model, key by key. ``PAXOS`` registers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clusters.base import Node
from harness.registry import SystemInfo, option
from harness.spec import SystemSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.options import ms
from workloads.raft import register_client

__all__ = ["PAXOS", "PAXOS_BUGS", "PaxosOptions"]

PAXOS_BUGS = {
    "forget-promise": "acceptors keep promises in memory only: after a restart they promise, "
    "and accept, ballots below ones they already accepted, so older values come back; shown "
    "by killing every node (kill target 'all', or 'majority') while clients keep using the "
    "same keys",
    "local-read": "reads are answered from the local acceptor's value without a Paxos round; "
    "shown by a partition that cuts a node or a minority off while the rest keep writing "
    "(shapes 'one', 'halves'): stale reads",
}


@dataclass(frozen=True)
class PaxosOptions:
    """The Paxos daemon's flags (``system.options``)."""

    request_timeout_ms: int = ms(1000, "how long a client request may take")
    rpc_timeout_ms: int = ms(500, "how long one prepare or accept waits")
    no_forward: bool = option(False, "propose on the node asked, not the key's home")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: PaxosOptions) -> PatternSystem:
    return make_pattern("paxos", spec, nodes, options)


PAXOS = SystemInfo(
    name="paxos",
    description="reference CASPaxos register (patterns/paxos): read, write, cas per key, each "
    "a Paxos round; no leader",
    make=_make,
    clients={"register": register_client},
    bugs=PAXOS_BUGS,
    options=PaxosOptions,
    default_port=DEFAULT_PORT,
)
