"""``python3 -m patterns.leaderfollower``: run one node of the replicated log (see the
package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, serve
from ..raft import FLAGS as RAFT_FLAGS
from .node import BUGS, LogNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "leaderfollower",
    "A leader-follower replicated log node (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=RAFT_FLAGS,  # the same timing options as the Raft store
    node=LogNode,
)

if __name__ == "__main__":
    serve(PATTERN)
