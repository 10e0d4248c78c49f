"""Emergent leader: the views agree after each heal, killed nodes leave them, and one acting
leader per connected side.

The history is the ``emergent`` workload's: ``view`` ops whose ``ok`` value is a node's view
(``{"node", "leader", "members", ...}``), ``act`` ops whose ``ok`` value says that node acted
as the leader in its incarnation ``inc`` (``{"leader", "inc", ...}``: the pair is its
*reign*), and the nemesis's ops, from which the checker rebuilds who could talk to whom over
time: a ``start-partition`` completion carries its grudge (``{node: [nodes it cannot
hear]}``); two nodes are on one side when neither cannot hear the other, and a side is a
connected component of that relation. From a partition's (or a heal's) invocation to its
completion, and while packet loss is on, the sides are unknown and nothing is judged.

Rules, each an anomaly name (``bound_s``: the suite's bound):

``two-leaders-in-side``
    Two reigns acted in turn within one connected side: reign R acted, then (invoked after
    that completed) a reign R' of another node acted, then (invoked after R' completed) R
    acted again, every one of the three while both nodes were on one side, and R''s node
    neither killed nor paused in between (R then leads again by right). R' acting means R
    had been removed from the views of the members R' reached; R acting after that is a
    node leading on a stale view of its own.
``no-agreement-after-heal``
    After a heal (the last of a group of ``stop-partition``, ``start``, ``resume``), every
    node must answer a view, all the same (one leader, one member set) and holding every
    node, within ``bound_s`` of the heal's completion (views invoked after the heal count).
    Judged only when the quiet time before the next fault lasts at least ``bound_s``; the
    time it took is reported for every heal (``details.convergence``). After the final heal
    the clients rest for the suite's ``recovery`` and read each view once: those must agree
    (the time reported then includes the rest).
``dead-member-kept``
    A node killed (``kill`` completed) is still a member in a view some other node gave,
    invoked more than ``bound_s`` after the kill and before the node was started again.

Notes, not anomalies: several acting leaders at once on different sides of a partition (the
pattern's known trade-off: every side elects its own), and heals followed too soon by the
next fault to judge agreement (``details.notes``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result
from harness.history import NEMESIS, Op, client_pairs
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "EmergentChecker", "EmergentOptions", "Sides", "sides_of_grudge"]

#: the nemesis ops that end a fault; every other nemesis op starts one
HEALS = frozenset({"stop-partition", "start", "resume", "stop-loss"})

Reign = tuple[str, int]


@dataclass(frozen=True)
class EmergentOptions:
    """The emergent checker's options."""

    bound_s: float = option(
        4.0, "seconds after a heal (or a kill) within which the views must agree", minimum=0.1
    )
    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "emergent",
    "emergent leader: views agree within a bound after each heal, killed nodes leave every "
    "view, at most one acting leader per connected side",
    lambda options: EmergentChecker(options.bound_s, options.max_reports),
    EmergentOptions,
)


def sides_of_grudge(grudge: dict[str, list[str]], nodes: set[str]) -> list[frozenset[str]]:
    """The connected components of "neither cannot hear the other" over ``nodes``."""
    deaf = {(a, b) for a, bs in grudge.items() for b in bs}
    names = sorted(nodes | set(grudge))
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if (a, b) not in deaf and (b, a) not in deaf:
                parent[root(a)] = root(b)
    groups: dict[str, set[str]] = {}
    for n in names:
        groups.setdefault(root(n), set()).add(n)
    return sorted((frozenset(g) for g in groups.values()), key=sorted)


@dataclass(frozen=True)
class Segment:
    """From ``start`` to ``end`` (ns), the sides in force, or None while they are unknown."""

    start: int
    end: int
    sides: tuple[frozenset[str], ...] | None


