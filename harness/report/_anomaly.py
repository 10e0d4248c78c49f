"""Each anomaly as a person reads it: its explanation, the smallest sub-history that shows it
(drawn to scale in real time, with the faults in force), and the checker's own picture.

The sub-history is the operations the checker names (``anomaly.ops``); for a linearizability
anomaly it also takes the last few operations of the longest linearizable prefix, which set the
state the failing operation contradicts, so the picture shows the whole story.
"""

from __future__ import annotations

import html
import math
from typing import Any

from harness.headline import explanation_of

from ._model import Band, Interval, describe, short

__all__ = ["anomaly_section", "cycle_svg", "sub_history"]

_CONTEXT = 6  # prefix operations shown before a non-linearizable one
_BIG_CYCLE = 8  # a cycle longer than this is drawn folded
#: keys of an anomaly's data the section draws itself (the rest is shown as the checker's data)
_SHOWN_ELSEWHERE = frozenset(
    "timeline linearizations orderings op concurrent prefix stats cycle steps txns "
    "in_flight".split()
)
_ROLE_ORDER = {
    "cannot be linearized": 0,
    "concurrent with it": 1,
    "involved": 2,
    "in flight": 3,
    "linearized before it": 4,
}


def sub_history(
    anomaly: dict[str, Any], by_index: dict[int, int], ivs: list[Interval]
) -> list[tuple[int, str]]:
    """(interval position, role) of each operation in the anomaly's sub-history, in time
    order. Ops the history no longer has (a rebuilt report of an edited run) are left out."""
    roles: dict[int, str] = {}

    def put(index: Any, role: str) -> None:
        if isinstance(index, int) and index in by_index:
            pos = by_index[index]
            old = roles.get(pos)
            if old is None or _ROLE_ORDER[role] < _ROLE_ORDER[old]:
                roles[pos] = role

    data = anomaly.get("data") if isinstance(anomaly.get("data"), dict) else {}
    assert isinstance(data, dict)
    for op in anomaly.get("ops") or []:
        if isinstance(op, dict):
            put(op.get("index"), "involved")
    failed = data.get("op")
    if isinstance(failed, dict):
        put(failed.get("index"), "cannot be linearized")
    for c in data.get("concurrent") or []:
        if isinstance(c, dict):
            put(c.get("index"), "concurrent with it")
    for c in data.get("in_flight") or []:  # a bank read's transfers in flight
        if isinstance(c, dict):
            put(c.get("index"), "in flight")
    timeline = {t.get("id"): t for t in data.get("timeline") or [] if isinstance(t, dict)}
    prefix = data.get("prefix") or []
    if isinstance(prefix, list):
        for op_id in prefix[-_CONTEXT:]:
            t = timeline.get(op_id)
            if t is not None:
                put(t.get("index"), "linearized before it")
    return sorted(roles.items(), key=lambda kv: (ivs[kv[0]].start, kv[0]))


def anomaly_section(
    n: int,
    checker: str,
    anomaly: dict[str, Any],
    rows: list[tuple[int, str]],
    ivs: list[Interval],
    bands: list[Band],
) -> str:
    """The HTML of one anomaly (everything escaped)."""
    e = _e
    name = str(anomaly.get("name", "anomaly"))
    data = anomaly.get("data") if isinstance(anomaly.get("data"), dict) else {}
    assert isinstance(data, dict)
    key = data.get("key")
    where = "" if key is None else f" on key {short(key, 40)}"
    table = _table(rows, ivs)
    picture = _svg(rows, ivs, bands)
    cycle = _cycle_picture(anomaly, data)
    parts = [
        f'<article class="anomaly" id="anomaly-{n}">',
        f'<h4 class="anomaly-title"><span class="num">#{n + 1}</span> {e(name)}{e(where)} '
        f"<small>found by {e(checker)}</small></h4>",
        _when(anomaly),
        f'<pre class="explanation">{e(explanation_of(anomaly) or "(no explanation given)")}</pre>',
    ]
    if rows:
        parts += [
            f"<h4>The smallest sub-history that shows it ({len(rows)} operations)</h4>",
            picture,
            table,
            f'<p><button type="button" class="show-in-timeline" data-anomaly="{n}">'
            "Show these operations in the timeline</button></p>",
        ]
    else:
        parts.append("<p>The checker named no operations of this history.</p>")
    if cycle:
        steps = data.get("steps")
        ring = data.get("cycle")
        size = len(steps) if isinstance(steps, list) else len(ring) - 1 if ring else 0
        if size > _BIG_CYCLE:  # a ring of many transactions is a screen tall: on request
            parts.append(
                f'<details class="cycle"><summary>The cycle ({size} dependencies), '
                f"drawn</summary>{cycle}</details>"
            )
        else:
            parts += ["<h4>The cycle</h4>", cycle]
    extra = {k: v for k, v in data.items() if k not in _SHOWN_ELSEWHERE}
    if extra:
        parts.append(
            f"<details><summary>The checker's data</summary><pre>{e(_json(extra))}</pre></details>"
        )
    parts.append("</article>")
    return "\n".join(parts)


