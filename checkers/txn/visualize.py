"""A self-contained HTML page of a transactional check: each anomaly in words, each cycle drawn
as an SVG (transactions on a circle, dependencies as labelled arrows). No scripts, no external
resources; every value from the history is escaped."""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

from ..base import Anomaly, Result

__all__ = ["cycle_svg", "write_page"]

_COLORS = {
    "ww": "#c0392b",
    "wr": "#2471a3",
    "rw": "#d68910",
    "process": "#7d3c98",
    "realtime": "#1e8449",
}


def write_page(result: Result, path: Path, title: str) -> Path:
    """Write the page for ``result`` to ``path``; returns ``path``."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}"
        ".legend span{margin-right:1.5em}.anomaly{border-top:1px solid #ccc;margin-top:2em}"
        "</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _summary(result),
        "<p class='legend'>"
        + "".join(f"<span style='color:{c}'>&#9632; {escape(n)}</span>" for n, c in _COLORS.items())
        + "</p>",
    ]
    for i, a in enumerate(result.anomalies):
        parts.append(f"<div class='anomaly' id='a{i}'><h2>{escape(a.name)}</h2>")
        parts.append(f"<pre>{escape(a.explanation)}</pre>")
        if "steps" in a.data and "cycle" in a.data:
            parts.append(cycle_svg(a))
        parts.append("</div>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _summary(result: Result) -> str:
    d = result.details
    rows = [
        (
            "verdict",
            "valid" if result.valid is True else "invalid" if result.valid is False else "unknown",
        ),
        ("consistency models", ", ".join(d.get("consistency-models", [])) or "-"),
        ("anomalies asked for", ", ".join(d.get("anomalies", [])) or "-"),
        ("anomaly types", ", ".join(d.get("anomaly-types", [])) or "-"),
        ("rules out (weakest)", ", ".join(d.get("not", [])) or "-"),
        ("also rules out", ", ".join(d.get("also-not", [])) or "-"),
    ]
    if d.get("reason"):
        rows.append(("reason", d["reason"]))
    body = "".join(
        f"<tr><th align='left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def cycle_svg(anomaly: Anomaly) -> str:
    """An SVG picture of the cycle in ``anomaly.data``: one box per transaction, one arrow per
    dependency, labelled with its relation and key."""
    data = anomaly.data
    names: list[str] = []
    for n in data["cycle"]:
        if n not in names:
            names.append(n)
    k = len(names)
    radius = 70 + 35 * k
    width = height = 2 * radius + 160
    cx, cy = width / 2, height / 2
    pos = {}
    for i, n in enumerate(names):
        ang = -math.pi / 2 + 2 * math.pi * i / k
        pos[n] = (cx + radius * math.cos(ang), cy + radius * math.sin(ang))
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
        f"viewBox='0 0 {width:.0f} {height:.0f}' font-family='sans-serif' font-size='12'>",
        "<defs>",
    ]
    for rel, color in _COLORS.items():
        out.append(
            f"<marker id='arrow-{rel}' viewBox='0 0 10 10' refX='10' refY='5' "
            f"markerWidth='8' markerHeight='8' orient='auto-start-reverse'>"
            f"<path d='M 0 0 L 10 5 L 0 10 z' fill='{color}'/></marker>"
        )
    out.append("</defs>")
    seen_pairs: dict[tuple[str, str], int] = {}
    for step in data["steps"]:
        a, b = step["from"], step["to"]
        rel = step.get("type", "?")
        color = _COLORS.get(rel, "#555")
        (x1, y1), (x2, y2) = pos[a], pos[b]
        bend = seen_pairs.get((a, b), 0)
        seen_pairs[(a, b)] = bend + 1
        dx, dy = x2 - x1, y2 - y1
        dist = math.hypot(dx, dy) or 1.0
        ux, uy = dx / dist, dy / dist
        sx, sy = x1 + ux * 38, y1 + uy * 22
        ex, ey = x2 - ux * 38, y2 - uy * 22
        # Curve to the left of the direction of travel, so a -> b and b -> a do not overlap.
        off = 30 + 25 * bend
        mx, my = (sx + ex) / 2 - uy * off, (sy + ey) / 2 + ux * off
        # The label sits on the curve, at its middle.
        lx, ly = 0.25 * sx + 0.5 * mx + 0.25 * ex, 0.25 * sy + 0.5 * my + 0.25 * ey
        label = rel if "key" not in step else f"{rel} {_short(step['key'])}"
        out.append(
            f"<path d='M {sx:.1f} {sy:.1f} Q {mx:.1f} {my:.1f} {ex:.1f} {ey:.1f}' "
            f"fill='none' stroke='{color}' stroke-width='2' "
            f"marker-end='url(#arrow-{escape(rel, quote=True)})'/>"
        )
        out.append(
            f"<text x='{lx:.1f}' y='{ly - 4:.1f}' fill='{color}' text-anchor='middle' "
            f"paint-order='stroke' stroke='#fff' stroke-width='3'>"
            f"{escape(label)}</text>"
        )
    txns = data.get("txns", {})
    for n in names:
        x, y = pos[n]
        op = txns.get(n, {})
        out.append(f"<g><title>{escape(_short(op.get('value'), 300))}</title>")
        out.append(
            f"<rect x='{x - 36:.1f}' y='{y - 20:.1f}' width='72' height='40' rx='6' "
            "fill='#fff' stroke='#333'/>"
        )
        out.append(
            f"<text x='{x:.1f}' y='{y - 3:.1f}' text-anchor='middle' "
            f"font-weight='bold'>{escape(n)}</text>"
        )
        sub = f"op {op.get('index', '?')} p{op.get('process', '?')}"
        out.append(
            f"<text x='{x:.1f}' y='{y + 12:.1f}' text-anchor='middle' font-size='10'>"
            f"{escape(str(sub))}</text>"
        )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _short(v: Any, n: int = 24) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= n else s[: n - 1] + "…"
