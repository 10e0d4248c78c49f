"""The bank workload's totals over time, as Jepsen's bank checker plots them (``bank.png``,
``jepsen.tests.bank/plotter``): one point per ok read, at the time it completed, at the sum
of the balances it returned (nils left out), coloured by the node it read from. Transfers
preserve the total, so every point should sit on one line: the expected total is drawn
dashed, the faults in force shaded behind, and a read off the line is ringed in red.

Drawn as SVG, escaped like everything else on the page, from the history alone.
"""

from __future__ import annotations

import html
from typing import Any

from ._model import Band

__all__ = ["totals_svg"]

_MAX_POINTS = 4000  # reads drawn; every wrong one is kept, the right ones thinned evenly
_NODE_COLORS = ("#4a7bb7", "#8e5bb0", "#2f9e8f", "#c77d1a", "#5d6d7e", "#b5477a", "#6a8e23")


def totals_svg(ops: list[dict[str, Any]], bands: list[Band], total: Any, t_end: int) -> str:
    """The plot, or "" when the history has no ok read of balances."""
    points = _points(ops)
    if not points:
        return ""
    expected = total if isinstance(total, int | float) else None
    wrong = [p for p in points if expected is not None and p[1] != expected]
    right = [p for p in points if expected is None or p[1] == expected]
    if len(right) + len(wrong) > _MAX_POINTS:
        step = max(1, len(right) // max(_MAX_POINTS - len(wrong), 1))
        right = right[::step]
    sums = [p[1] for p in points] + ([expected] if expected is not None else [])
    lo, hi = min(sums), max(sums)
    pad = max((hi - lo) * 0.15, 1)
    lo, hi = lo - pad, hi + pad
    left, top, width, height = 60, 12, 860, 220
    span = max(t_end, 1)

    def x(t: float) -> float:
        return left + t / span * width

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * height

    e = _e
    nodes = sorted({p[2] for p in points})
    color = {n: _NODE_COLORS[i % len(_NODE_COLORS)] for i, n in enumerate(nodes)}
    out = [
        f'<svg class="bank-totals" viewBox="0 0 {left + width + 120} {top + height + 34}" '
        f'width="{left + width + 120}" height="{top + height + 34}" role="img" '
        'aria-label="the total of every read over time">'
    ]
    for b in bands:
        xa, xb = x(b.start), x(t_end if b.end is None else b.end)
        out.append(
            f'<rect style="fill:{e(b.color)}" fill-opacity=".35" x="{xa:.1f}" y="{top}" '
            f'width="{max(xb - xa, 1):.1f}" height="{height}"><title>{e(b.label)}</title></rect>'
        )
    out.append(
        f'<line class="axis" x1="{left}" y1="{top + height}" x2="{left + width}" '
        f'y2="{top + height}"/><line class="axis" x1="{left}" y1="{top}" x2="{left}" '
        f'y2="{top + height}"/>'
    )
    for frac in (0, 0.25, 0.5, 0.75, 1):
        out.append(
            f'<text x="{x(frac * span) - 12:.1f}" y="{top + height + 16}">'
            f"{frac * span / 1e9:.1f} s</text>"
        )
    for v in sorted({lo + pad, hi - pad, *([expected] if expected is not None else [])}):
        out.append(f'<text x="4" y="{y(v) + 4:.1f}">{e(_num(v))}</text>')
    if expected is not None:
        out.append(
            f'<line class="expected" x1="{left}" y1="{y(expected):.1f}" x2="{left + width}" '
            f'y2="{y(expected):.1f}"><title>the total: {e(_num(expected))}</title></line>'
        )
    for t, v, node, index in right:
        out.append(
            f'<circle class="read" style="fill:{color[node]}" cx="{x(t):.1f}" cy="{y(v):.1f}" '
            f'r="2"><title>op {index} on {e(node)}: {e(_num(v))}</title></circle>'
        )
    for t, v, node, index in wrong:
        out.append(
            f'<circle class="read wrong" cx="{x(t):.1f}" cy="{y(v):.1f}" r="3.5" '
            f'stroke="#c62828" stroke-width="1.5" style="fill:{color[node]}">'
            f"<title>op {index} on {e(node)}: {e(_num(v))}, not {e(_num(expected))}</title>"
            "</circle>"
        )
    for i, n in enumerate(nodes):
        ly = top + 12 + i * 16
        out.append(
            f'<circle cx="{left + width + 16}" cy="{ly - 4}" r="4" style="fill:{color[n]}"/>'
            f'<text x="{left + width + 26}" y="{ly}">{e(n)}</text>'
        )
    out.append("</svg>")
    return (
        "<h3>Bank: the total of every read over time</h3>"
        f'<p class="help">{len(points):,} ok reads, each at the sum of the balances it returned '
        f"(as Jepsen's bank plot); {len(wrong):,} off the total"
        f"{'' if expected is None else f' of {e(_num(expected))}'}, ringed in red. Shaded: the "
        "faults in force.</p>" + "".join(out)
    )


def _points(ops: list[dict[str, Any]]) -> list[tuple[int, Any, str, int]]:
    """(time, sum, node, index) of each ok read whose value is a map of balances."""
    node_of: dict[Any, str] = {}  # a process's node, from its invocation
    out: list[tuple[int, Any, str, int]] = []
    for d in ops:
        if d.get("process") == "nemesis" or d.get("f") != "read":
            continue
        if d.get("type") == "invoke":
            node_of[d.get("process")] = str(d.get("node") or "?")
            continue
        v = d.get("value")
        if d.get("type") != "ok" or not isinstance(v, dict):
            continue
        balances = [b for b in v.values() if b is not None]
        if not all(isinstance(b, int | float) for b in balances):
            continue
        node = str(d.get("node") or node_of.get(d.get("process"), "?"))
        out.append((int(d["time"]), sum(balances), node, int(d.get("index", -1))))
    return out


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)
