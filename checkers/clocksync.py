"""Clock synchronization: the promises of a time with an error bound, checked on the
``clocksync`` workload's history.

The history (``workloads/clocksync.py``) holds the nodes' reports: each ``now`` completion
says a node's time (``time_us``) and the bound it vouches for (``bound_us``), or that it
vouches for nothing (``synced: false``), and carries ``true_us: [before, after]``, the
controller's wall clock when the request left and when the reply came. The controller's clock
is the true time (the nemesis never moves it); the node read its clock somewhere in between.

Rules, each an anomaly name:

``bound-violated``
    A node vouched for ``time ± bound``, and no true time within ``[before, after]`` (give or
    take ``slack_us``) lies in it: its clock was further from the true time than it said.
    Every report is checked, through every fault: an honest node stops vouching rather than
    vouch wrongly.
``not-recovered``
    After a fault healed (a heal op of the nemesis: ``reset-clock``, ``stop-drift``,
    ``stop-delay``, ``stop-partition``, ``stop-loss``, ``start``, ``resume``) and at the start of
    the run, a node that answered within ``recover_s`` never vouched, honestly, for a bound of
    at most ``max_bound_ms`` in that time: it did not come back. A window cut short by the next
    fault or by the end of the history is not judged; a node that did not answer at all in it
    is counted (``unanswered``), not judged.

Each rule reports its first anomaly in the history (where to start looking), then its most
severe ones (``max_reports`` in all); the details count them all. The explanation of each
anomaly names the report's operation, the node, how far its clock was from the true time and
beyond its bound, what its last round rested on (the sources that agreed, the slowest round
trip, its age), and the faults in force from that round to the answer (from the nemesis's
operations in the history: which node had which clock offset or drift rate, which delay), with
what each suggests.
"""

from __future__ import annotations

import bisect
import functools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from checkers.base import Anomaly, Result, unknown
from harness.history import NEMESIS, Op, client_pairs
from harness.registry import CheckerInfo, option

__all__ = [
    "CHECKER",
    "HEALS",
    "ClockSyncChecker",
    "ClockSyncCheckerOptions",
    "Fault",
    "Report",
    "faults_of",
    "reports_of",
]

#: the nemesis ops that end a fault, by the kind of fault they end
HEALS = {
    "reset-clock": "clock",
    "stop-drift": "drift",
    "stop-delay": "delay",
    "stop-partition": "partition",
    "stop-loss": "loss",
    "start": "kill",
    "resume": "pause",
}
#: the nemesis ops that begin a fault, by kind
STARTS = {
    "bump-clock": "clock",
    "strobe-clock": "clock",
    "start-drift": "drift",
    "start-delay": "delay",
    "start-partition": "partition",
    "start-loss": "loss",
    "kill": "kill",
    "pause": "pause",
}


@dataclass(frozen=True)
class ClockSyncCheckerOptions:
    """The clocksync checker's options."""

    slack_us: int = option(
        1000,
        "how far outside a bound a report may be before it counts (the controller's and the "
        "nodes' clocks are read through different calls; on other machines, add their "
        "synchronization error)",
        minimum=0,
    )
    recover_s: float = option(
        1.0, "seconds after a heal within which every node must vouch again", minimum=0.1
    )
    max_bound_ms: int = option(
        100, "the largest bound that counts as synchronized again after a heal", minimum=1
    )
    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "clocksync",
    "clock synchronization: the true time (the controller's clock) within every bound a node "
    "vouches for; every node synchronized again, with a small bound, soon after each fault",
    lambda options: ClockSyncChecker(options),
    ClockSyncCheckerOptions,
)


@dataclass
class Report:
    """One ``now`` answer: ``time_us`` and ``bound_us`` are None when the node vouched for
    nothing. ``lo``/``hi``: the controller's clock before and after (µs)."""

    node: str
    inv: Op
    comp: Op
    synced: bool
    time_us: int | None
    bound_us: int | None
    lo: int
    hi: int

    @property
    def at(self) -> int:
        """History time (ns) of the answer."""
        return self.comp.time

    def error_us(self) -> tuple[int, int]:
        """The least and the most the node's time can have differed from the true time (time
        minus true time, µs), over the true times the request spans."""
        assert self.time_us is not None
        return self.time_us - self.hi, self.time_us - self.lo

    def ops(self) -> list[dict[str, Any]]:
        return [self.inv.to_dict(), self.comp.to_dict()]


