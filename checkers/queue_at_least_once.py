"""``queue-at-least-once``: the queue checker for a queue that may deliver an entry twice
(ZooKeeper's LockingQueue recipe hands a taken entry out again when its consumer's session
ends before it consumes it).

No acknowledged enqueue may be lost and nothing unexpected may come out; duplicates are
allowed (counted in ``details``: ``deliveries`` above ``delivered_values``), and order is not
checked: a redelivered entry comes out after later ones.
"""

from __future__ import annotations

from checkers.queue import QueueChecker
from harness.registry import CheckerInfo, NoOptions

__all__ = ["AT_LEAST_ONCE", "AtLeastOnceQueueChecker"]


class AtLeastOnceQueueChecker(QueueChecker):
    """``QueueChecker`` with duplicates allowed and order not checked."""

    name = "queue-at-least-once"

    def __init__(self, *, max_per_rule: int = 5) -> None:
        super().__init__(at_least_once=True, fifo=False, max_per_rule=max_per_rule)


def _make(options: NoOptions) -> AtLeastOnceQueueChecker:
    return AtLeastOnceQueueChecker()


AT_LEAST_ONCE = CheckerInfo(
    "queue-at-least-once",
    "queue, at-least-once delivery (ZooKeeper's LockingQueue): no acknowledged enqueue lost, "
    "nothing unexpected; duplicates allowed (counted), order not checked",
    _make,
)
