"""Watches: what each watcher received, against each other and against the writes.

The history is the ``watch`` workload's (``workloads/etcd_watch.py``)::

    write    [k, v]  -> ok [k, {"value": v, "revision": r}]     (values unique over the run)
    txn      [["w", k, v], ...] -> ok {"txn": [...], "revision": r}   (puts in one revision)
    watch    {...}   -> ok {"watcher": id, "start": s, "events": [[r, k, v, n], ...],
                            "compacted": [[lo, hi], ...]}         (events since the last poll)
    catch-up {...}   -> ok {..., "target": t, "caught_up": true}  (after the heal)

(``n``, optional, numbers the watch response that carried the event.)

A watcher's events are the concatenation of its polls' events, in history order. It *covers*
the revisions from its ``start`` to the last revision it received, or to ``target`` if it
caught up (less any compacted range). Every revision any watcher received or any write was
acknowledged at is *known*. Rules, each an anomaly name:

``out-of-order`` / ``duplicate-event`` / ``event-before-start``
    A watcher's revisions never decrease, from its start revision on, and it receives each
    key of a revision once (ordered, unique).
``split-revision``
    The events of one revision come in one watch response (atomic).
``missed-event``
    A watcher has every known event of every revision it covers (reliable: a watcher that
    receives a and c receives every b between them; and a resumed watch misses nothing).
``watchers-disagree``
    Two watchers that received one key at one revision received the same value for it.
``unknown-event`` / ``event-for-failed-write`` / ``wrong-revision``
    An event is the effect of a write of that value to that key: not of no write, not of one
    that failed (``fail`` means it certainly did not happen), and at the revision the write's
    acknowledgement gave.
``revision-order``
    A write acknowledged before another was invoked has the smaller revision (writes are
    linearizable), and no two acknowledged writes (but the puts of one txn) share one.

Valid needs every watcher caught up after the heal; otherwise the part of the history after
its last event is unchecked and the verdict is "unknown" (when nothing else is wrong).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import Any

from checkers.base import Anomaly, Result, when
from checkers.findings import Findings
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "WatchChecker", "WatchOptions"]


@dataclass(frozen=True)
class WatchOptions:
    """The watch checker's options."""

    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "watch",
    "watches: every watcher's events are in revision order, gap-free, the same as every "
    "other watcher's, and match the acknowledged writes; no event for a failed write; every "
    "acknowledged write delivered; revisions follow real time",
    lambda options: WatchChecker(options.max_reports),
    WatchOptions,
)


@dataclass
class _Write:
    """One put: of a ``write`` op, or one of a ``txn``'s (which share ``inv`` and ``comp``)."""

    inv: Op
    comp: Op | None
    key: Any
    value: Any

    @property
    def type(self) -> str:
        return self.comp.type if self.comp is not None else "info"

    @property
    def revision(self) -> int | None:
        if self.type != "ok" or self.comp is None:
            return None
        v = self.comp.value
        if isinstance(v, dict):
            return int(v["revision"])
        return int(v[1]["revision"]) if isinstance(v, (list, tuple)) and len(v) == 2 else None

    def ops(self) -> list[dict[str, Any]]:
        return [self.inv.to_dict()] + ([self.comp.to_dict()] if self.comp is not None else [])


@dataclass
class _Watcher:
    name: str
    start: int | None = None
    events: list[tuple[int, Any, Any, Any]] = field(default_factory=list)  # (r, k, v, n)
    where: list[Op] = field(default_factory=list)  # the poll that delivered each event
    compacted: list[tuple[int, int]] = field(default_factory=list)
    target: int | None = None  # the catch-up target, once caught up
    node: str | None = None

    @property
    def revisions(self) -> set[int]:
        return {e[0] for e in self.events}

    @property
    def upto(self) -> int:
        last = self.events[-1][0] if self.events else 0
        return max(last, self.target or 0)

    def covers(self, r: int) -> bool:
        if self.start is None or not self.start <= r <= self.upto:
            return False
        return not any(lo <= r <= hi for lo, hi in self.compacted)


