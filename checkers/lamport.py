"""Lamport clocks: stamps that respect happens-before, and a total order with no ties.

The history is the ``lamport`` workload's: ``local`` and ``send`` ops whose completions carry
the events a node reported, each ``{"node", "inc", "seq", "c"}`` (the node, its incarnation,
the event's number in that incarnation, its stamp): ``{"local": EVENT}``, or ``{"to",
"msg", "send": EVENT, "recv": EVENT}`` where ``recv`` is the receiver's event for message
``msg`` (absent when the message's fate is unknown or it was not delivered). An event
happened at its node between its op's invocation and completion (the controller's clock).

Happens-before is rebuilt from three kinds of edges, and the clock condition (a happens
before b implies C(a) < C(b)) is checked on each edge; since every chain of events is made
of edges, it then holds over the whole transitive relation, and a chain that breaks it has
a broken edge, which is what is reported:

- process order: the events of one node in the order the node numbered them (incarnation,
  then number), consecutive ones among those seen (the ones in between, unseen, only make
  the chain longer);
- messages: a send before its receive;
- real time on one node: an event of an op that completed before another op on the same
  node was invoked came first on that node. This is the controller's own evidence of
  process order; a stamp that breaks it is reported where the node's numbering contradicts
  real time too (otherwise the process-order edge already shows the break). Real time
  between *different* nodes is not happens-before: two nodes that never exchanged a message
  may stamp in any order (a node with fewer events has a smaller clock), and a Lamport clock
  does not promise otherwise.

Rules, each an anomaly name:

``clock-condition``
    An edge a -> b with C(a) >= C(b); ``data["edge"]`` says which kind (``process-order``,
    ``message``, ``real-time``).
``tie``
    Two different events of one node with the same stamp: (C, node) does not order them.
``event-id-reused``
    One node reported two different events under one (incarnation, number): its process
    order cannot be rebuilt.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

from checkers.base import Anomaly, Result
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "EDGES", "Event", "LamportChecker", "LamportOptions", "events_of"]

#: the kinds of happens-before edges, in the order they are reported
EDGES = ("message", "process-order", "real-time")


@dataclass(frozen=True)
class LamportOptions:
    """The lamport checker's options."""

    max_reports: int = option(5, "anomalies reported per rule (and per kind of edge)", minimum=1)


CHECKER = CheckerInfo(
    "lamport",
    "Lamport clocks: happens-before (each node's event order, messages, real time on a node) "
    "implies a smaller stamp; (stamp, node) orders every event with no ties",
    lambda options: LamportChecker(options.max_reports),
    LamportOptions,
)


@dataclass(frozen=True)
class Event:
    """One event a node reported: ``kind`` is local, send or recv; ``msg`` names the message
    of a send or receive; ``invoke`` / ``complete`` are its op's."""

    node: str
    inc: int
    seq: int
    c: int
    kind: str
    msg: str | None
    peer: str | None
    invoke: Op
    complete: Op

    @property
    def key(self) -> tuple[str, int, int]:
        return self.node, self.inc, self.seq

    @property
    def start(self) -> int:
        return self.invoke.time

    @property
    def end(self) -> int:
        return self.complete.time

    def ops(self) -> list[dict[str, Any]]:
        return [self.invoke.to_dict(), self.complete.to_dict()]

    def describe(self) -> str:
        """``n1's send of n1.2.17 to n3 (event 2.17, stamp 42; op 120-123 of process 4,
        invoked at 1.234 s, completed at 1.240 s)``"""
        what = {
            "local": "local event",
            "send": f"send of {self.msg} to {self.peer}",
            "recv": f"receive of {self.msg} from {self.peer}",
        }[self.kind]
        return (
            f"{self.node}'s {what} (event {self.inc}.{self.seq}, stamp {self.c}; op "
            f"{self.invoke.index}-{self.complete.index} of process {self.invoke.process}, "
            f"invoked at {_s(self.start)}, completed at {_s(self.end)})"
        )

    def data(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "inc": self.inc,
            "seq": self.seq,
            "c": self.c,
            "kind": self.kind,
            "msg": self.msg,
            "op": self.complete.index,
        }


