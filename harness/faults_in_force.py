"""Which faults were in force when an anomaly's operations ran, or which one had just ended.

"0.1 s after partition majorities-ring healed" is most of a diagnosis: a stale read during an
isolated leader, a lost write right after every node was killed. This module reads it off the
history alone, so the terminal, JUnit and the report say the same thing, for a run just made
and for one read back years later.

A fault is in force from the invocation of the nemesis op that started it to the completion of
the op that healed it (it may have taken effect anywhere within the first, and lasted to the
end of the second), as the report's timeline draws it. A start that failed put nothing in
force; one whose outcome is unknown (info) may have. A fault never healed in the history lasts
to its end.

Pure: ops in (``Op``s or their dicts), facts out; the caller says which op starts and which
heals each kind (``starts``: op -> kind, ``heals``: kind -> op, as the fault registry has
them); an op the tables do not name is read by its name (``start-X`` / ``stop-X``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from checkers.base import wall_clock

__all__ = ["Fault", "FaultsAt", "Spans", "annotate", "at", "faults"]

NEMESIS = "nemesis"


@dataclass(frozen=True)
class Fault:
    """One fault in force: ``kind`` (partition, kill...), ``label`` ("partition leader",
    "kill majority (n1, n2, n4)"), from ``start`` to ``end`` in ns since time zero; ``end``
    None when the history never healed it."""

    kind: str
    label: str
    start: int
    end: int | None


@dataclass(frozen=True)
class FaultsAt:
    """The faults an interval of time met: ``during`` (in force at some point of it), else
    ``before``, the last one to end before it began, ``gap`` ns before."""

    during: tuple[Fault, ...]
    before: Fault | None = None
    gap: int = 0

    def sentence(self) -> str:
        """ "during partition leader (from 1.03 s to 4.11 s)", "0.1 s after partition
        majorities-ring healed", "with no fault in force" or "" (no fault at all in the run)."""
        if self.during:
            return "during " + "; ".join(_span(f) for f in self.during)
        if self.before is not None:
            return f"{_secs(self.gap)} after {self.before.label} healed"
        return ""

    def to_dict(self) -> dict[str, Any]:
        """For results.json: the faults by label and the sentence."""
        out: dict[str, Any] = {"during": [f.label for f in self.during]}
        if self.before is not None:
            out["after"] = self.before.label
            out["after_s"] = round(self.gap / 1e9, 3)
        out["sentence"] = self.sentence()
        return out


def annotate(
    anomalies: Iterable[dict[str, Any]],
    history: list[Any],
    starts: Mapping[str, str],
    heals: Mapping[str, str],
    time_zero_ms: int | None = None,
) -> None:
    """Give each anomaly (results.json's dict of it) its ``when``: ``from_s`` / ``to_s``, the
    span its ops ran (only its ``data["op"]`` when the checker names the one op that fails),
    ``utc_from`` / ``utc_to`` with the run's time zero, ``faults`` (``FaultsAt.to_dict``) and
    ``text``, the whole as one phrase: "at 21.380-21.420 s (16:43:23.380Z-16:43:23.420Z),
    0.1 s after partition leader (n2) healed". An anomaly whose ops the history does not
    have gets none."""
    spans = Spans(history)
    every = faults(history, starts, heals)
    for a in anomalies:
        data = a.get("data") if isinstance(a.get("data"), dict) else {}
        failed = data.get("op") if isinstance(data, dict) else None
        # the op the checker names as the one that cannot be (a linearizability anomaly's
        # failing op) when there is one: an op of unknown outcome concurrent with it would
        # stretch the span back to where it began
        ops = [failed] if isinstance(failed, dict) and "index" in failed else a.get("ops") or []
        span = spans.window(o for o in ops if isinstance(o, dict))
        if span is None:
            continue
        start, end = span
        found = at(every, start, end)
        when: dict[str, Any] = {"from_s": round(start / 1e9, 3), "to_s": round(end / 1e9, 3)}
        text = (
            f"at {start / 1e9:.3f} s" if start == end else f"at {start / 1e9:.3f}-{end / 1e9:.3f} s"
        )
        if time_zero_ms is not None:
            when["utc_from"] = wall_clock(time_zero_ms, start)
            when["utc_to"] = wall_clock(time_zero_ms, end)
            same = start == end
            text += f" ({when['utc_from']})" if same else f" ({when['utc_from']}-{when['utc_to']})"
        when["faults"] = found.to_dict()
        if every:
            text += ", " + (found.sentence() or "before any fault")
        when["text"] = text
        a["when"] = when


