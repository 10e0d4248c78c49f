"""The Raft store's timing flags, which the patterns built on ``RaftNode`` (the lock, the
leader-follower log, the queue) take too, with the same names and defaults; and the names of
its watches' seeded bugs (``--bug``)."""

from __future__ import annotations

from .._runtime import ms, ms_range

__all__ = ["FLAGS", "WATCH_BUGS"]

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

#: the seeded bugs of the store's watches (``watch.py``), on top of Raft's own (``node.BUGS``)
WATCH_BUGS: dict[str, str] = {
    "watch-resume-now": "a resumed watch (rewatch) starts at the node's current revision, not "
    "after the last revision its client saw",
    "watch-before-commit": "watches deliver log entries once appended, before they commit",
    "watch-rearm-late": "a watch is one-shot: disarmed when a poll returns events, re-armed at "
    "the current revision by the next poll",
}
