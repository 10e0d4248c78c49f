"""CRDTs: strong eventual consistency, counters within the bounds of what was added, an
observed-remove set that keeps its adds and never brings back what it removed, and the lost
updates of a last-writer-wins register.

The history is the ``crdt`` workload's (``workloads/crdt.py``): ``g-add``/``pn-add n``,
``g-read``/``pn-read`` -> ``ok n``; ``set-add e`` (extra ``dot``), ``set-remove e`` (extra
``removed``: the dots of ``e`` the node held, the adds the remove saw), ``set-read`` -> ``ok
[e, ...]``; ``reg-write v``, ``reg-read`` -> ``ok v``; after the final heal and the quiet
period, ``final-read`` -> ``ok {"g", "pn", "set", "reg"}`` on every node. Set elements and
register values are unique, so a value names its op. An op that completed ``info`` (or never
completed) may have taken effect at any time after its invocation; a ``fail`` never did. An
acknowledged write took effect on its own node before its completion (it was applied there,
durably, before the reply), and a replica serves every read itself: so every read is bounded
by its own node's acknowledged writes and by every write invoked before it completed. Times
are the controller's.

Rules, each an anomaly name (as Jepsen's counter and set-full checks and Maelstrom's
g-counter and pn-counter workloads, adapted to replicas that are allowed to be behind):

``replicas-differ``
    The final reads of two nodes show different values of an object: the replicas did not
    converge after the heal and the quiet period (strong eventual consistency).
``counter-out-of-bounds``
    A final read of a counter is not between the sum of the acknowledged adds plus every
    indeterminate decrement, and that sum plus every indeterminate increment (Maelstrom's
    bounds, as an interval).
``read-out-of-bounds``
    A counter read during the run is outside what its node could have applied by then: at
    least the adds acknowledged on that node before the read began (plus any decrement that
    may have arrived), at most those plus every other increment invoked before it ended.
``stale-read``
    A counter read during the run is outside what its node could hold if it had, of every
    peer it had been up and connected to for ``bound_s`` (no partition between them, neither
    paused nor killed, by the nemesis's ops), that peer's state as of ``bound_s`` before the
    read began, or later: gossip pushes a node's totals to every peer each round (200 ms), and
    a replica's copy of a peer's totals is the peer's state at one moment (both only grow and
    travel together), so after ``bound_s`` of rounds it holds every add the peer had
    acknowledged by then. This is the one rule with a timing premise, as the final reads'
    (which wait for the replicas to agree after the recovery); ``bound_s`` (4 s) is many
    rounds. It is what shows a decrement lost on the other replicas during the run: a
    replica that keeps a peer's older, higher total reads above every value it could hold.
``lost-add``
    An acknowledged add of an element that no remove saw (no remove reported its dot, none
    of unknown outcome) is missing from a final read, or from a read on the add's own node
    after the add and before any remove of the element began.
``resurrected``
    An element whose every add was seen by a remove (the removes reported each add's dot) is
    in a final read, or in a read on the remover's node after that remove completed: a
    removed element came back without a new add.
``unknown-element``
    A set read shows an element no add had been invoked for before the read ended.
``lost-update``
    (register) An acknowledged write is neither the value read nor overwritten by a write
    that was not before it in real time: a read on the write's node after it completed, or a
    final read, shows a value whose write had completed before the lost write began (an older
    write won). This is what a last-writer-wins register does under clock skew (the
    crdt-lww suite, expected invalid).
``unknown-value``
    A register read shows a value no write had been invoked for before the read ended.

Verdict: false when a rule is broken; "unknown" when nothing is broken but there is no final
read; true otherwise.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "Call", "CrdtChecker", "CrdtCheckerOptions", "calls_of"]

#: the end of an op that never completed, or completed info: it may take effect any time
NEVER = 1 << 62
#: the objects a final read shows
OBJECTS = ("g", "pn", "set", "reg")


@dataclass(frozen=True)
class CrdtCheckerOptions:
    """The crdt checker's options."""

    bound_s: float = option(
        4.0,
        "seconds within which a replica holds the counter adds of a peer it is up and "
        "connected to (the stale-read rule)",
        minimum=0.1,
    )
    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "crdt",
    "CRDTs: replicas agree after the heal, counters within the bounds of what was added (at "
    "the end and during the run), OR-set adds kept and removes never undone, last-writer-wins "
    "register lost updates",
    lambda o: CrdtChecker(o.max_reports, o.bound_s),
    CrdtCheckerOptions,
)


