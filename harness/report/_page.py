"""``report.html``: one self-contained page per run, built from the run directory alone.

The page reads top-down in the order a person needs it: the verdict in one sentence, each
checker's result, each anomaly explained with its sub-history and the checker's drawing, then
the timeline, latency and throughput (drawn by the page's script from embedded JSON), the
faults, and how to run the test again.

Escaping: every value that came from the run is passed through ``html.escape`` when the HTML
is written; the embedded JSON has ``<``, ``>`` and ``&`` written as ``\\u003c`` etc., so
nothing in it can close its ``<script>`` element; and the script draws text only with
``fillText`` / ``textContent``. A checker's own HTML drawing is embedded in a sandboxed
``iframe`` (``srcdoc``, scripts allowed, no same origin), so it cannot touch this page.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.headline import by_kind, explanation_of, headline, name_of, worst_example

from ._anomaly import anomaly_section, sub_history
from ._bank import totals_svg
from ._load import RunData, load_run
from ._model import Band, FaultKinds, Interval, fault_bands, intervals, page_data, short

__all__ = ["build_report", "render"]

_HERE = Path(__file__).resolve().parent
_DRAWN = 2  # anomalies of each kind drawn in full; the rest of the kind are listed
_LISTED = 200  # anomalies of each kind listed; the rest are in results.json
_MAX_EMBED = 4_000_000  # bytes of a checker drawing embedded; bigger ones are linked
_WINDOWS = (1, 5, 10, 30, 60, 300)


def build_report(run_dir: Path) -> Path:
    """Build ``run_dir/report.html`` from the files of the run; return its path. Works for an
    interrupted run too (no or unreadable ``results.json``, a torn last history line)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run directory at {run_dir}")
    page = render(load_run(run_dir))
    out = run_dir / "report.html"
    tmp = out.with_name(".report.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


def render(run: RunData, kinds: FaultKinds | None = None) -> str:
    """The page, as a string; the fault kinds are the registered ones unless ``kinds`` says."""
    ivs = intervals(run.ops)
    t_end = max((int(d["time"]) for d in run.ops), default=0)
    bands = fault_bands(ivs, t_end, kinds)
    by_index: dict[int, int] = {}
    for pos, iv in enumerate(ivs):
        for d in (iv.inv, iv.done):
            if d is not None and isinstance(d.get("index"), int):
                by_index[d["index"]] = pos
    results = run.results or {}
    counts = _counts(ivs)

    checkers = results.get("checkers") if isinstance(results.get("checkers"), dict) else {}
    assert isinstance(checkers, dict)
    found = _anomalies(checkers)
    anomaly_html, anomaly_data = _anomaly_groups(found, by_index, ivs, bands)
    for cname, r in checkers.items():
        drawings = _drawings(
            run.path, cname, (r.get("files") if isinstance(r, dict) else None) or []
        )
        if drawings:
            anomaly_html.append(drawings)
        if cname == "bank" and isinstance(r, dict):  # Jepsen's totals-over-time plot
            det = r.get("details") if isinstance(r.get("details"), dict) else {}
            assert isinstance(det, dict)
            plot = totals_svg(run.ops, bands, det.get("total"), t_end)
            if plot:
                anomaly_html.append(plot)

    data = page_data(ivs, bands, t_end, anomaly_data)
    css = (_HERE / "report.css").read_text(encoding="utf-8")
    js = (_HERE / "report.js").read_text(encoding="utf-8")
    klass, sentence = verdict_sentence(run, counts, bands, t_end)
    test = run.test
    return _PAGE.format(
        title=_e(f"{_VERDICT_WORD[klass]}: {test} — splitbrain report"),
        csp=CSP,
        css=css,
        klass=klass,
        test=_e(test),
        sentence=_e(sentence),
        meta=_meta(run, counts, t_end),
        notes=_notes(run, results),
        checkers=_checkers(checkers),
        anomalies="\n".join(anomaly_html) or "<p>No checker found an anomaly.</p>",
        worst=_worst_html(found, results.get("valid")),
        windows="".join(f'<option value="{s}">{s} s</option>' for s in _WINDOWS),
        band_legend=_band_legend(bands),
        faults=_faults(bands, results),
        failures=_failures(ivs),
        run=_run_facts(run, results),
        data=_script_json(data),
        js=js,
        generated=_e(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())),
    )


#: nothing from the network, ever: inline scripts and styles, images from data: URIs, frames
#: from srcdoc (a checker's drawing)
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; frame-src 'self' about: data:; child-src 'self' about:"
)