class WatchChecker:
    """The rules in the module docstring; ``max_reports`` caps the anomalies of each rule."""

    name = "watch"

    def __init__(self, max_reports: int = 5) -> None:
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        writes, watchers = _read(history)
        by_value = {_h(w.value): w for w in writes}
        found = Findings(self.max_reports)
        acked = [w for w in writes if w.revision is not None]
        for w in watchers.values():
            self._order(w, found, ctx)
            self._events(w, by_value, found, ctx)
        truth = self._agree(watchers, by_value, found, ctx)
        for write in acked:
            truth.setdefault(write.revision, {}).setdefault(write.key, write.value)  # type: ignore[arg-type]
        revs = sorted(truth)
        for w in watchers.values():
            self._missed(w, revs, truth, by_value, found, ctx)
        self._revisions(acked, found, ctx)

        counts = dict(found.counts)
        anomalies = found.anomalies()
        behind = sorted(w.name for w in watchers.values() if w.target is None)
        details: dict[str, Any] = {
            "writes-acknowledged": len(acked),
            "writes-failed": sum(1 for w in writes if w.type == "fail"),
            "writes-unknown": sum(1 for w in writes if w.type == "info"),
            "revisions-known": len(truth),
            "watchers": {
                w.name: {
                    "node": w.node,
                    "start": w.start,
                    "events": len(w.events),
                    "upto": w.upto,
                    "caught_up": w.target is not None,
                    **({"compacted": w.compacted} if w.compacted else {}),
                }
                for w in watchers.values()
            },
            "anomaly-counts": counts,
        }
        if anomalies:
            return Result(False, anomalies, details)
        if not watchers or not any(w.events for w in watchers.values()):
            return Result("unknown", [], {**details, "reason": "no watcher received any event"})
        if not acked:
            return Result("unknown", [], {**details, "reason": "no write was acknowledged"})
        if behind:
            return Result(
                "unknown",
                [],
                {
                    **details,
                    "reason": f"watcher(s) {', '.join(behind)} "
                    "did not catch up after the heal: what came after their last event "
                    "is unchecked",
                },
            )
        return Result(True, [], details)

    # -- rules ------------------------------------------------------------------------------------

    def _order(self, w: _Watcher, found: Findings, ctx: dict[str, Any]) -> None:
        prev: tuple[int, Any, Op] | None = None  # (revision, response number, poll)
        keys: set[Any] = set()  # the keys received at revision prev[0]
        for (r, k, v, n), poll in zip(w.events, w.where, strict=True):
            if w.start is not None and r < w.start:
                if found.count("event-before-start"):
                    found.keep(
                        Anomaly(
                            "event-before-start",
                            f"{_who(w)} received revision {r} (key {k!r} = {v!r}) in a poll "
                            f"answered at {when(poll.time, ctx)}, but it watches from revision "
                            f"{w.start}: an event from before its start. A watch created at a "
                            "revision must begin there: resuming from the last revision + 1 "
                            "would then deliver an event twice.",
                            [poll.to_dict()],
                            {"watcher": w.name, "revision": r, "start": w.start},
                        )
                    )
            if prev is not None and (r < prev[0] or (r == prev[0] and k in keys)):
                name = "out-of-order" if r < prev[0] else "duplicate-event"
                what = "after it had already received" if r < prev[0] else "a second time, at"
                wrong = "events out of revision order" if r < prev[0] else "a duplicate event"
                if found.count(name):
                    found.keep(
                        Anomaly(
                            name,
                            f"{_who(w)} received revision {r} (key {k!r} = {v!r}) in a poll "
                            f"answered at {when(poll.time, ctx)}, {what} revision {prev[0]} (in a "
                            f"poll answered at {when(prev[2].time, ctx)}): {wrong}. etcd promises "
                            "watch events ordered by revision, each once: an event never follows "
                            "a later one. Look at how the watch was resumed (from the last "
                            "revision + 1) and at what the member sent after a restart.",
                            [prev[2].to_dict(), poll.to_dict()],
                            {"watcher": w.name, "revision": r, "after": prev[0], "key": k},
                        )
                    )
            elif prev is not None and r == prev[0] and None not in (n, prev[1]) and n != prev[1]:
                if found.count("split-revision"):
                    found.keep(
                        Anomaly(
                            "split-revision",
                            f"{_who(w)} received the events of revision {r} in two watch "
                            f"responses (numbers {prev[1]} and {n}, in polls answered at "
                            f"{when(prev[2].time, ctx)} and {when(poll.time, ctx)}; key {k!r} "
                            "came in the second): half a transaction at a time. etcd promises "
                            "atomic watches: all events of one revision (one txn) come in one "
                            "response, so a watcher never sees half a transaction.",
                            [prev[2].to_dict(), poll.to_dict()],
                            {"watcher": w.name, "revision": r, "responses": [prev[1], n]},
                        )
                    )
            if prev is None or r != prev[0]:
                keys = set()
            keys.add(k)
            prev = (r, n, poll)

    def _events(
        self, w: _Watcher, by_value: dict[Any, _Write], found: Findings, ctx: dict[str, Any]
    ) -> None:
        for (r, k, v, _), poll in zip(w.events, w.where, strict=True):
            src = by_value.get(_h(v))
            if src is None or src.key != k:
                if found.count("unknown-event"):
                    found.keep(
                        Anomaly(
                            "unknown-event",
                            f"{_who(w)} received key {k!r} = {v!r} at revision {r} (in a poll "
                            f"answered at {when(poll.time, ctx)}), but no write in the history put "
                            f"{v!r} to {k!r}"
                            + (f" (value {v!r} was written to key {src.key!r})" if src else "")
                            + ": an event nothing wrote. A watch must report only what was "
                            "written.",
                            [poll.to_dict()] + (src.ops() if src else []),
                            {"watcher": w.name, "revision": r, "key": k, "value": v},
                        )
                    )
            elif src.type == "fail":
                if found.count("event-for-failed-write"):
                    found.keep(
                        Anomaly(
                            "event-for-failed-write",
                            f"{_who(w)} received key {k!r} = {v!r} at revision {r} (in a poll "
                            f"answered at {when(poll.time, ctx)}), but the write of {v!r} by "
                            f"{_by(src.inv)} failed at {when(_end(src), ctx)} "
                            f"({src.comp.error if src.comp else '?'}): an event for a write that "
                            "failed, which must not have happened. Either etcd committed a write "
                            "it reported as refused, or the client took an uncertain error for a "
                            "definite one.",
                            src.ops() + [poll.to_dict()],
                            {"watcher": w.name, "revision": r, "key": k, "value": v},
                        )
                    )
            elif src.revision is not None and src.revision != r:
                if found.count("wrong-revision"):
                    found.keep(
                        Anomaly(
                            "wrong-revision",
                            f"{_who(w)} received key {k!r} = {v!r} at revision {r} (in a poll "
                            f"answered at {when(poll.time, ctx)}), but the acknowledgement of that "
                            f"write to {_by(src.inv)} at {when(_end(src), ctx)} gave revision "
                            f"{src.revision}: one write at two revisions. A write has one "
                            "revision, "
                            "the same in its reply and in every watch.",
                            src.ops() + [poll.to_dict()],
                            {"watcher": w.name, "revision": r, "acknowledged": src.revision},
                        )
                    )

    def _agree(
        self,
        watchers: dict[str, _Watcher],
        by_value: dict[Any, _Write],
        found: Findings,
        ctx: dict[str, Any],
    ) -> dict[int, dict[Any, Any]]:
        """revision -> {key: value} over every watcher; reports watchers that disagree on a
        key's value at a revision, or that put two different writes at one revision."""
        truth: dict[int, dict[Any, Any]] = {}
        seen: dict[tuple[int, Any], tuple[_Watcher, Op]] = {}
        made_by: dict[int, tuple[Op, _Watcher, Op]] = {}  # revision -> (write invoke, who, poll)
        for w in watchers.values():
            for (r, k, v, _), poll in zip(w.events, w.where, strict=True):
                at = truth.setdefault(r, {})
                if k not in at:
                    at[k], seen[(r, k)] = v, (w, poll)
                elif at[k] != v and found.count("watchers-disagree"):
                    other, other_poll = seen[(r, k)]
                    found.keep(self._disagree(r, (other, other_poll, at[k]), (w, poll, v), k, ctx))
                src = by_value.get(_h(v))
                if src is None:
                    continue  # reported as an unknown event
                first = made_by.setdefault(r, (src.inv, w, poll))
                if first[0] is not src.inv and found.count("watchers-disagree"):
                    other_v = first[0].value
                    found.keep(
                        self._disagree(r, (first[1], first[2], other_v), (w, poll, v), None, ctx)
                    )
        return truth

    @staticmethod
    def _disagree(
        r: int,
        a: tuple[_Watcher, Op, Any],
        b: tuple[_Watcher, Op, Any],
        key: Any,
        ctx: dict[str, Any],
    ) -> Anomaly:
        (wa, pa, va), (wb, pb, vb) = a, b
        what = f"key {key!r} = " if key is not None else "the effect of "
        return Anomaly(
            "watchers-disagree",
            f"{_who(wb)} received {what}{vb!r} at revision {r} (in a poll answered at "
            f"{when(pb.time, ctx)}), but {_who(wa)} had received {what}{va!r} at that revision "
            f"(in a poll answered at {when(pa.time, ctx)}): two histories for one revision. "
            "One revision is one "
            "write (or one txn), the same for every watcher: the members disagree about "
            "history.",
            [pa.to_dict(), pb.to_dict()],
            {"revision": r, "watchers": [wa.name, wb.name]},
        )

    def _missed(
        self,
        w: _Watcher,
        revs: list[int],
        truth: dict[int, dict[Any, Any]],
        by_value: dict[Any, _Write],
        found: Findings,
        ctx: dict[str, Any],
    ) -> None:
        """Every known event of a revision ``w`` covers that it did not receive; ``revs`` is
        every known revision, sorted. Linear in the revisions covered: each missed event is
        counted, and explained (the received revisions around it found by bisection) only
        when it is one of those reported."""
        have = {(e[0], e[1]) for e in w.events}
        received = sorted({e[0] for e in w.events})
        # the highest revision received by each event: the poll that first went past r is
        # the one that showed the gap (the evidence), not the watcher's last poll
        reached = list(itertools.accumulate((e[0] for e in w.events), max))
        for r in _covered(w, revs):
            for k, v in truth[r].items():
                if (r, k) not in have and found.count("missed-event"):
                    found.keep(_missed_event(w, r, k, v, received, reached, by_value, ctx))

    def _revisions(self, acked: list[_Write], found: Findings, ctx: dict[str, Any]) -> None:
        by_rev: dict[int, _Write] = {}
        for w in acked:
            other = by_rev.setdefault(w.revision, w)  # type: ignore[arg-type]
            if other.inv is not w.inv:  # the puts of one txn share their revision
                if found.count("revision-order"):
                    found.keep(
                        Anomaly(
                            "revision-order",
                            f"{_by(w.inv)} had {w.value!r} to {w.key!r} acknowledged at "
                            f"{when(_end(w), ctx)} with revision {w.revision}, the revision of "
                            f"{other.value!r} to {other.key!r}, acknowledged to {_by(other.inv)} "
                            f"at {when(_end(other), ctx)}: two writes at one revision. Every "
                            "write that changes the store gets a revision of its own.",
                            other.ops() + w.ops(),
                            {"revision": w.revision},
                        )
                    )
        # the largest revision acknowledged before each write was invoked must be smaller
        done = sorted(acked, key=lambda w: w.comp.time)  # type: ignore[union-attr]
        best: _Write | None = None
        i = 0
        for w in sorted(acked, key=lambda w: w.inv.time):
            while i < len(done) and done[i].comp.time < w.inv.time:  # type: ignore[union-attr]
                if best is None or done[i].revision > best.revision:  # type: ignore[operator]
                    best = done[i]
                i += 1
            if best is not None and w.revision < best.revision:  # type: ignore[operator]
                if found.count("revision-order"):
                    found.keep(
                        Anomaly(
                            "revision-order",
                            f"{_by(w.inv)} wrote {w.value!r} to {w.key!r} (invoked at "
                            f"{when(w.inv.time, ctx)}) and got revision {w.revision}, smaller "
                            f"than the revision {best.revision} of the write of {best.value!r} by "
                            f"{_by(best.inv)}, acknowledged before it was invoked (at "
                            f"{when(_end(best), ctx)}): revisions went back in real time. Writes "
                            "are linearizable: revisions must follow real time.",
                            best.ops() + w.ops(),
                            {"revision": w.revision, "earlier": best.revision},
                        )
                    )