@dataclass
class Call:
    """One client op: its invocation and completion (None: it never completed)."""

    invoke: Op
    complete: Op | None

    @property
    def f(self) -> str:
        return self.invoke.f

    @property
    def status(self) -> str:
        return "info" if self.complete is None else self.complete.type

    @property
    def node(self) -> str:
        return str(self.invoke.node)

    @property
    def start(self) -> int:
        return self.invoke.time

    @property
    def end(self) -> int:
        """When it completed, or NEVER when it may still take effect (info, unfinished)."""
        return self.complete.time if self.complete and self.status != "info" else NEVER

    @property
    def result(self) -> Any:
        return self.complete.value if self.complete else None

    def extra(self, key: str) -> Any:
        return self.complete.extra.get(key) if self.complete else None

    def ops(self) -> list[dict[str, Any]]:
        return [op.to_dict() for op in (self.invoke, self.complete) if op is not None]

    def describe(self) -> str:
        """``set-add 7 on n2 (op 120, process 4, invoked at 1.234 s, ok at 1.240 s)``"""
        what = self.f if self.invoke.value is None else f"{self.f} {self.invoke.value!r}"
        done = (
            f", {self.status} at {_s(self.complete.time)}" if self.complete else ", never completed"
        )
        return (
            f"{what} on {self.node} (op {self.invoke.index}, process {self.invoke.process}, "
            f"invoked at {_s(self.start)}{done})"
        )


def calls_of(history: Iterable[Op]) -> list[Call]:
    """Every client op of ``history``, in invocation order, with its completion."""
    pending: dict[int | str, Call] = {}
    calls: list[Call] = []
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            call = Call(op, None)
            pending[op.process] = call
            calls.append(call)
            continue
        call_ = pending.pop(op.process, None)
        if call_ is not None:
            call_.complete = op
    return calls


class CrdtChecker:
    """The rules in the module docstring; ``max_reports`` caps the anomalies of each rule,
    ``bound_s`` is the stale-read rule's bound."""

    name = "crdt"

    def __init__(self, max_reports: int = 5, bound_s: float = 4.0) -> None:
        self.max_reports = max_reports
        self.bound_s = bound_s

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        calls = [c for c in calls_of(history) if c.status != "fail"]
        by_f: dict[str, list[Call]] = defaultdict(list)
        for c in calls:
            by_f[c.f].append(c)
        finals = [c for c in by_f["final-read"] if c.status == "ok" and isinstance(c.result, dict)]
        found: dict[str, list[Anomaly]] = defaultdict(list)
        found["replicas-differ"] = _differ(finals)
        details: dict[str, Any] = {"final-reads": len(finals)}
        links = Links(history, int(self.bound_s * 1e9))
        for name in ("g", "pn"):
            adds = [c for c in by_f[f"{name}-add"] if _is_int(c.invoke.value)]
            reads = [c for c in by_f[f"{name}-read"] if c.status == "ok" and _is_int(c.result)]
            found["counter-out-of-bounds"] += _final_bounds(name, adds, finals)
            found["read-out-of-bounds"] += _read_bounds(name, adds, reads)
            stale, judged = _stale_reads(name, adds, reads, links, self.bound_s)
            found["stale-read"] += stale
            details[name] = {
                "adds": len(adds),
                "reads": len(reads),
                "reads-with-fresh-peers": judged,
            }
        set_found, details["set"] = _check_set(by_f, finals)
        for rule, listed in set_found.items():
            found[rule] += listed
        reg_found, details["reg"] = _check_register(by_f, finals)
        for rule, listed in reg_found.items():
            found[rule] += listed
        anomalies: list[Anomaly] = []
        counts: dict[str, int] = {}
        for rule, listed in found.items():
            if listed:
                counts[rule] = len(listed)
                listed.sort(key=_evidence)
                anomalies += listed[: self.max_reports]
        details["anomalies"] = counts
        if anomalies:
            return Result(False, anomalies, details)
        if not finals:
            reason = "no final read: convergence and the final values were not checked"
            return Result("unknown", [], {**details, "reason": reason})
        return Result(True, [], details)


