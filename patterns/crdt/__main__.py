"""``python3 -m patterns.crdt``: run one CRDT replica (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, ms, serve
from .node import BUGS, CrdtNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "crdt",
    "A replica of conflict-free replicated data types (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms(
            "sync-ms",
            200,
            "gossip round: push to every peer, merge its answer (default 200)",
            arg="sync_interval",
        ),
        ms("rpc-timeout-ms", 300, "per gossip with a peer (default 300)", arg="rpc_timeout"),
        ms(
            "settle-ms",
            5000,
            "how long a settle request waits for the replicas to agree (default 5000)",
            arg="settle_timeout",
        ),
    ),
    node=CrdtNode,
)

if __name__ == "__main__":
    serve(PATTERN)
