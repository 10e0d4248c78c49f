"""The runs of a results folder, in a small SQLite file beside them: ``<results>/history.sqlite``.

The run folders are the truth and the database is an index of them: ``sync`` reads every run
folder whose ``results.json`` (or ``cleared.json``) changed since it was indexed, and drops the
rows of folders that are gone, so a database that is lost, corrupt or from another version is
simply rebuilt from the folders. Only finished runs (with a results.json) are indexed.

A test is followed from run to run by its key: ``<suite file's name>/<test>``, with
`` --bug X`` for each seeded bug (a seeded-bug run is a different question from the test
without it). Each run is judged against its expectation (``harness.expect``), so the history
speaks of passes and failures as the nightly job did.

``history`` answers, per test over its last N runs: the verdicts, what newly fails since the
previous run, which tests are flaky (their verdict flipped between valid and invalid with the
same code: the same git commit and the same uncommitted diff, as results.json records it), and
the trends of ops/s, setup time and time to first evidence.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.expect import (
    anomaly_kinds,
    anomaly_summary,
    first_evidence_s,
    judge_results,
    verdict_word,
)

__all__ = [
    "DB_NAME",
    "Pruning",
    "RunRow",
    "TestHistory",
    "clear_marker",
    "connect",
    "history",
    "prune_plan",
    "read_run",
    "run_dirs",
    "sync",
]

DB_NAME = "history.sqlite"
_VERSION = "1"

_COLUMNS = (
    "run_dir", "key", "suite", "test", "bugs", "started", "verdict", "expect", "status", "reason",
    "anomalies", "kinds", "first_evidence_s", "ops_per_second", "setup_seconds", "wall_seconds",
    "seed", "commit_sha", "dirty", "diff", "rerun", "cleared", "stamp",
)  # fmt: skip
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS runs ({", ".join(_COLUMNS)}, PRIMARY KEY (run_dir));
CREATE INDEX IF NOT EXISTS runs_by_key ON runs (key, started);
"""


@dataclass(frozen=True)
class RunRow:
    """One finished run as the history sees it; ``run_dir`` is relative to the results root."""

    run_dir: str
    key: str
    suite: str
    test: str
    bugs: str
    started: str
    verdict: str
    expect: str
    status: str
    reason: str
    anomalies: str
    kinds: str
    first_evidence_s: float | None
    ops_per_second: float | None
    setup_seconds: float | None
    wall_seconds: float | None
    seed: int | None
    commit_sha: str | None
    dirty: int | None
    diff: str | None
    rerun: str
    cleared: str | None
    stamp: float

    @property
    def code(self) -> tuple[str, str | None] | None:
        """The code the run ran (commit, diff hash), or None when it was not recorded."""
        return (self.commit_sha, self.diff) if self.commit_sha else None


@contextmanager
def connect(root: Path) -> Iterator[sqlite3.Connection]:
    """The database of ``root``, synced with its run folders; made (or made again, when it
    cannot be read or is of another version) as needed."""
    path = root / DB_NAME
    for attempt in (1, 2):
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT v FROM meta WHERE k = 'version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('version', ?)", (_VERSION,))
            elif row[0] != _VERSION:
                raise sqlite3.DatabaseError(f"version {row[0]}")
            sync(conn, root)
            conn.commit()
        except sqlite3.OperationalError:  # locked by another process past the timeout, ...
            conn.close()
            raise
        except sqlite3.DatabaseError:  # not a database, corrupt, or of another version
            conn.close()
            if attempt == 2:
                raise
            path.unlink(missing_ok=True)  # an index only: rebuilt from the run folders
            continue
        try:
            yield conn
        finally:
            conn.close()
        return


def run_dirs(root: Path) -> Iterator[Path]:
    """Every run folder under ``root`` (``<test>/<stamp>/``), finished or not."""
    if not root.is_dir():
        return
    for test_dir in sorted(root.iterdir()):
        if not test_dir.is_dir() or test_dir.is_symlink() or test_dir.name.startswith("_"):
            continue
        for d in sorted(test_dir.iterdir()):
            if d.is_dir() and any((d / f).exists() for f in _RUN_FILES):
                yield d