_VERDICT_WORD = {
    "valid": "Valid",
    "invalid": "Invalid",
    "unknown": "Unknown",
    "setup": "Not run",
    "none": "No verdict",
}


def verdict_sentence(
    run: RunData, counts: dict[str, int], bands: list[Band], t_end: int
) -> tuple[str, str]:
    """(css class, the one sentence that says what happened)."""
    r = run.results
    dur = _dur(t_end)
    total = counts["ok"] + counts["fail"] + counts["info"] + counts["invoke"]
    kinds = list(dict.fromkeys(b.kind for b in bands))
    faults = f"with {_and(kinds)} faults injected" if kinds else "with no fault injected"
    if r is None:
        return "none", (
            f"No verdict: the run stopped before its history was checked; "
            f"{total:,} operations were recorded over {dur}."
        )
    valid = r.get("valid")
    checkers = r.get("checkers") if isinstance(r.get("checkers"), dict) else {}
    assert isinstance(checkers, dict)
    if valid is None or r.get("exit_code") == 4:
        return (
            "setup",
            f"Not run: the test could not be set up ({r.get('error', 'no reason given')}).",
        )
    if valid is True:
        names = _and(list(checkers)) or "no checker"
        return "valid", (
            f"Valid: {names} found no anomaly in {total:,} operations "
            f"({counts['ok']:,} ok, {counts['fail']:,} fail, {counts['info']:,} info) "
            f"over {dur} {faults}."
        )
    if valid is False:
        bad = [n for n, c in checkers.items() if isinstance(c, dict) and c.get("valid") is False]
        anomalies = [
            a for n in bad for a in checkers[n].get("anomalies") or [] if isinstance(a, dict)
        ]
        if anomalies:
            return "invalid", f"Invalid: {_and(bad)} found {headline(anomalies)}."
        reasons = [str(checkers[n].get("details", {}).get("reason", "")) for n in bad]
        why = "; ".join(x for x in reasons if x) or "no reason given"
        return "invalid", f"Invalid: {_and(bad) or 'a checker'} rejected the history ({why})."
    undecided = [n for n, c in checkers.items() if isinstance(c, dict) and c.get("valid") != True]  # noqa: E712
    reasons = []
    for n in undecided:
        det = checkers[n].get("details")
        if isinstance(det, dict) and det.get("reason"):
            reasons.append(f"{n}: {det['reason']}")
    if r.get("error"):
        reasons.append(str(r["error"]))
    why = "; ".join(reasons) or "no reason given"
    return "unknown", (f"Unknown: {_and(undecided) or 'the checkers'} could not decide ({why}).")


# -- parts of the page ----------------------------------------------------------------------------


def _meta(run: RunData, counts: dict[str, int], t_end: int) -> str:
    r = run.results or {}
    bits = []
    suite = r.get("suite")
    if suite:
        bits.append(f"suite {_e(suite)}")
    started = r.get("started") or run.path.name
    bits.append(f"started {_e(started)}")
    zero = r.get("time_zero")
    if isinstance(zero, dict) and zero.get("utc"):
        bits.append(f'time zero <span class="time-zero">{_e(zero["utc"])}</span>')
    bits.append(f"{_e(_dur(t_end))} of workload")
    if "wall_seconds" in r:
        bits.append(f"{_e(r['wall_seconds'])} s in all")
    bits += [f"{_e(r['check_seconds'])} s checking"] if "check_seconds" in r else []
    seed = r.get("seed", (run.spec or {}).get("seed"))
    if seed is not None:
        bits.append(f"seed {_e(seed)}")
    bits.append(
        f"{counts['ok']:,} ok · {counts['fail']:,} fail · {counts['info']:,} info"
        + (f" · {counts['invoke']:,} never completed" if counts["invoke"] else "")
    )
    return " · ".join(bits)


def _notes(run: RunData, results: dict[str, Any]) -> str:
    notes = list(run.notes)
    if results.get("interrupted"):
        notes.insert(
            0,
            "The run was interrupted: the history up to the interruption was "
            "checked, so the verdict covers only that part.",
        )
    if run.results is None and run.ops:
        notes.append(
            "To check what was recorded: splitbrain check "
            f"{run.path / 'history.jsonl'} --checker linearizable --model cas-register"
        )
    if not notes:
        return ""
    return '<div class="notes">' + "".join(f"<p>{_e(n)}</p>" for n in notes) + "</div>"


