"""``python3 -m patterns.vclock``: run one replica of the multi-value store (see the package
docstring)."""

from __future__ import annotations

from .._runtime import Pattern, ms, serve
from .node import BUGS, VClockNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "vclock",
    "A replica of a Dynamo-style multi-value key-value store (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms(
            "sync-ms",
            100,
            "anti-entropy round: exchange with every peer (default 100)",
            arg="sync_interval",
        ),
        ms("rpc-timeout-ms", 300, "per exchange with a peer (default 300)", arg="rpc_timeout"),
        ms(
            "settle-ms",
            5000,
            "how long a settle request waits for the replicas to agree (default 5000)",
            arg="settle_timeout",
        ),
    ),
    node=VClockNode,
)

if __name__ == "__main__":
    serve(PATTERN)
