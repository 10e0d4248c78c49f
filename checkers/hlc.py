"""Hybrid logical clocks: the promises of (l, c) timestamps, checked on the ``hlc`` workload's
history.

The history (``workloads/hlc.py``) reports events: each has a node, an incarnation (``boot``),
a number in that node's order (``seq``), a kind (local, send, receive, or a refusal), its
timestamp (l, c) and the node's wall-clock reading ``pt``, all in microseconds; a send and its
receive share a message id, and a receive carries the stamp the message had (``ml``, ``mc``)
and the receiver's maximum offset. Events come from the replies to ``local`` and ``send``
(which also carry the controller's clock around the request, ``true_us``) and from the final
reads of every node's journal (``events``), which fill in what timed-out requests hid.
Timestamps compare as pairs: l first, then c.

Rules, each an anomaly name:

``not-monotonic``
    A node stamped an event at or below the event before it in its own order.
``causality-broken``
    A receive is stamped at or below its send: happens-before must imply timestamp order
    (node order and messages are the happens-before edges; paths follow from edges).
``c-not-reset`` / ``c-unbounded``
    c counts the events that share an l: an event whose l is above its node's previous event
    and the message it received must have c = 0 (``c-not-reset``), and any other event's c is
    at most one more than the largest c among those that share its l (``c-unbounded``). That
    is the HLC's bound on c; it needs the node's previous event, so it is checked where the
    history has it (the final journal reads give every event).
``l-too-far-ahead``
    l is further ahead of true time than the clock offsets allow. True time is the
    controller's clock: history time, tied to wall-clock time by the ``true_us`` readings,
    and an event happened before its operation completed. The offsets come from the clock
    nemesis's operations in the history (which node had which offset when, taken generously:
    from the invocation that set it to the completion of the one that changed it). Without a
    maximum offset, l may be as far ahead as the largest positive offset any node had; a node
    with a maximum offset M never takes an l more than M beyond its own clock, so its l may be
    as far ahead as the largest offset *it* had, plus M. Plus ``slack_ms``.
``accepted-beyond-max-offset``
    A node with a maximum offset accepted a message stamped further ahead of its clock than
    that: it must refuse it (``offset-exceeded``), as CockroachDB does.
``inconsistent-reports``
    One event (node, incarnation, number) was reported twice with different contents.

Refusals are counted (and those of messages within the maximum offset, which were needless);
they are not anomalies. Each rule reports its first anomaly in the history, then its most
severe ones, ``max_reports`` in all; the details count them all.
"""

from __future__ import annotations

import bisect
import functools
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from checkers.base import Anomaly, Result
from harness.history import NEMESIS, Op, client_pairs
from harness.registry import CheckerInfo, option

__all__ = [
    "CHECKER",
    "ClockSegment",
    "Event",
    "HlcChecker",
    "HlcCheckerOptions",
    "clock_segments",
    "events_of",
]

CLOCK_OPS = ("bump-clock", "strobe-clock", "reset-clock")


@dataclass(frozen=True)
class HlcCheckerOptions:
    """The hlc checker's options."""

    slack_ms: int = option(
        100,
        "how much further ahead of true time than the clock offsets allow l may run (clock "
        "readings, and the controller's wall clock against its monotonic one)",
        minimum=0,
    )
    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "hlc",
    "hybrid logical clocks: per-node monotonic, happens-before implies (l, c) order, c reset "
    "and bounded, l no further ahead of true time than the clock offsets allow, the maximum "
    "offset enforced",
    lambda options: HlcChecker(options.slack_ms, options.max_reports),
    HlcCheckerOptions,
)


