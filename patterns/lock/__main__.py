"""``python3 -m patterns.lock``: run one lock node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, ms, serve
from ..raft import FLAGS as RAFT_FLAGS
from .node import BUGS, LockNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "lock",
    "A lock service with fencing tokens and a protected storage (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms("ttl-ms", 1500, "lease of a grant (default 1500)", arg="ttl"),
        *RAFT_FLAGS,
        ms(
            "storage-timeout-ms",
            1000,
            "how long a write forwarded to the key's home may take (default 1000)",
            arg="storage_timeout",
        ),
    ),
    node=LockNode,
)

if __name__ == "__main__":
    serve(PATTERN)
