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
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.registry import FaultInfo, faults

__all__ = [
    "Band",
    "FaultKinds",
    "Interval",
    "fault_bands",
    "fault_kinds",
    "ink",
    "intervals",
    "page_data",
    "short",
]

#: type codes in the page's data
TYPE_CODE = {"ok": 0, "fail": 1, "info": 2, "invoke": 3}  # 3: never completed
NEMESIS = "nemesis"

#: the colour of a kind the registry does not know (a plugin's, in a run read elsewhere)
UNKNOWN_COLOR = str(FaultInfo.__dataclass_fields__["color"].default)
#: kinds an op healed in histories written before the kind had a heal of its own: packet loss
#: was healed with the partitions, by ``stop-partition``. Read so only in a history that never
#: makes the kind's own heal.
_OLD_HEALS = {"stop-partition": ("loss",)}

_DESC_MAX = 160


@dataclass(frozen=True)
class FaultKinds:
    """What the report knows of the fault kinds: the kind each op starts, the op that heals
    each kind, and each kind's colour (CSS)."""

    starts: dict[str, str] = field(default_factory=dict)
    heals: dict[str, str] = field(default_factory=dict)
    colors: dict[str, str] = field(default_factory=dict)

    def color(self, kind: str) -> str:
        return self.colors.get(kind, UNKNOWN_COLOR)


def fault_kinds(infos: Iterable[FaultInfo] | None = None) -> FaultKinds:
    """The report's view of ``infos`` (default: every fault kind registered)."""
    infos = list(faults().values() if infos is None else infos)
    return FaultKinds(
        starts={f: info.name for info in infos for f in info.starts},
        heals={info.name: info.heal for info in infos},
        colors={info.name: info.color for info in infos},
    )


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
    color: str = UNKNOWN_COLOR

    @property
    def label(self) -> str:
        """ "kill majority (n1, n2, n4)": the op that started it, what it asked for, and the
        nodes it struck when its completion lists them (as the anomalies name it)."""
        v = self.started_by.get("value")
        text = f"{self.started_by['f']} {short(v, 40)}" if v is not None else self.started_by["f"]
        got = (self.result or {}).get("value")
        nodes = got if isinstance(got, list) else None
        if isinstance(got, dict):
            nodes = got.get("nodes") or got.get("targets") or got.get("primaries")
        if isinstance(nodes, list) and nodes and all(isinstance(n, str) for n in nodes):
            text += f" ({short(', '.join(nodes), 60)})"
        return text


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


def fault_bands(ivs: list[Interval], t_end: int, kinds: FaultKinds | None = None) -> list[Band]:
    """The faults the nemesis put in force, from its operations and the fault ``kinds``
    (default: the registered ones). A start that definitely failed draws no band; an ``info``
    one may have taken effect, so it does. An op no kind names is read by its name:
    ``start-X`` starts kind X, ``stop-X`` heals it."""
    if kinds is None:
        kinds = fault_kinds()
    nemesis = [iv for iv in ivs if iv.inv.get("process") == NEMESIS]
    heals = _heals(kinds, {iv.inv["f"] for iv in nemesis})
    bands: list[Band] = []
    live: dict[str, Band] = {}
    for iv in nemesis:
        f = iv.inv["f"]
        kind = kinds.starts.get(f) or (f[6:] if f.startswith("start-") else None)
        healed_kinds = heals.get(f) or ((f[5:],) if f.startswith("stop-") else ())
        end = int(iv.done["time"]) if iv.done is not None else t_end
        if kind is not None and f not in heals:
            if iv.type == "fail":
                continue
            if kind in live:  # a second start of the same kind extends the band in force
                continue
            band = Band(kind, iv.start, None, iv.inv, iv.done, None, kinds.color(kind))
            live[kind] = band
            bands.append(band)
        for k in healed_kinds:
            healed = live.pop(k, None)
            if healed is not None:
                healed.end = end
                healed.healed_by = iv.inv
    return bands


def _heals(kinds: FaultKinds, fs: set[str]) -> dict[str, tuple[str, ...]]:
    """Op -> the kinds it heals, in a history whose nemesis made the ops ``fs``."""
    out: dict[str, tuple[str, ...]] = {}
    for kind, f in kinds.heals.items():
        out[f] = (*out.get(f, ()), kind)
    for f, old in _OLD_HEALS.items():
        for kind in old:
            if kinds.heals.get(kind) not in fs and kind not in out.get(f, ()):
                out[f] = (*out.get(f, ()), kind)
    return out


def page_data(
    ivs: list[Interval], bands: list[Band], t_end: int, anomalies: list[dict[str, Any]]
) -> dict[str, Any]:
    """The columnar data the page's script draws from; times in microseconds.

    ``ops``: parallel arrays p (index into ``procs``), f (index into ``fs``), s / e (start /
    end; e is -1 when never completed), t (type code), i (history index of the invocation),
    d (a short description: value, result, error, node). ``bands``: the faults, each with its
    kind's ``color`` and the ``ink`` its label is written in."""
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
                "color": b.color,
                "ink": ink(b.color),
            }
            for b in bands
        ],
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


_RGB = re.compile(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,[^)]*)?\)")
_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def ink(color: str) -> str:
    """A darker, opaque shade of ``color`` (``rgb()``, ``rgba()`` or ``#hex``) to write a
    label of that colour in; a neutral grey for a colour written otherwise."""
    rgb: list[int] | None = None
    if m := _RGB.fullmatch(color.strip()):
        rgb = [int(x) for x in m.groups()]
    elif m := _HEX.fullmatch(color.strip()):
        h = m.group(1)
        h = "".join(c * 2 for c in h) if len(h) == 3 else h
        rgb = [int(h[i : i + 2], 16) for i in (0, 2, 4)]
    if rgb is None:
        return "#555555"
    return "#" + "".join(f"{min(255, int(c * 0.8)):02x}" for c in rgb)
