"""From a history to what the report draws: operations as intervals, fault bands, and the
compact columnar data the page's script reads.

An operation is its invocation and its completion by the same process (a process does one
thing at a time), drawn from the invocation's time to the completion's. An invocation with no
completion (the run was cut short) runs to the end of the history. A fault band runs from the
invocation of the nemesis operation that started it to the completion of the one that healed
it: the fault may have taken effect anywhere in the first and lasted to the end of the second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Band", "Interval", "fault_bands", "intervals", "page_data", "short"]

#: type codes in the page's data
TYPE_CODE = {"ok": 0, "fail": 1, "info": 2, "invoke": 3}  # 3: never completed
NEMESIS = "nemesis"

#: nemesis f -> the kind of fault it starts
STARTS = {
    "start-partition": "partition",
    "start-loss": "loss",
    "kill": "kill",
    "pause": "pause",
    "bump-clock": "clock",
    "strobe-clock": "clock",
}
#: nemesis f -> the kinds of fault it heals
HEALS = {
    "stop-partition": ("partition", "loss"),
    "stop-loss": ("loss",),
    "start": ("kill",),
    "resume": ("pause",),
    "reset-clock": ("clock",),
}

_DESC_MAX = 160


@dataclass(slots=True)
class Interval:
    """One operation: invocation (``inv``) and completion (``done``, None if it never came)."""

    inv: dict[str, Any]
    done: dict[str, Any] | None

    @property
    def start(self) -> int:
        return int(self.inv["time"])

    @property
    def type(self) -> str:
        return "invoke" if self.done is None else str(self.done["type"])


@dataclass
class Band:
    """A fault in force, in ns since the start. ``end`` None: never healed in the history."""

    kind: str
    start: int
    end: int | None
    started_by: dict[str, Any]
    result: dict[str, Any] | None
    healed_by: dict[str, Any] | None

    @property
    def label(self) -> str:
        v = self.started_by.get("value")
        return f"{self.started_by['f']} {short(v, 40)}" if v is not None else self.started_by["f"]


def intervals(ops: list[dict[str, Any]]) -> list[Interval]:
    """Pair each invocation with its process's next completion, in invocation order. A
    completion with no invocation open (a history that begins mid-way) stands alone."""
    out: list[Interval] = []
    open_: dict[Any, Interval] = {}
    for d in ops:
        p = d.get("process")
        key = p if isinstance(p, int | str) else json.dumps(p)
        if d["type"] == "invoke":
            out.append(iv := Interval(d, None))
            open_[key] = iv  # a second invoke leaves the first without a completion
        else:
            pending = open_.pop(key, None)
            if pending is None:
                out.append(Interval(d, d))
            else:
                pending.done = d
    return out


def fault_bands(ivs: list[Interval], t_end: int) -> list[Band]:
    """The faults the nemesis put in force, from its operations. A start that definitely failed
    draws no band; an ``info`` one may have taken effect, so it does."""
    bands: list[Band] = []
    live: dict[str, Band] = {}
    for iv in ivs:
        if iv.inv.get("process") != NEMESIS:
            continue
        f = iv.inv["f"]
        kind = STARTS.get(f) or (f[6:] if f.startswith("start-") else None)
        heals = HEALS.get(f) or ((f[5:],) if f.startswith("stop-") else ())
        end = int(iv.done["time"]) if iv.done is not None else t_end
        if kind is not None and f not in HEALS:
            if iv.type == "fail":
                continue
            if kind in live:  # a second start of the same kind extends the band in force
                continue
            band = Band(kind, iv.start, None, iv.inv, iv.done, None)
            live[kind] = band
            bands.append(band)
        for k in heals:
            healed = live.pop(k, None)
            if healed is not None:
                healed.end = end
                healed.healed_by = iv.inv
    return bands


def page_data(
    ivs: list[Interval], bands: list[Band], t_end: int, anomalies: list[dict[str, Any]]
) -> dict[str, Any]:
    """The columnar data the page's script draws from; times in microseconds.

    ``ops``: parallel arrays p (index into ``procs``), f (index into ``fs``), s / e (start /
    end; e is -1 when never completed), t (type code), i (history index of the invocation),
    d (a short description: value, result, error, node)."""
    procs: dict[str, int] = {}
    fs: dict[str, int] = {}
    cols: dict[str, list[Any]] = {k: [] for k in ("p", "f", "s", "e", "t", "i", "d")}
    p_, f_, s_, e_, t_, i_, d_ = (cols[k] for k in ("p", "f", "s", "e", "t", "i", "d"))
    for iv in ivs:
        inv, done = iv.inv, iv.done
        proc = str(inv.get("process"))
        p_.append(procs.setdefault(proc, len(procs)))
        f_.append(fs.setdefault(inv["f"], len(fs)))
        s_.append(inv["time"] // 1000)
        e_.append(-1 if done is None else done["time"] // 1000)
        t_.append(TYPE_CODE[iv.type])
        i_.append(inv.get("index", -1))
        d_.append(describe(iv))
    return {
        "t_end": t_end // 1000,
        "procs": list(procs),
        "lanes": _lanes(ivs, procs, t_end),
        "fs": list(fs),
        "ops": cols,
        "bands": [
            {
                "kind": b.kind,
                "s": b.start // 1000,
                "e": (t_end if b.end is None else b.end) // 1000,
                "open": b.end is None,
                "label": b.label,
            }
            for b in bands
        ],  # fmt: skip
        "anomalies": anomalies,
    }


def _lanes(ivs: list[Interval], procs: dict[str, int], t_end: int) -> list[int]:
    """A row of the timeline for each process (by index in ``procs``). A worker takes a new
    process after every ``info``, so a long run has hundreds of processes, each alive for a
    while: processes whose lifetimes do not overlap share a row (greedily, in order of their
    first operation), which gives about one row per worker. The nemesis has row 0."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for iv in ivs:
        k = procs[str(iv.inv.get("process"))]
        first.setdefault(k, iv.start)
        end = t_end if iv.done is None else int(iv.done["time"])
        if end > last.get(k, -1):
            last[k] = end
    lane = [0] * len(procs)
    ends: list[int] = []  # per row (from 1), when its last process ends
    nemesis = procs.get(NEMESIS)
    for k in sorted(first, key=lambda k: (first[k], k)):
        if k == nemesis:
            continue
        free = next((r for r, e in enumerate(ends) if e < first[k]), None)
        if free is None:
            ends.append(last[k])
            free = len(ends) - 1
        else:
            ends[free] = last[k]
        lane[k] = free + 1
    return lane


def describe(iv: Interval) -> str:
    """``read [10,null] -> [10,3] (timeout) @n4``: what an op asked, got, and where."""
    inv, done = iv.inv, iv.done
    text = f"{inv['f']} {short(inv.get('value'), 70)}"
    if done is not None and done is not inv and done.get("value") != inv.get("value"):
        text += f" -> {short(done.get('value'), 70)}"
    err = (done or {}).get("error")
    if err:
        text += f" ({short(err, 60)})"
    node = inv.get("node")
    if node:
        text += f" @{node}"
    return text if len(text) <= _DESC_MAX else text[: _DESC_MAX - 3] + "..."


def short(v: Any, limit: int = 80) -> str:
    """A value as compact JSON (a string as itself), cut to ``limit`` characters."""
    s = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str)
    return s if len(s) <= limit else s[: limit - 3] + "..."