@dataclass
class Event:
    """One event a node reported (``l``, ``c`` are None for a refusal)."""

    node: str
    boot: str
    seq: int
    kind: str
    l: int | None  # noqa: E741 - the HLC's own name
    c: int | None
    pt: int | None
    msg: str | None = None
    peer: str | None = None
    ml: int | None = None
    mc: int | None = None
    max_offset_ms: int | None = None
    #: the operation that reported it: (invocation, completion); ``true`` when its reply
    #: reported it directly (its completion time bounds the event's true time)
    ops: tuple[Op, Op] | None = None
    direct: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.node, self.boot, self.seq)

    @property
    def stamp(self) -> tuple[int, int]:
        assert self.l is not None and self.c is not None
        return (self.l, self.c)

    @property
    def stamped(self) -> bool:
        return self.l is not None and self.c is not None

    def what(self) -> str:
        """The event in words: ``n3's event #12 (the receive of n1/a1b2c3/7 from n1)``."""
        if self.kind == "send":
            kind = f"the send of {self.msg} to {self.peer}"
        elif self.kind == "receive":
            kind = f"the receive of {self.msg} from {self.peer}"
        elif self.kind == "refuse":
            kind = f"the refusal of {self.msg} from {self.peer}"
        else:
            kind = "a local event"
        return f"{self.node}'s event #{self.seq} ({kind})"

    def op_dicts(self) -> list[dict[str, Any]]:
        """The invocation and completion that reported it; a journal read's completion is cut
        down to this one event (it holds the whole journal)."""
        if self.ops is None:
            return []
        inv, comp = self.ops
        out = comp.to_dict()
        if not self.direct:
            out["value"] = {"node": self.node, "boot": self.boot, "events": [self.raw]}
        return [inv.to_dict(), out]


@dataclass(frozen=True)
class ClockSegment:
    """A positive clock offset (``offset_ns``) that may have been in force on ``node`` from
    history time ``start`` to ``end`` (ns; None: to the end), set by ``set_by``."""

    node: str
    start: int
    end: int | None
    offset_ns: int
    set_by: Op


def events_of(history: list[Op]) -> tuple[list[Event], list[tuple[Op, Op]], list[str]]:
    """Every event the history reports, the client operations (invocation, completion) whose
    completion has a ``true_us`` reading, and descriptions of events reported twice with
    different contents. An event reported both by a reply and by a journal read
    keeps the reply (its completion time bounds the event's true time)."""
    found: dict[tuple[str, str, int], Event] = {}
    conflicts: list[str] = []
    timed: list[tuple[Op, Op]] = []
    for inv, comp in client_pairs(history):
        if "true_us" in comp.extra:
            timed.append((inv, comp))
        for e in _reported(inv, comp):
            old = found.get(e.key)
            if old is None:
                found[e.key] = e
                continue
            if _content(old) != _content(e):
                conflicts.append(f"{e.what()} was reported as {_content(old)} and as {_content(e)}")
            if e.direct and not old.direct:
                found[e.key] = e
    return list(found.values()), timed, conflicts


def clock_segments(history: list[Op]) -> list[ClockSegment]:
    """The positive clock offsets the nemesis's ``bump-clock``, ``strobe-clock`` and
    ``reset-clock`` operations set, per node, generously timed: from the invocation of the op
    that set an offset to the completion of the next op that changed that node's (a strobe
    counts as its higher offset throughout)."""
    changes: dict[str, list[tuple[Op, Op, int]]] = {}
    pending: Op | None = None
    for op in history:
        if op.process != NEMESIS or op.f not in CLOCK_OPS:
            continue
        if op.type == "invoke":
            pending = op
            continue
        if pending is None or not isinstance(op.value, dict):
            pending = None
            continue
        for node, offset in _offsets(op).items():
            changes.setdefault(node, []).append((pending, op, offset))
        pending = None
    out: list[ClockSegment] = []
    for node, seq in changes.items():
        for i, (inv, _comp, offset) in enumerate(seq):
            end = seq[i + 1][1].time if i + 1 < len(seq) else None
            if offset > 0:
                out.append(ClockSegment(node, inv.time, end, offset, inv))
    return out