@dataclass
class Fault:
    """A fault the nemesis put in force: ``kind`` (clock, drift, delay, ...), the nodes it
    affected (None: not node by node), words for a person, and when (history ns: from the
    start op's invocation to its heal's completion, None: never healed)."""

    kind: str
    words: str
    nodes: list[str] | None
    start: int
    end: int | None = None
    ops: list[Op] = field(default_factory=list)

    def on(self, node: str) -> bool:
        return self.nodes is None or node in self.nodes


def reports_of(history: list[Op]) -> list[Report]:
    """Every ``now`` answer in the history that has the controller's readings around it."""
    out = []
    for inv, comp in client_pairs(history):
        if comp.f != "now" or comp.type != "ok" or not isinstance(comp.value, dict):
            continue
        true = comp.extra.get("true_us")
        if not (isinstance(true, list) and len(true) == 2 and all(_int(x) for x in true)):
            continue
        v = comp.value
        node = str(v["id"]) if isinstance(v.get("id"), str) else (comp.node or "?")
        synced = v.get("synced") is True and _int(v.get("time_us")) and _int(v.get("bound_us"))
        out.append(
            Report(
                node,
                inv,
                comp,
                bool(synced),
                v["time_us"] if synced else None,
                v["bound_us"] if synced else None,
                true[0],
                true[1],
            )
        )
    return out


def faults_of(history: list[Op]) -> list[Fault]:
    """The faults the nemesis's operations put in force, each with its heal."""
    faults: list[Fault] = []
    open_: dict[str, list[Fault]] = {}
    invoked: Op | None = None
    for op in history:
        if op.process != NEMESIS:
            continue
        if op.type == "invoke":
            invoked = op
            continue
        start = invoked.time if invoked is not None and invoked.f == op.f else op.time
        invoked = None
        if op.type == "fail":
            continue
        if op.f in STARTS:
            kind = STARTS[op.f]
            words, nodes = _describe(op)
            if kind in ("delay", "partition", "loss") or op.f == "strobe-clock":
                for f in open_.pop(kind, []):  # a new one replaces the one in force
                    f.end = start
            fault = Fault(kind, words, nodes, start, ops=[op])
            faults.append(fault)
            open_.setdefault(kind, []).append(fault)
        elif op.f in HEALS:
            for f in open_.pop(HEALS[op.f], []):
                f.end = op.time
                f.ops.append(op)
    return faults


