"""The invariants of a queue: nothing acknowledged is lost, nothing is delivered twice, and
messages come out in the order they went in.

The history this checker reads (``workloads/queue.py``; enqueued values are unique)::

    enqueue  v          ok: the queue took v;  fail: it certainly did not;  info: unknown
    dequeue  -> v       ok: v was handed to this consumer (None: the queue was empty)
    drain    -> [v...]  ok: each v was handed to this consumer (the final phase)
    audit    -> {"applied", "queue": [[id, v]...], "inflight": [[id, v, consumer]...]}
                        what the queue still holds after the test (the most advanced audit
                        is taken: the one with the highest applied index)

This is total-queue accounting (as Jepsen's ``total-queue``), with the final audit closing
the books: a message whose dequeue completed ``info`` is still listed in flight, so every
acknowledged enqueue is either delivered, queued or in flight, whatever went wrong. Rules,
each an anomaly name:

- ``lost-message``: an acknowledged enqueue's value was never delivered and the final audit
  holds it neither queued nor in flight.
- ``delivered-twice`` (unless ``at_least_once``): two ok dequeues returned the same value,
  or a delivered value is still queued at the end (it would be delivered again).
- ``unexpected-message``: a dequeue returned a value no enqueue sent, or whose enqueue
  certainly failed.
- ``out-of-order`` (when ``fifo``): a was enqueued before b was (a's enqueue completed before
  b's began), yet b was delivered before a was asked for (b's dequeue completed before the
  dequeue that got a began). A FIFO queue must hand a out first. This is the real-time part
  of linearizability against the ``fifo-queue`` model, checked without a search: the
  linearizability checker with that model agrees on small histories (see the tests), but a
  whole run is one partition of thousands of operations, and its search does not end (a
  60 s run, 2,027 enqueues and dequeues with 29 ``info``, passed a million search nodes in
  18 s), so this sweep, O(n log n), stands in for it.

Without an audit, loss cannot be told from "still queued": the result is then "unknown"
unless another rule already failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result, when
from harness.history import Op
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "QueueChecker", "QueueOptions"]


@dataclass(frozen=True)
class QueueOptions:
    """The queue checker's options."""

    at_least_once: bool = option(
        False, "delivery is at least once: duplicates allowed (counted), not an anomaly"
    )
    fifo: bool = option(True, "check first-in first-out order")
    max_per_rule: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "queue",
    "queue: no acknowledged enqueue lost, nothing delivered twice, FIFO order",
    lambda options: QueueChecker(
        at_least_once=options.at_least_once, fifo=options.fifo, max_per_rule=options.max_per_rule
    ),
    QueueOptions,
)

INF = float("inf")


class QueueChecker:
    """``at_least_once``: duplicates are allowed (the contract of a queue that redelivers);
    ``fifo``: check order. ``max_per_rule`` anomalies of each kind are kept (all counted)."""

    name = "queue"

    def __init__(
        self, *, at_least_once: bool = False, fifo: bool = True, max_per_rule: int = 5
    ) -> None:
        self.at_least_once = at_least_once
        self.fifo = fifo
        self.max_per_rule = max_per_rule

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        book = _Book(history)
        found: dict[str, list[Anomaly]] = {}
        rules = [_unexpected(book, ctx)]
        if not self.at_least_once:
            rules.append(_duplicates(book, ctx))
        if self.fifo:
            rules.append(_out_of_order(book, ctx))
        if book.audit is not None:
            rules.append(_lost(book, ctx))
        for anomalies in rules:
            for a in anomalies:
                found.setdefault(a.name, []).append(a)
        details: dict[str, Any] = {
            "enqueued_ok": len(book.enq_ok),
            "enqueued_unknown": sum(
                1 for p in book.enq.values() if p[1] is None or p[1].type == "info"
            ),
            "deliveries": sum(len(d) for d in book.deliveries.values()),
            "delivered_values": len(book.deliveries),
            "counts": {name: len(v) for name, v in found.items()},
        }
        if book.audit is not None:
            a = book.audit.value
            details.update(
                final_queued=len(book.queued),
                final_inflight=len(book.inflight),
                final_audit_of=a.get("node") or book.audit.node,
                final_applied=a.get("applied"),
            )
        anomalies = [a for name in sorted(found) for a in found[name][: self.max_per_rule]]
        if anomalies:
            return Result(False, anomalies, details)
        if book.audit is None:
            details["reason"] = (
                "no audit of the queue succeeded after the test, so a message never delivered "
                "cannot be told lost from still queued"
            )
            return Result("unknown", [], details)
        if not book.deliveries:
            details["reason"] = "no message was delivered: the run tested nothing"
            return Result("unknown", [], details)
        return Result(True, [], details)