class HlcChecker:
    """The rules in the module docstring; ``max_reports`` caps the anomalies of each."""

    name = "hlc"

    def __init__(self, slack_ms: int = 100, max_reports: int = 5) -> None:
        self.slack_ns = slack_ms * 1_000_000
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        events, timed, conflicts = events_of(history)
        stamped = [e for e in events if e.stamped]
        found: dict[str, list[_Found]] = {}

        def report(severity: float, anomaly: Anomaly) -> None:
            found.setdefault(anomaly.name, []).append((severity, _seen_at(anomaly), anomaly))

        def later(name: str, severity: float, seen: int, build: Callable[[], Anomaly]) -> None:
            found.setdefault(name, []).append((severity, seen, build))

        sequences = _sequences(events)
        unchecked_c = 0
        for seq in sequences.values():
            for a, b in _consecutive(seq):
                if b.stamp <= a.stamp:
                    report(*self._backwards(a, b))
            unchecked_c += self._c_rule(seq, report)
        sends = {e.msg: e for e in stamped if e.kind == "send" and e.msg}
        matched = 0
        for r in stamped:
            if r.kind != "receive":
                continue
            s = sends.get(r.msg) if r.msg is not None else None
            matched += s is not None
            if s is not None:
                before = s.stamp
            elif r.ml is not None and r.mc is not None:
                before = (r.ml, r.mc)  # the stamp the message carried
            else:
                continue
            if r.stamp <= before:
                report(*self._causality(r, s, before))
        refusals, needless = 0, 0
        for e in events:
            mo, ahead = e.max_offset_ms, _ahead(e)
            if not mo or ahead is None:
                continue
            if e.kind == "refuse":
                refusals += 1
                needless += ahead <= mo * 1000
            elif e.kind == "receive" and ahead > mo * 1000:
                report(ahead, self._accepted(e, ahead))
        for text in conflicts:
            report(0, Anomaly("inconsistent-reports", text + ": a node reports each event once."))
        lead = self._l_ahead(history, stamped, timed, later)

        anomalies: list[Anomaly] = []
        for name in RULES:
            anomalies += _worth_reporting(found.get(name, []), self.max_reports)
        details = {
            "events": len(stamped),
            "nodes": len({e.node for e in events}),
            "incarnations": len(sequences),
            "messages-matched": matched,
            "refusals": refusals,
            "refusals-within-max-offset": needless,
            "max-c": max((e.c or 0 for e in stamped), default=0),
            "c-rule-unchecked": unchecked_c,
            **lead,
            **{f"{name}-count": len(found[name]) for name in RULES if name in found},
        }
        if anomalies:
            return Result(False, anomalies, details)
        if not stamped:
            return Result("unknown", [], {**details, "reason": "no node reported an event"})
        return Result(True, [], details)

    # -- rules ---------------------------------------------------------------------------

    def _c_rule(self, seq: list[Event], report: Any) -> int:
        """Check c of every event of one incarnation whose previous event is known; returns
        how many could not be checked (a gap before them)."""
        unchecked = 0
        prev: Event | None = None
        known = True  # every event before the current one has been seen
        expected = 1
        for e in seq:
            if e.seq != expected:
                known, prev = False, None
            expected = e.seq + 1
            if not e.stamped:
                continue  # a refusal leaves the clock as it was
            if not known:
                unchecked += 1
                prev, known = e, True
                continue
            shares = []
            if prev is not None and prev.l == e.l:
                shares.append(("its previous event", prev.c or 0))
            if e.kind == "receive" and e.ml == e.l and e.mc is not None:
                shares.append(("the message", e.mc))
            allowed = max(c for _, c in shares) + 1 if shares else 0
            if (e.c or 0) > allowed:
                report(e.c, self._c_anomaly(e, prev, shares, allowed))
            prev = e
        return unchecked

    def _l_ahead(
        self,
        history: list[Op],
        stamped: list[Event],
        timed: list[tuple[Op, Op]],
        report: Any,
    ) -> dict[str, Any]:
        """l-too-far-ahead for every event a reply reported; the largest lead, for details."""
        readings = [
            comp.extra["true_us"][0] * 1000 - inv.time
            for inv, comp in timed
            if isinstance(comp.extra.get("true_us"), list)
            and comp.extra["true_us"]
            and _int(comp.extra["true_us"][0])
        ]
        if not readings:
            return {"true-time": "no true_us readings: l against true time not checked"}
        # history time + anchor = the controller's wall clock; the smallest reading taken
        # after an invocation is an upper bound of the anchor, which makes each l's lead the
        # smallest it can be (generous)
        anchor = min(readings)
        segments = _Reach(clock_segments(history))
        offsets: dict[str, int] = {}
        for e in stamped:
            if e.max_offset_ms is not None:
                offsets[e.node] = max(offsets.get(e.node, 0), e.max_offset_ms)
        largest: int | None = None  # the largest lead of any l over true time
        margin: int | None = None  # the least room left below what is allowed
        for e in stamped:
            if not e.direct or e.ops is None:
                continue
            t = e.ops[1].time
            lead = e.stamp[0] * 1000 - anchor - t
            allowed, why, guarded = self._allowance(e.node, t, segments, offsets)
            largest = lead if largest is None else max(largest, lead)
            margin = allowed - lead if margin is None else min(margin, allowed - lead)
            if lead > allowed + self.slack_ns:  # explained only if it is reported
                build = functools.partial(self._too_far, e, t, lead, allowed, why, guarded)
                report("l-too-far-ahead", lead - allowed, max(op.time for op in e.ops), build)
        if largest is None or margin is None:
            return {}
        return {
            "largest-lead-ms": round(largest / 1e6, 3),
            "least-margin-ms": round(margin / 1e6, 3),
        }

    def _allowance(
        self, node: str, t: int, segments: _Reach, max_offsets: dict[str, int]
    ) -> tuple[int, str, bool]:
        """How far ahead of true time ``node``'s l may be at history time ``t`` (ns), why, in
        words, and whether that is the node's own offsets plus its maximum offset."""
        everyone, by = segments.at(t, None)
        mo = max_offsets.get(node, 0)
        if mo:
            own, own_by = segments.at(t, node)
            if own + mo * 1_000_000 < everyone:
                why = _offset_words(own, own_by, node, mo)
                assert by is not None  # everyone > 0
                why += (
                    f" (the clock of {by.node} reached {everyone / 1e9:.3f} s ahead, set by "
                    f"{by.set_by.f} at {by.set_by.time / 1e9:.3f} s: its messages are refused "
                    "until the others' clocks catch up)"
                )
                return own + mo * 1_000_000, why, True
        return everyone, _offset_words(everyone, by, "any node", None), False

    # -- anomalies -----------------------------------------------------------------------

    def _backwards(self, a: Event, b: Event) -> tuple[float, Anomaly]:
        drop = ((a.l or 0) - (b.l or 0)) / 1000
        step = ((b.pt or 0) - (a.pt or 0)) / 1e6 if a.pt and b.pt else None
        clock = (
            f" Its physical clock read {a.pt} then {b.pt} ({step:+.3f} s)."
            if step is not None
            else ""
        )
        text = (
            f"{b.node} stamped {b.what()} at (l={b.l}, c={b.c}), at or below {a.what()} at "
            f"(l={a.l}, c={a.c}), which it stamped before: its timestamps went back by "
            f"{drop:.3f} ms.{clock} An HLC takes l = max(l, pt), so that a physical clock that "
            "steps back does not take timestamps back with it, and counts c up while l stays."
        )
        data = {"node": b.node, "earlier": _brief(a), "later": _brief(b), "drop_ms": drop}
        return drop, Anomaly("not-monotonic", text, _ops(a, b), data)

    def _causality(
        self, r: Event, s: Event | None, before: tuple[int, int]
    ) -> tuple[float, Anomaly]:
        drop = (before[0] - (r.l or 0)) / 1000
        sender = s.what() if s is not None else f"its send by {r.peer}"
        behind = (before[0] - (r.pt or 0)) / 1000
        text = (
            f"{r.node} stamped {r.what()} at (l={r.l}, c={r.c}), at or below {sender} at "
            f"(l={before[0]}, c={before[1]}) ({drop:.3f} ms lower): the send happened before "
            f"the receive, so its timestamp must be lower. {r.node}'s physical clock read "
            f"{r.pt}, {behind:.3f} ms behind the message's l. A receive must take "
            "l = max(l, ml, pt) and, when l equals the message's, c = max(c, mc) + 1."
        )
        data = {
            "message": r.msg,
            "send": _brief(s) if s is not None else {"l": before[0], "c": before[1]},
            "receive": _brief(r),
            "drop_ms": drop,
        }
        return drop, Anomaly("causality-broken", text, _ops(s, r), data)

    def _c_anomaly(
        self, e: Event, prev: Event | None, shares: list[tuple[str, int]], allowed: int
    ) -> Anomaly:
        data = {"event": _brief(e), "previous": _brief(prev) if prev else None, "max_c": allowed}
        before = f"its previous event's ({prev.l})" if prev is not None else "none before it"
        if e.kind == "receive":
            before += f" and the message's ({e.ml})"
        if not shares:
            text = (
                f"{e.what()} has l={e.l}, above {before}: l moved on to a new physical "
                f"reading, so c must be 0, but it is {e.c}. c counts the events that share an "
                "l; unless it is reset whenever l advances, it grows without bound "
                f"(here {e.c} at the node's event #{e.seq})."
            )
            return Anomaly("c-not-reset", text, _ops(prev, e), data)
        names = " and ".join(n for n, _ in shares)
        text = (
            f"{e.what()} has (l={e.l}, c={e.c}); of the events it follows, {names} share its "
            f"l, so c may be at most {allowed} (one more than the largest c among them). c "
            "counts the events that share an l, and no more: c = c + 1 when l stays, "
            "max(c, mc) + 1 or mc + 1 when it takes the message's l."
        )
        return Anomaly("c-unbounded", text, _ops(prev, e), data)

    def _accepted(self, e: Event, ahead: int) -> Anomaly:
        text = (
            f"{e.node} accepted message {e.msg} from {e.peer} stamped l={e.ml}, "
            f"{ahead / 1000:.3f} ms ahead of its own clock (pt={e.pt}), more than its maximum "
            f"offset of {e.max_offset_ms} ms: it must refuse it (offset-exceeded) and leave its "
            f"clock alone. Accepting it took {e.node}'s l that far ahead of its clock, and every "
            "node it sends to follows: one bumped clock drags every node's l into the future."
        )
        data = {"event": _brief(e), "ahead_ms": ahead / 1000, "max_offset_ms": e.max_offset_ms}
        return Anomaly("accepted-beyond-max-offset", text, _ops(e), data)

    def _too_far(
        self, e: Event, t: int, lead: int, allowed: int, why: str, guarded: bool
    ) -> Anomaly:
        hint = (
            "A node that enforces a maximum offset never takes an l further than that beyond "
            "its own clock: check that messages from too far in the future are refused."
            if guarded
            else "l only ever comes from physical clocks, the node's or a sender's: check "
            "where this l came from."
        )
        text = (
            f"{e.what()} has l={e.l}, {lead / 1e9:.3f} s ahead of true time (the controller's "
            f"clock) when its operation completed at {t / 1e9:.3f} s. {why}: l may be at most "
            f"{allowed / 1e9:.3f} s ahead (with {self.slack_ns / 1e6:g} ms of slack). {hint}"
        )
        data = {
            "event": _brief(e),
            "lead_ms": round(lead / 1e6, 3),
            "allowed_ms": round(allowed / 1e6, 3),
        }
        return Anomaly("l-too-far-ahead", text, _ops(e), data)


