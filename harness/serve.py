"""``splitbrain serve [RESULTS_DIR] [--port N]``: a local web page of every run.

The index lists runs newest first, coloured by verdict, filterable by suite, test and verdict
(query parameters, so a filtered list is a link). Each run opens its ``report.html``, built on
demand when it is missing or older than the run's results. Every file of a run (node logs,
history, the checkers' drawings) is served from under RESULTS_DIR and nowhere else.

Binds 127.0.0.1 only: the results hold whatever the system under test said, and this server is
for the person at this machine.
"""

from __future__ import annotations

import html
import json
import mimetypes
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

from harness.report import build_report, fault_kinds

__all__ = ["RunSummary", "list_runs", "make_server", "serve"]

_RUN_FILES = ("results.json", "history.jsonl", "spec.yaml")
_TEXT = {".log", ".jsonl", ".yaml", ".yml", ".txt", ".edn", ".rc", ".pid", ".out", ".err", ""}


def serve(root: Path, port: int = 8000, *, out: Any = sys.stdout) -> int:
    """Serve ``root`` on 127.0.0.1:``port`` until interrupted; returns the exit code."""
    if not root.is_dir():
        print(
            f"splitbrain serve: no results directory at {root} (run a suite first, or pass "
            "the directory: splitbrain serve RESULTS_DIR)",
            file=sys.stderr,
        )
        return 3
    try:
        server = make_server(root, port)
    except OSError as e:
        print(
            f"splitbrain serve: cannot listen on 127.0.0.1:{port}: {e.strerror}; "
            "choose another with --port",
            file=sys.stderr,
        )
        return 3
    bound = server.server_address[1]
    print(f"serving {root.resolve()} at http://127.0.0.1:{bound}/  (Ctrl-C to stop)", file=out)
    out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def make_server(root: Path, port: int = 0) -> ThreadingHTTPServer:
    """A server for ``root`` bound to 127.0.0.1 (port 0: any free port), not yet serving."""
    handler = type("Handler", (_Handler,), {"root": root.resolve()})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


@dataclass
class RunSummary:
    """One run, as the index shows it."""

    path: Path  # relative to the results root: <test>/<stamp>
    test: str
    suite: str
    started: str
    verdict: str  # valid / invalid / unknown / setup-failed / running / no-verdict
    seed: Any = None
    counts: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    seconds: Any = None
    interrupted: bool = False
    #: the seeded bugs the run had on (spec.yaml's system.bugs)
    bugs: list[str] = field(default_factory=list)


def list_runs(root: Path) -> list[RunSummary]:
    """Every run directory under ``root`` (``<test>/<stamp>/``), newest first."""
    runs = []
    if not root.is_dir():
        return []
    for test_dir in root.iterdir():
        if not test_dir.is_dir() or test_dir.is_symlink():
            continue
        for run_dir in test_dir.iterdir():
            if run_dir.is_dir() and any((run_dir / f).exists() for f in _RUN_FILES):
                runs.append(_summary(root, run_dir))
    runs.sort(key=lambda r: (r.started, r.path.name), reverse=True)
    return runs


_cache: dict[Path, tuple[float, RunSummary]] = {}
_cache_lock = threading.Lock()


def _summary(root: Path, run_dir: Path) -> RunSummary:
    results_path = run_dir / "results.json"
    stamp = max(
        (p.stat().st_mtime for p in (run_dir / f for f in _RUN_FILES) if p.exists()), default=0.0
    )
    with _cache_lock:
        hit = _cache.get(run_dir)
        if hit and hit[0] == stamp:
            return hit[1]
    rel = run_dir.relative_to(root)
    r: dict[str, Any] = {}
    if results_path.exists():
        try:
            loaded = json.loads(results_path.read_text(encoding="utf-8"))
            r = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            r = {}
    started = str(r.get("started") or _stamp_time(run_dir.name))
    if r:
        v = r.get("valid")
        verdict = "unknown"
        for value, word in ((True, "valid"), (False, "invalid"), (None, "setup-failed")):
            if v is value:
                verdict = word
    else:
        hist = run_dir / "history.jsonl"
        recent = hist.exists() and time.time() - hist.stat().st_mtime < 30
        verdict = "running" if recent else "no-verdict"
    checkers = r.get("checkers") if isinstance(r.get("checkers"), dict) else {}
    assert isinstance(checkers, dict)
    anomalies = [
        str(a.get("name"))
        for c in checkers.values()
        if isinstance(c, dict)
        for a in c.get("anomalies") or []
        if isinstance(a, dict)
    ]
    faults = [f.get("f") for f in r.get("faults") or [] if isinstance(f, dict)]
    starts = fault_kinds().starts
    kinds = list(dict.fromkeys(starts[f] for f in faults if isinstance(f, str) and f in starts))
    suite = str(r.get("suite") or "")
    summary = RunSummary(
        path=rel,
        test=str(r.get("test") or run_dir.parent.name),
        suite=Path(suite).stem if suite else "",
        started=started,
        verdict=verdict,
        seed=r.get("seed"),
        counts=counts if isinstance(counts := r.get("op_counts"), dict) else {},
        faults=kinds,
        anomalies=anomalies,
        seconds=r.get("wall_seconds"),
        interrupted=bool(r.get("interrupted")),
        bugs=_bugs(run_dir),
    )
    with _cache_lock:
        _cache[run_dir] = (stamp, summary)
    return summary


