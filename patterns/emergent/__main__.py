"""``python3 -m patterns.emergent``: run one emergent-leader node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, count, ms, serve
from .node import BUGS, EmergentNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "emergent",
    "A node of a gossiped membership whose oldest live member leads (reference pattern of "
    "splitbrain).",
    bugs=BUGS,
    flags=(
        ms(
            "period-ms",
            200,
            "the protocol period: one probe per period (default 200)",
            arg="period",
        ),
        ms(
            "ping-timeout-ms",
            100,
            "how long a direct probe waits for its answer (default 100)",
            arg="ping_timeout",
        ),
        count(
            "indirect",
            2,
            "members asked to probe for us when a direct probe fails (default 2)",
            arg="indirect",
        ),
        ms(
            "suspect-ms",
            1000,
            "how long a suspicion lasts before the member is declared dead (default 1000)",
            arg="suspect_timeout",
        ),
        ms(
            "rpc-timeout-ms",
            250,
            "how long an act waits for each member's confirmation (default 250)",
            arg="rpc_timeout",
        ),
    ),  # fmt: skip
    node=EmergentNode,
)

if __name__ == "__main__":
    serve(PATTERN)