def faults(
    history: Iterable[Any], starts: Mapping[str, str], heals: Mapping[str, str]
) -> list[Fault]:
    """Every fault the nemesis put in force, in the order they began."""
    heal_kinds: dict[str, list[str]] = {}
    for kind, f in heals.items():
        heal_kinds.setdefault(f, []).append(kind)
    out: list[Fault] = []
    live: dict[str, tuple[Any, Any]] = {}  # kind -> (the start's invocation, its completion)
    pending: dict[str, Any] = {}  # the nemesis's invocation in flight, by f

    def close(kind: str, end: int | None) -> None:
        inv, done = live.pop(kind)
        out.append(Fault(kind, _label(kind, inv, done), int(_get(inv, "time") or 0), end))

    for op in history:
        if _get(op, "process") != NEMESIS:
            continue
        f = str(_get(op, "f"))
        if _get(op, "type") == "invoke":
            pending[f] = op
            continue
        inv = pending.pop(f, op)
        started: str | None = starts.get(f) or (f[6:] if f.startswith("start-") else None)
        healed = heal_kinds.get(f) or ([f[5:]] if f.startswith("stop-") else [])
        if started is not None and f not in heal_kinds and _get(op, "type") != "fail":
            live.setdefault(started, (inv, op))  # a second start of a kind in force extends it
        for k in healed:
            if k in live:
                close(k, int(_get(op, "time") or 0))
    for kind in list(live):
        close(kind, None)
    return sorted(out, key=lambda fault: (fault.start, fault.kind))


def at(all_faults: Iterable[Fault], start: int, end: int) -> FaultsAt:
    """The faults in force at some point from ``start`` to ``end`` (ns), or the last to heal
    before ``start``."""
    during: list[Fault] = []
    before: Fault | None = None
    for fault in all_faults:
        if fault.start <= end and (fault.end is None or fault.end >= start):
            during.append(fault)
        elif fault.end is not None and fault.end < start:
            if before is None or (before.end is not None and fault.end > before.end):
                before = fault
    if during:
        return FaultsAt(tuple(during))
    if before is not None and before.end is not None:
        return FaultsAt((), before, start - before.end)
    return FaultsAt(())


class Spans:
    """The span of time each operation of a history ran, from its invocation to its
    completion, found by index: built once per history, asked once per anomaly."""

    def __init__(self, history: list[Any]) -> None:
        self._time: dict[int, int] = {}
        self._other: dict[int, int] = {}  # index of an invocation <-> its completion's
        pending: dict[Any, int] = {}
        for op in history:
            i, proc = _get(op, "index"), _get(op, "process")
            if not isinstance(i, int):
                continue
            self._time[i] = int(_get(op, "time") or 0)
            key = proc if isinstance(proc, int | str) else json.dumps(proc)
            if _get(op, "type") == "invoke":
                pending[key] = i
            elif key in pending:
                j = pending.pop(key)
                self._other[i], self._other[j] = j, i

    def window(self, ops: Iterable[Any]) -> tuple[int, int] | None:
        """From the earliest invocation to the latest completion of ``ops`` (ns): an op
        named by its completion reaches back to its invocation, and the other way. None when
        no op is known."""
        times: list[int] = []
        for op in ops:
            i = _get(op, "index")
            t = _get(op, "time")
            if isinstance(t, int):
                times.append(t)
            if isinstance(i, int):
                for k in (i, self._other.get(i)):
                    if k is not None and k in self._time:
                        times.append(self._time[k])
        return (min(times), max(times)) if times else None


def _label(kind: str, inv: Any, done: Any) -> str:
    """ "partition leader", "kill majority (n1, n2, n4)": the kind, what was asked (unless it
    only repeats the op's name), and the nodes it struck when the completion lists them."""
    asked = _get(inv, "value")
    text = kind
    if isinstance(asked, str | int | float) and not isinstance(asked, bool):
        text += f" {asked}"
    elif isinstance(asked, dict):
        for key in ("shape", "nodes", "targets"):
            if isinstance(asked.get(key), str):
                text += f" {asked[key]}"
                break
    got = _get(done, "value")
    nodes = got if isinstance(got, list) else None
    if isinstance(got, dict):  # the nodes struck, or (a partition) the leaders cut off
        nodes = got.get("nodes") or got.get("targets") or got.get("primaries")
    if isinstance(nodes, list) and nodes and all(isinstance(n, str) for n in nodes):
        text += f" ({', '.join(nodes)})"
    return text


def _span(f: Fault) -> str:
    end = ", never healed" if f.end is None else f" to {f.end / 1e9:.2f} s"
    return f"{f.label} from {f.start / 1e9:.2f} s{end}"


def _secs(ns: int) -> str:
    s = ns / 1e9
    return f"{s:.1f} s" if s < 100 else f"{s:.0f} s"


def _get(op: Any, key: str) -> Any:
    """A field of an ``Op`` or of its dict."""
    return op.get(key) if isinstance(op, dict) else getattr(op, key, None)
