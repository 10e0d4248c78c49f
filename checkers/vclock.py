"""Vector clocks: a multi-value store's reads never go back in causal time, no acknowledged
write is silently dropped, and the replicas agree after the final heal.

The history is the ``vclock`` workload's (``workloads/vclock.py``): ``read [key, None]`` ->
``ok [key, [siblings...]]``; ``write [key, v]`` whose ``extra["saw"]`` lists the siblings of
the last read of ``key`` by the same process (the versions the write's context covers, that
it replaces); after the final heal ``final-read`` -> ``ok {key: [siblings...]}`` on every node.
Values are unique, so a value names its write.

Causality is rebuilt from the clients' side, trusting nothing the store says about clocks:
write w *supersedes* every value in its ``saw``, and everything those supersede. A version is
*known* to a process once it read it, or wrote it and the write was acknowledged. The rules,
each an anomaly name:

``went-back``
    A read by a process does not show a version the process already knew, nor any version
    that supersedes it: the read went back in causal time (read-your-writes and monotonic
    reads, for a multi-value register). A returned version older than the one missed is named.
``dominated-sibling``
    A read returned two versions one of which supersedes the other: the siblings must be
    exactly the concurrent maximal versions.
``unknown-value``
    A read returned a value that no write which may have happened wrote.
``lost-write``
    An acknowledged write is, after the final heal, neither a sibling on any node nor
    superseded by a sibling there: it was silently dropped.
``replicas-differ``
    The final reads of two nodes do not show the same siblings of a key: the replicas did not
    converge.

Then, when the history fits it, the ``causal`` checker (``checkers/causal``) runs on the reads
that returned a single version (as register reads, with the writes): see ``single_versions``
for why that projection is exact for this store, and why reads of several siblings are left
out. Its anomalies (``read-your-writes``, ``causal``, ...) are reported as it names them.

Verdict: false when a rule is broken; "unknown" when nothing is broken but something could not
be checked (no final read, a node without one, values written twice, the causal checker out of
time); true otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.base import Anomaly, Result, merge_valid
from checkers.causal import CausalChecker
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

__all__ = [
    "CHECKER",
    "VClockChecker",
    "VClockCheckerOptions",
    "Write",
    "single_versions",
]


@dataclass(frozen=True)
class VClockCheckerOptions:
    """The vclock checker's options."""

    max_reports: int = option(5, "anomalies reported per rule", minimum=1)
    consistency_models: tuple[str, ...] = option(
        ("causal",),
        "models the causal checker checks on the single-version reads (an empty list: do not "
        "run it)",
    )
    time_budget_s: float = option(60.0, "seconds the causal checker may take", minimum=0.001)


CHECKER = CheckerInfo(
    "vclock",
    "multi-value store with vector clocks: reads never go back in causal time, siblings are "
    "the concurrent maximal versions, no acknowledged write lost, replicas agree after the heal",
    lambda o: VClockChecker(o.max_reports, o.consistency_models, o.time_budget_s),
    VClockCheckerOptions,
)


@dataclass
class Write:
    """One write of the history (``status``: ok, info or fail; info when it never completed)."""

    key: str
    value: Any
    process: Any
    node: str | None
    status: str
    saw: list[Any]
    invoke: Op
    complete: Op | None
    #: its position among the writes of its key (the bit that stands for it)
    bit: int = 0
    #: the bits of every write it supersedes, transitively
    ancestors: int = 0

    def ops(self) -> list[dict[str, Any]]:
        return [op.to_dict() for op in (self.invoke, self.complete) if op is not None]

    def describe(self) -> str:
        when = f", {self.status} at {_s(self.complete.time)}" if self.complete else ""
        node = f" on {self.node}" if self.node else ""
        return f"write {self.value!r} (op {self.invoke.index}, process {self.process}{node}{when})"


@dataclass
class _Keyspace:
    """The writes of one key, by value and by bit."""

    by_value: dict[Any, Write] = field(default_factory=dict)
    by_bit: list[Write] = field(default_factory=list)


class VClockChecker:
    """The rules in the module docstring. ``max_reports`` caps the anomalies of each rule;
    ``consistency_models`` are what the causal checker checks on the single-version reads
    (empty: it does not run)."""

    name = "vclock"

    def __init__(
        self,
        max_reports: int = 5,
        consistency_models: Iterable[str] = ("causal",),
        time_budget_s: float = 60.0,
    ) -> None:
        self.max_reports = max_reports
        models = tuple(consistency_models)
        self.causal = (
            CausalChecker(models, time_budget_s, max_cases=max_reports) if models else None
        )

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        return _Check(history, self.max_reports).run(self.causal)