RULES = (
    "not-monotonic",
    "causality-broken",
    "c-not-reset",
    "c-unbounded",
    "l-too-far-ahead",
    "accepted-beyond-max-offset",
    "inconsistent-reports",
)


# -- helpers ------------------------------------------------------------------------------


#: an anomaly found: (its severity, when the history shows it: the last time of its ops, the
#: anomaly or how to build it). l-too-far-ahead is built only when reported: a clock that ran
#: ahead all run long is too far ahead at every event.
_Found = tuple[float, int, Anomaly | Callable[[], Anomaly]]


def _worth_reporting(found: list[_Found], n: int) -> list[Anomaly]:
    """At most ``n`` of one rule's anomalies: the first one the history shows (where to start
    looking: the earliest completion of its last op), then the most severe."""
    if not found:
        return []
    first = min(found, key=lambda x: x[1])
    rest = sorted((x for x in found if x is not first), key=lambda x: -x[0])
    return [_built(first[2])] + [_built(a) for _, _, a in rest[: n - 1]]


def _built(a: Anomaly | Callable[[], Anomaly]) -> Anomaly:
    return a if isinstance(a, Anomaly) else a()


def _seen_at(a: Anomaly) -> int:
    times = [op["time"] for op in a.ops if isinstance(op.get("time"), int)]
    return max(times) if times else 0