# -- strong eventual consistency ---------------------------------------------------------------


def _differ(finals: list[Call]) -> list[Anomaly]:
    """One anomaly per object whose final reads do not all show one value."""
    out = []
    for obj in OBJECTS:
        seen: dict[str, list[Call]] = defaultdict(list)
        for c in finals:
            if obj in c.result:
                seen[_canon(c.result[obj])].append(c)
        if len(seen) < 2:
            continue
        groups = sorted(seen.values(), key=len, reverse=True)
        shown = "; ".join(
            f"{', '.join(sorted({c.node for c in g}))} read {_show(g[0].result[obj])}"
            for g in groups
        )
        first = groups[0][0]
        other = groups[1][0]
        out.append(
            Anomaly(
                "replicas-differ",
                f"after the final heal the replicas disagree on {obj!r}: {shown} (final reads "
                f"completed by {_s(max(c.end for g in groups for c in g))})",
                first.ops() + other.ops(),
                {"object": obj, "values": {c.node: c.result[obj] for g in groups for c in g}},
            )
        )
    return out


# -- counters ----------------------------------------------------------------------------------


def _final_bounds(name: str, adds: list[Call], finals: list[Call]) -> list[Anomaly]:
    definite = sum(c.invoke.value for c in adds if c.status == "ok")
    unsure = [c.invoke.value for c in adds if c.status != "ok"]
    lower = definite + sum(d for d in unsure if d < 0)
    upper = definite + sum(d for d in unsure if d > 0)
    out = []
    for c in finals:
        v = c.result.get(name)
        if not _is_int(v) or lower <= v <= upper:
            continue
        out.append(
            Anomaly(
                "counter-out-of-bounds",
                f"the final read of counter {name!r} on {c.node} at {_s(c.end)} shows {v}, "
                f"outside [{lower}, {upper}]: the acknowledged adds sum to {definite} and "
                f"{len(unsure)} of unknown outcome could add from {lower - definite} to "
                f"+{upper - definite}",
                c.ops(),
                {"counter": name, "node": c.node, "value": v, "bounds": [lower, upper]},
            )
        )
    return out


class _Sums:
    """Prefix sums of deltas (all, increments, decrements) over ops sorted by a time."""

    def __init__(self, items: list[tuple[int, int]]) -> None:
        items.sort()
        self.times = [t for t, _ in items]
        self.total, self.pos, self.neg = [0], [0], [0]
        for _, d in items:
            self.total.append(self.total[-1] + d)
            self.pos.append(self.pos[-1] + max(d, 0))
            self.neg.append(self.neg[-1] + min(d, 0))

    def before(self, t: int) -> tuple[int, int, int]:
        """(sum, increments, decrements) of the items strictly before ``t``."""
        i = bisect.bisect_left(self.times, t)
        return self.total[i], self.pos[i], self.neg[i]


def _read_bounds(name: str, adds: list[Call], reads: list[Call]) -> list[Anomaly]:
    possible = _Sums([(c.start, c.invoke.value) for c in adds])
    certain: dict[str, _Sums] = {}
    by_node: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for c in adds:
        if c.status == "ok":
            by_node[c.node].append((c.end, c.invoke.value))
    for node, items in by_node.items():
        certain[node] = _Sums(items)
    out = []
    for r in reads:
        _, pos_all, neg_all = possible.before(r.end)
        mine = certain.get(r.node)
        s, pos, neg = mine.before(r.start) if mine else (0, 0, 0)
        lower, upper = s + (neg_all - neg), s + (pos_all - pos)
        if lower <= r.result <= upper:
            continue
        why = (
            f"more than every add invoked before it ended could make ({upper})"
            if r.result > upper
            else f"less than the adds acknowledged on {r.node} before it began allow ({lower})"
        )
        out.append(
            Anomaly(
                "read-out-of-bounds",
                f"a read of counter {name!r} on {r.node} from {_s(r.start)} to {_s(r.end)} "
                f"shows {r.result}, {why}: {r.node} had acknowledged adds summing to {s}",
                r.ops(),
                {"counter": name, "node": r.node, "value": r.result, "bounds": [lower, upper]},
            )
        )
    return out