def _bugs(run_dir: Path) -> list[str]:
    """The seeded bugs of a run, from its spec.yaml (none when it cannot be read)."""
    try:
        spec = yaml.safe_load((run_dir / "spec.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return []
    system = spec.get("system") if isinstance(spec, dict) else None
    bugs = system.get("bugs") if isinstance(system, dict) else None
    return [str(b) for b in bugs] if isinstance(bugs, list) else []


def _stamp_time(name: str) -> str:
    """``20260102T030405Z`` -> ``2026-01-02T03:04:05Z`` (the run dir's name is its start)."""
    s = name.split("-")[0]
    if len(s) == 16 and s[8] == "T":
        return f"{s[:4]}-{s[4:6]}-{s[6:8]}T{s[9:11]}:{s[11:13]}:{s[13:15]}Z"
    return name


# -- the HTTP handler ----------------------------------------------------------------------------

_build_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    root: Path
    server_version = "splitbrain-serve"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        path = unquote(url.path)
        try:
            if path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", _index(self.root, parse_qs(url.query)))
            elif path.startswith("/runs/"):
                self._run_file(path[len("/runs/") :])
            else:
                self._error(404, "not found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the terminal shows where the server is, not every request

    def _run_file(self, rel: str) -> None:
        target = (self.root / rel).resolve()
        if target != self.root and self.root not in target.parents:
            self._error(403, "outside the results directory")
            return
        if target.is_dir():
            if not rel.endswith("/"):
                self._redirect(f"/runs/{quote(rel)}/")
                return
            target = target / "report.html"
        if target.name == "report.html" and _is_run_dir(target.parent):
            try:
                _ensure_report(target.parent)
            except Exception as e:
                self._error(500, f"could not build the report: {type(e).__name__}: {e}")
                return
        if not target.is_file():
            self._error(404, f"no file {rel}")
            return
        body = target.read_bytes()
        if target.name == "report.html" and _is_run_dir(target.parent):
            body = _with_way_back(body, _summary(self.root, target.parent).test)
        self._send(200, _content_type(target), body)

    def _send(self, code: int, ctype: str, body: str | bytes) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if ctype.startswith("text/html"):
            # the pages carry their own scripts and styles, and load nothing else
            self.send_header(
                "Content-Security-Policy",
                "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; img-src data:; frame-src 'self' about:; "
                "child-src 'self' about:",
            )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _redirect(self, to: str) -> None:
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, code: int, text: str) -> None:
        body = (
            f"<!DOCTYPE html><title>{code}</title><p>{html.escape(text)}</p>"
            "<p><a href='/'>all runs</a></p>"
        )
        self._send(code, "text/html; charset=utf-8", body)


def _with_way_back(page: bytes, test: str) -> bytes:
    """A run's report as served: a bar at its top back to every run and to this test's runs
    and history (the file on disk stays self-contained, without it)."""
    bar = (
        '<div style="font:13px system-ui,sans-serif;padding:4px 12px;background:#1d1d1f">'
        '<a style="color:#fff" href="/">&larr; all runs</a> &middot; '
        f'<a style="color:#fff" href="/?test={quote(test)}#history">'
        f"{html.escape(test)}: its runs and history</a></div>"
    ).encode()
    at = page.find(b"<body")
    end = page.find(b">", at) + 1 if at >= 0 else 0
    return page[:end] + bar + page[end:]


def _is_run_dir(d: Path) -> bool:
    return any((d / f).exists() for f in _RUN_FILES)


def _ensure_report(run_dir: Path) -> None:
    """Build report.html if it is missing or older than the files it is built from."""
    report = run_dir / "report.html"
    newest = max(
        ((run_dir / f).stat().st_mtime for f in _RUN_FILES if (run_dir / f).exists()), default=0.0
    )
    with _build_lock:
        if not report.exists() or report.stat().st_mtime < newest:
            build_report(run_dir)


def _content_type(p: Path) -> str:
    suffix = p.suffix.lower()
    if suffix in (".html", ".htm"):
        return "text/html; charset=utf-8"
    if suffix == ".json":
        return "application/json; charset=utf-8"
    if suffix == ".svg":
        return "image/svg+xml"
    if suffix in _TEXT or suffix in (".xml", ".md"):  # summary.md: read, not downloaded
        return "text/plain; charset=utf-8"
    return mimetypes.guess_type(p.name)[0] or "application/octet-stream"


# -- the index page ------------------------------------------------------------------------------

_WORDS = {
    "valid": "valid",
    "invalid": "INVALID",
    "unknown": "unknown",
    "setup-failed": "setup failed",
    "running": "running",
    "no-verdict": "no verdict",
}


def _index(root: Path, query: dict[str, list[str]]) -> str:
    runs = list_runs(root)
    want = {k: (query.get(k) or [""])[0] for k in ("suite", "test", "verdict")}
    shown = [
        r
        for r in runs
        if (not want["suite"] or r.suite == want["suite"])
        and (not want["test"] or r.test == want["test"])
        and (not want["verdict"] or r.verdict == want["verdict"])
    ]
    e = _e
    rows = []
    for r in shown:
        href = "/runs/" + quote(r.path.as_posix()) + "/report.html"
        files = "/runs/" + quote(r.path.as_posix()) + "/"
        c = r.counts
        ops = (
            f"{c.get('ok', 0):,} ok · {c.get('fail', 0):,} fail · {c.get('info', 0):,} info"
            if c
            else ""
        )
        anomalies = ", ".join(dict.fromkeys(r.anomalies))
        if len(r.anomalies) > 1:
            anomalies += f" ({len(r.anomalies)})"
        rows.append(
            f'<tr class="run v-{e(r.verdict)}" data-test="{e(r.test)}" data-suite="{e(r.suite)}">'
            f'<td><a class="pill" href="{e(href)}">{e(_WORDS.get(r.verdict, r.verdict))}</a>'
            f"{' <small>interrupted</small>' if r.interrupted else ''}</td>"
            f'<td class=nw><a href="{e(href)}">{e(r.test)}</a></td><td>{e(r.suite)}</td>'
            f"<td>{e(', '.join(r.bugs))}</td>"
            f"<td class=nw>{e(r.started.replace('T', ' ').rstrip('Z'))}</td>"
            f"<td class=num>{e(r.seconds if r.seconds is not None else '')}</td>"
            f"<td>{e(ops)}</td><td>{e(', '.join(r.faults))}</td><td>{e(anomalies)}</td>"
            f"<td>{e(r.seed if r.seed is not None else '')}</td>"
            f'<td class=nw><a href="{e(href)}">report</a> · '
            f'<a href="{e(files)}results.json">results</a>'
            f' · <a href="{e(files)}history.jsonl">history</a></td></tr>'
        )
    body = "".join(rows) or '<tr><td colspan="11">No run matches.</td></tr>'
    junit = sorted(p.name for p in root.glob("*-junit.xml"))
    junit_links = " ".join(f'<a href="/runs/{quote(n)}">{e(n)}</a>' for n in junit)
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    tally = " · ".join(f"{n} {_WORDS[v]}" for v, n in counts.items())
    return _INDEX.format(
        root=e(str(root)),
        suites=_options(sorted({r.suite for r in runs if r.suite}), want["suite"], "every suite"),
        tests=_options(sorted({r.test for r in runs}), want["test"], "every test"),
        verdicts=_options(list(_WORDS), want["verdict"], "every verdict", _WORDS),
        shown=len(shown),
        total=len(runs),
        tally=e(tally),
        rows=body,
        junit=(f"<p>JUnit XML: {junit_links}</p>" if junit else "")
        + _history_section(root, test=want["test"]),
        clear=(' <a href="/">clear</a>' if any(want.values()) else ""),
    )


def _history_section(root: Path, test: str = "") -> str:
    """Each test's verdicts over its last runs, newly failing and flaky tests, trends
    (``harness.trend``), from the history index beside the results; empty when it cannot be
    read (the run list above does not depend on it). With ``test`` (the index filtered to one
    test), that test's history alone, over its last 50 runs."""
    import sqlite3

    from harness import runs_db, trend

    try:
        with runs_db.connect(root) as conn:
            if test:
                histories = runs_db.history(conn, runs=50, tests=[test])
            else:
                histories = runs_db.history(conn, runs=10)
    except (sqlite3.Error, OSError):
        return ""
    section = trend.history_html(histories, link=lambda rel: "/runs/" + quote(rel) + "/report.html")
    summaries = sorted((root / "_invocations").glob("*/summary.json"))
    if summaries:
        rel = summaries[-1].parent.relative_to(root).as_posix()
        section += (
            f'<p>The last invocation\'s summary: <a href="/runs/{quote(rel)}/summary.md">'
            f'summary.md</a> · <a href="/runs/{quote(rel)}/summary.json">summary.json</a></p>'
        )
    return section


def _options(
    values: list[str], chosen: str, every: str, words: dict[str, str] | None = None
) -> str:
    opts = [f'<option value="">{_e(every)}</option>']
    for v in values:
        sel = " selected" if v == chosen else ""
        opts.append(f'<option value="{_e(v)}"{sel}>{_e((words or {}).get(v, v))}</option>')
    return "".join(opts)


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>splitbrain runs</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 0; background: #fafafa; color: #1d1d1f; }}
header {{ background: #263238; color: #fff; padding: .9em 1.5em; }}
header h1 {{ margin: 0; font-size: 1.3em; }} header p {{ margin: .2em 0 0; opacity: .85; }}
main {{ padding: 1em 1.5em; }}
form {{ margin: 0 0 1em; display: flex; gap: 1em; align-items: center; flex-wrap: wrap; }}
select, button {{ font: inherit; }}
table {{ border-collapse: collapse; width: 100%; background: #fff; }}
th, td {{ border-bottom: 1px solid #e3e3e3; padding: 5px 8px; text-align: left;
  vertical-align: top; }}
th {{ background: #f0f0f0; position: sticky; top: 0; }}
td.num {{ text-align: right; }} td.nw {{ white-space: nowrap; }}
tr.run td:first-child {{ border-left: 6px solid #9e9e9e; }}
.pill {{ display: inline-block; min-width: 6.5em; text-align: center; border-radius: 3px;
  padding: 1px 8px; color: #fff; background: #757575; font-weight: 600; text-decoration: none; }}
tr.v-valid td:first-child {{ border-left-color: #2e7d32; }}
tr.v-valid .pill {{ background: #2e7d32; }}
tr.v-valid {{ background: #f1f8f1; }}
tr.v-invalid td:first-child {{ border-left-color: #c62828; }}
tr.v-invalid .pill {{ background: #c62828; }}
tr.v-invalid {{ background: #fdecec; }}
tr.v-unknown td:first-child {{ border-left-color: #b26a00; }}
tr.v-unknown .pill {{ background: #b26a00; }}
tr.v-unknown {{ background: #fff6e5; }}
tr.v-running .pill {{ background: #1e4f91; }}
a {{ color: #1e4f91; }}
</style></head><body>
<header><h1>splitbrain runs</h1><p>{root} · {total} runs · {tally} ·
<a href="#history" style="color:#fff">each test's history</a></p></header>
<main>
<form method="get" action="/" id="filter">
<label>suite <select name="suite">{suites}</select></label>
<label>test <select name="test">{tests}</select></label>
<label>verdict <select name="verdict">{verdicts}</select></label>
<noscript><button type="submit">filter</button></noscript>
<span id="shown">showing {shown} of {total}</span>{clear}
</form>
<table><thead><tr><th>verdict</th><th>test</th><th>suite</th><th>seeded bug</th>
<th>started (UTC)</th>
<th>seconds</th>
<th>operations</th><th>faults</th><th>anomalies</th><th>seed</th><th>files</th></tr></thead>
<tbody>{rows}</tbody></table>
{junit}
</main>
<script>
document.querySelectorAll('#filter select').forEach(function (s) {{
  s.addEventListener('change', function () {{ document.getElementById('filter').submit(); }});
}});
</script>
</body></html>
"""
