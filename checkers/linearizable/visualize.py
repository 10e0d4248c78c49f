"""A self-contained HTML page of the partial linearizations of each failing partition.

For each partition that is not linearizable: the explanation, a timeline (one row per
process, one bar per operation from invocation to completion; an operation whose outcome is
unknown runs to the right edge), the operation that cannot be linearized in red and those
concurrent with it in amber, and the partial linearizations the search found: pick one and
each operation shows its place in that order and the state after it.

Everything that comes from the history is escaped (``html.escape``) when the page is built;
the page's only script toggles CSS classes and never inserts text, so a value such as
``<script>`` is shown, never run.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..base import Anomaly

__all__ = ["render", "write_page"]

_ROW = 30
_LEFT = 110
_UNIT = 18
_TOP = 24


def write_page(anomalies: list[Anomaly], path: Path, title: str = "linearizability") -> Path:
    """Write the page for ``anomalies`` (``nonlinearizable`` ones with timeline data)."""
    path.write_text(render(anomalies, title), encoding="utf-8")
    return path


def render(anomalies: list[Anomaly], title: str = "linearizability") -> str:
    """The HTML page, as a string."""
    sections = [
        _section(n, a) for n, a in enumerate(anomalies) if a.data.get("timeline") is not None
    ]
    count = len(sections)
    summary = f"{count} partition{'s' if count != 1 else ''} not linearizable"
    return _PAGE.format(
        title=_e(title),
        summary=_e(summary),
        body="\n".join(sections) or "<p>Nothing to draw.</p>",
        css=_CSS,
        js=_JS,
    )


def _section(n: int, a: Anomaly) -> str:
    d = a.data
    key = d.get("key")
    heading = "The history" if key is None else f"Key {key!r}"
    lins = d.get("linearizations") or []
    buttons = "".join(
        f'<button type="button" data-sec="{n}" data-lin="{k}" class="pick">'
        f"linearization {k + 1} ({len(lin)} ops)</button>"
        for k, lin in enumerate(lins)
    )
    lists = "".join(_lin_list(n, k, lin, d) for k, lin in enumerate(lins))
    orderings = _orderings_table(d.get("orderings") or [])
    incomplete = d.get("frontier-incomplete")
    note = f'<p class="note">{_e(incomplete)}</p>' if incomplete else ""
    return f"""
<section id="sec{n}" data-active="0">
  <h2>{_e(heading)}: not linearizable</h2>
  <pre class="explanation">{_e(a.explanation)}</pre>
  {note}
  <div class="legend"><span class="sw failed"></span> cannot be linearized
    <span class="sw concurrent"></span> concurrent with it
    <span class="sw prefix"></span> linearized before it
    <span class="sw unknown"></span> outcome unknown (may take effect any time after its call)</div>
  <div class="picker">Partial linearizations: {buttons or "none found"}</div>
  <div class="scroll">{_svg(n, d)}</div>
  {lists}
  {orderings}