class _Check:
    """One check of one history (the state the rules share)."""

    def __init__(self, history: list[Op], max_reports: int) -> None:
        self.history = history
        self.max_reports = max_reports
        self.keys: dict[str, _Keyspace] = {}
        self.found: dict[str, list[Anomaly]] = {}
        self.counts: dict[str, int] = {}
        self.unknown: list[str] = []

    def run(self, causal: CausalChecker | None) -> Result:
        pairs = _pairs(self.history)
        self._writes(pairs)
        reads, finals = self._reads(pairs)
        self._finals(finals)
        anomalies = [a for name in sorted(self.found) for a in self.found[name]]
        writes = sum(len(k.by_value) for k in self.keys.values())
        details: dict[str, Any] = {
            "keys": len(self.keys),
            "writes": writes,
            "acknowledged-writes": sum(
                w.status == "ok" for k in self.keys.values() for w in k.by_value.values()
            ),
            "reads": reads,
            "final-reads": len(finals),
            "found": dict(sorted(self.counts.items())),
        }
        if writes == 0:
            self.unknown.append("no write in the history")
        valid: Any = False if anomalies else ("unknown" if self.unknown else True)
        if causal is not None:
            r = causal.check(single_versions(self.history), {})
            kept = ("checked", "found", "not", "reason")
            details["causal"] = {
                "valid": r.valid,
                "on": "the reads that returned one version, and the writes",
                **{k: r.details[k] for k in kept if k in r.details},
            }
            if r.valid == "unknown":
                self.unknown.append(f"the causal checker: {r.details.get('reason')}")
            anomalies += r.anomalies
            valid = merge_valid([valid, r.valid])
        if self.unknown:
            details["reason" if valid == "unknown" else "not-checked"] = "; ".join(self.unknown)
        return Result(valid, anomalies, details)

    # -- the writes and what each supersedes ------------------------------------------------

    def _writes(self, pairs: list[tuple[Op, Op | None]]) -> None:
        twice: list[str] = []
        for inv, comp in pairs:
            if inv.f != "write" or not _keyed(inv.value):
                continue
            key, value = inv.value
            saw = (comp.extra if comp is not None else inv.extra).get("saw")
            if saw is None:
                saw = inv.extra.get("saw", [])
            status = comp.type if comp is not None else "info"
            space = self.keys.setdefault(key, _Keyspace())
            if _h(value) in space.by_value:
                twice.append(f"{value!r} of {key!r}")
                continue
            w = Write(key, value, inv.process, inv.node, status, list(saw or []), inv, comp)
            w.bit = len(space.by_bit)
            space.by_value[_h(value)] = w
            space.by_bit.append(w)
        if twice:
            self.unknown.append(
                f"{len(twice)} value(s) written twice ({', '.join(twice[:3])}): a read of one "
                "does not name one write, and only the first write of each was checked"
            )
        for space in self.keys.values():
            for w in space.by_bit:  # in invocation order: a write saw only earlier ones
                w.ancestors = self._ancestors(space, w)

    def _ancestors(self, space: _Keyspace, w: Write) -> int:
        """The bits of every write ``w`` supersedes: those it saw, and theirs."""
        mask = 0
        for v in w.saw:
            parent = space.by_value.get(_h(v))
            if parent is None or parent is w:
                continue
            if parent.bit > w.bit:
                # a write invoked after it, whose ancestors are not known yet: only a store
                # that shows a value before its write was sent makes this happen
                mask |= 1 << parent.bit
                continue
            mask |= parent.ancestors | (1 << parent.bit)
        return mask & ~(1 << w.bit)

    # -- reads: values, siblings, sessions --------------------------------------------------

    def _reads(self, pairs: list[tuple[Op, Op | None]]) -> tuple[int, list[Op]]:
        """Check every ok read (final reads too) against the rules of a single read and the
        process's session; returns the number of reads and the final reads."""
        known: dict[tuple[Any, str], dict[int, tuple[str, Op]]] = {}
        reads = 0
        finals: list[Op] = []
        for inv, comp in pairs:
            if comp is None or comp.type != "ok":
                continue
            if inv.f == "write" and _keyed(inv.value):
                key, value = inv.value
                w = self.keys[key].by_value.get(_h(value))
                if w is not None and w.invoke is inv:
                    mine = known.setdefault((comp.process, key), {})
                    _learn(mine, self.keys[key], w, ("wrote", comp))
            elif inv.f == "read" and _keyed(comp.value) and isinstance(comp.value[1], list):
                reads += 1
                self._read(comp, comp.value[0], comp.value[1], known)
            elif inv.f == "final-read" and isinstance(comp.value, dict):
                finals.append(comp)
                for key, values in sorted(comp.value.items()):
                    if isinstance(values, list):
                        self._read(comp, key, values, known)
        return reads, finals

    def _read(
        self,
        op: Op,
        key: str,
        values: list[Any],
        known: dict[tuple[Any, str], dict[int, tuple[str, Op]]],
    ) -> None:
        space = self.keys.setdefault(key, _Keyspace())
        shown: list[Write] = []
        for v in values:
            w = space.by_value.get(_h(v))
            if w is None or w.status == "fail":
                self._unknown_value(op, key, v, w)
            else:
                shown.append(w)
        self._siblings(op, key, shown)
        cover = 0
        for w in shown:
            cover |= w.ancestors | (1 << w.bit)
        mine = known.setdefault((op.process, key), {})
        missed = [b for b in mine if not cover >> b & 1]
        if missed:
            self._went_back(op, key, values, space, shown, missed, mine)
        for w in shown:
            _learn(mine, space, w, ("read", op))

    def _unknown_value(self, op: Op, key: str, value: Any, w: Write | None) -> None:
        why = (
            f"whose only write failed definitely ({w.describe()})"
            if w is not None
            else "which no write of the history wrote"
        )
        self._report(
            "unknown-value",
            f"{_who(op)} read {key!r} and got the version {value!r}, {why}. A replica showed "
            "a value nobody wrote, or one whose write the store refused: check what a replica "
            "answers and what it keeps of a refused write.",
            [op.to_dict()] + (w.ops() if w is not None else []),
            {"key": key, "value": value},
        )

    def _siblings(self, op: Op, key: str, shown: list[Write]) -> None:
        for old in shown:
            newer = [w for w in shown if w.ancestors >> old.bit & 1]
            if not newer:
                continue
            new = newer[0]
            how = "directly" if _h(old.value) in {_h(v) for v in new.saw} else "transitively"
            self._report(
                "dominated-sibling",
                f"{_who(op)} read {key!r} and got {old.value!r} and {new.value!r} as siblings, "
                f"but {new.value!r} supersedes {old.value!r}: its writer had seen it "
                f"({how}; {new.describe()}). Siblings must be the concurrent maximal versions: "
                f"{old.value!r} should have been dropped when {new.value!r} arrived. A replica "
                "that forgets part of its context (merging contexts with a minimum, say) takes "
                "back versions it had already replaced.",
                [op.to_dict()] + new.ops() + old.ops(),
                {"key": key, "old": old.value, "new": new.value, "node": op.node},
            )

    def _went_back(
        self,
        op: Op,
        key: str,
        values: list[Any],
        space: _Keyspace,
        shown: list[Write],
        missed: list[int],
        mine: dict[int, tuple[str, Op]],
    ) -> None:
        # the newest of what it missed: a missed version that another missed one supersedes
        # says nothing more
        top = [b for b in missed if not any(space.by_bit[o].ancestors >> b & 1 for o in missed)]
        lost = space.by_bit[max(top, key=lambda b: mine[b][1].index)]
        how, source = mine[lost.bit]
        older = [w.value for w in shown if lost.ancestors >> w.bit & 1]
        learned = (
            f"it had written {lost.value!r} itself (op {source.index}, ok at {_s(source.time)})"
            if how == "wrote"
            else f"it had read {lost.value!r} before (op {source.index} at {_s(source.time)})"
        )
        stale = ""
        if older:
            them = ", ".join(map(repr, older))
            stale = f" It got older versions instead: {lost.value!r}'s writer had seen {them}."
        self._report(
            "went-back",
            f"{_who(op)} read {key!r} at {_s(op.time)} and got {values!r}, but {learned}, and "
            f"none of the versions it got supersedes {lost.value!r}: the read went back in "
            f"causal time.{stale} A replica must keep every version until a write whose "
            "context covers it replaces it, remember what it has shown a client (durably), "
            "and merge contexts with the element-wise maximum; last-writer-wins drops "
            "concurrent versions, and a stamp from a clock that is behind drops later ones.",
            [source.to_dict(), op.to_dict()] + lost.ops(),
            {
                "key": key,
                "process": op.process,
                "node": op.node,
                "missed": lost.value,
                "got": values,
                "older": older,
                "missed-versions": len(missed),
            },
        )

    # -- after the final heal ---------------------------------------------------------------

    def _finals(self, finals: list[Op]) -> None:
        if not finals:
            self.unknown.append(
                "no final read completed: lost writes and convergence were not checked"
            )
            return
        views: dict[str, dict[str, list[Any]]] = {}
        for op in finals:
            label = op.node or f"process {op.process}"
            if label in views and _h(views[label]) != _h(op.value):
                label = f"{label} (op {op.index})"  # two final reads of one node differ
            views.setdefault(label, op.value)
        served = {op.node for op in self.history if op.process != NEMESIS and op.node is not None}
        missing = sorted(served - set(views))
        if missing:
            self.unknown.append(
                f"no final read from {', '.join(missing)}: their replicas were not compared"
            )
        self._lost(views, finals)
        self._differ(finals, views)

    def _lost(self, views: dict[str, dict[str, list[Any]]], finals: list[Op]) -> None:
        """Each acknowledged write no final view shows or supersedes; the anomaly's ops are
        the write and the final reads that prove it gone (its evidence is the last of them)."""
        final_ops = [op.to_dict() for op in finals]
        for key, space in sorted(self.keys.items()):
            covers = {}
            for node, view in views.items():
                cover = 0
                for v in view.get(key) or []:
                    w = space.by_value.get(_h(v))
                    if w is not None:
                        cover |= w.ancestors | (1 << w.bit)
                covers[node] = cover
            for w in space.by_bit:
                if w.status != "ok" or any(c >> w.bit & 1 for c in covers.values()):
                    continue
                shown = {n: views[n].get(key) or [] for n in sorted(views)}
                self._report(
                    "lost-write",
                    f"{w.describe()} of {key!r} was acknowledged, but after the final heal no "
                    f"replica has it, nor a version whose writer saw it: the final reads show "
                    f"{_views(shown)}. It was silently dropped. A replica may drop a version "
                    "only for one whose context covers it: last-writer-wins drops concurrent "
                    "writes, and a node that reuses a dot (its context forgot its own "
                    "counter) makes every merge keep one of the two writes.",
                    w.ops() + final_ops,
                    {"key": key, "value": w.value, "final": shown},
                )

    def _differ(self, finals: list[Op], views: dict[str, dict[str, list[Any]]]) -> None:
        keys = sorted({k for v in views.values() for k in v} | set(self.keys))
        differ = {}
        for key in keys:
            seen = {n: sorted(map(repr, map(_h, views[n].get(key) or []))) for n in views}
            if len({tuple(s) for s in seen.values()}) > 1:
                differ[key] = {n: views[n].get(key) or [] for n in sorted(views)}
        if not differ:
            return
        converged = {str(op.node): op.extra.get("converged") for op in finals}
        waited = [n for n, c in converged.items() if c is False]
        note = (
            f" The replicas {', '.join(map(str, sorted(waited)))} said they had not converged "
            "when their settle time ran out."
            if waited
            else ""
        )
        text = "; ".join(f"{k!r}: {_views(v)}" for k, v in list(differ.items())[:5])
        self._report(
            "replicas-differ",
            f"after the final heal the replicas disagree on {len(differ)} key(s): {text}."
            f"{note} Anti-entropy must bring every replica to the same versions once the "
            "network heals: check that every peer is tried again after a failure, and that "
            "a merge is commutative, associative and idempotent (the same result whichever "
            "replica merges first).",
            [op.to_dict() for op in finals],
            {"keys": differ, "converged": converged},
        )

    def _report(self, name: str, text: str, ops: list[dict[str, Any]], data: dict) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        out = self.found.setdefault(name, [])
        if len(out) < self.max_reports:
            out.append(Anomaly(name, text, ops, data))