def _reported(inv: Op, comp: Op) -> list[Event]:
    """The events one completion reports."""
    ops = (inv, comp)
    if comp.f == "events" and comp.type == "ok" and isinstance(comp.value, dict):
        node, boot = comp.value.get("node"), comp.value.get("boot")
        raw = comp.value.get("events")
        if not isinstance(node, str) or not isinstance(boot, str) or not isinstance(raw, list):
            return []
        return [
            e
            for d in raw
            if isinstance(d, dict)
            and (e := _event({**d, "node": node, "boot": boot}, ops, False)) is not None
        ]
    if comp.f not in ("local", "send"):
        return []
    reply = comp.value if comp.type == "ok" else comp.extra.get("hlc")
    if not isinstance(reply, dict):
        return []
    parts = [reply] if comp.f == "local" else [reply.get(k) for k in ("send", "receive", "refused")]
    return [e for d in parts if isinstance(d, dict) and (e := _event(d, ops, True)) is not None]


def _event(d: dict[str, Any], ops: tuple[Op, Op], direct: bool) -> Event | None:
    node, boot, seq, kind = d.get("node"), d.get("boot"), d.get("seq"), d.get("kind")
    if not (isinstance(node, str) and isinstance(boot, str) and isinstance(kind, str)):
        return None
    if not isinstance(seq, int) or isinstance(seq, bool):
        return None
    raw = {k: v for k, v in d.items() if k not in ("node", "boot")}
    return Event(
        node,
        boot,
        seq,
        kind,
        _opt(d.get("l")),
        _opt(d.get("c")),
        _opt(d.get("pt")),
        d.get("msg") if isinstance(d.get("msg"), str) else None,
        d.get("peer") if isinstance(d.get("peer"), str) else None,
        _opt(d.get("ml")),
        _opt(d.get("mc")),
        _opt(d.get("max_offset_ms")),
        ops,
        direct,
        raw,
    )


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _opt(x: Any) -> int | None:
    return x if _int(x) else None