def events_of(history: list[Op]) -> tuple[list[Event], list[tuple[Event, Event]], int]:
    """(every well-formed event reported, the (send, receive) pairs of delivered messages,
    how many reported events were malformed) of ``local`` and ``send`` ops of any outcome."""
    pending: dict[int | str, Op] = {}
    events: list[Event] = []
    messages: list[tuple[Event, Event]] = []
    malformed = 0
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if inv is None or op.f not in ("local", "send") or not isinstance(op.value, dict):
            continue
        v = op.value
        msg = v.get("msg") if isinstance(v.get("msg"), str) else None
        sent = v.get("send")
        sender = sent.get("node") if isinstance(sent, dict) else op.node or inv.node
        peers = {"local": None, "send": str(v.get("to")), "recv": str(sender)}
        found: dict[str, Event] = {}
        for kind in ("local", "send", "recv"):
            if kind not in v:
                continue
            ev = _event(v[kind], kind, msg, peers[kind], inv, op)
            if ev is None:
                malformed += 1
            else:
                found[kind] = ev
        events += found.values()
        if "send" in found and "recv" in found:
            messages.append((found["send"], found["recv"]))
    return events, messages, malformed


def _event(
    raw: Any, kind: str, msg: str | None, peer: str | None, inv: Op, comp: Op
) -> Event | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("node"), str):
        return None
    inc, seq, c = (raw.get(k) for k in ("inc", "seq", "c"))
    if not (_is_int(inc) and _is_int(seq) and _is_int(c)):
        return None
    if kind != "local" and msg is None:
        return None
    return Event(raw["node"], inc, seq, c, kind, msg, peer, inv, comp)


def _is_int(n: Any) -> TypeGuard[int]:
    return isinstance(n, int) and not isinstance(n, bool)


class LamportChecker:
    """The rules in the module docstring; ``max_reports`` caps the anomalies of each."""

    name = "lamport"

    def __init__(self, max_reports: int = 5) -> None:
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        events, messages, malformed = events_of(history)
        by_node: dict[str, list[Event]] = {}
        reused: list[Anomaly] = []
        seen: dict[tuple[str, int, int], Event] = {}
        for ev in events:
            first = seen.setdefault(ev.key, ev)
            if first is ev:
                by_node.setdefault(ev.node, []).append(ev)
            elif first.complete is not ev.complete or first.c != ev.c:
                reused.append(_reused(first, ev))
        broken: dict[str, list[Anomaly]] = {e: [] for e in EDGES}
        for send, recv in messages:
            if recv.c <= send.c:
                broken["message"].append(_message(send, recv))
        ties: list[Anomaly] = []
        realtime_pairs = 0
        for node, evs in sorted(by_node.items()):
            evs.sort(key=lambda e: (e.inc, e.seq))
            for a, b in zip(evs, evs[1:], strict=False):
                if b.c <= a.c:
                    broken["process-order"].append(_process_order(a, b))
            for a, b in _realtime_breaks(evs):
                realtime_pairs += 1
                if (b.inc, b.seq) < (a.inc, a.seq):  # the node's numbering contradicts time
                    broken["real-time"].append(_real_time(a, b))
            ties += _ties(node, evs)
        anomalies = reused[: self.max_reports]
        for edge in EDGES:
            anomalies += broken[edge][: self.max_reports]
        anomalies += ties[: self.max_reports]
        incs = {(e.node, e.inc) for e in seen.values()}
        details = {
            "events": len(seen),
            "nodes": len(by_node),
            "messages-delivered": len(messages),
            "restarts-seen": len(incs) - len(by_node),
            "malformed-events": malformed,
            "broken-edges": {e: len(broken[e]) for e in EDGES},
            "real-time-breaks": realtime_pairs,
            "ties": len(ties),
            "event-ids-reused": len(reused),
        }
        if anomalies:
            return Result(False, anomalies, details)
        if not seen:
            return Result("unknown", [], {**details, "reason": "no node reported an event"})
        if not messages:
            reason = "no message was delivered, so the receive rule was never exercised"
            return Result("unknown", [], {**details, "reason": reason})
        return Result(True, [], details)


