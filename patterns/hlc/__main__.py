"""``python3 -m patterns.hlc``: run one hybrid-logical-clock node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, count, ms, serve
from .node import BUGS, HlcNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "hlc",
    "A hybrid logical clock node (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        count(
            "max-offset-ms",
            500,
            "refuse a message stamped more than this far ahead of the local clock; 0: no "
            "guard (default 500)",
            arg="max_offset_ms",
        ),
        ms("rpc-timeout-ms", 300, "per message to a peer (default 300)", arg="rpc_timeout"),
    ),
    node=HlcNode,
)

if __name__ == "__main__":
    serve(PATTERN)