def _content(e: Event) -> tuple[Any, ...]:
    return (e.kind, e.l, e.c, e.pt, e.msg, e.ml, e.mc)


def _sequences(events: list[Event]) -> dict[tuple[str, str], list[Event]]:
    """Each incarnation's events in its node's order."""
    out: dict[tuple[str, str], list[Event]] = {}
    for e in events:
        out.setdefault((e.node, e.boot), []).append(e)
    for seq in out.values():
        seq.sort(key=lambda e: e.seq)
    return out


def _consecutive(seq: list[Event]) -> Iterator[tuple[Event, Event]]:
    """Pairs of stamped events next to each other in node order (among those seen: order is
    transitive, so pairs across a gap are enough)."""
    prev: Event | None = None
    for e in seq:
        if not e.stamped:
            continue
        if prev is not None:
            yield prev, e
        prev = e


def _ahead(e: Event) -> int | None:
    """How far (µs) the message's l was ahead of the receiver's clock."""
    if e.ml is None or e.pt is None:
        return None
    return e.ml - e.pt


def _offsets(op: Op) -> dict[str, int]:
    """node -> the offset (ns) a clock op completion says it set (a strobe's higher one)."""
    v = op.value
    assert isinstance(v, dict)
    out: dict[str, int] = {}
    if op.f == "strobe-clock":
        for node, pair in (v.get("offsets") or {}).items():
            if isinstance(pair, list) and pair and all(isinstance(x, int | float) for x in pair):
                out[str(node)] = round(max(pair) * 1e9)
        return out
    for node, offset in v.items():
        if isinstance(offset, int | float) and not isinstance(offset, bool):
            out[str(node)] = round(offset * 1e9)
    return out