class Sides:
    """Who could talk to whom over time, from the nemesis's ops."""

    def __init__(self, history: list[Op], nodes: set[str]) -> None:
        end = max((op.time for op in history), default=0)
        everyone: tuple[frozenset[str], ...] = (frozenset(nodes),)
        partition: tuple[frozenset[str], ...] | None = everyone
        changing = lossy = False
        self.segments: list[Segment] = []
        start: int = 0
        current: tuple[frozenset[str], ...] | None = everyone
        for op in history:
            if op.process != NEMESIS:
                continue
            if op.f in ("start-partition", "stop-partition"):
                if op.type == "invoke":
                    changing = True
                else:
                    changing = False
                    if op.type != "ok":
                        partition = None
                    elif op.f == "stop-partition":
                        partition = everyone
                    else:
                        grudge = op.value.get("grudge") if isinstance(op.value, dict) else None
                        partition = (
                            tuple(sides_of_grudge(grudge, nodes))
                            if isinstance(grudge, dict)
                            else None
                        )
            elif op.f == "start-loss" and op.type == "invoke":
                lossy = True
            elif op.f == "stop-loss" and op.type == "ok":
                lossy = False
            now = None if changing or lossy else partition
            if now != current:
                self.segments.append(Segment(start, op.time, current))
                start, current = op.time, now
        self.segments.append(Segment(start, max(end, start), current))
        self._ends = [s.end for s in self.segments]
        #: segments follow one another (each starts where the one before ended) when the
        #: nemesis's ops are in time order, as a run writes them: then ``within`` bisects
        self._in_order = all(a <= b for a, b in zip(self._ends, self._ends[1:], strict=False))

    def within(self, start: int, end: int) -> Segment | None:
        """The segment that holds all of ``[start, end]`` (the first, at a boundary), or
        None. Asked for every act, so found by bisection: the first segment that ends at or
        after ``end`` holds it if any does (those before end sooner, those after start
        later)."""
        if self._in_order:
            i = bisect.bisect_left(self._ends, end)
            if i < len(self.segments) and self.segments[i].start <= start:
                return self.segments[i]
            return None
        for s in self.segments:
            if s.start <= start and end <= s.end:
                return s
        return None

    def together(self, start: int, end: int, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` were on one known side all through ``[start, end]``."""
        seg = self.within(start, end)
        return (
            seg is not None
            and seg.sides is not None
            and any(a in side and b in side for side in seg.sides)
        )


@dataclass(frozen=True)
class Act:
    """One act that succeeded: its reign and its operation's interval."""

    reign: Reign
    inv: Op
    comp: Op

    @property
    def node(self) -> str:
        return self.reign[0]

    def ops(self) -> list[dict[str, Any]]:
        return [self.inv.to_dict(), self.comp.to_dict()]


@dataclass(frozen=True)
class View:
    node: str
    leader: str | None
    members: tuple[str, ...]
    inv: Op
    comp: Op

    def says(self) -> tuple[str | None, tuple[str, ...]]:
        return self.leader, self.members


class _Together:
    """One reign's acts while its node was on one side with another node: by invocation
    (ties in the order of ``acts``), the first to complete, and from each position on, the
    first to complete (ties: the one earliest in ``acts``)."""

    def __init__(self, acts: list[Act]) -> None:
        self.first = min(acts, key=lambda x: x.comp.time)
        order = sorted(range(len(acts)), key=lambda i: acts[i].inv.time)
        self.acts = [acts[i] for i in order]
        self.starts = [x.inv.time for x in self.acts]
        #: suffix[i]: the index in ``acts`` of the first to complete among self.acts[i:]
        self._suffix: list[tuple[int, int]] = [(0, 0)] * len(order)
        best: tuple[int, int] | None = None
        for j in range(len(order) - 1, -1, -1):
            key = (acts[order[j]].comp.time, order[j])
            best = key if best is None or key < best else best
            self._suffix[j] = best
        self._all = acts

    def first_completed_invoked_after(self, t: int) -> Act | None:
        """Of the acts invoked after ``t``, the first to complete (ties: the earliest in the
        acts' order), or None."""
        i = bisect.bisect_right(self.starts, t)
        return self._all[self._suffix[i][1]] if i < len(self.starts) else None


class EmergentChecker:
    """The rules in the module docstring."""

    name = "emergent"

    def __init__(self, bound_s: float = 4.0, max_reports: int = 5) -> None:
        self.bound = int(bound_s * 1e9)
        self.bound_s = bound_s
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        acts: list[Act] = []
        views: list[View] = []
        nodes: set[str] = set()
        for inv, comp in client_pairs(history):
            if comp.node:
                nodes.add(comp.node)
            v = comp.value
            if comp.type != "ok" or not isinstance(v, dict):
                continue
            if (
                comp.f == "act"
                and isinstance(v.get("leader"), str)
                and isinstance(v.get("inc"), int)
            ):
                acts.append(Act((v["leader"], v["inc"]), inv, comp))
            elif (
                comp.f == "view"
                and isinstance(v.get("node"), str)
                and isinstance(v.get("members"), list)
            ):
                leader = v.get("leader") if isinstance(v.get("leader"), str) else None
                views.append(
                    View(v["node"], leader, tuple(sorted(map(str, v["members"]))), inv, comp)
                )
                nodes.add(v["node"])
        sides = Sides(history, nodes)
        notes: list[str] = []
        doubles = self._two_leaders(acts, sides, _departures(history))
        notes += self._across_sides(acts, sides)
        unagreed, convergence = self._agreement(history, views, nodes, notes)
        kept = self._dead_kept(history, views)
        anomalies = (
            doubles[: self.max_reports] + unagreed[: self.max_reports] + kept[: self.max_reports]
        )
        times = sorted(c["converged_s"] for c in convergence if c["converged_s"] is not None)
        details: dict[str, Any] = {
            "bound_s": self.bound_s,
            "acts": len(acts),
            "reigns": len({a.reign for a in acts}),
            "views": len(views),
            "convergence": convergence,
            "convergence_max_s": times[-1] if times else None,
            "convergence_median_s": times[len(times) // 2] if times else None,
            "two-leaders-in-side": len(doubles),
            "no-agreement-after-heal": len(unagreed),
            "dead-member-kept": len(kept),
            "notes": notes,
        }
        if anomalies:
            return Result(False, anomalies, details)
        if not views or not acts:
            return Result("unknown", [], {**details, "reason": "no view, or no node ever acted"})
        return Result(True, [], details)

    # -- one acting leader per side ------------------------------------------------------

    def _two_leaders(
        self, acts: list[Act], sides: Sides, departures: dict[str, list[int]]
    ) -> list[Anomaly]:
        """For every two reigns of different nodes. What one reign's acts give a pair depends
        on the other reign's node only, so it is worked out once per reign and node, sorted
        by invocation, and each pair bisects it: linear in the acts, not in acts times
        reigns."""
        by_reign: dict[Reign, list[Act]] = {}
        for act in acts:
            by_reign.setdefault(act.reign, []).append(act)
        nodes = sorted({r[0] for r in by_reign})
        gone_at = {n: sorted(ts) for n, ts in departures.items()}
        # (reign, other node) -> its acts while on one side with that node, by invocation
        # (stable: ties in the order of the acts), their invocation times, the first to
        # complete, and from each position on the first to complete (ties: the earliest act)
        together: dict[tuple[Reign, str], _Together] = {}
        for r, mine in by_reign.items():
            for b in nodes:
                if b == r[0]:
                    continue
                ours = [x for x in mine if sides.together(x.inv.time, x.comp.time, r[0], b)]
                if ours:
                    together[r, b] = _Together(ours)
        out: list[Anomaly] = []
        reigns = sorted(by_reign)
        for r in reigns:
            for r2 in reigns:
                if r[0] == r2[0]:
                    continue
                a, b = r[0], r2[0]
                ours_t = together.get((r, b))
                theirs_t = together.get((r2, a))
                if ours_t is None or theirs_t is None:
                    continue
                first = ours_t.first
                other = theirs_t.first_completed_invoked_after(first.comp.time)
                if other is None:
                    continue
                # b's node killed or paused since it acted: a leads again by right
                gone = gone_at.get(b, [])
                g = bisect.bisect_left(gone, other.comp.time)
                until = gone[g] if g < len(gone) else None
                lo = bisect.bisect_right(ours_t.starts, other.comp.time)
                hi = len(ours_t.acts) if until is None else bisect.bisect_left(ours_t.starts, until)
                if lo >= hi:
                    continue
                stale = ours_t.acts[lo]
                out.append(
                    Anomaly(
                        "two-leaders-in-side",
                        f"{a} (incarnation {r[1]}) acted as the leader at {_s(first.comp.time)}, "
                        f"then {b} (incarnation {r2[1]}) acted as the leader at "
                        f"{_s(other.comp.time)}, then {a} acted again in the same incarnation in "
                        f"an operation invoked at {_s(stale.inv.time)}, {a} and {b} on one side "
                        f"at each of the three ({hi - lo} such acts of {a}). {b} could act "
                        f"only once {a} had left the views of the members it reached; {a} then "
                        "led on a stale "
                        "view of its own. A node must act only when the members it can reach "
                        "agree that it leads.",
                        first.ops() + other.ops() + stale.ops(),
                        {
                            "stale": a,
                            "stale_inc": r[1],
                            "leader": b,
                            "leader_inc": r2[1],
                            "stale_acts": hi - lo,
                        },  # fmt: skip
                    )
                )
        return sorted(out, key=lambda x: max(o["time"] for o in x.ops))

    def _across_sides(self, acts: list[Act], sides: Sides) -> list[str]:
        notes = []
        by_start = sorted(acts, key=lambda a: a.inv.time)
        starts = [a.inv.time for a in by_start]
        for seg in sides.segments:
            if seg.sides is None or len(seg.sides) < 2:
                continue
            acting: dict[int, set[str]] = {}
            # the acts invoked in the segment (bisection), of which those completed in it
            lo, hi = bisect.bisect_left(starts, seg.start), bisect.bisect_right(starts, seg.end)
            for a in by_start[lo:hi]:
                if a.comp.time <= seg.end:
                    for i, side in enumerate(seg.sides):
                        if a.node in side:
                            acting.setdefault(i, set()).add(a.node)
            if len(acting) > 1:
                who = "; ".join(
                    f"{', '.join(sorted(ns))} on side [{', '.join(sorted(seg.sides[i]))}]"
                    for i, ns in sorted(acting.items())
                )
                notes.append(
                    f"from {_s(seg.start)} to {_s(seg.end)}, partitioned, leaders acted on "
                    f"{len(acting)} sides ({who}): one leader per side is the pattern's known "
                    "trade-off, not an anomaly"
                )
        return notes

    # -- agreement after each heal -------------------------------------------------------

    def _agreement(
        self, history: list[Op], views: list[View], nodes: set[str], notes: list[str]
    ) -> tuple[list[Anomaly], list[dict[str, Any]]]:
        end = max((op.time for op in history), default=0)
        out: list[Anomaly] = []
        convergence: list[dict[str, Any]] = []
        everyone = tuple(sorted(nodes))
        by_end = sorted(views, key=lambda v: v.comp.time)
        ends = [v.comp.time for v in by_end]
        for heal, until in _heal_points(history, end):
            h = heal.time
            latest: dict[str, View] = {}
            converged: int | None = None
            at_bound: dict[str, View] | None = None
            # those completed from the heal to ``until`` (bisection; ``by_end`` is sorted)
            for v in by_end[bisect.bisect_left(ends, h) : bisect.bisect_right(ends, until)]:
                if v.inv.time < h:
                    continue
                if at_bound is None and v.comp.time > h + self.bound:
                    at_bound = dict(latest)
                latest[v.node] = v
                said = {x.says() for x in latest.values()}
                if len(latest) == len(nodes) and len(said) == 1 and v.members == everyone:
                    converged = v.comp.time
                    break
            took = None if converged is None else round((converged - h) / 1e9, 3)
            convergence.append({"heal": heal.f, "at_s": round(h / 1e9, 3), "converged_s": took})
            if converged is not None and (converged - h <= self.bound or until == end):
                continue  # the final heal: the views are read after the recovery, once
            if until - h < self.bound:
                notes.append(
                    f"the {heal.f} at {_s(h)} was followed by the next fault after "
                    f"{(until - h) / 1e9:.3f} s, less than the bound: agreement not judged"
                )
                continue
            seen = latest if at_bound is None else at_bound
            out.append(self._unagreed(heal, seen, everyone, took))
        return out, convergence

    def _unagreed(
        self, heal: Op, seen: dict[str, View], everyone: tuple[str, ...], took: float | None
    ) -> Anomaly:
        silent = [n for n in everyone if n not in seen]
        said = "; ".join(
            f"{n}: leader {v.leader}, members [{', '.join(v.members)}]"
            for n, v in sorted(seen.items())
        )
        when = "never before the next fault" if took is None else f"only after {took:.3f} s"
        return Anomaly(
            "no-agreement-after-heal",
            f"after the {heal.f} completed at {_s(heal.time)}, the views did not agree on every "
            f"node as members with one leader within {self.bound_s:g} s ({when}). The last "
            f"views within the bound: {said or 'none'}"
            + (f"; no view since the heal from {', '.join(silent)}" if silent else "")
            + ". With every node up and connected, gossip must bring every view to the same "
            "members (an accused node refutes with a higher incarnation) and so the same "
            "oldest member.",
            [heal.to_dict()]
            + [o for v in seen.values() for o in (v.inv.to_dict(), v.comp.to_dict())],
            {
                "heal": heal.f,
                "heal_at_s": round(heal.time / 1e9, 3),
                "converged_s": took,
                "views": {
                    n: {"leader": v.leader, "members": list(v.members)} for n, v in seen.items()
                },
                "silent": silent,
            },  # fmt: skip
        )

    # -- killed nodes leave every view ---------------------------------------------------

    def _dead_kept(self, history: list[Op], views: list[View]) -> list[Anomaly]:
        out: list[Anomaly] = []
        end = max((op.time for op in history), default=0)
        # the views by invocation (ties in their order), for bisection
        order = sorted(range(len(views)), key=lambda i: views[i].inv.time)
        starts = [views[i].inv.time for i in order]
        for kill, restart in _kills(history, end):
            killed = set(kill.value)
            after = kill.time + self.bound
            # those invoked from ``after`` to ``restart``, in the views' order
            lo, hi = bisect.bisect_left(starts, after), bisect.bisect_right(starts, restart)
            bad = [
                v
                for v in (views[i] for i in sorted(order[lo:hi]))
                if v.node not in killed
                and v.inv.time >= after
                and v.comp.time <= restart
                and killed & set(v.members)
            ]
            if not bad:
                continue
            first = min(bad, key=lambda v: v.comp.time)
            still = sorted(killed & set(first.members))
            out.append(
                Anomaly(
                    "dead-member-kept",
                    f"{', '.join(still)} killed at {_s(kill.time)} is still a member in "
                    f"{first.node}'s view invoked at {_s(first.inv.time)}, "
                    f"{(first.inv.time - kill.time) / 1e9:.3f} s later (bound {self.bound_s:g} "
                    f"s; {len(bad)} such views before the restart). A member that stops "
                    "answering probes must be suspected, then declared dead and removed when the "
                    "suspicion times out.",
                    [kill.to_dict(), first.inv.to_dict(), first.comp.to_dict()],
                    {
                        "killed": sorted(killed),
                        "node": first.node,
                        "views": len(bad),
                        "after_s": round((first.inv.time - kill.time) / 1e9, 3),
                    },  # fmt: skip
                )
            )
        return out


def _heal_points(history: list[Op], end: int) -> list[tuple[Op, int]]:
    """Each heal that ends a fault (the last of a group of heals) and when the next fault
    started (or the history ended)."""
    events = [op for op in history if op.process == NEMESIS]
    out: list[tuple[Op, int]] = []
    fault_seen = False
    # next_invoke[i]: the first invocation after events[i], or None
    next_invoke: list[Op | None] = [None] * len(events)
    for i in range(len(events) - 2, -1, -1):
        o = events[i + 1]
        next_invoke[i] = o if o.type == "invoke" else next_invoke[i + 1]
    for i, op in enumerate(events):
        if op.type == "invoke" and op.f not in HEALS:
            fault_seen = True
            continue
        if op.type == "invoke" or op.f not in HEALS or not fault_seen:
            continue
        nxt = next_invoke[i]
        if nxt is not None and nxt.f in HEALS:
            continue  # another heal follows: the group ends with it
        out.append((op, end if nxt is None else nxt.time))
        fault_seen = False
    return out


def _departures(history: list[Op]) -> dict[str, list[int]]:
    """When each node was killed or paused (the completions of ``kill`` and ``pause``)."""
    out: dict[str, list[int]] = {}
    for op in history:
        if op.process == NEMESIS and op.f in ("kill", "pause") and op.type != "invoke":
            for node in op.value if isinstance(op.value, list) else []:
                out.setdefault(str(node), []).append(op.time)
    return out


def _kills(history: list[Op], end: int) -> list[tuple[Op, int]]:
    """Each completed kill (with the names it killed) and when a start was next invoked."""
    events = [op for op in history if op.process == NEMESIS]
    out: list[tuple[Op, int]] = []
    # next_start[i]: the first invocation of a start after events[i], or None
    next_start: list[Op | None] = [None] * len(events)
    for i in range(len(events) - 2, -1, -1):
        o = events[i + 1]
        next_start[i] = o if o.f == "start" and o.type == "invoke" else next_start[i + 1]
    for i, op in enumerate(events):
        if op.f != "kill" or op.type == "invoke" or not isinstance(op.value, list) or not op.value:
            continue
        nxt = next_start[i]
        out.append((op, end if nxt is None else nxt.time))
    return out


def _s(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"