def _covered(w: _Watcher, revs: list[int]) -> list[int]:
    """The revisions of ``revs`` (sorted) that ``w`` covers (``_Watcher.covers`` of each, in
    one sweep: bisection to its range, then the compacted ranges in order)."""
    if w.start is None:
        return []
    inside = revs[bisect.bisect_left(revs, w.start) : bisect.bisect_right(revs, w.upto)]
    if not w.compacted:
        return inside
    gaps = sorted(w.compacted)
    out: list[int] = []
    i = 0
    for r in inside:
        while i < len(gaps) and gaps[i][1] < r:
            i += 1  # a compacted range wholly below r: below every later r too
        if i < len(gaps) and gaps[i][0] <= r:
            continue
        out.append(r)
    return out


def _missed_event(
    w: _Watcher,
    r: int,
    k: Any,
    v: Any,
    received: list[int],
    reached: list[int],
    by_value: dict[Any, _Write],
    ctx: dict[str, Any],
) -> Anomaly:
    """The missed-event anomaly of ``w`` and revision ``r``'s event ``k`` = ``v``;
    ``received``: the revisions ``w`` received, sorted."""
    src = by_value.get(_h(v))
    acked = src is not None and src.revision == r
    i, j = bisect.bisect_left(received, r), bisect.bisect_right(received, r)
    before = received[i - 1] if i > 0 else None
    after = received[j] if j < len(received) else None
    span = (
        f"between revisions {before} and {after}"
        if before and after
        else f"before revision {after}"
        if after
        else f"after revision {before}, and it caught up to {w.target}"
        if before
        else f"from its start {w.start} to {w.upto}"
    )
    if j > i:  # r itself was received
        span = f"though it received other events of that revision ({span})"
    origin = (
        f"an acknowledged write by {_by(src.inv)} at {when(_end(src), ctx)}"
        if acked and src is not None
        else "received by another watcher"
    )
    evidence = _showed_gap(w, reached, r)
    seen = (
        f" (the poll that showed it answered at {when(evidence[0]['time'], ctx)})"
        if evidence
        else ""
    )
    return Anomaly(
        "missed-event",
        f"{_who(w)}, watching from revision {w.start}, never received revision "
        f"{r}'s event key {k!r} = {v!r} ({origin}), {span}{seen}: a missed "
        "event. etcd promises reliable watches: a watcher that receives "
        "two events receives every event between them, and a watch resumed from "
        "its last revision + 1 misses nothing.",
        (src.ops() if src else []) + evidence,
        {"watcher": w.name, "revision": r, "key": k, "value": v},
    )