def _when(anomaly: dict[str, Any]) -> str:
    """When the anomaly's ops ran (relative and wall clock) and the faults in force then, as
    ``faults_in_force.annotate`` recorded it; "" for results written before it did."""
    when = anomaly.get("when")
    if not isinstance(when, dict):
        return ""
    e = _e
    a, b = when.get("from_s"), when.get("to_s")
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return ""
    span = f"{a:.3f} s" if a == b else f"{a:.3f}–{b:.3f} s"
    if when.get("utc_from"):
        same = when.get("utc_from") == when.get("utc_to")
        clock = when["utc_from"] if same else f"{when['utc_from']}–{when.get('utc_to')}"
        span += f' (<span class="wall">{e(clock)}</span>)'
    faults = when.get("faults") if isinstance(when.get("faults"), dict) else {}
    assert isinstance(faults, dict)
    sentence = faults.get("sentence") or ""
    klass = "during" if faults.get("during") else "after" if faults.get("after") else "none"
    tail = f', <span class="faults-in-force fif-{klass}">{e(sentence)}</span>' if sentence else ""
    return f'<p class="when">At {span}{tail}.</p>'


def _table(rows: list[tuple[int, str]], ivs: list[Interval]) -> str:
    e = _e
    out = [
        '<table class="ops"><tr><th>index</th><th>process</th><th>invoked</th>'
        "<th>completed</th><th>type</th><th>operation</th><th>role</th></tr>"
    ]
    for pos, role in rows:
        iv = ivs[pos]
        done = iv.done
        end = "never" if done is None else f"{done['time'] / 1e9:.3f} s"
        idx = f"{iv.inv.get('index', '?')}" + (
            f"–{done.get('index', '?')}" if done is not None and done is not iv.inv else ""
        )
        out.append(
            f'<tr class="{_cls(role)}"><td>{e(idx)}</td><td>{e(iv.inv.get("process"))}</td>'
            f"<td>{iv.start / 1e9:.3f} s</td><td>{e(end)}</td>"
            f'<td class="t-{e(iv.type)}">{e(_type_word(iv.type))}</td>'
            f"<td><code>{e(describe(iv))}</code></td><td>{e(role)}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _svg(rows: list[tuple[int, str]], ivs: list[Interval], bands: list[Band]) -> str:
    """The sub-history to scale: one row per process, each op from invocation to completion."""
    if not rows:
        return ""
    e = _e
    ends = [ivs[p].done["time"] for p, _ in rows if ivs[p].done is not None]  # type: ignore[index]
    t0 = min(ivs[p].start for p, _ in rows)
    t1 = max([*ends, *(ivs[p].start for p, _ in rows)])
    span = max(t1 - t0, 1)
    t0 -= span // 20
    t1 += span // 20
    span = t1 - t0
    procs = sorted({str(ivs[p].inv.get("process")) for p, _ in rows}, key=_proc_key)
    lane = {p: i for i, p in enumerate(procs)}
    left, width, row_h, top = 90, 860, 26, 22
    height = top + len(procs) * row_h + 8

    def x(t: float) -> float:
        return left + (t - t0) / span * width

    out = [
        f'<svg class="subhistory" viewBox="0 0 {left + width + 10} {height}" '
        f'width="{left + width + 10}" height="{height}" role="img" '
        'aria-label="the sub-history, to scale">'
    ]
    for b in bands:
        b_end = t1 if b.end is None else b.end
        if b_end < t0 or b.start > t1:
            continue
        xa, xb = x(max(b.start, t0)), x(min(b_end, t1))
        # the band's colour at half its opacity: the operations drawn over it stay legible
        out.append(
            f'<rect class="band band-{e(b.kind)}" style="fill:{e(b.color)}" fill-opacity=".5" '
            f'x="{xa:.1f}" y="{top}" width="{max(xb - xa, 1):.1f}" height="{height - top}">'
            f"<title>{e(b.label)}</title></rect>"
        )
    for frac in (0, 0.25, 0.5, 0.75, 1):
        t = t0 + frac * span
        out.append(f'<text class="tick" x="{x(t):.1f}" y="12">{t / 1e9:.3f} s</text>')
    for p, i in lane.items():
        y = top + i * row_h
        out.append(f'<text class="proc" x="4" y="{y + 17}">process {e(p)}</text>')
    for pos, role in rows:
        iv = ivs[pos]
        y = top + lane[str(iv.inv.get("process"))] * row_h + 3
        xa = x(iv.start)
        xb = x(t1 if iv.done is None else iv.done["time"])
        w = max(xb - xa, 3)
        label = describe(iv)
        room = max(0, int((w - 6) / 6.6))
        shown = label if len(label) <= room else (label[: room - 1] + "…" if room > 1 else "")
        out.append(
            f'<g class="op t-{e(iv.type)} {_cls(role)}"><title>{e(label)} — {e(role)}</title>'
            f'<rect x="{xa:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 7}" rx="3"/>'
            f'<text x="{xa + 3:.1f}" y="{y + 14}">{e(shown)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _cycle_picture(anomaly: dict[str, Any], data: dict[str, Any]) -> str:
    """The transactional checker's own drawing of a cycle when it has one (it escapes what it
    draws), else the generic one below."""
    if "cycle" in data and "steps" in data:
        try:
            from checkers.base import Anomaly
            from checkers.txn.visualize import cycle_svg as txn_cycle_svg

            a = Anomaly(
                str(anomaly.get("name")),
                str(anomaly.get("explanation")),
                list(anomaly.get("ops") or []),
                data,
            )
            return f'<div class="cycle">{txn_cycle_svg(a)}</div>'
        except Exception:  # a drawing that fails must not cost the report
            pass
    return cycle_svg(data.get("steps") or data.get("cycle"))


def cycle_svg(cycle: Any) -> str:
    """A dependency cycle (Elle-style: steps of ``from``, ``to``, ``relation``, as dicts or as
    triples) drawn as a ring of transactions with labelled edges; "" if there is none."""
    if not isinstance(cycle, list) or not cycle:
        return ""
    steps: list[tuple[str, str, str]] = []
    for s in cycle:
        if isinstance(s, dict):
            a, b = s.get("from"), s.get("to")
            rel = s.get("relation", s.get("rel", s.get("type", "")))
        elif isinstance(s, list | tuple) and len(s) >= 2:
            a, b = s[0], s[1]
            rel = s[2] if len(s) > 2 else ""
        else:
            return ""
        steps.append((short(a, 40), short(b, 40), short(rel, 20)))
    nodes = list(dict.fromkeys([v for a, b, _ in steps for v in (a, b)]))
    n = len(nodes)
    r = 60 + 22 * n
    cx, cy = r + 120, r + 30
    pos = {
        v: (
            cx + r * math.cos(2 * math.pi * i / n - math.pi / 2),
            cy + r * math.sin(2 * math.pi * i / n - math.pi / 2),
        )
        for i, v in enumerate(nodes)
    }
    e = _e
    out = [
        f'<svg class="cycle" width="{2 * cx}" height="{2 * cy}" role="img" '
        'aria-label="the dependency cycle"><defs><marker id="arrow" viewBox="0 0 10 10" '
        'refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>'
    ]
    for a, b, rel in steps:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        d = math.hypot(x2 - x1, y2 - y1) or 1
        ux, uy = (x2 - x1) / d, (y2 - y1) / d
        out.append(
            f'<line x1="{x1 + 28 * ux:.1f}" y1="{y1 + 28 * uy:.1f}" '
            f'x2="{x2 - 28 * ux:.1f}" y2="{y2 - 28 * uy:.1f}" marker-end="url(#arrow)"/>'
            f'<text class="rel" x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 4:.1f}">'
            f"{e(rel)}</text>"
        )
    for v, (x, y) in pos.items():
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="26"/>'
            f'<text class="node" x="{x:.1f}" y="{y + 4:.1f}">{e(v)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _type_word(t: str) -> str:
    return {"invoke": "no completion"}.get(t, t)


def _cls(role: str) -> str:
    return "role-" + role.split()[0]


def _proc_key(p: str) -> tuple[int, int | str]:
    return (0, int(p)) if p.lstrip("-").isdigit() else (1, p)


def _json(v: Any) -> str:
    import json

    text = json.dumps(v, indent=1, default=str)
    return text if len(text) <= 20_000 else text[:20_000] + "\n... (cut; see results.json)"


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)