#: the nemesis ops whose effect the stale-read rule knows: a fault (cut from its invocation)
#: and its heal (reconnected at its completion)
PAIRED = {"start-partition": "stop-partition", "pause": "resume", "kill": "start"}


class Links:
    """Which pairs of nodes were both up and could talk to each other when, rebuilt from the
    nemesis's ops, and from that how fresh one node's copy of another's state must be.

    A fault cuts from its invocation (it may take effect at any time until it completes):
    ``start-partition`` the pairs its grudge separates (a node and one it cannot hear, either
    way), ``pause`` and ``kill`` every pair of the nodes their completion names; a heal
    reconnects at its completion (``stop-partition``, ``resume`` and ``start``, when ok).
    Any other fault, or one whose completion does not say what it did, cuts every pair for
    the rest of the history. Every pair is connected from the start."""

    def __init__(self, history: Iterable[Op], bound: int) -> None:
        self.bound = bound
        events = [op for op in history if op.process == NEMESIS]
        grudge: dict[str, set[str]] = {}
        down: dict[str, set[str]] = {"pause": set(), "kill": set()}
        #: (time, the nodes down and the pairs cut from then on; None: every pair cut)
        changes: list[tuple[int, tuple[frozenset[str], set[frozenset[str]]] | None]] = []

        def cut() -> tuple[frozenset[str], set[frozenset[str]]]:
            pairs = {frozenset((a, b)) for a, bs in grudge.items() for b in bs if a != b}
            return frozenset(down["pause"] | down["kill"]), pairs

        pending: Op | None = None
        for op in events:
            if op.type == "invoke":
                pending = op
                continue
            inv, pending = pending, None
            if inv is None or inv.f != op.f:
                changes.append((op.time if inv is None else inv.time, None))
                break
            heal = next((k for k, v in PAIRED.items() if v == op.f), None)
            if heal is not None:
                if op.type == "ok":
                    if heal == "start-partition":
                        grudge = {}
                    elif isinstance(op.value, list):
                        down[heal] -= {str(n) for n in op.value}
                    changes.append((op.time, cut()))
                continue
            shape = _grudge(op.value) if op.f == "start-partition" else None
            if shape is not None:
                for a, bs in shape.items():
                    grudge.setdefault(a, set()).update(bs)
            elif op.f in down and isinstance(op.value, list):
                down[op.f] |= {str(n) for n in op.value}
            else:
                changes.append((inv.time, None))
                break
            changes.append((inv.time, cut()))
        else:
            if pending is not None and pending.f not in PAIRED.values():
                changes.append((pending.time, None))  # a fault that never completed
        self.changes = changes
        self._cache: dict[frozenset[str], tuple[list[int], list[int], list[int]]] = {}

    def _intervals(self, pair: frozenset[str]) -> tuple[list[int], list[int], list[int]]:
        """The pair's connected intervals (starts, ends: NEVER when open), and for each the
        latest time its copy is fresh from by the intervals before it (``-1``: none)."""
        if pair in self._cache:
            return self._cache[pair]
        starts, ends = [0], [NEVER]
        for t, state in self.changes:
            connected = state is not None and not (pair & state[0]) and pair not in state[1]
            if ends[-1] == NEVER and not connected:
                ends[-1] = t
            elif ends[-1] != NEVER and connected:
                starts.append(t)
                ends.append(NEVER)
        best, before = [], -1
        for s, e in zip(starts, ends, strict=True):
            best.append(before)
            if e != NEVER and e - s >= self.bound:
                before = max(before, e - self.bound)
        self._cache[pair] = (starts, ends, best)
        return self._cache[pair]

    def fresh_from(self, a: str, b: str, t: int) -> int:
        """The latest time ``a`` must hold ``b``'s state from at ``t``: the start of the last
        ``bound`` they were both up and connected for, ending by ``t`` (0: no such time)."""
        if a == b:
            return t
        starts, ends, best = self._intervals(frozenset((a, b)))
        k = bisect.bisect_right(starts, t) - 1
        if k < 0:
            return 0
        until = min(t, ends[k])
        here = until - self.bound if until - starts[k] >= self.bound else -1
        return max(here, best[k], 0)


