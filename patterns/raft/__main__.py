"""``python3 -m patterns.raft``: run one Raft node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, serve
from .flags import FLAGS
from .node import BUGS, RaftNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "raft",
    "A Raft key/value store node (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=FLAGS,
    node=RaftNode,
)

if __name__ == "__main__":
    serve(PATTERN)