class ClockSyncChecker:
    """See the module docstring."""

    name = "clocksync"

    def __init__(self, options: ClockSyncCheckerOptions | None = None) -> None:
        self.o = options or ClockSyncCheckerOptions()

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        reports = reports_of(history)
        synced = [r for r in reports if r.synced]
        if not synced:
            return unknown(
                "no node vouched for a time with a bound: nothing to check",
                reports=len(reports),
            )
        faults = faults_of(history)
        found: dict[str, list[_Found]] = {}

        def report(rule: str, weight: float, seen: int, build: Callable[[], Anomaly]) -> None:
            found.setdefault(rule, []).append((weight, seen, build))

        details = self._bounds(synced, faults, report)
        details.update(self._recovery(history, reports, report))
        per_node: dict[str, dict[str, Any]] = {}
        for node in sorted({r.node for r in reports}):
            mine = [r for r in reports if r.node == node]
            bounds = [r.bound_us for r in mine if r.bound_us is not None]
            per_node[node] = {
                "reports": len(mine),
                "synced": len(bounds),
                "median-bound-ms": round(statistics.median(bounds) / 1000, 3) if bounds else None,
            }
        details.update(reports=len(reports), synced=len(synced), nodes=per_node)
        details["faults"] = len(faults)
        anomalies: list[Anomaly] = []
        counts: dict[str, int] = {}
        for rule in RULES:
            got = found.get(rule, [])
            counts[rule] = len(got)
            anomalies += _first_then_worst(got, self.o.max_reports)
        details["anomaly-counts"] = {k: v for k, v in counts.items() if v}
        return Result(not anomalies, anomalies, details)

    # -- the rules -------------------------------------------------------------------------

    def _bounds(self, synced: list[Report], faults: list[Fault], report: Any) -> dict[str, Any]:
        """bound-violated for every report; the least margin left, for details."""
        slack = self.o.slack_us
        margin: float | None = None
        largest = 0
        for r in synced:
            assert r.bound_us is not None
            least, most = r.error_us()
            # the smallest distance from the node's time to a true time it spans
            off = least if least > 0 else (most if most < 0 else 0)
            largest = max(largest, abs(off))
            room = r.bound_us - abs(off)
            margin = room if margin is None else min(margin, room)
            if abs(off) > r.bound_us + slack:
                build = functools.partial(self._violated, r, off, faults)
                report("bound-violated", abs(off) - r.bound_us, _seen(r), build)
        return {
            "largest-error-ms": round(largest / 1000, 3),
            "least-margin-ms": round((margin or 0) / 1000, 3),
        }

    def _recovery(self, history: list[Op], reports: list[Report], report: Any) -> dict[str, Any]:
        """not-recovered after each heal (and the start of the run)."""
        if not history:
            return {}
        end = history[-1].time
        window = int(self.o.recover_s * 1e9)
        first_client = next((op.time for op in history if op.process != NEMESIS), 0)
        points: list[tuple[int, str]] = [(first_client, "the start of the run")]
        starts: list[int] = []
        for op in history:
            if op.process != NEMESIS:
                continue
            if op.type == "invoke" and op.f in STARTS:
                starts.append(op.time)
            elif op.type in ("ok", "info") and op.f in HEALS:
                points.append((op.time, f"the {op.f} at {op.time / 1e9:.3f} s"))
        by_node: dict[str, list[Report]] = {}
        for r in reports:
            by_node.setdefault(r.node, []).append(r)
        nodes = sorted(by_node)
        times = {node: [r.at for r in mine] for node, mine in by_node.items()}
        # a history is written in time order: then each window is found by bisection
        ordered = _in_order(starts) and all(_in_order(t) for t in times.values())
        judged = recovered = unanswered = cut = 0
        slowest = 0.0
        for at, what in points:
            stop = at + window
            if _any_within(starts, at, stop, ordered) or stop > end:
                cut += 1
                continue
            for node in nodes:
                seen = _answered(by_node[node], times[node], at, stop, ordered)
                if not seen:
                    unanswered += 1
                    continue
                judged += 1
                good = next((r for r in seen if self._fresh(r)), None)
                if good is not None:
                    recovered += 1
                    slowest = max(slowest, (good.at - at) / 1e9)
                    continue
                build = functools.partial(self._not_recovered, node, what, at, seen)
                report("not-recovered", len(seen), _seen(seen[-1]), build)
        return {
            "recoveries": {
                "judged": judged,
                "recovered": recovered,
                "slowest-s": round(slowest, 3),
                "unanswered": unanswered,
                "windows-cut-short": cut,
            }
        }

    def _fresh(self, r: Report) -> bool:
        """A report that vouches honestly for a bound of at most max_bound_ms."""
        if not r.synced or r.bound_us is None or r.bound_us > self.o.max_bound_ms * 1000:
            return False
        least, most = r.error_us()
        off = least if least > 0 else (most if most < 0 else 0)
        return abs(off) <= r.bound_us + self.o.slack_us

    # -- anomalies -------------------------------------------------------------------------

    def _violated(self, r: Report, off: int, faults: list[Fault]) -> Anomaly:
        assert r.bound_us is not None and r.time_us is not None
        v = r.comp.value
        way = "ahead of" if off > 0 else "behind"
        sync = v.get("sync") if isinstance(v.get("sync"), dict) else {}
        rested = ""
        if sync:
            rested = (
                f" Its last round, {v.get('age_ms')} ms before, rested on "
                f"{', '.join(map(str, sync.get('sources') or [])) or 'no source'} "
                f"({sync.get('answered')} peers answered, the slowest in "
                f"{sync.get('rtt_ms')} ms)."
            )
        # what the answer rests on was read during its last round: as early as its age and
        # the round's slowest round trip before the request
        lookback = int((_num_or(v.get("age_ms")) + _num_or(sync.get("rtt_ms"))) * 1e6)
        since = r.inv.time - lookback
        in_force = [f for f in faults if f.start <= r.at and (f.end is None or f.end >= since)]
        if in_force:
            listed = "; ".join(f"{f.words} since {f.start / 1e9:.3f} s" for f in in_force)
            context = f" Faults in force: {listed}."
        else:
            context = " No fault was in force."
        text = (
            f"{r.node} answered op {r.comp.index} at {r.at / 1e9:.3f} s with the time "
            f"{r.time_us} ± {r.bound_us / 1000:.3f} ms (µs since the epoch), but the true time "
            f"(the controller's clock) was from {r.lo} to {r.hi} while it answered: its clock "
            f"was at least {abs(off) / 1000:.3f} ms {way} the true time, "
            f"{(abs(off) - r.bound_us) / 1000:.3f} ms beyond the bound it vouched for."
            f"{rested}{context} {_hint(r.node, in_force, abs(off) / 1000, sync.get('rtt_ms'))}"
        )
        data = {
            "node": r.node,
            "time_us": r.time_us,
            "bound_us": r.bound_us,
            "true_us": [r.lo, r.hi],
            "error_ms": round(off / 1000, 3),
            "beyond_ms": round((abs(off) - r.bound_us) / 1000, 3),
            "faults": [f.words for f in in_force],
        }
        return Anomaly("bound-violated", text, r.ops(), data)

    def _not_recovered(self, node: str, what: str, at: int, seen: list[Report]) -> Anomaly:
        last = seen[-1]
        if not last.synced:
            state = f"vouching for nothing ({last.comp.value.get('why', 'no reason given')})"
        else:
            assert last.bound_us is not None
            state = f"vouching for ± {last.bound_us / 1000:.3f} ms"
        text = (
            f"{node} answered {len(seen)} time(s) in the {self.o.recover_s:g} s after {what}, "
            f"and never vouched honestly for a bound of {self.o.max_bound_ms} ms or less: its "
            f"last answer (op {last.comp.index}, {(last.at - at) / 1e9:.3f} s after) was "
            f"{state}. A node must synchronize again within a few rounds once its peers can "
            "be read."
        )
        data = {"node": node, "after": what, "answers": len(seen)}
        return Anomaly("not-recovered", text, last.ops(), data)


