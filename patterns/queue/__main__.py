"""``python3 -m patterns.queue``: run one node of the replicated queue (see the package
docstring)."""

from __future__ import annotations

from .._runtime import Pattern, ms, serve
from ..raft import FLAGS as RAFT_FLAGS
from .node import BUGS, QueueNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "queue",
    "A replicated queue node (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        *RAFT_FLAGS,
        ms(
            "visibility-ms",
            1000,
            "with --bug redeliver-on-timeout: how long a message may stay unacknowledged "
            "before it is handed out again (default 1000)",
            arg="visibility",
        ),
    ),
    node=QueueNode,
)

if __name__ == "__main__":
    serve(PATTERN)
