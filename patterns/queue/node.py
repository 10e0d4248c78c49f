"""One node of the replicated queue: the Raft node's election and replication, with a queue
state machine (enqueue, dequeue, acknowledge) and, for a seeded bug, redelivery on timeout.

Every request that changes the queue is a log entry, applied on every node in log order, so
the queue is the same everywhere and a dequeue takes effect exactly when its entry commits.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from .._runtime import BAD_REQUEST, NodeConfig, error_reply, ok_reply
from ..raft import LEADER, RaftNode

__all__ = ["BUGS", "QueueNode"]

log = logging.getLogger("queue")

BUGS: dict[str, str] = {
    "redeliver-on-timeout": "a message not acknowledged within --visibility-ms is handed to "
    "the next consumer, although its first consumer may still be working on it",
    "unreplicated-dequeue": "the leader answers a dequeue as soon as the entry is in its own "
    "log, before a majority holds it",
}

#: error codes of the queue (both definite: nothing changed)
NOT_HELD = "not-held"
#: the most ids one ack may carry
MAX_ACK = 256


class QueueNode(RaftNode):
    """A Raft node whose state machine is a FIFO queue with acknowledgements."""

    def __init__(self, cfg: NodeConfig, *, visibility: float = 1.0, **raft: Any) -> None:
        super().__init__(cfg, **raft)
        self.visibility = visibility
        #: message id (the index of its enqueue entry) -> value, oldest first
        self.queue: OrderedDict[int, Any] = OrderedDict()
        #: message id -> [value, consumer, when it was handed out (this node's clock)]
        self.inflight: dict[int, list[Any]] = {}
        #: message id -> the consumer that acknowledged it (acks are idempotent)
        self.acked: dict[int, str] = {}
        #: the leader's messages handed out by dequeues not yet applied (unreplicated-dequeue)
        self.reserved: set[int] = set()
        self._requeued: set[int] = set()
        self.handlers.update(
            enqueue=self._on_enqueue,
            dequeue=self._on_dequeue,
            ack=self._on_ack,
            audit=lambda _msg: ok_reply(self._audit()),
            **dict.fromkeys(("read", "write", "cas"), _no_register),
        )
        if "redeliver-on-timeout" in self.bugs:
            self.every("redeliver", 0.05, self._redeliver)

    def on_leading(self) -> None:
        self.reserved.clear()  # reservations of an earlier term died with it

    # -- requests ----------------------------------------------------------------------

    def _on_enqueue(self, msg: dict[str, Any]) -> dict[str, Any]:
        if "value" not in msg:
            return error_reply(BAD_REQUEST, "an enqueue needs 'value'")
        cmd = {"op": "enqueue", "value": msg["value"]}
        return self.route(msg, lambda d: self.lead_write(cmd, d))

    def _on_dequeue(self, msg: dict[str, Any]) -> dict[str, Any]:
        consumer = msg.get("consumer")
        if not isinstance(consumer, str) or not consumer:
            return error_reply(BAD_REQUEST, "a dequeue needs 'consumer', a string")
        return self.route(msg, lambda d: self._lead_dequeue(consumer, d))

    def _on_ack(self, msg: dict[str, Any]) -> dict[str, Any]:
        consumer, ids = msg.get("consumer"), msg.get("ids")
        if (
            not isinstance(consumer, str)
            or not isinstance(ids, list)
            or not ids
            or len(ids) > MAX_ACK
            or not all(_is_int(i) for i in ids)
        ):
            return error_reply(
                BAD_REQUEST,
                f"an ack needs 'consumer' (a string) and 'ids' (1 to {MAX_ACK} message ids)",
            )
        cmd = {"op": "ack", "consumer": consumer, "ids": ids}
        return self.route(msg, lambda d: self.lead_write(cmd, d))

    def status(self) -> dict[str, Any]:
        st = super().status()
        with self.mu:
            st.update(queued=len(self.queue), inflight=len(self.inflight), acked=len(self.acked))
        return st

    def _audit(self) -> dict[str, Any]:
        with self.mu:
            return {
                "node": self.id,
                "applied": self.applied,
                "term": self.term,
                "queue": [[i, v] for i, v in self.queue.items()],
                "inflight": [[i, m[0], m[1]] for i, m in sorted(self.inflight.items())],
                "acked": len(self.acked),
            }

    # -- on the leader -----------------------------------------------------------------

    def _lead_dequeue(self, consumer: str, deadline: float) -> dict[str, Any]:
        if "unreplicated-dequeue" not in self.bugs:
            return self.lead_write({"op": "dequeue", "consumer": consumer}, deadline)
        with self.mu:
            if self.role != LEADER:
                return self.not_leader(self.leader)
            mid = next((i for i in self.queue if i not in self.reserved), None)
            if mid is None:
                return ok_reply(None)
            self.reserved.add(mid)
            value = self.queue[mid]
            index = self.append_local(
                [(self.term, {"op": "dequeue", "consumer": consumer, "id": mid})]
            )
            self.wake.notify_all()
        self.storage.sync(index)
        # the bug: the message is handed out now, while the entry that takes it off the
        # queue may never commit (a new leader still has it queued)
        return ok_reply({"id": mid, "value": value})

    def _redeliver(self) -> None:
        """(redeliver-on-timeout, every 50 ms) The leader puts back at the head of the queue
        every message handed out longer than ``visibility`` ago and not acknowledged."""
        with self.mu:
            if self.role != LEADER:
                return
            now = time.monotonic()
            late = [
                i
                for i, m in self.inflight.items()
                if now - m[2] > self.visibility and i not in self._requeued
            ]
            if not late:
                return
            self._requeued.update(late)
            index = self.append_local([(self.term, {"op": "requeue", "id": i}) for i in late])
            self.wake.notify_all()
            term = self.term
        log.info("redelivering %d message(s) not acknowledged in %.1fs", len(late), self.visibility)
        self.storage.sync(index)
        with self.mu:
            if self.role == LEADER and self.term == term:
                self.advance_commit()

    # -- the state machine (mu held, entries in log order) ------------------------------

    def execute(self, cmd: dict[str, Any]) -> dict[str, Any]:
        index = self.applied + 1
        op = cmd.get("op")
        if op == "enqueue":
            self.queue[index] = cmd["value"]
            return ok_reply({"id": index})
        if op == "dequeue":
            mid = cmd.get("id")
            if mid is None:
                mid = next(iter(self.queue), None)
            self.reserved.discard(mid)
            if mid is None or mid not in self.queue:
                return ok_reply(None)
            value = self.queue.pop(mid)
            self.inflight[mid] = [value, cmd["consumer"], time.monotonic()]
            return ok_reply({"id": mid, "value": value})
        if op == "ack":
            return self._apply_ack(cmd["consumer"], cmd["ids"])
        if op == "requeue":
            mid = int(cmd["id"])
            self._requeued.discard(mid)
            m = self.inflight.pop(mid, None)
            if m is not None:
                self.queue[mid] = m[0]
                self.queue.move_to_end(mid, last=False)
            return ok_reply(None)
        return super().execute(cmd)  # a leader's no-op

    def _apply_ack(self, consumer: str, ids: list[int]) -> dict[str, Any]:
        done, refused = [], []
        for mid in ids:
            m = self.inflight.get(mid)
            if m is not None and m[1] == consumer:
                del self.inflight[mid]
                self.acked[mid] = consumer
                done.append(mid)
            elif self.acked.get(mid) == consumer:
                done.append(mid)  # acknowledged before: nothing to do
            else:
                holder = (
                    f"held by {m[1]}"
                    if m is not None
                    else ("queued" if mid in self.queue else "not handed out")
                )
                refused.append([mid, holder])
        if not done:
            return error_reply(
                NOT_HELD,
                f"{consumer} holds none of {ids}: "
                + ", ".join(f"{i} is {why}" for i, why in refused),
                definite=True,
                refused=refused,
            )
        return ok_reply({"acked": done, "refused": refused})


def _no_register(msg: dict[str, Any]) -> dict[str, Any]:
    return error_reply(
        BAD_REQUEST,
        f"the queue has no {msg['type']!r}; it has enqueue, dequeue, ack, audit, status",
    )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