RULES = ("bound-violated", "not-recovered")


# -- helpers ----------------------------------------------------------------------------------


#: an anomaly found: (its weight, when the history shows it: the last time of its ops, how
#: to build it). Built only when reported: a clock that drifts all run long breaks the bound
#: in every answer, and each explanation lists the faults in force.
_Found = tuple[float, int, Callable[[], Anomaly]]


def _first_then_worst(got: list[_Found], n: int) -> list[Anomaly]:
    """The first anomaly in the history (where to start looking), then the most severe
    others, ``n`` in all."""
    if not got:
        return []
    first = min(got, key=lambda wa: wa[1])
    rest = sorted((wa for wa in got if wa is not first), key=lambda wa: -wa[0])
    return [first[2]()] + [build() for _, _, build in rest[: n - 1]]


def _seen(r: Report) -> int:
    """When the history shows an anomaly whose ops are ``r``'s: the last of their times."""
    return max(r.inv.time, r.comp.time)


def _in_order(times: list[int]) -> bool:
    return all(a <= b for a, b in zip(times, times[1:], strict=False))


def _any_within(starts: list[int], at: int, stop: int, ordered: bool) -> bool:
    """Whether a time of ``starts`` lies strictly between ``at`` and ``stop`` (by bisection
    when ``ordered``)."""
    if not ordered:
        return any(at < s < stop for s in starts)
    i = bisect.bisect_right(starts, at)
    return i < len(starts) and starts[i] < stop