class _Book:
    """Enqueues, deliveries and the final audit, by value."""

    def __init__(self, history: list[Op]) -> None:
        #: value -> (invocation, completion or None, positions (invoke, complete or INF))
        self.enq: dict[Any, tuple[Op, Op | None, tuple[float, float]]] = {}
        self.enq_ok: set[Any] = set()
        self.enq_failed: set[Any] = set()
        #: value -> [(invocation, completion, (invoke position, completion position))]
        self.deliveries: dict[Any, list[tuple[Op, Op, tuple[float, float]]]] = {}
        self.audit: Op | None = None
        pending: dict[Any, tuple[Op, int]] = {}
        audits: list[Op] = []
        for pos, op in enumerate(history):
            if not op.is_client:
                continue
            if op.type == "invoke":
                pending[op.process] = (op, pos)
                if op.f == "enqueue":
                    self.enq.setdefault(_key(op.value), (op, None, (pos, INF)))
                continue
            inv_pos = pending.pop(op.process, None)
            if inv_pos is None:
                continue
            inv, ipos = inv_pos
            if op.f == "enqueue":
                v = _key(inv.value)
                self.enq[v] = (inv, op, (ipos, pos if op.type == "ok" else INF))
                if op.type == "ok":
                    self.enq_ok.add(v)
                elif op.type == "fail":
                    self.enq_failed.add(v)
            elif op.type != "ok":
                continue
            elif op.f == "dequeue" and op.value is not None:
                self._deliver(op.value, inv, op, ipos, pos)
            elif op.f == "drain" and isinstance(op.value, list):
                for v in op.value:
                    self._deliver(v, inv, op, ipos, pos)
            elif op.f == "audit" and isinstance(op.value, dict):
                audits.append(op)
        if audits:
            self.audit = max(audits, key=lambda o: _int(o.value.get("applied")))
        self.queued: set[Any] = set()
        self.inflight: set[Any] = set()
        if self.audit is not None:
            self.queued = {
                _key(m[1])
                for m in self.audit.value.get("queue") or []
                if isinstance(m, list) and len(m) >= 2
            }
            self.inflight = {
                _key(m[1])
                for m in self.audit.value.get("inflight") or []
                if isinstance(m, list) and len(m) >= 2
            }

    def _deliver(self, v: Any, inv: Op, comp: Op, ipos: int, cpos: int) -> None:
        self.deliveries.setdefault(_key(v), []).append((inv, comp, (ipos, cpos)))


# -- the rules ------------------------------------------------------------------------------


def _lost(book: _Book, ctx: dict[str, Any]) -> list[Anomaly]:
    out = []
    assert book.audit is not None
    audit = book.audit
    where = (
        f"the final audit of {audit.value.get('node') or audit.node or '?'} (applied "
        f"index {audit.value.get('applied')})"
    )
    for v in sorted(book.enq_ok, key=repr):
        if v in book.deliveries or v in book.queued or v in book.inflight:
            continue
        inv, comp, _ = book.enq[v]
        assert comp is not None
        out.append(
            Anomaly(
                "lost-message",
                f"{_by(inv)} had enqueue {_show(v)} acknowledged at {_t(comp, ctx)}, but no "
                f"dequeue ever returned it and {where} holds it neither queued nor in flight: an "
                "acknowledged message was lost. An enqueue may "
                "only be acknowledged once a majority holds it, and a dequeue only takes a "
                "message off the queue when its own entry commits. Look at "
                f"{inv.node or 'the node'} and the leader around {_t(comp, ctx)}: a failover, a "
                "restart, a cut-off leader?",
                [inv.to_dict(), comp.to_dict(), audit.to_dict()],
                {"value": v},
            )
        )
    return out


def _duplicates(book: _Book, ctx: dict[str, Any]) -> list[Anomaly]:
    out = []
    for v, ds in book.deliveries.items():
        if len(ds) < 2 and v not in book.queued:
            continue
        first = ds[0]
        if len(ds) >= 2:
            second = ds[1]
            more = f", {len(ds)} deliveries in all" if len(ds) > 2 else ""
            what = (
                f"{_by(second[0])} got message {_show(v)} at {_t(second[1], ctx)}, after "
                f"{_by(first[0])} had got it at {_t(first[1], ctx)}: delivered twice{more}"
            )
            ops = [first[0].to_dict(), first[1].to_dict(), second[0].to_dict(), second[1].to_dict()]
        else:
            assert book.audit is not None
            what = (
                f"{_by(first[0])} got message {_show(v)} at {_t(first[1], ctx)}, and the final "
                "audit still lists it as queued, to be delivered again: delivered twice"
            )
            more = ""
            ops = [first[0].to_dict(), first[1].to_dict(), book.audit.to_dict()]
        out.append(
            Anomaly(
                "delivered-twice",
                f"{what}. The queue promises each message "
                "to one consumer, once (at most once): a message handed out stays with its "
                "consumer until acknowledged, however long that takes. Look for what handed it out "
                "again: a timeout that put an unacknowledged message back (was the first "
                "consumer's ack delayed by a fault?), or a leader that answered a dequeue whose "
                "entry never committed (was the first delivery made by a leader that was cut "
                "off?).",
                ops,
                {"value": v, "deliveries": len(ds)},
            )
        )
    return out


