"""The Raft store's timing flags, which the patterns built on ``RaftNode`` (the lock, the
leader-follower log, the queue) take too, with the same names and defaults."""

from __future__ import annotations

from .._runtime import ms, ms_range

__all__ = ["FLAGS"]

FLAGS = (
    ms("heartbeat-ms", 50, "leader heartbeat interval", arg="heartbeat"),
    ms_range(
        "election-ms",
        (300, 600),
        "randomized election timeout range (default 300-600)",
        arg="election",
    ),
    ms(
        "request-timeout-ms",
        1000,
        "how long a client request may wait for its outcome (default 1000)",
        arg="request_timeout",
    ),
)