def _answered(
    mine: list[Report], times: list[int], at: int, stop: int, ordered: bool
) -> list[Report]:
    """The reports of ``mine`` (one node's, in history order; ``times``: when each was
    answered) answered from ``at`` to ``stop`` (by bisection when ``ordered``)."""
    if not ordered:
        return [r for r in mine if at <= r.at <= stop]
    return mine[bisect.bisect_left(times, at) : bisect.bisect_right(times, stop)]


def _hint(node: str, in_force: list[Fault], error_ms: float, rtt_ms: Any) -> str:
    """What the faults in force suggest, for the node whose bound broke ``error_ms`` off;
    ``rtt_ms`` is the slowest round trip its last round rested on."""
    hints = []
    if any(f.kind == "delay" for f in in_force):
        hints.append(
            "Under delay every reading of a peer's clock is half a round trip old at best when "
            "it arrives: the bound must take half the round trip in (Cristian)."
        )
    elif _num(rtt_ms) and error_ms <= rtt_ms:
        hints.append(
            f"The error is within the slowest round trip its last round rested on ({rtt_ms} "
            "ms): a reading of a peer's clock may be that old when it arrives, and the bound "
            "must take half the round trip in (Cristian)."
        )
    if any(f.kind in ("clock", "drift") and not f.on(node) for f in in_force):
        hints.append(
            "Another node's clock was wrong: a source must be outvoted unless a majority "
            "of sources agree with it (Marzullo), never trusted alone."
        )
    if any(f.kind == "drift" and f.on(node) for f in in_force):
        hints.append(
            "This node's own clock was drifting: its bound must grow by the maximum drift "
            "times the time since the round that set it."
        )
    if any(f.kind == "clock" and f.on(node) for f in in_force):
        hints.append(
            "This node's own clock was stepped: a step must void what the node learnt before "
            "it, until its next round."
        )
    return " ".join(hints) or "Check what the bound accounts for."


def _describe(op: Op) -> tuple[str, list[str] | None]:
    """Words for a fault's start op, and the nodes it affected."""
    v = op.value
    if op.f == "bump-clock" and isinstance(v, dict):
        nodes = sorted(v)
        offs = ", ".join(f"{n} {float(v[n]):+.3f} s" for n in nodes if _num(v[n]))
        return f"clock offsets {offs}", nodes
    if op.f == "strobe-clock" and isinstance(v, dict):
        nodes = [str(n) for n in v.get("nodes") or []]
        return (
            f"a clock strobe on {', '.join(nodes)} (flipping by {v.get('delta_ms')} ms every "
            f"{v.get('period_ms')} ms)",
            nodes,
        )
    if op.f == "start-drift" and isinstance(v, dict):
        nodes = sorted(v)
        rates = ", ".join(f"{n} at x{v[n].get('rate')}" for n in nodes if isinstance(v[n], dict))
        return f"clock drift: {rates}", nodes
    if op.f == "start-delay" and isinstance(v, dict):
        nodes = [str(n) for n in v.get("nodes") or []]
        return (
            f"delay on {', '.join(nodes)} ({v.get('latency_ms')} ± {v.get('jitter_ms')} ms)",
            nodes,
        )
    if op.f == "start-partition" and isinstance(v, dict):
        return f"a partition ({v.get('shape')}: {v.get('grudge')})", None
    if op.f == "start-loss" and isinstance(v, dict):
        return f"packet loss ({v.get('probability')})", [str(n) for n in v.get("nodes") or []]
    if op.f in ("kill", "pause") and isinstance(v, list):
        nodes = [str(n) for n in v]
        return f"{', '.join(nodes)} {'killed' if op.f == 'kill' else 'paused'}", nodes
    return f"{op.f} {v!r}", None


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _num_or(x: Any, default: float = 0.0) -> float:
    return float(x) if _num(x) else default