def _realtime_breaks(evs: Iterable[Event]) -> list[tuple[Event, Event]]:
    """For each event b of one node, the event a of that node with the highest stamp among
    those whose op completed before b's op was invoked, when C(a) >= C(b): (a, b)."""
    by_end = sorted(evs, key=lambda e: e.end)
    ends = [e.end for e in by_end]
    # best[i]: the highest-stamped event among by_end[: i + 1]
    best: list[Event] = []
    for e in by_end:
        best.append(e if not best or e.c > best[-1].c else best[-1])
    out = []
    for b in sorted(by_end, key=lambda e: e.start):
        i = bisect.bisect_left(ends, b.start)  # by_end[:i] completed before b was invoked
        if i and best[i - 1].c >= b.c:
            out.append((best[i - 1], b))
    return out


def _ties(node: str, evs: list[Event]) -> list[Anomaly]:
    by_c: dict[int, list[Event]] = {}
    for e in evs:
        by_c.setdefault(e.c, []).append(e)
    out = []
    for c, same in sorted(by_c.items()):
        if len(same) < 2:
            continue
        listed = "; ".join(e.describe() for e in same)
        out.append(
            Anomaly(
                "tie",
                f"{node} gave the stamp {c} to {len(same)} different events: {listed}. "
                "(stamp, node) must order every event once, and the events of one node are "
                "ordered by its own process order: each of them must tick the clock (a send "
                "and a receive too), and a restarted node must start above every stamp it "
                "handed out before.",
                [op for e in same for op in e.ops()],
                {"node": node, "c": c, "events": [e.data() for e in same]},
            )
        )
    return out


def _message(send: Event, recv: Event) -> Anomaly:
    return Anomaly(
        "clock-condition",
        f"{recv.node} received message {send.msg} with a stamp not greater than its send: "
        f"{send.describe()}, then {recv.describe()}. A send happens before its receive, so "
        f"the receive's stamp must be greater ({recv.c} <= {send.c}). A receive must set the "
        "clock to the larger of its own value and the message's stamp, plus one; "
        f"{recv.node}'s clock was behind the sender's and the message's stamp was ignored.",
        send.ops() if send.complete is recv.complete else send.ops() + recv.ops(),
        {"edge": "message", "msg": send.msg, "send": send.data(), "recv": recv.data()},
    )


def _process_order(a: Event, b: Event) -> Anomaly:
    restart = (
        f" {a.node} restarted between them (incarnation {a.inc} -> {b.inc}): the clock must "
        "survive a restart (kept durably before a stamp is handed out), and a restarted node "
        "must stamp above everything it stamped before."
        if a.inc != b.inc
        else " Every event, a send included, must tick the clock."
    )
    return Anomaly(
        "clock-condition",
        f"In {a.node}'s own order of its events, {b.describe()} comes right after "
        f"{a.describe()} (of the events seen): the first happened before the second, yet the "
        f"stamps do not grow ({a.c} then {b.c}).{restart}",
        a.ops() + b.ops(),
        {"edge": "process-order", "node": a.node, "first": a.data(), "second": b.data()},
    )


def _real_time(a: Event, b: Event) -> Anomaly:
    return Anomaly(
        "clock-condition",
        f"{a.describe()} completed before {b.describe()} was invoked, on the same node, so "
        f"the first happened before the second on {a.node}; yet its stamp is not smaller "
        f"({a.c} then {b.c}), and {a.node} numbered them the other way round: its event "
        "numbers do not follow the order in which it stamped the events. Stamp and number "
        "an event in one step, under one lock.",
        a.ops() + b.ops(),
        {"edge": "real-time", "node": a.node, "first": a.data(), "second": b.data()},
    )


def _reused(first: Event, again: Event) -> Anomaly:
    return Anomaly(
        "event-id-reused",
        f"{first.node} reported two different events as event {first.inc}.{first.seq}: "
        f"{first.describe()} and {again.describe()}. Its process order cannot be rebuilt: "
        "number events once per incarnation, and count incarnations durably.",
        first.ops() + again.ops(),
        {"node": first.node, "first": first.data(), "second": again.data()},
    )


def _s(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"