def _grudge(value: Any) -> dict[str, list[str]] | None:
    grudge = value.get("grudge") if isinstance(value, dict) else None
    if not isinstance(grudge, dict):
        return None
    return {str(a): [str(b) for b in bs] for a, bs in grudge.items() if isinstance(bs, list)}


def _stale_reads(
    name: str, adds: list[Call], reads: list[Call], links: Links, bound_s: float
) -> tuple[list[Anomaly], int]:
    """Counter reads outside what their node could hold with, of every peer it had been up
    and connected to for ``bound_s``, at least that peer's state ``bound_s`` before the read
    began (the read-out-of-bounds reads are left to that rule); and how many reads had such
    a peer."""
    acked: dict[str, list[tuple[int, int]]] = defaultdict(list)
    invoked: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for c in adds:
        invoked[c.node].append((c.start, c.invoke.value))
        if c.status == "ok":
            acked[c.node].append((c.end, c.invoke.value))
    sums = {n: (_Sums(acked[n]), _Sums(invoked[n])) for n in sorted(invoked)}
    out = []
    judged = 0
    for r in reads:
        lower = upper = lower0 = upper0 = 0
        fresh: dict[str, int] = {}
        for node, (ack, inv) in sums.items():
            _, ipos, ineg = inv.before(r.end)
            since = links.fresh_from(r.node, node, r.start)
            for t, is_fresh in ((since, True), (r.start if node == r.node else 0, False)):
                s, pos, neg = ack.before(t)
                lo, hi = s + ineg - neg, s + ipos - pos
                if is_fresh:
                    lower, upper = lower + lo, upper + hi
                else:
                    lower0, upper0 = lower0 + lo, upper0 + hi
            if node != r.node and since > 0:
                fresh[node] = since
        judged += bool(fresh)
        if lower <= r.result <= upper or not lower0 <= r.result <= upper0:
            continue
        peers = ", ".join(f"{n}'s as of {_s(t)}" for n, t in sorted(fresh.items()))
        side = "above" if r.result > upper else "below"
        out.append(
            Anomaly(
                "stale-read",
                f"a read of counter {name!r} on {r.node} from {_s(r.start)} to {_s(r.end)} "
                f"shows {r.result}, {side} [{lower}, {upper}]: what {r.node} could hold with "
                f"its own adds acknowledged before the read and, of the peers it had been up "
                f"and connected to for {bound_s:g} s, at least their states {bound_s:g} s "
                f"before ({peers}); gossip every round brings a peer's totals, so a correct "
                f"replica is never that far behind a peer it can talk to",
                r.ops(),
                {
                    "counter": name,
                    "node": r.node,
                    "value": r.result,
                    "bounds": [lower, upper],
                    "fresh_from_s": {n: round(t / 1e9, 3) for n, t in sorted(fresh.items())},
                },
            )
        )
    return out, judged


# -- the OR-set --------------------------------------------------------------------------------


def _dot(v: Any) -> tuple[str, int] | None:
    if isinstance(v, list | tuple) and len(v) == 2 and _is_int(v[1]):
        return str(v[0]), int(v[1])
    return None