def _learn(
    mine: dict[int, tuple[str, Op]], space: _Keyspace, w: Write, how: tuple[str, Op]
) -> None:
    """Record that a process knows ``w`` (``how``: it wrote or read it, in which op), keeping
    ``mine`` to the versions it knows that no other version it knows supersedes: a read that
    shows a version shows what that version supersedes, so a superseded one can never be
    the newest version a read missed (``_went_back``'s ``top``), and a process that knows a
    long chain of versions of a key does not make each of its reads scan the whole chain.
    A version it wrote replaces a record of having read it, as before."""
    if w.bit in mine:
        if how[0] == "wrote":
            mine[w.bit] = how
        return
    by_bit = space.by_bit
    if any(by_bit[b].ancestors >> w.bit & 1 for b in mine):
        return  # a version it knows already supersedes w
    for b in [b for b in mine if w.ancestors >> b & 1]:
        del mine[b]
    mine[w.bit] = how


def single_versions(history: list[Op]) -> list[Op]:
    """``history`` as the ``causal`` checker reads a register history: every write as it is,
    every read that returned one version as a read of that value (none: of the initial
    value), each final read as one such read per key, in the same process; reads of several
    siblings are left out (a register read returns one value). Indices and times are kept,
    so the causal checker's explanations name the history's own ops.

    Why this is exact for this store: a replica's state only grows, and holds everything the
    writers of its versions had seen (whole states are exchanged), and a process stays on one
    replica. A single version v returned means every version the replica holds is v or
    superseded by v; so if the causal checker's register rules (a process's writes of a key
    in its order, the initial value first) find v older than a write in the read's causal
    past, the store did go back. Reads of several siblings are left out: that only removes
    evidence, never adds any."""
    left_out = {
        id(inv)
        for inv, comp in _pairs(history)
        if inv.f == "read"
        and comp is not None
        and comp.type == "ok"
        and not (_keyed(comp.value) and isinstance(comp.value[1], list) and len(comp.value[1]) <= 1)
    }
    out: list[Op] = []
    pending: dict[Any, Op] = {}
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = op
            if op.f in ("read", "write") and id(op) not in left_out:
                out.append(_as(op, op.value if op.f == "write" else [_key(op.value), None]))
            continue
        inv = pending.pop(op.process, None)
        if inv is None or id(inv) in left_out:
            continue
        if inv.f == "final-read" and op.type == "ok" and isinstance(op.value, dict):
            for key, values in sorted(op.value.items()):
                if isinstance(values, list) and len(values) <= 1:
                    out.append(_as(op, [key, None], type="invoke"))
                    out.append(_as(op, [key, values[0] if values else None], type="ok"))
        elif inv.f == "write":
            out.append(_as(op, inv.value))
        elif inv.f == "read":
            got = op.value[1] if op.type == "ok" else None
            out.append(_as(op, [_key(inv.value), got[0] if got else None]))
    return out