def _checkers(checkers: dict[str, Any]) -> str:
    if not checkers:
        return "<p>No checker ran.</p>"
    rows = [
        "<table><tr><th>checker</th><th>result</th><th>anomalies</th><th>seconds</th>"
        "<th>details</th></tr>"
    ]
    for name, r in checkers.items():
        if not isinstance(r, dict):
            continue
        v = r.get("valid")
        word = (
            {True: "valid", False: "invalid"}.get(v, "unknown")
            if isinstance(v, bool)
            else "unknown"
        )  # type: ignore[call-overload]
        groups = by_kind(a for a in r.get("anomalies") or [] if isinstance(a, dict))
        an = ", ".join(f"{k} ×{len(g)}" if len(g) > 1 else k for k, g in groups.items()) or "none"
        det = r.get("details")
        reason = det.get("reason") if isinstance(det, dict) else None
        body = _e(json.dumps(det, indent=1, default=str)[:20_000])
        rows.append(
            f'<tr><td><b>{_e(name)}</b></td><td class="v-{_vclass(v)}">'
            f'{word}</td><td>{_e(an)}</td><td class="num">{_e(r.get("seconds", ""))}</td>'
            f"<td>{'<div>' + _e(reason) + '</div>' if reason else ''}"
            f"<details><summary>details</summary><pre>{body}</pre></details></td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _drawings(run_dir: Path, checker: str, files: list[Any]) -> str:
    """The checker's own pictures: HTML pages in a sandboxed frame, images inline, the rest
    linked. Every one also gets a link, to open it on its own."""
    out = []
    for name in files:
        if not isinstance(name, str):
            continue
        path = run_dir / name
        if not path.is_file() or run_dir.resolve() not in path.resolve().parents:
            continue
        href = _href(name)
        link = f'<p><a href="{href}">Open {_e(name)} on its own</a></p>'
        size = path.stat().st_size
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm") and size <= _MAX_EMBED:
            doc = path.read_text(encoding="utf-8", errors="replace")
            out.append(
                f"<h4>{_e(checker)}'s drawing: {_e(name)}</h4>{link}"
                f'<iframe class="drawing" sandbox="allow-scripts" title="{_e(name)}" '
                f'srcdoc="{_e(doc)}"></iframe>'
            )
        elif suffix in (".svg", ".png") and size <= _MAX_EMBED:
            mime = "image/svg+xml" if suffix == ".svg" else "image/png"
            b64 = base64.b64encode(path.read_bytes()).decode("ascii")
            out.append(
                f"<h4>{_e(checker)}'s drawing: {_e(name)}</h4>{link}"
                f'<img alt="{_e(name)}" style="max-width:100%" '
                f'src="data:{mime};base64,{b64}">'
            )
        else:
            out.append(f"<h4>{_e(checker)}: {_e(name)}</h4>{link}")
    return "\n".join(out)


def _band_legend(bands: list[Band]) -> str:
    colors = {b.kind: b.color for b in bands}
    if not colors:
        return "no fault was injected"
    return "faults: " + "".join(
        f'<span class="sw" style="background:{_e(color)}"></span>{_e(kind)}'
        for kind, color in colors.items()
    )


def _faults(bands: list[Band], results: dict[str, Any]) -> str:
    parts = []
    if bands:
        rows = [
            "<table><tr><th>fault</th><th>from</th><th>to</th><th>lasted</th>"
            "<th>started by</th><th>what it did</th><th>healed by</th></tr>"
        ]
        for b in bands:
            res = b.result.get("value") if b.result else None
            err = b.result.get("error") if b.result else None
            ended = "never healed" if b.end is None else f"{b.end / 1e9:.3f} s"
            lasted = "" if b.end is None else f"{(b.end - b.start) / 1e9:.1f} s"
            rows.append(
                f'<tr><td>{_e(b.kind)}</td><td class="num">{b.start / 1e9:.3f} s</td>'
                f'<td class="num">{ended}</td><td class="num">{lasted}</td>'
                f"<td><code>{_e(b.label)}</code></td>"
                f"<td><code>{_e(short(res, 200))}</code>{' (' + _e(err) + ')' if err else ''}</td>"
                f"<td><code>{_e(b.healed_by['f']) if b.healed_by else ''}</code></td></tr>"
            )
        rows.append("</table>")
        parts.append("".join(rows))
    else:
        parts.append("<p>No fault was in force during this run.</p>")
    applied = results.get("faults")
    if isinstance(applied, list) and applied:
        rows = [
            "<details><summary>Every nemesis operation applied, as results.json records "
            f"them ({len(applied)})</summary><table><tr><th>time</th><th>f</th><th>type</th>"
            "<th>value</th></tr>"
        ]
        for f in applied:
            if not isinstance(f, dict):
                continue
            err = f.get("error")
            rows.append(
                f'<tr><td class="num">{_e(f.get("time_s"))} s</td><td>{_e(f.get("f"))}</td>'
                f'<td class="t-{_e(f.get("type"))}">{_e(f.get("type"))}</td>'
                f"<td><code>{_e(short(f.get('value'), 300))}</code>"
                f"{' (' + _e(err) + ')' if err else ''}</td></tr>"
            )
        rows.append("</table></details>")
        parts.append("".join(rows))
    return "\n".join(parts)


def _failures(ivs: list[Interval]) -> str:
    """Every failed (fail) and unknown (info) client operation, counted by function and by
    error, the most frequent first: many failures are not one outage (a lock conflict, a
    refused write to a follower and a timeout during a partition read differently). Numbers
    in an error are written N, so "conflict on key 7" and "on key 9" count together."""
    counts: dict[tuple[str, str, str], int] = {}
    for iv in ivs:
        done = iv.done
        if done is None or iv.inv.get("process") == "nemesis" or done["type"] not in _FAILED:
            continue
        err = _DIGITS.sub("N", str(done.get("error") or "(no error given)"))
        key = (str(done["type"]), str(iv.inv.get("f")), short(err, 120))
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return "<p>No operation failed and none had an unknown outcome.</p>"
    total = sum(counts.values())
    rows = [
        f"<p>{total:,} operations failed or had an unknown outcome.</p>"
        '<table class="failures"><tr><th>count</th><th>type</th><th>function</th>'
        "<th>error</th></tr>"
    ]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for (type_, f, err), n in ranked[:_MAX_ERRORS]:
        rows.append(
            f'<tr><td class="num">{n:,}</td><td class="t-{_e(type_)}">{_e(type_)}</td>'
            f"<td>{_e(f)}</td><td><code>{_e(err)}</code></td></tr>"
        )
    rows.append("</table>")
    if len(ranked) > _MAX_ERRORS:
        rest = sum(n for _, n in ranked[_MAX_ERRORS:])
        rows.append(f"<p>… and {rest:,} more, under {len(ranked) - _MAX_ERRORS} other errors.</p>")
    return "".join(rows)


_FAILED = frozenset({"fail", "info"})
_DIGITS = re.compile(r"\d+")
_MAX_ERRORS = 25


def _run_facts(run: RunData, results: dict[str, Any]) -> str:
    spec = run.spec or {}
    rerun = results.get("rerun") or spec.get("rerun")
    seed = results.get("seed", spec.get("seed"))
    facts = [
        ("test", run.test),
        ("suite", results.get("suite")),
        ("seed", seed),
        ("run it again", rerun),
        ("started", results.get("started")),
        ("setup", f"{results['setup_seconds']} s" if "setup_seconds" in results else None),
        ("wall time", f"{results['wall_seconds']} s" if "wall_seconds" in results else None),
        ("ops per second", results.get("ops_per_second")),
        ("exit code", results.get("exit_code")),
        ("directory", str(run.path)),
    ]
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{f'<code>{_e(v)}</code>' if k == 'run it again' else _e(v)}"
        "</td></tr>"
        for k, v in facts
        if v is not None
    )
    files = _file_links(run.path)
    spec_text = run.spec_text or "(spec.yaml is missing)"
    return (
        f'<table class="run-facts">{rows}</table>'
        f"<h3>Files</h3>{files}"
        f"<h3>The spec (spec.yaml)</h3><pre>{_e(spec_text)}</pre>"
    )