def _check_set(
    by_f: dict[str, list[Call]], finals: list[Call]
) -> tuple[dict[str, list[Anomaly]], dict[str, Any]]:
    adds: dict[Any, list[Call]] = defaultdict(list)
    for c in by_f["set-add"]:
        adds[c.invoke.value].append(c)
    removes: dict[Any, list[Call]] = defaultdict(list)
    for c in by_f["set-remove"]:
        removes[c.invoke.value].append(c)
    reads = [c for c in by_f["set-read"] if c.status == "ok" and isinstance(c.result, list)]
    by_node: dict[str, list[Call]] = defaultdict(list)
    for r in reads:
        by_node[r.node].append(r)
    reads_on = defaultdict(_NodeReads, {n: _NodeReads(rs) for n, rs in by_node.items()})
    final_sets = [(c, set(_hashable(c.result.get("set") or []))) for c in finals]
    out: dict[str, list[Anomaly]] = defaultdict(list)
    first_add = {e: min(c.start for c in cs) for e, cs in adds.items()}

    for e, add_calls in adds.items():
        rms = removes.get(e, [])
        seen_dots = {
            d for r in rms if r.status == "ok" for d in map(_dot, r.extra("removed") or [])
        }
        unsure_remove = any(r.status != "ok" for r in rms)
        first_remove = min((r.start for r in rms), default=NEVER)
        # lost adds: an acknowledged add no remove saw
        for a in add_calls:
            dot = _dot(a.extra("dot"))
            if a.status != "ok" or dot is None or unsure_remove or dot in seen_dots:
                continue
            for c, elements in final_sets:
                if e not in elements:
                    out["lost-add"].append(_lost_add(e, a, c, "final read on"))
            missing = reads_on[a.node].first_without(e, a.end, first_remove)
            if missing is not None:
                out["lost-add"].append(_lost_add(e, a, missing, "read on the add's node"))
        # resurrections: every add of e seen by a remove
        known = [_dot(a.extra("dot")) for a in add_calls]
        if not seen_dots or any(d is None or d not in seen_dots for d in known):
            continue
        for c, elements in final_sets:
            if e in elements:
                r0 = next(r for r in rms if r.status == "ok" and r.extra("removed"))
                out["resurrected"].append(_resurrected(e, r0, c, "final read on"))
        for r in rms:
            if r.status != "ok" or not r.extra("removed"):
                continue
            later = reads_on[r.node].first_with(e, r.end)
            if later is not None:
                out["resurrected"].append(_resurrected(e, r, later, "read on the remover's node"))
    for r in reads + finals:
        shown = _hashable(r.result if r.f == "set-read" else r.result.get("set") or [])
        for e in shown:
            if first_add.get(e, NEVER) >= r.end:
                out["unknown-element"].append(
                    Anomaly(
                        "unknown-element",
                        f"a set read on {r.node} from {_s(r.start)} to {_s(r.end)} shows "
                        f"{e!r}, which no add had been invoked for by then",
                        r.ops(),
                        {"element": e, "node": r.node},
                    )
                )
    details = {
        "adds": sum(len(v) for v in adds.values()),
        "removes": sum(len(v) for v in removes.values()),
        "reads": len(reads),
    }
    return out, details


class _NodeReads:
    """The set reads of one node, sorted by start, and for each element the reads that show
    it: the first read after an add that misses the element, or after a remove that shows
    it, is found without looking at every later read (each read is as large as the set, and
    a run has thousands of adds and of reads)."""

    def __init__(self, reads: list[Call] | None = None) -> None:
        self.reads = sorted(reads or [], key=lambda r: r.start)
        self.starts = [r.start for r in self.reads]
        #: element -> the positions (in ``reads``) of the reads that show it, ascending
        self.showing: dict[Any, list[int]] = defaultdict(list)
        for i, r in enumerate(self.reads):
            for e in dict.fromkeys(_hashable(r.result)):
                self.showing[e].append(i)

    def first_without(self, e: Any, after: int, before: int) -> Call | None:
        """The first read (by start) that began after ``after``, ended before ``before``
        and does not show ``e``. Walks only the reads that show it (and those that began in
        time but ended too late), each once."""
        reads, has = self.reads, self.showing.get(e, [])
        i = bisect.bisect_right(self.starts, after)
        k = bisect.bisect_left(has, i)
        while i < len(reads) and reads[i].start < before:
            if k < len(has) and has[k] == i:
                k += 1
            elif reads[i].end < before:
                return reads[i]
            i += 1
        return None

    def first_with(self, e: Any, after: int) -> Call | None:
        """The first read (by start) that began after ``after`` and shows ``e``."""
        has = self.showing.get(e, [])
        k = bisect.bisect_left(has, bisect.bisect_right(self.starts, after))
        return self.reads[has[k]] if k < len(has) else None


def _lost_add(e: Any, add: Call, read: Call, what: str) -> Anomaly:
    return Anomaly(
        "lost-add",
        f"the {what} {read.node} from {_s(read.start)} to {_s(read.end)} does not show "
        f"{e!r}, whose add ({add.describe()}) was acknowledged and seen by no remove",
        add.ops() + read.ops(),
        {"element": e, "node": read.node, "add_node": add.node},
    )


