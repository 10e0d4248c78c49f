"""``python3 -m patterns.pbft``: run one PBFT replica (see the package docstring)."""

from __future__ import annotations

from .._runtime import Flag, Pattern, count, ms, serve
from .node import BUGS, PbftNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "pbft",
    "A PBFT replica of a key-value register (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        Flag("secret", "splitbrain", "the run's secret the pairwise MAC keys derive from",
             arg="secret", parse=str),
        ms("request-timeout-ms", 1500, "how long a client request waits for its execution",
           arg="request_timeout"),
        ms("view-timeout-ms", 1000, "how long a backup waits for a request before it starts "
           "a view change (doubled for each view change that does not end)", arg="view_timeout"),
        ms("rpc-timeout-ms", 500, "how long a batch of messages to a peer may take",
           arg="rpc_timeout"),
        count("checkpoint-every", 16, "executions between two checkpoints",
              arg="checkpoint_every"),
        count("window", 256, "sequence numbers a replica accepts above its stable checkpoint",
              arg="window"),
    ),
    node=PbftNode,
)  # fmt: skip

if __name__ == "__main__":
    serve(PATTERN)