def _file_links(run_dir: Path) -> str:
    items = []
    for name in ("history.jsonl", "results.json", "spec.yaml", "harness.log"):
        if (run_dir / name).is_file():
            items.append(f'<li><a href="{_href(name)}">{_e(name)}</a></li>')
    nodes = run_dir / "nodes"
    if nodes.is_dir():
        for node in sorted(p for p in nodes.iterdir() if p.is_dir()):
            logs = sorted(p for p in node.iterdir() if p.is_file())
            links = ", ".join(
                f'<a href="{_href(f"nodes/{node.name}/{p.name}")}">{_e(p.name)}</a>'
                f" ({_size(p.stat().st_size)})"
                for p in logs
            )
            items.append(f"<li>node <b>{_e(node.name)}</b>: {links or 'no files'}</li>")
    else:
        items.append("<li>no node logs were collected</li>")
    return '<ul class="files">' + "".join(items) + "</ul>"


def _anomalies(checkers: dict[str, Any]) -> list[dict[str, Any]]:
    """Every anomaly of every checker, each with its checker's name (``checker``)."""
    out: list[dict[str, Any]] = []
    for cname, r in checkers.items():
        if isinstance(r, dict):
            out += [
                {**a, "checker": cname} for a in r.get("anomalies") or [] if isinstance(a, dict)
            ]
    return out


