"""``python3 -m patterns.lamport``: run one Lamport-clock node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, count, ms, serve
from .node import BUGS, LamportNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "lamport",
    "A node that stamps its events with a Lamport clock (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms(
            "rpc-timeout-ms",
            500,
            "how long a send waits for the receiver (default 500)",
            arg="rpc_timeout",
        ),
        count(
            "reserve",
            1000,
            "how far ahead of the clock its durable ceiling is written (default 1000)",
            arg="reserve",
        ),
    ),
    node=LamportNode,
)

if __name__ == "__main__":
    serve(PATTERN)
