"""The queue checker on small hand-written histories: for each rule one history that keeps it
and one that breaks it, the words a person gets for the broken one, and agreement with the
linearizability checker's fifo-queue model where both apply."""

from __future__ import annotations

from typing import Any

import pytest

from checkers.linearizable import LinearizableChecker
from checkers.queue import QueueChecker
from checkers.queue_at_least_once import AtLeastOnceQueueChecker
from harness.history import Op


class History:
    """Builds a history: ``call`` adds an invocation and its completion right after it;
    ``invoke`` / ``complete`` interleave them. Each op is 1 ms after the one before."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.open: dict[int, Op] = {}

    def invoke(self, process: int, f: str, value: Any = None, node: str = "n1") -> None:
        op = Op("invoke", f, value, process, node=node)
        self.open[process] = op
        self._add(op)

    def complete(self, process: int, type: str, value: Any = None) -> None:
        self._add(self.open.pop(process).complete(type, value))

    def call(
        self, process: int, f: str, value: Any, type: str, result: Any = None, node: str = "n1"
    ) -> None:
        self.invoke(process, f, value, node)
        self.complete(process, type, value if result is None else result)

    def enqueue(self, process: int, v: Any, type: str = "ok") -> None:
        self.call(process, "enqueue", v, type)

    def dequeue(self, process: int, v: Any, node: str = "n1") -> None:
        self.call(process, "dequeue", None, "ok", v, node=node)

    def audit(self, queue: list[Any] = (), inflight: list[Any] = ()) -> None:  # type: ignore[assignment]
        value = {
            "node": "n1",
            "applied": 99,
            "queue": [[i, v] for i, v in enumerate(queue)],
            "inflight": [[i, v, "c-1"] for i, v in enumerate(inflight)],
            "acked": 0,
        }
        self.call(9, "audit", None, "ok", value)

    def _add(self, op: Op) -> None:
        op.index = len(self.ops)
        op.time = op.index * 1_000_000
        self.ops.append(op)


def check(h: History, ctx: dict[str, Any] | None = None, **options: Any) -> Any:
    return QueueChecker(**options).check(h.ops, ctx or {})


def names(result: Any) -> list[str]:
    return [a.name for a in result.anomalies]


def fifo_model(h: History) -> Any:
    return LinearizableChecker(model="fifo-queue", time_budget_s=10).check(h.ops, {}).valid


def test_every_acknowledged_message_delivered_queued_or_in_flight_is_accounted_for() -> None:
    h = History()
    for v in (1, 2, 3, 4):
        h.enqueue(0, v)
    h.enqueue(0, 5, "info")  # may or may not be in the queue: either is fine
    h.dequeue(1, 1)
    h.call(2, "dequeue", None, "info")  # it took 2; the audit lists 2 in flight
    h.call(3, "drain", None, "ok", [3])
    h.audit(queue=[4], inflight=[2])
    result = check(h)
    assert result.valid is True, [a.explanation for a in result.anomalies]
    assert result.details["enqueued_ok"] == 4 and result.details["deliveries"] == 2


def test_an_acknowledged_message_nobody_got_and_the_queue_lost_is_reported() -> None:
    h = History()
    h.enqueue(0, 1)
    h.call(4, "enqueue", 2, "ok", node="n3")
    h.dequeue(1, 1)
    h.audit()
    result = check(h)
    assert names(result) == ["lost-message"]
    text = result.anomalies[0].explanation
    assert text.startswith("n3 (process 4) had enqueue 2 acknowledged at 0.003 s, but no dequeue")
    assert "holds it neither queued nor in flight" in text
    assert "only be acknowledged once a majority holds it" in text


def test_a_message_delivered_to_two_consumers_is_delivered_twice() -> None:
    h = History()
    h.enqueue(0, 1)
    h.dequeue(1, 1, node="n2")
    h.dequeue(2, 1, node="n4")
    h.audit()
    result = check(h)
    assert names(result) == ["delivered-twice"]
    text = result.anomalies[0].explanation
    assert text.startswith(
        "n4 (process 2) got message 1 at 0.005 s, after n2 (process 1) had got it at 0.003 s: "
        "delivered twice."
    )
    assert "at most once" in text and "a timeout that put an unacknowledged message back" in text
    assert fifo_model(h) is False  # the model agrees: the queue had one 1
    # a contract of at least once allows it
    assert check(h, at_least_once=True).valid is True


def test_a_delivered_message_still_queued_at_the_end_would_be_delivered_again() -> None:
    h = History()
    h.enqueue(0, 1)
    h.dequeue(1, 1)
    h.audit(queue=[1])
    result = check(h)
    assert names(result) == ["delivered-twice"]
    assert "the final audit still lists it as queued" in result.anomalies[0].explanation


def test_a_delivery_of_what_was_never_enqueued_or_whose_enqueue_failed_is_unexpected() -> None:
    h = History()
    h.enqueue(0, 1)
    h.dequeue(1, 1)
    h.audit()
    assert check(h).valid is True

    h.enqueue(0, 2, "fail")
    h.dequeue(1, 2)
    h.dequeue(1, 3)
    h.audit()
    result = check(h)
    assert names(result) == ["unexpected-message", "unexpected-message"]
    texts = [a.explanation for a in result.anomalies]
    assert any(
        t.startswith("n1 (process 1) got 2 from a dequeue at")
        and "its enqueue by process 0 failed definitely" in t
        for t in texts
    )
    assert any("got 3 from a" in t and "no enqueue ever sent it" in t for t in texts)


def test_fifo_order_between_sequential_enqueues_and_dequeues() -> None:
    ok = History()
    ok.enqueue(0, 1)
    ok.enqueue(0, 2)
    ok.dequeue(1, 1)
    ok.dequeue(1, 2)
    ok.audit()
    assert check(ok).valid is True and fifo_model(ok) is True

    bad = History()
    bad.enqueue(0, 1)
    bad.enqueue(0, 2)
    bad.dequeue(1, 2)
    bad.dequeue(2, 1)
    bad.audit()
    result = check(bad)
    assert names(result) == ["out-of-order"]
    text = result.anomalies[0].explanation
    assert text.startswith(
        "n1 (process 1) got 2 at 0.005 s, before the dequeue that got 1 even began (n1 "
        "(process 2), at 0.006 s), yet 1 was enqueued (acknowledged at 0.001 s) before the "
        "enqueue of 2 began (0.002 s): out of FIFO order."
    )
    assert "1 was ahead and had to come out" in text
    assert fifo_model(bad) is False


@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_concurrent_enqueues_may_come_out_in_either_order(order: tuple[int, int]) -> None:
    h = History()
    h.invoke(0, "enqueue", 1)
    h.invoke(1, "enqueue", 2)
    h.complete(0, "ok", 1)
    h.complete(1, "ok", 2)
    h.dequeue(2, order[0])
    h.dequeue(2, order[1])
    h.audit()
    assert check(h).valid is True and fifo_model(h) is True


def test_overlapping_dequeues_may_complete_in_either_order() -> None:
    h = History()
    h.enqueue(0, 1)
    h.enqueue(0, 2)
    h.invoke(1, "dequeue")
    h.invoke(2, "dequeue")
    h.complete(2, "ok", 2)  # 2 came out first, but the dequeue that got 1 had begun already
    h.complete(1, "ok", 1)
    h.audit()
    assert check(h).valid is True and fifo_model(h) is True


def test_without_an_audit_loss_cannot_be_told_and_the_verdict_is_unknown() -> None:
    h = History()
    h.enqueue(0, 1)
    h.enqueue(0, 2)
    h.dequeue(1, 1)
    result = check(h)
    assert result.valid == "unknown"
    assert "cannot be told lost from still queued" in result.details["reason"]


def test_the_sentence_names_nodes_processes_value_and_wall_clock() -> None:
    h = History()
    h.enqueue(0, 1)
    h.dequeue(1, 1, node="n2")
    h.dequeue(2, 1, node="n4")
    h.audit()
    (a,) = check(h, {"time_zero_ms": 1_767_225_600_000}).anomalies  # 2026-01-01T00:00:00Z
    assert a.explanation.split(". ")[0] == (
        "n4 (process 2) got message 1 at 0.005 s (00:00:00.005Z), after n2 (process 1) had got "
        "it at 0.003 s (00:00:00.003Z): delivered twice"
    )


def test_the_at_least_once_queue_names_the_lost_message_its_node_and_wall_clock() -> None:
    h = History()
    h.call(4, "enqueue", 2, "ok", node="n3")
    h.dequeue(1, 1)
    h.enqueue(0, 1)
    h.audit()
    r = AtLeastOnceQueueChecker().check(h.ops, {"time_zero_ms": 1_767_225_600_000})
    lost = next(a for a in r.anomalies if a.name == "lost-message")
    assert lost.explanation.startswith(
        "n3 (process 4) had enqueue 2 acknowledged at 0.001 s (00:00:00.001Z), but no dequeue "
        "ever returned it and the final audit of n1 (applied index 99) holds it neither queued "
        "nor in flight: an acknowledged message was lost."
    )