def _anomaly_groups(
    found: list[dict[str, Any]],
    by_index: dict[int, int],
    ivs: list[Interval],
    bands: list[Band],
) -> tuple[list[str], list[dict[str, Any]]]:
    """The anomalies grouped by kind, worst kind first: the first ``_DRAWN`` of each drawn in
    full, the rest listed one line each (a run with hundreds of anomalies stays a page a
    person can read). Returns the HTML and each anomaly's window for the timeline, numbered
    in time order (the timeline's labels and the sections' numbers agree)."""
    rows_of = [sub_history(a, by_index, ivs) for a in found]
    windows = [_anomaly_window(rows, ivs) for rows in rows_of]
    order = sorted(range(len(found)), key=lambda i: (windows[i]["s"], i))
    number = {i: n for n, i in enumerate(order)}
    position = {id(a): i for i, a in enumerate(found)}
    html_parts: list[str] = []
    for kind, group in by_kind(found).items():
        checkers = _and(list(dict.fromkeys(str(a["checker"]) for a in group)))
        html_parts.append(
            f'<section class="kind" id="kind-{_e(kind)}"><h3 class="kind">{_e(kind)} '
            f"<small>×{len(group)}, found by {_e(checkers)}</small></h3>"
        )
        for a in group[:_DRAWN]:
            i = position[id(a)]
            html_parts.append(
                anomaly_section(number[i], str(a["checker"]), a, rows_of[i], ivs, bands)
            )
        rest = group[_DRAWN:]
        if rest:
            html_parts.append(_listed(rest[:_LISTED], [number[position[id(a)]] for a in rest]))
            if len(rest) > _LISTED:
                html_parts.append(
                    f"<p>… and {len(rest) - _LISTED} more {_e(kind)} in results.json.</p>"
                )
        html_parts.append("</section>")
    return html_parts, [windows[i] for i in order]


def _listed(group: list[dict[str, Any]], numbers: list[int]) -> str:
    """The anomalies of a kind past the drawn ones: one row each, with when, the faults in
    force, the first line of the explanation, and a button to show it in the timeline."""
    rows = [
        '<details class="more" open><summary>'
        f"{len(group)} more of this kind, one line each</summary>"
        '<table class="listed"><tr><th>#</th><th>when</th><th>explanation</th><th></th></tr>'
    ]
    for a, n in zip(group, numbers, strict=False):
        when = a.get("when") if isinstance(a.get("when"), dict) else {}
        assert isinstance(when, dict)
        first = (explanation_of(a).splitlines() or [""])[0]
        rows.append(
            f'<tr id="anomaly-{n}"><td class="num">{n + 1}</td><td>{_e(when.get("text", ""))}</td>'
            f"<td>{_e(short(first, 300))}</td>"
            f'<td><button type="button" class="show-in-timeline" data-anomaly="{n}">'
            "timeline</button></td></tr>"
        )
    rows.append("</table></details>")
    return "".join(rows)


def _worst_html(found: list[dict[str, Any]], valid: Any) -> str:
    """The banner's second line, under the headline: the shortest example of the worst kind,
    when it happened, the faults in force, the first line of its explanation (and a link to
    it drawn in full)."""
    a = worst_example(found) if valid is False else None
    if a is None:
        return ""
    when = a.get("when") if isinstance(a.get("when"), dict) else {}
    first = short((explanation_of(a).splitlines() or [""])[0], 300)
    at = f" {when['text']}" if when.get("text") else ""
    return (
        f'<p class="worst" id="worst">The worst: <a href="#kind-{_e(name_of(a))}">'
        f"{_e(name_of(a))}</a>{_e(at)}: {_e(first)}</p>"
    )


# -- helpers --------------------------------------------------------------------------------------


def _counts(ivs: list[Interval]) -> dict[str, int]:
    counts = {"ok": 0, "fail": 0, "info": 0, "invoke": 0}
    for iv in ivs:
        if iv.inv.get("process") != "nemesis":
            counts[iv.type] += 1
    return counts