def _unexpected(book: _Book, ctx: dict[str, Any]) -> list[Anomaly]:
    out = []
    for v, ds in book.deliveries.items():
        if v in book.enq and v not in book.enq_failed:
            continue
        inv, comp, _ = ds[0]
        if v in book.enq_failed:
            einv, ecomp, _ = book.enq[v]
            why = (
                f"its enqueue by process {einv.process} failed definitely ("
                f"{ecomp.error if ecomp is not None else '?'}), so it was never in the queue"
            )
            ops = [
                einv.to_dict(),
                *([ecomp.to_dict()] if ecomp else []),
                inv.to_dict(),
                comp.to_dict(),
            ]
        else:
            why = "no enqueue ever sent it"
            ops = [inv.to_dict(), comp.to_dict()]
        out.append(
            Anomaly(
                "unexpected-message",
                f"{_by(inv)} got {_show(v)} from a {comp.f} at {_t(comp, ctx)}, but {why}: a "
                "message that was never enqueued. A queue may only deliver what was enqueued: "
                "a failed enqueue must not take effect (its failure must be definite only when "
                "nothing was written), and a delivery must return the message's own value.",
                ops,
                {"value": v},
            )
        )
    return out


def _out_of_order(book: _Book, ctx: dict[str, Any]) -> list[Anomaly]:
    """For each delivered b: among the messages a whose enqueue completed before b's began,
    the one whose (first) delivery was asked for last; if that was after b's delivery had
    completed, a was overtaken."""
    firsts = {v: ds[0] for v, ds in book.deliveries.items() if v in book.enq_ok}
    earlier = sorted(
        (book.enq[a][2][1], a)
        for a in firsts  # by the completion of a's enqueue
    )
    later = sorted((book.enq[b][2][0], b) for b in firsts)  # by the start of b's enqueue
    out = []
    k = 0
    best: tuple[float, Any] | None = None  # (start of a's dequeue, a)
    for b_start, b in later:
        while k < len(earlier) and earlier[k][0] < b_start:
            a = earlier[k][1]
            start = firsts[a][2][0]
            if best is None or start > best[0]:
                best = (start, a)
            k += 1
        if best is None:
            continue
        b_deq = firsts[b]
        if b_deq[2][1] < best[0]:
            a = best[1]
            a_deq = firsts[a]
            ainv, acomp, _ = book.enq[a]
            binv, _, _ = book.enq[b]
            assert acomp is not None
            out.append(
                Anomaly(
                    "out-of-order",
                    f"{_by(b_deq[0])} got {_show(b)} at {_t(b_deq[1], ctx)}, before the dequeue "
                    f"that got {_show(a)} even began ({_by(a_deq[0])}, at "
                    f"{_t(a_deq[0], ctx)}), yet {_show(a)} was enqueued (acknowledged at "
                    f"{_t(acomp, ctx)}) before the enqueue of {_show(b)} began "
                    f"({_t(binv, ctx)}): out of FIFO order. The queue is FIFO: {_show(a)} was "
                    "ahead and had to come out first. Look at how "
                    "the queue picks the next message (a redelivery or a different replica's "
                    "order?).",
                    [
                        ainv.to_dict(),
                        acomp.to_dict(),
                        binv.to_dict(),
                        b_deq[0].to_dict(),
                        b_deq[1].to_dict(),
                        a_deq[0].to_dict(),
                        a_deq[1].to_dict(),
                    ],
                    {"first": a, "overtaken_by": b},
                )
            )
    return out


# -- helpers -----------------------------------------------------------------------------------


def _key(v: Any) -> Any:
    return tuple(_key(x) for x in v) if isinstance(v, list) else v


def _int(v: Any) -> int:
    return v if isinstance(v, int) else -1


def _show(v: Any) -> str:
    return repr(v).replace("None", "nil")


def _t(op: Op, ctx: dict[str, Any]) -> str:
    """When ``op`` happened, relative and (with the run's time zero) as wall clock."""
    return when(op.time, ctx)


def _by(op: Op) -> str:
    """ "n3 (process 4)": the node the client used, then the client process."""
    return f"{op.node or '?'} (process {op.process})"