# -- helpers --------------------------------------------------------------------------------


def _pairs(history: list[Op]) -> list[tuple[Op, Op | None]]:
    """(invocation, completion or None) of every client op, in invocation order."""
    pending: dict[Any, int] = {}
    out: list[tuple[Op, Op | None]] = []
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = len(out)
            out.append((op, None))
        else:
            i = pending.pop(op.process, None)
            if i is not None:
                out[i] = (out[i][0], op)
    return out


def _keyed(v: Any) -> bool:
    return isinstance(v, list | tuple) and len(v) == 2 and isinstance(v[0], str)


def _key(v: Any) -> Any:
    return v[0] if isinstance(v, list | tuple) and v else None


def _h(v: Any) -> Any:
    """A hashable stand-in for a JSON value."""
    if isinstance(v, list):
        return tuple(_h(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), _h(x)) for k, x in v.items()))
    return v


def _as(op: Op, value: Any, *, type: str | None = None) -> Op:
    return Op(
        type=type or op.type,
        f="read" if op.f in ("read", "final-read") else op.f,
        value=value,
        process=op.process,
        time=op.time,
        index=op.index,
        node=op.node,
        error=op.error,
    )


def _who(op: Op) -> str:
    node = f" on {op.node}" if op.node else ""
    return f"op {op.index} (process {op.process}{node})"


def _views(per_node: dict[str, list[Any]]) -> str:
    return ", ".join(f"{n} {v!r}" for n, v in per_node.items())


def _s(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"