def _showed_gap(w: _Watcher, reached: list[int], r: int) -> list[dict[str, Any]]:
    """The poll that delivered the watcher's first event past revision ``r`` (or, if none
    did, its last poll, the catch-up that claimed to cover ``r``)."""
    i = bisect.bisect_right(reached, r)
    poll = w.where[i] if i < len(w.where) else (w.where[-1] if w.where else None)
    return [poll.to_dict()] if poll is not None else []


def _read(history: list[Op]) -> tuple[list[_Write], dict[str, _Watcher]]:
    """The writes (each put of a txn on its own, with their completion) and the watchers."""
    pending: dict[int | str, list[_Write]] = {}
    writes: list[_Write] = []
    watchers: dict[str, _Watcher] = {}
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = [_Write(op, None, k, v) for k, v in _puts(op)]
            writes += pending[op.process]
            continue
        for w in pending.pop(op.process, []):
            w.comp = op
        if op.f in ("watch", "catch-up") and op.type == "ok" and isinstance(op.value, dict):
            _poll(watchers, op)
    return writes, watchers


def _puts(op: Op) -> list[tuple[Any, Any]]:
    """What a ``write`` or ``txn`` invocation puts, as (key, value) pairs."""
    v = op.value
    if op.f == "write" and isinstance(v, (list, tuple)) and len(v) == 2:
        return [(v[0], v[1])]
    if op.f == "txn" and isinstance(v, (list, tuple)):
        return [(m[1], m[2]) for m in v if isinstance(m, (list, tuple)) and len(m) == 3]
    return []


def _poll(watchers: dict[str, _Watcher], op: Op) -> None:
    v = op.value
    name = str(v.get("watcher", op.process))
    w = watchers.setdefault(name, _Watcher(name, node=op.node))
    if w.start is None and v.get("start") is not None:
        w.start = int(v["start"])
    for e in v.get("events") or []:
        w.events.append((int(e[0]), e[1], e[2], e[3] if len(e) > 3 else None))
        w.where.append(op)
    w.compacted += [(int(lo), int(hi)) for lo, hi in v.get("compacted") or []]
    if op.f == "catch-up" and v.get("caught_up") is True:
        w.target = int(v.get("target", 0))


def _who(w: _Watcher) -> str:
    """ "n2 (watcher w1)": the node a watcher watches through, then the watcher."""
    return f"{w.node or '?'} (watcher {w.name})"


def _by(op: Op) -> str:
    """ "n3 (process 4)": the node a client used, then its process."""
    return f"{op.node or '?'} (process {op.process})"


def _end(w: _Write) -> int:
    """When a write completed (its invocation time if it never did)."""
    return w.comp.time if w.comp is not None else w.inv.time


def _h(v: Any) -> Any:
    return tuple(_h(x) for x in v) if isinstance(v, list) else v
