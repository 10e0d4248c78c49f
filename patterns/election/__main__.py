"""``python3 -m patterns.election``: run one election node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, ms, ms_range, serve
from .node import BUGS, ElectionNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "election",
    "A leader election node (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms("heartbeat-ms", 50, "leader heartbeat interval", arg="heartbeat"),
        ms_range(
            "election-ms",
            (300, 600),
            "randomized election timeout range (default 300-600)",
            arg="election",
        ),
        ms("retry-ms", 100, "vote requests asked again after", arg="retry"),
        ms("rpc-timeout-ms", 200, "per request to a peer", arg="rpc_timeout"),
    ),
    node=ElectionNode,
)

if __name__ == "__main__":
    serve(PATTERN)