_RUN_FILES = ("results.json", "history.jsonl", "spec.yaml")


def sync(conn: sqlite3.Connection, root: Path) -> int:
    """Index every finished run folder of ``root`` that changed since it was indexed, forget
    the folders that are gone; returns how many rows were (re)written."""
    known = dict(conn.execute("SELECT run_dir, stamp FROM runs").fetchall())
    seen: set[str] = set()
    written = 0
    for d in run_dirs(root):
        rel = str(d.relative_to(root))
        stamp = _stamp(d)
        if stamp is None:
            continue  # not finished: no results.json yet
        seen.add(rel)
        if known.get(rel) == stamp:
            continue
        row = read_run(root, d, stamp)
        if row is not None:
            conn.execute(
                f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(_COLUMNS))})",
                [getattr(row, c) for c in _COLUMNS],
            )
            written += 1
    gone = [(rel,) for rel in known if rel not in seen]
    conn.executemany("DELETE FROM runs WHERE run_dir = ?", gone)
    return written


def _stamp(d: Path) -> float | None:
    try:
        stamp = (d / "results.json").stat().st_mtime
    except OSError:
        return None
    try:
        stamp += (d / "cleared.json").stat().st_mtime
    except OSError:
        pass
    return stamp


def read_run(root: Path, d: Path, stamp: float = 0.0) -> RunRow | None:
    """The history's row of the run folder ``d``, from its results.json, spec.yaml and
    cleared.json; None when results.json cannot be read."""
    try:
        results = json.loads((d / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(results, dict):
        return None
    spec: dict[str, Any] = {}
    try:
        loaded = yaml.safe_load((d / "spec.yaml").read_text(encoding="utf-8"))
        spec = loaded if isinstance(loaded, dict) else {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        pass
    expected, judgement = judge_results(results, spec)
    system = spec.get("system") if isinstance(spec.get("system"), dict) else {}
    bugs = [str(b) for b in (system or {}).get("bugs") or []]
    suite = Path(str(results.get("suite") or "")).stem or "?"
    test = str(results.get("test") or d.parent.name)
    code = results.get("code") if isinstance(results.get("code"), dict) else {}
    cleared = None
    if (d / "cleared.json").exists():
        try:
            cleared = (d / "cleared.json").read_text(encoding="utf-8")
        except OSError:
            cleared = "{}"
    return RunRow(
        run_dir=str(d.relative_to(root)),
        key=f"{suite}/{test}" + "".join(f" --bug {b}" for b in bugs),
        suite=suite,
        test=test,
        bugs=",".join(bugs),
        started=str(results.get("started") or ""),
        verdict=verdict_word(results.get("valid", "unknown")),
        expect=str(expected),
        status=judgement.status,
        reason=judgement.reason,
        anomalies=anomaly_summary(results) if results.get("valid") is False else "",
        kinds=json.dumps(anomaly_kinds(results)),
        first_evidence_s=first_evidence_s(results),
        ops_per_second=_number(results.get("ops_per_second")),
        setup_seconds=_number(results.get("setup_seconds")),
        wall_seconds=_number(results.get("wall_seconds")),
        seed=results.get("seed") if isinstance(results.get("seed"), int) else None,
        commit_sha=(code or {}).get("commit"),
        dirty=int(bool((code or {}).get("dirty"))) if code else None,
        diff=(code or {}).get("diff"),
        rerun=str(results.get("rerun") or ""),
        cleared=cleared,
        stamp=stamp,
    )


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


@dataclass
class TestHistory:
    """One test's last runs, oldest first, and what they say."""

    __test__ = False  # not a pytest class

    key: str
    runs: list[RunRow] = field(default_factory=list)

    @property
    def last(self) -> RunRow:
        return self.runs[-1]

    @property
    def newly_failing(self) -> bool:
        """The last run did not pass, and the one before it did."""
        return len(self.runs) >= 2 and self.runs[-2].status == "pass" and not self._passed(-1)

    def _passed(self, i: int) -> bool:
        return self.runs[i].status == "pass"

    @property
    def flaky(self) -> list[tuple[str, str | None]]:
        """The code versions (commit, diff hash) under which the verdict flipped between
        valid and invalid."""
        verdicts: dict[tuple[str, str | None], set[str]] = {}
        for r in self.runs:
            if r.code is not None and r.verdict in ("valid", "invalid"):
                verdicts.setdefault(r.code, set()).add(r.verdict)
        return [code for code, vs in verdicts.items() if len(vs) == 2]

    def series(self, column: str) -> list[float | None]:
        return [getattr(r, column) for r in self.runs]


def history(
    conn: sqlite3.Connection, *, runs: int = 10, tests: Sequence[str] = ()
) -> list[TestHistory]:
    """Per test key (all, or those whose test name or key is in ``tests``), its last ``runs``
    runs, oldest first; the tests sorted by key."""
    rows = [RunRow(*r) for r in conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM runs ORDER BY key, started, run_dir")]  # fmt: skip
    out: dict[str, TestHistory] = {}
    for r in rows:
        if tests and r.test not in tests and r.key not in tests:
            continue
        out.setdefault(r.key, TestHistory(r.key)).runs.append(r)
    for h in out.values():
        h.runs = h.runs[-runs:]
    return list(out.values())


def clear_marker(run_dir: Path, note: str) -> Path:
    """Mark a failing run as seen by a person (``cleared.json``: who, when, why), so prune may
    remove it; returns the file."""
    import time

    from harness.store import write_atomic

    path = run_dir / "cleared.json"
    data = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "by": os.environ.get("USER") or os.environ.get("LOGNAME") or "?",
        "note": note,
    }
    write_atomic(path, json.dumps(data))
    return path


@dataclass(frozen=True)
class Pruning:
    """What ``prune`` removes and what it keeps of a results folder, with why."""

    remove: list[Path]
    kept_failing: list[Path]
    kept: int


def prune_plan(
    conn: sqlite3.Connection,
    root: Path,
    *,
    keep_runs: int | None,
    keep_days: float | None,
    now: float,
) -> Pruning:
    """Which run folders of ``root`` go: a run stays when it is among its test's newest
    ``keep_runs``, or started within the last ``keep_days`` days, or did not pass and no person
    has cleared it (``splitbrain clear``). A run with no results.json (still running, or killed)
    counts as not passed. The invocation folders (summaries) follow the same age and count."""
    import calendar
    import time

    def age_ok(stamp: str) -> bool:
        if keep_days is None:
            return False
        try:
            t = calendar.timegm(time.strptime(stamp.split("-")[0], "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return True  # a folder not named by the harness: never removed by age
        return now - t <= keep_days * 86400

    rows = {r[0]: r for r in conn.execute("SELECT run_dir, key, status, cleared FROM runs")}
    by_key: dict[str, list[Path]] = {}
    for d in run_dirs(root):
        row = rows.get(str(d.relative_to(root)))
        by_key.setdefault(row[1] if row is not None else str(d), []).append(d)
    remove: list[Path] = []
    failing: list[Path] = []
    kept = 0
    for dirs in by_key.values():
        dirs.sort(key=lambda p: p.name)
        for i, d in enumerate(reversed(dirs)):  # i: 0 for the test's newest run
            row = rows.get(str(d.relative_to(root)))
            passed = row is not None and row[2] == "pass"
            cleared = (row is not None and row[3] is not None) or (d / "cleared.json").exists()
            if (keep_runs is not None and i < keep_runs) or age_ok(d.name):
                kept += 1
            elif not passed and not cleared:
                failing.append(d)
            else:
                remove.append(d)
    inv = root / "_invocations"
    if inv.is_dir():
        folders = sorted((p for p in inv.iterdir() if p.is_dir()), key=lambda p: p.name)
        for i, d in enumerate(reversed(folders)):
            if not ((keep_runs is not None and i < keep_runs) or age_ok(d.name)):
                remove.append(d)
    return Pruning(remove, failing, kept + len(failing))