</section>"""


def _svg(n: int, d: dict[str, Any]) -> str:
    ops: list[dict[str, Any]] = d.get("timeline") or []
    if not ops:
        return ""
    failed = d["op"]["id"]
    concurrent = {o["id"] for o in d.get("concurrent") or []}
    points = sorted({o["start"] for o in ops} | {o["end"] for o in ops if o["end"] is not None})
    rank = {p: i for i, p in enumerate(points)}
    right = _LEFT + (len(points) + 1) * _UNIT
    procs = sorted({str(o["process"]) for o in ops}, key=_proc_order)
    row = {p: i for i, p in enumerate(procs)}
    height = _TOP + len(procs) * _ROW + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{right + 20}" height="{height}" '
        f'class="timeline">'
    ]
    for p, i in row.items():
        y = _TOP + i * _ROW
        node = next((o.get("node") for o in ops if str(o["process"]) == p and o.get("node")), None)
        lane = f"process {p}" + (f" ({node})" if node else "")
        parts.append(f'<text x="4" y="{y + 19}" class="proc">{_e(lane)}</text>')
        parts.append(
            f'<line x1="{_LEFT}" y1="{y + _ROW - 2}" x2="{right}" y2="{y + _ROW - 2}" '
            'class="lane"/>'
        )
    lin_pos = _positions(d.get("linearizations") or [])
    for o in ops:
        x1 = _LEFT + rank[o["start"]] * _UNIT
        unknown = o["end"] is None
        x2 = right if unknown else _LEFT + rank[o["end"]] * _UNIT + _UNIT // 2
        y = _TOP + row[str(o["process"])] * _ROW + 3
        kind = (
            "failed" if o["id"] == failed else "concurrent" if o["id"] in concurrent else "prefix"
        )
        cls = f"op {kind}" + (" unknown" if unknown else "")
        label = o["description"]
        room = max(1, (x2 - x1 - 6) // 7)
        shown = label if len(label) <= room else label[: max(0, room - 1)] + "…"
        tip = (
            f"{label} by {_by(o)}, index {o['index']}"
            f"{'' if o['completion-index'] is None else ' to ' + str(o['completion-index'])}"
            f" ({o['type']})"
        )
        parts.append(
            f'<g class="{cls}"><title>{_e(tip)}</title>'
            f'<rect x="{x1}" y="{y}" width="{max(4, x2 - x1)}" height="{_ROW - 8}" rx="3"/>'
            f'<text x="{x1 + 3}" y="{y + 15}">{_e(shown)}</text></g>'
        )
        for k, (order, state) in lin_pos.get(o["id"], {}).items():
            parts.append(
                f'<g class="badge lin{k}"><title>{_e(f"#{order}: state after is {state}")}'
                f'</title><circle cx="{x1}" cy="{y}" r="8"/>'
                f'<text x="{x1}" y="{y + 4}">{order}</text></g>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _positions(lins: list[list[dict[str, Any]]]) -> dict[int, dict[int, tuple[int, str]]]:
    """op id -> {linearization number: (its place in it, the state after it)}"""
    out: dict[int, dict[int, tuple[int, str]]] = {}
    for k, lin in enumerate(lins):
        for place, step in enumerate(lin, start=1):
            out.setdefault(step["id"], {})[k] = (place, str(step["state"]))
    return out


def _by(o: dict[str, Any]) -> str:
    """``process 2``, or ``process 2 on n3`` when the op says which node it talked to."""
    node = o.get("node")
    return f"process {o['process']} on {node}" if node else f"process {o['process']}"


def _lin_list(n: int, k: int, lin: list[dict[str, Any]], d: dict[str, Any]) -> str:
    names = {o["id"]: f"{o['description']} by {_by(o)}" for o in d.get("timeline") or []}
    shown = lin[-40:]
    skipped = len(lin) - len(shown)
    items = "".join(
        f'<li value="{skipped + i + 1}">{_e(names.get(s["id"], "op " + str(s["id"])))}'
        f" → <b>{_e(str(s['state']))}</b></li>"
        for i, s in enumerate(shown)
    )
    more = f"<p>… {skipped} earlier operations</p>" if skipped else ""
    failed = d["op"]
    return (
        f'<div class="linlist lin{k}"><h3>Linearization {k + 1}, then '
        f"{_e(failed['description'])} by {_e(_by(failed))} "
        f"is impossible</h3>{more}<ol>{items}</ol></div>"
    )


def _orderings_table(orderings: list[dict[str, Any]]) -> str:
    if not orderings:
        return ""
    rows = "".join(
        f"<tr><td>{_e(o['from'])}</td><td>{_e(', then '.join(o['ops']) or '(none)')}</td>"
        f"<td>{_e(o['state'])}</td><td>{'yes' if o['allows'] else 'no'}</td></tr>"
        for o in orderings
    )
    return (
        "<h3>Orderings of the concurrent operations</h3><table><tr><th>from</th>"
        "<th>then</th><th>state reached</th><th>allows it?</th></tr>"
        f"{rows}</table>"
    )


def _proc_order(p: str) -> tuple[int, int | str]:
    return (0, int(p)) if p.lstrip("-").isdigit() else (1, p)


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
pre.explanation { white-space: pre-wrap; background: #f6f6f6; padding: .8em; border-radius: 4px; }
.scroll { overflow-x: auto; border: 1px solid #ddd; margin: .5em 0; }
svg text { font: 11px monospace; }
.proc { fill: #555; }
.lane { stroke: #eee; }
.op rect { fill: #dbe7f5; stroke: #7a9cc6; }
.op.prefix rect { fill: #e3ecf7; }
.op.concurrent rect { fill: #ffe2a8; stroke: #d39b1e; }
.op.failed rect { fill: #ffc9c9; stroke: #c62828; stroke-width: 2; }
.op.unknown rect { stroke-dasharray: 4 3; fill-opacity: .55; }
.badge { display: none; }
.badge circle { fill: #1e4f91; }
.badge text { fill: #fff; text-anchor: middle; font-size: 10px; }
.linlist { display: none; }
.picker button { margin: 0 .3em .3em 0; }
.picker button.on { background: #1e4f91; color: #fff; }
.legend .sw { display: inline-block; width: 1em; height: .8em; margin-left: 1em; }
.sw.failed { background: #ffc9c9; } .sw.concurrent { background: #ffe2a8; }
.sw.prefix { background: #e3ecf7; } .sw.unknown { border: 1px dashed #7a9cc6; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 2px 6px; }
.note { color: #a15c00; }
"""

_JS = """
document.querySelectorAll('section').forEach(function (sec) { show(sec, '0'); });
// open each timeline on its failing operation (at the right end of a long prefix), not on
// the start of the key: scrolled so that op sits a third of the way from the right edge
document.querySelectorAll('div.scroll').forEach(function (box) {
  var op = box.querySelector('g.op.failed rect');
  if (!op) return;
  var x = Number(op.getAttribute('x'));
  box.scrollLeft = Math.max(0, x - box.clientWidth * 2 / 3);
  box.setAttribute('data-scrolled', String(box.scrollLeft));
});
document.querySelectorAll('button.pick').forEach(function (b) {
  b.addEventListener('click', function () {
    show(document.getElementById('sec' + b.dataset.sec), b.dataset.lin);
  });
});
function show(sec, k) {
  if (!sec) return;
  sec.querySelectorAll('.badge, .linlist').forEach(function (el) {
    var on = el.classList.contains('lin' + k);
    el.style.display = on ? (el.tagName.toLowerCase() === 'div' ? 'block' : 'inline') : 'none';
  });
  sec.querySelectorAll('button.pick').forEach(function (b) {
    b.classList.toggle('on', b.dataset.lin === k);
  });
}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>{css}</style></head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
{body}
<script>{js}</script>
</body></html>
"""
