"""The history of each test as a person reads it: ``splitbrain history`` (text or JSON) and the
history section of ``splitbrain serve``'s index.

One line per test: its last runs' outcomes as marks, oldest first (``.`` passed, ``F``
failed its expectation, ``?`` unknown, ``E`` setup failed), the last verdict against its
expectation, and the trends of ops/s, setup time and time to first evidence as sparklines
with the last value. Then the tests newly failing since their previous run, and the flaky
ones (a verdict that flipped with the same code).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from harness.runs_db import TestHistory

__all__ = ["MARKS", "history_html", "history_json", "history_text", "sparkline"]

#: a run's status as one character
MARKS = {"pass": ".", "fail": "F", "unknown": "?", "setup-failed": "E"}
_BARS = "▁▂▃▄▅▆▇█"
#: the trends shown: (column, title, unit)
_TRENDS = (
    ("ops_per_second", "ops/s", ""),
    ("setup_seconds", "setup", "s"),
    ("first_evidence_s", "first evidence", "s"),
)


def sparkline(values: Sequence[float | None]) -> str:
    """One bar per value, scaled between the least and the greatest; a space for a missing
    value (a valid run has no first evidence)."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    lo, hi = min(present), max(present)
    span = hi - lo
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        else:
            i = 0 if span == 0 else round((v - lo) / span * (len(_BARS) - 1))
            out.append(_BARS[i])
    return "".join(out)


def _last(values: Sequence[float | None], unit: str) -> str:
    v = values[-1] if values else None  # the last run's: "-" when it had none
    return "-" if v is None else f"{v:.1f}{unit}"


def history_text(histories: Sequence[TestHistory], runs: int) -> str:
    """The history as ``splitbrain history`` prints it."""
    if not histories:
        return "no finished runs yet (splitbrain run writes them)"
    width = max(len(h.key) for h in histories)
    head = f"{'test':<{width}}  {'last ' + str(runs):<{runs}}  {'now':<6}"
    head += "".join(f"  {title:<{runs + 8}}" for _, title, _ in _TRENDS)
    lines = [head.rstrip()]
    for h in histories:
        marks = "".join(MARKS.get(r.status, "?") for r in h.runs)
        line = f"{h.key:<{width}}  {marks:<{max(runs, 6)}}  {h.last.status:<6}"
        for column, _, unit in _TRENDS:
            series = h.series(column)
            line += f"  {sparkline(series):<{runs}} {_last(series, unit):>7}"
        lines.append(line.rstrip())
    lines.append("")
    lines.append("marks, oldest first: . passed (its expectation met)  F failed  ? unknown  "
                 "E setup failed")  # fmt: skip
    newly = [h for h in histories if h.newly_failing]
    lines.append("")
    lines.append(f"newly failing since the previous run: {'none' if not newly else ''}".rstrip())
    for h in newly:
        r = h.last
        lines.append(f"  {h.key}: {r.reason}")
        lines.append(f"    {r.run_dir}" + (f"; run again: {r.rerun}" if r.rerun else ""))
    flaky = [h for h in histories if h.flaky]
    lines.append(f"flaky (valid and invalid with the same code): {'none' if not flaky else ''}"
                 .rstrip())  # fmt: skip
    for h in flaky:
        for commit, diff in h.flaky:
            runs_of = [r for r in h.runs if r.code == (commit, diff)]
            verdicts = " ".join(r.verdict for r in runs_of)
            dirty = f" + uncommitted diff {diff}" if diff else ""
            lines.append(f"  {h.key}: {verdicts} at {commit[:10]}{dirty}")
    return "\n".join(lines)


def history_json(histories: Sequence[TestHistory]) -> list[dict[str, Any]]:
    """The history as data: per test, its runs and what they say."""
    return [
        {
            "key": h.key,
            "newly_failing": h.newly_failing,
            "flaky": [{"commit": c, "diff": d} for c, d in h.flaky],
            "runs": [
                {
                    "run_dir": r.run_dir,
                    "started": r.started,
                    "verdict": r.verdict,
                    "expect": r.expect,
                    "status": r.status,
                    "anomalies": r.anomalies,
                    "first_evidence_s": r.first_evidence_s,
                    "ops_per_second": r.ops_per_second,
                    "setup_seconds": r.setup_seconds,
                    "commit": r.commit_sha,
                    "dirty": bool(r.dirty) if r.dirty is not None else None,
                    "cleared": r.cleared is not None,
                }
                for r in h.runs
            ],
        }
        for h in histories
    ]


def history_html(histories: Sequence[TestHistory], link: Any = None) -> str:
    """The history section of the serve index: a table, one row per test, each run a
    coloured mark linking to it (``link(run_dir)`` gives the href), the flags, the trends."""
    e = html.escape
    if not histories:
        return ""
    rows = []
    for h in histories:
        marks = "".join(
            f'<a class="h-{e(r.status)}" title="{e(r.started)}: {e(r.verdict)}, expected '
            f'{e(r.expect)}" href="{e(link(r.run_dir) if link else r.run_dir)}">'
            f"{e(MARKS.get(r.status, '?'))}</a>"
            for r in h.runs
        )
        flags = []
        if h.newly_failing:
            flags.append('<span class="h-new">newly failing</span>')
        if h.flaky:
            flags.append('<span class="h-flaky">flaky</span>')
        trends = "".join(
            f"<td><span class=spark>{e(sparkline(h.series(c)))}</span> "
            f"{e(_last(h.series(c), unit))}</td>"
            for c, _, unit in _TRENDS
        )
        rows.append(
            f'<tr class="history-row"><td>{e(h.key)}</td><td class=marks>{marks}</td>'
            f"<td>{e(h.last.verdict)} (expected {e(h.last.expect)})</td>"
            f"<td>{' '.join(flags)}</td>{trends}</tr>"
        )
    titles = "".join(f"<th>{e(t)}</th>" for _, t, _ in _TRENDS)
    return (
        '<section id="history"><h2>History</h2>'
        "<p>Each test's last runs, oldest first, judged against its expectation: "
        ". passed, F failed, ? unknown, E setup failed. Flaky: valid and invalid with the same "
        "code (git commit and uncommitted diff).</p>"
        "<style>#history .marks a{font-family:monospace;text-decoration:none;padding:0 1px}"
        ".h-pass{color:#1a7f37}.h-fail{color:#fff;background:#cf222e}"
        ".h-unknown{color:#9a6700}.h-setup-failed{color:#fff;background:#8250df}"
        ".h-new{color:#cf222e;font-weight:bold}.h-flaky{color:#9a6700;font-weight:bold}"
        "#history .spark{font-family:monospace}</style>"
        f"<table><tr><th>test</th><th>runs</th><th>last</th><th></th>{titles}</tr>"
        + "".join(rows)
        + "</table></section>"
    )
