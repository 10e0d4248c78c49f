"""``python3 -m patterns.lease``: run one lease node (see the package docstring)."""

from __future__ import annotations

from .._runtime import Pattern, count, ms, ms_range, serve
from .node import BUGS, LeaseNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "lease",
    "A lease grantor and holder (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        count(
            "resources",
            8,
            "how many resources (r0..)",
            arg="resources",
            convert=lambda n: [f"r{i}" for i in range(n)],
        ),
        ms("lease-ms", 600, "lease time (default 600)", arg="lease"),
        ms("renew-ms", 150, "renewal period (default 150)", arg="renew"),
        ms(
            "margin-ms",
            None,
            "how much earlier than its lease a holder stops (default 30 + 2%% of the lease)",
            arg="margin",
        ),
        ms_range(
            "tenure-ms",
            (500, 1500),
            "how long a holder keeps renewing before it lets a lease lapse (default 500-1500)",
            arg="tenure",
        ),
        ms("rpc-timeout-ms", 200, "per request to a grantor", arg="rpc_timeout"),
    ),
    node=LeaseNode,
)

if __name__ == "__main__":
    serve(PATTERN)