class _Reach:
    """``_reach`` for every event, without a scan of every clock fault of the run per event:
    per node (and for any node), the segments that ended by a time, as a running best of
    end + offset over their ends in order, and the segments in force at a time, as the best
    offset over the intervals between consecutive starts and ends. The best is the largest
    reach, the first segment in ``segments``' order among equals, as ``_reach`` finds it."""

    def __init__(self, segments: list[ClockSegment]) -> None:
        self.segments = segments
        #: node (None: any) -> (ends, best ended by each end, bounds, best in force in each)
        self._by: dict[str | None, Any] = {}
        #: a segment that ends before it starts (nemesis ops out of time order): scan
        self._scan = any(s.end is not None and s.end < s.start for s in segments)

    def at(self, t: int, node: str | None) -> tuple[int, ClockSegment | None]:
        if self._scan:
            return _reach(self.segments, t, node)
        ends, ended, bounds, in_force = self._index(node)
        best: tuple[int, int] | None = None  # (reach, -position) of the best so far
        j = bisect.bisect_right(ends, t)
        if j:
            value, pos = ended[j - 1]
            best = (value - t, -pos)
        i = bisect.bisect_right(bounds, t) - 1
        if i >= 0 and in_force[i] is not None:
            offset, pos = in_force[i]
            if best is None or (offset, -pos) > best:
                best = (offset, -pos)
        if best is None or best[0] <= 0:
            return 0, None
        return best[0], self.segments[-best[1]]

    def _index(self, node: str | None) -> Any:
        got = self._by.get(node)
        if got is not None:
            return got
        mine = [(i, s) for i, s in enumerate(self.segments) if node is None or s.node == node]
        # ended by t: end <= t (so started too); the running best of end + offset
        closed = sorted((s.end, i, s) for i, s in mine if s.end is not None)
        ends = [e for e, _, _ in closed]
        ended: list[tuple[int, int]] = []
        for e, i, s in closed:
            cand = (e + s.offset_ns, i)
            if (
                not ended
                or cand[0] > ended[-1][0]
                or (cand[0] == ended[-1][0] and i < ended[-1][1])
            ):
                ended.append(cand)
            else:
                ended.append(ended[-1])
        # in force at t: start <= t < end; constant between consecutive starts and ends
        bounds = sorted({s.start for _, s in mine} | {s.end for _, s in mine if s.end is not None})
        starting = sorted((s.start, i, s) for i, s in mine)
        heap: list[tuple[int, int, ClockSegment]] = []
        in_force: list[tuple[int, int] | None] = []
        k = 0
        for b in bounds:
            while k < len(starting) and starting[k][0] <= b:
                _, i, s = starting[k]
                heapq.heappush(heap, (-s.offset_ns, i, s))
                k += 1
            while heap and heap[0][2].end is not None and heap[0][2].end <= b:
                heapq.heappop(heap)
            in_force.append((-heap[0][0], heap[0][1]) if heap else None)
        got = self._by[node] = (ends, ended, bounds, in_force)
        return got


def _reach(
    segments: list[ClockSegment], t: int, node: str | None
) -> tuple[int, ClockSegment | None]:
    """How far ahead of true time at ``t`` a clock of ``node`` (None: any node) can have
    read at or before ``t``: max(0, min(end, t) + offset - t) over the segments begun by
    ``t``; and the segment reaching furthest."""
    best, by = 0, None
    for s in segments:
        if s.start > t or (node is not None and s.node != node):
            continue
        reach = min(s.end if s.end is not None else t, t) + s.offset_ns - t
        if reach > best:
            best, by = reach, s
    return best, by


def _offset_words(
    reach: int, by: ClockSegment | None, whose: str, max_offset_ms: int | None
) -> str:
    if by is None:
        where = f"no clock offset ahead of true time was in force on {whose} by then"
    else:
        where = (
            f"the clock offsets in force on {whose} by then reach {reach / 1e9:.3f} s ahead "
            f"(on {by.node}, set by {by.set_by.f} at {by.set_by.time / 1e9:.3f} s)"
        )
    if max_offset_ms:
        where += f", and its maximum offset is {max_offset_ms} ms"
    return where[0].upper() + where[1:]


def _brief(e: Event | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"node": e.node, "boot": e.boot, "seq": e.seq, "kind": e.kind, "l": e.l, "c": e.c}


def _ops(*events: Event | None) -> list[dict[str, Any]]:
    """The ops that reported ``events``, each once, in history order."""
    out: dict[int, dict[str, Any]] = {}
    for e in events:
        if e is None:
            continue
        for d in e.op_dicts():
            out.setdefault(d["index"], d)
    return [out[i] for i in sorted(out)]