def _resurrected(e: Any, remove: Call, read: Call, what: str) -> Anomaly:
    return Anomaly(
        "resurrected",
        f"the {what} {read.node} from {_s(read.start)} to {_s(read.end)} shows {e!r}, "
        f"removed by {remove.describe()} which saw every add of it (dots "
        f"{remove.extra('removed')}): it came back without a new add",
        remove.ops() + read.ops(),
        {"element": e, "node": read.node, "remove_node": remove.node},
    )


# -- the last-writer-wins register -------------------------------------------------------------


def _check_register(
    by_f: dict[str, list[Call]], finals: list[Call]
) -> tuple[dict[str, list[Anomaly]], dict[str, Any]]:
    writes = {c.invoke.value: c for c in by_f["reg-write"]}
    reads = [c for c in by_f["reg-read"] if c.status == "ok"]
    out: dict[str, list[Anomaly]] = defaultdict(list)
    acked: dict[str, list[Call]] = defaultdict(list)
    for w in writes.values():
        if w.status == "ok":
            acked[w.node].append(w)
    # per node: its acknowledged writes by completion, and the latest-begun one so far
    latest: dict[str, tuple[list[int], list[Call]]] = {}
    for node, ws in acked.items():
        ws.sort(key=lambda w: w.end)
        best: list[Call] = []
        for w in ws:
            best.append(w if not best or w.start > best[-1].start else best[-1])
        latest[node] = ([w.end for w in ws], best)
    for r in reads:
        if r.result is not None and writes.get(r.result, None) is None:
            out["unknown-value"].append(_unknown_value(r, r.result))
            continue
        if r.result is not None and writes[r.result].start >= r.end:
            out["unknown-value"].append(_unknown_value(r, r.result))
            continue
        ends, best = latest.get(r.node, ([], []))
        i = bisect.bisect_left(ends, r.start)
        if i == 0:
            continue
        w = best[i - 1]  # the acknowledged write on r's node that began last before r
        shown = writes.get(r.result)
        if shown is None or (shown is not w and shown.end < w.start):
            out["lost-update"].append(_lost_update(w, r, shown, "read on the write's node"))
    all_acked = sorted((w for ws in acked.values() for w in ws), key=lambda w: w.start)
    for c in finals:
        v = c.result.get("reg")
        shown = writes.get(v) if v is not None else None
        if v is not None and shown is None:
            out["unknown-value"].append(_unknown_value(c, v))
            continue
        for w in all_acked:
            if w is not shown and (shown is None or shown.end < w.start):
                out["lost-update"].append(_lost_update(w, c, shown, "final read on"))
    return out, {"writes": len(writes), "reads": len(reads)}


def _lost_update(w: Call, read: Call, shown: Call | None, what: str) -> Anomaly:
    if shown is None:
        older = "the initial empty value"
    else:
        older = (
            f"{shown.invoke.value!r}, written by {shown.describe()}, which had completed "
            f"before the lost write began"
        )
    return Anomaly(
        "lost-update",
        f"the register's {what} {read.node} from {_s(read.start)} to {_s(read.end)} "
        f"shows {older}: the acknowledged {w.describe()} was lost to an older write",
        w.ops() + read.ops() + (shown.ops() if shown else []),
        {"node": read.node, "lost": w.invoke.value, "shown": shown.invoke.value if shown else None},
    )


def _unknown_value(r: Call, v: Any) -> Anomaly:
    return Anomaly(
        "unknown-value",
        f"a register read on {r.node} from {_s(r.start)} to {_s(r.end)} shows {v!r}, which no "
        f"write had been invoked for by then",
        r.ops(),
        {"node": r.node, "value": v},
    )


# -- helpers -----------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _hashable(values: Any) -> list[Any]:
    return [v for v in values if isinstance(v, int | str) and not isinstance(v, bool)]


def _canon(v: Any) -> str:
    return repr(sorted(_hashable(v), key=repr)) if isinstance(v, list) else repr(v)


def _show(v: Any, limit: int = 12) -> str:
    if isinstance(v, list) and len(v) > limit:
        return f"{len(v)} elements [{', '.join(map(repr, v[:limit]))}, ...]"
    return repr(v)


def _evidence(a: Anomaly) -> int:
    """When an anomaly could first be seen: its ops' last time."""
    return max((op.get("time", 0) for op in a.ops), default=0)


def _s(ns: int) -> str:
    return "never" if ns >= NEVER else f"{ns / 1e9:.3f} s"