def _vclass(v: Any) -> str:
    return "true" if v is True else "false" if v is False else "unknown"


def _anomaly_window(rows: list[tuple[int, str]], ivs: list[Interval]) -> dict[str, Any]:
    if not rows:
        return {"ops": [], "s": 0, "e": 0}
    s = min(ivs[p].start for p, _ in rows)
    e = max((ivs[p].done or ivs[p].inv)["time"] for p, _ in rows)
    return {"ops": [p for p, _ in rows], "s": s // 1000, "e": e // 1000}


def _script_json(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _href(rel: str) -> str:
    return _e(quote(rel))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _dur(t_ns: int) -> str:
    s = t_ns / 1e9
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _and(xs: list[str]) -> str:
    xs = [str(x) for x in xs]
    if len(xs) <= 1:
        return "".join(xs)
    return ", ".join(xs[:-1]) + " and " + xs[-1]


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<style>{css}</style></head>
<body>
<header class="verdict verdict-{klass}" id="verdict">
<h1>splitbrain · {test}</h1>
<p class="sentence">{sentence}</p>
{worst}<p class="meta">{meta}</p>
</header>
<nav class="toc"><a href="#checkers">Checkers</a><a href="#anomalies">Anomalies</a>
<a href="#timeline">Timeline</a><a href="#latency">Latency</a><a href="#throughput">Throughput</a>
<a href="#failures">Failures</a><a href="#faults">Faults</a>
<a href="#run">Spec, seed, rerun, logs</a></nav>
<main>
{notes}
<section id="checkers"><h2>Checkers</h2>
{checkers}
</section>
<section id="anomalies"><h2>Anomalies</h2>
{anomalies}
</section>
<section id="timeline"><h2>Timeline</h2>
<p class="help">Each bar is one operation, from its invocation to its completion, in the row of
its process (a worker takes a new process after an <i>info</i>; processes that never overlap
share a row). Shaded bands are the faults in force; red marks are the anomalies. Drag to pan,
double-click to zoom in (shift: out), ctrl + wheel to zoom, click an operation for its details;
the strip above is the whole run (click it to move there). Latency and throughput below follow
the same window.</p>
<div class="controls">
<button type="button" data-act="prev">◀ earlier</button>
<button type="button" data-act="next">later ▶</button>
<button type="button" data-act="in">zoom in</button>
<button type="button" data-act="out">zoom out</button>
<button type="button" data-act="all">whole run</button>
<label>window <select id="sb-window"><option value="0">whole run</option>{windows}</select></label>
<span class="range" id="sb-range"></span>
</div>
<div class="canvas-wrap">
<canvas class="overview" id="sb-overview" aria-label="the whole run"></canvas></div>
<div class="legend"><span class="sw" style="background:#6cc070"></span>ok
<span class="sw" style="background:#607d8b"></span>fail
<span class="sw" style="background:#f2a93b"></span>info (outcome unknown)
<span class="sw" style="background:#b0b0b0"></span>no completion
<span class="sw" style="background:#9575cd"></span>nemesis
&nbsp; {band_legend}</div>
<div class="canvas-wrap">
<canvas class="timeline" id="sb-timeline" aria-label="timeline of operations per process">
</canvas><div id="sb-tip"></div></div>
<div id="sb-picked">Click an operation to see it here.</div>
</section>
<section id="latency"><h2>Latency</h2>
<p class="help">Per function: one point per operation at its invocation (log scale; colour by
outcome), with the 50th, 95th and 99th percentiles
(<span style="color:#1d1d1f">&#9644; p50</span> <span style="color:#1e4f91">&#9644; p95</span>
<span style="color:#8e24aa">&#9644; p99</span>) over windows of the view.</p>
<div id="sb-latency"></div>
</section>
<section id="throughput"><h2>Throughput</h2>
<p class="help">Per function: completions per second, by outcome (<span class="t-ok">ok</span>,
<span class="t-fail">fail</span>, <span class="t-info">info</span>).</p>
<div id="sb-throughput"></div>
</section>
<section id="failures"><h2>Failed and unknown operations, by error</h2>
{failures}
</section>
<section id="faults"><h2>Faults</h2>
{faults}
</section>
<section id="run"><h2>Spec, seed, rerun, logs</h2>
{run}
</section>
<p class="help">Report generated {generated} by splitbrain, from this run's files alone.</p>
</main>
<script id="sb-data" type="application/json">{data}</script>
<script>{js}</script>
</body></html>
"""
