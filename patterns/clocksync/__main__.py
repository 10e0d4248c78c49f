"""``python3 -m patterns.clocksync``: run one clock-synchronization node (see the package
docstring)."""

from __future__ import annotations

from .._runtime import Pattern, count, ms, serve
from .node import BUGS, ClockSyncNode

__all__ = ["PATTERN"]

PATTERN = Pattern(
    "clocksync",
    "A clock-synchronization node, Cristian's reads and Marzullo's agreement against its "
    "peers (reference pattern of splitbrain).",
    bugs=BUGS,
    flags=(
        ms(
            "sync-ms",
            250,
            "between two rounds of reading the peers' clocks (default 250)",
            arg="sync",
        ),
        count(
            "max-drift-ppm",
            100_000,
            "the fastest or slowest a hardware clock may run, in "
            "parts per million of the true rate (default 100000: 10%%)",
            arg="max_drift_ppm",
        ),
        count(
            "clock-error-us",
            1000,
            "how far from the true time this node's hardware clock "
            "claims to be, in microseconds (default 1000)",
            arg="clock_error_us",
        ),
        ms("rpc-timeout-ms", 1000, "per read of a peer's clock (default 1000)", arg="rpc_timeout"),
        ms(
            "max-rtt-ms",
            2000,
            "a read whose round trip took longer is not used (default 2000)",
            arg="max_rtt",
        ),
    ),
    node=ClockSyncNode,
)

if __name__ == "__main__":
    serve(PATTERN)
