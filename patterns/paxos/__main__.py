"""``python3 -m patterns.paxos``: run one CASPaxos node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, ms, serve, switch
from .node import BUGS, PaxosNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "paxos",
    "A CASPaxos register node (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms(
            "request-timeout-ms",
            1000,
            "how long a client request may take, retries included (default 1000)",
            arg="request_timeout",
        ),
        ms(
            "rpc-timeout-ms",
            500,
            "how long one prepare or accept waits for an acceptor (default 500)",
            arg="rpc_timeout",
        ),
        switch(
            "no-forward",
            "propose on the node the client asked instead of forwarding to the key's home",
            arg="forward",
            convert=lambda no_forward: not no_forward,
        ),
    ),
    node=PaxosNode,
)

if __name__ == "__main__":
    serve(PATTERN)
