"""``python3 -m patterns.actor``: run one actor-model node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, ms, serve
from .node import BUGS, ActorNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "actor",
    "A node of virtual actors with a replicated directory (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms(
            "request-timeout-ms",
            1200,
            "how long a client's message may take, redeliveries included (default 1200)",
            arg="request_timeout",
        ),
        ms(
            "forward-timeout-ms",
            500,
            "how long one delivery to the host waits before it is sent again (default 500)",
            arg="forward_timeout",
        ),
        ms(
            "rpc-timeout-ms",
            300,
            "how long a claim, write or fence waits for each acceptor (default 300)",
            arg="rpc_timeout",
        ),
        ms(
            "flush-ms",
            250,
            "how often the persist-after-reply bug writes state behind (default 250)",
            arg="flush",
        ),
    ),
    node=ActorNode,
)

if __name__ == "__main__":
    serve(PATTERN)
