"""A night's work as one ``splitbrain run``: several suites, tests side by side, a shard of
them per CI machine, each judged against what it is expected to find, and one summary.

- ``plan``: the suites named (files, or folders of them), their tests, ``--test`` and
  ``--shard I/N`` applied. A shard is a stable share: a test belongs to shard
  ``sha256(suite/test) mod N``, so adding or moving a test never reshuffles the others, and
  the N machines of a CI matrix together run every test exactly once.
- ``run_planned``: the tests, ``jobs`` at a time. With one job a test runs in this process,
  as ``splitbrain run`` always did. With more, each runs in a process of its own (spawned, so
  it starts clean): its own signal handling, its own harness.log, its own cluster (the local
  backend gives every run its own prefix, bridge, /24 and lock), and a crash in one cannot
  take the others' verdicts with it. A signal stops the tests under way (each heals and
  writes its results) and starts no other.
- ``write_summary``: ``summary.json`` and ``summary.md`` in the invocation's folder,
  ``<results>/_invocations/<UTC start>/``.

Expectations and their judgement are ``harness.expect``'s.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from harness import exits
from harness.config import ConfigError, load_suite
from harness.expect import (
    Expectation,
    Judgement,
    anomaly_kinds,
    anomaly_summary,
    expectation,
    first_evidence_s,
    judge,
    verdict_word,
    why_not_decided,
)
from harness.spec import SuiteSpec, TestSpec
from harness.store import StorageError, write_atomic

__all__ = [
    "INVOCATIONS",
    "Done",
    "Planned",
    "default_jobs",
    "in_shard",
    "invocation_dir",
    "parse_shard",
    "plan",
    "repo_relative",
    "run_planned",
    "suite_files",
    "summary_row",
    "summary_markdown",
    "write_summary",
]

#: the folder of the results root that holds one folder per invocation (its summary, JUnit)
INVOCATIONS = "_invocations"


@dataclass(frozen=True)
class Planned:
    """One test to run: its suite's name, the suite file as the rerun command names it
    (relative to the repository root when it is in one), and the spec with the command
    line's overrides."""

    suite: str
    suite_path: str
    spec: TestSpec

    @property
    def key(self) -> str:
        """suite/test, with the seeded bugs: what the history follows from run to run."""
        bugs = "".join(f" --bug {b}" for b in self.spec.system.bugs)
        return f"{self.suite}/{self.spec.name}{bugs}"


@dataclass
class Done:
    """A test that ran (or could not): its outcome, what it was expected to find, and the
    judgement of one against the other."""

    planned: Planned
    outcome: Any  # harness.run.Outcome
    expected: Expectation
    judgement: Judgement

    @property
    def results(self) -> dict[str, Any]:
        r = self.outcome.results
        return r if isinstance(r, dict) else {}


# -- plan ----------------------------------------------------------------------------------------


def suite_files(paths: Sequence[str]) -> list[Path]:
    """The suite files ``paths`` name: a file as it is; a folder, every ``*.yaml`` / ``*.yml``
    directly in it that is a suite (a mapping with a ``tests`` list), sorted. Raises
    ConfigError for a path that does not exist or a folder without suites."""
    files: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and _is_suite(f))
            if not found:
                raise ConfigError(given, None, "", "cannot read the suite file: it is a "
                                  "directory with no suite in it (*.yaml with 'tests'); "
                                  "expected a YAML file, or a folder of them")  # fmt: skip
            files += found
        else:
            files.append(p)  # load_suite says what is wrong with it, if anything
    return list(dict.fromkeys(files))


def _is_suite(path: Path) -> bool:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True  # a broken suite is still a suite: load_suite names what is wrong
    return isinstance(data, dict) and isinstance(data.get("tests"), list)


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (1 <= I <= N) -> (I, N); raises ValueError with what is allowed."""
    i, slash, n = text.partition("/")
    try:
        shard, total = int(i), int(n)
    except ValueError:
        shard = total = 0
    if not slash or total < 1 or not 1 <= shard <= total:
        raise ValueError(f"expected I/N with 1 <= I <= N (e.g. 1/2), got {text!r}")
    return shard, total


def in_shard(suite: str, test: str, shard: int, total: int) -> bool:
    """Whether the test ``test`` of the suite named ``suite`` is in shard ``shard`` of
    ``total`` (1-based): by a hash of the names, not the position, so it is the same on every
    machine, in every order and whatever else the suites hold."""
    digest = hashlib.sha256(f"{suite}/{test}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % total == shard - 1


def plan(
    paths: Sequence[str],
    *,
    tests: Sequence[str] = (),
    shard: tuple[int, int] | None = None,
    override: Callable[[TestSpec], TestSpec] = lambda t: t,
) -> tuple[list[SuiteSpec], list[Planned]]:
    """The suites ``paths`` name, read and checked whole (a bad one stops everything before
    any test runs: ConfigError), and the tests to run: those named by ``tests`` (each must be
    in some suite), in ``shard`` when given, with ``override`` applied."""
    suites = [load_suite(f) for f in suite_files(paths)]
    if tests:
        names = {t.name for s in suites for t in s.tests}
        for name in tests:
            if name not in names:
                raise ConfigError(
                    "--test",
                    None,
                    "",
                    f"no test named {name!r} in {', '.join(s.source for s in suites)}; "
                    f"{'it has' if len(suites) == 1 else 'they have'}: "
                    f"{', '.join(sorted(names))}",
                )
    planned = [
        Planned(s.name, repo_relative(s.source), override(t))
        for s in suites
        for t in s.tests
        if (not tests or t.name in tests) and (shard is None or in_shard(s.name, t.name, *shard))
    ]
    return suites, planned


def repo_relative(path: str) -> str:
    """``path`` relative to the root of the git repository holding it, so a rerun command can
    be pasted from that root; as given when it is in no repository."""
    p = Path(path).resolve()
    try:
        top = subprocess.run(
            ["git", "-C", str(p.parent), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        top = ""
    if top and p.is_relative_to(top):
        return str(p.relative_to(top))
    return path


def default_jobs() -> int:
    """Tests side by side when ``--jobs`` is not given: half the cores this process may use,
    at least one. A test keeps about two cores busy (its nodes, its clients, then its
    checker); more at once would slow every test, and a slowed test times operations out,
    which changes what it can find. CI runners of two cores run one test at a time."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


# -- run -----------------------------------------------------------------------------------------


def run_planned(
    planned: Sequence[Planned],
    *,
    jobs: int,
    results_root: Path,
    interrupts: Any,
    out: Any = sys.stdout,
) -> list[Done]:
    """Run every planned test, ``jobs`` at a time, each judged against its expectation as it
    ends (a line on ``out``). ``interrupts``: the invocation's ``handle_interrupts()``; once it
    is set no test starts, and the tests under way are stopped (each heals and writes)."""
    done: list[Done] = []
    total = len(planned)

    def finish(p: Planned, outcome: Any) -> None:
        d = _judged(p, outcome)
        done.append(d)
        _say(f"[{len(done)}/{total}] {p.key}: {_line(d)}", out)

    if jobs <= 1:
        from harness.run import run_test

        for p in planned:
            if interrupts.stop.is_set():
                break
            finish(p, run_test(p.spec, results_root=results_root, suite_path=p.suite_path,
                               interrupts=interrupts))  # fmt: skip
        return done
    _run_side_by_side(planned, jobs, results_root, interrupts, finish)
    return done


def _run_side_by_side(
    planned: Sequence[Planned],
    jobs: int,
    results_root: Path,
    interrupts: Any,
    finish: Callable[[Planned, Any], None],
) -> None:
    ctx = multiprocessing.get_context("spawn")
    pending = list(planned)
    running: dict[int, tuple[Any, Connection, Planned]] = {}
    forwarded = False
    while pending or running:
        while pending and len(running) < jobs and not interrupts.stop.is_set():
            p = pending.pop(0)
            mine, theirs = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_child, args=(p, str(results_root), theirs), name=f"sb-{p.spec.name}"
            )
            proc.start()
            theirs.close()
            running[proc.sentinel] = (proc, mine, p)
        if interrupts.stop.is_set() and not forwarded:
            # a Ctrl-C reached the children too (one process group); a SIGTERM or SIGHUP sent
            # to this process alone is passed on, so each test heals and writes its results
            forwarded = True
            for proc, _, _ in running.values():
                if proc.is_alive():
                    try:
                        os.kill(proc.pid, _signal_number(interrupts.signal))
                    except OSError:
                        pass
        for sentinel in wait(list(running), timeout=0.5):
            proc, conn, p = running.pop(sentinel)  # type: ignore[arg-type]
            proc.join()
            finish(p, _received(conn, proc, p, results_root))
            conn.close()


def _signal_number(name: str | None) -> int:
    import signal

    return int(getattr(signal, name or "SIGTERM", signal.SIGTERM))


def _child(p: Planned, results_root: str, conn: Connection) -> None:
    """One test in a process of its own; sends back (valid, exit code, run dir, results)."""
    import logging

    from harness.run import run_test

    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for h in logging.getLogger().handlers:  # the run logs INFO to its harness.log, not here
        h.setLevel(logging.WARNING)
    o = run_test(p.spec, results_root=Path(results_root), suite_path=p.suite_path)
    results = json.loads(json.dumps(o.results, default=str))
    conn.send((o.valid, o.exit_code, str(o.run_dir) if o.run_dir else None, results))
    conn.close()


def _received(conn: Connection, proc: Any, p: Planned, results_root: Path) -> Any:
    """The outcome a child sent; an unknown one when it ended without sending (killed, or
    crashed: its run folder, if any, says how far it got)."""
    from harness.run import Outcome

    try:
        if conn.poll():
            valid, code, run_dir, results = conn.recv()
            return Outcome(p.spec.name, valid, code, Path(run_dir) if run_dir else None, results)
    except (EOFError, OSError):
        pass
    why = f"the test's process ended ({proc.exitcode}) without a verdict"
    return Outcome(p.spec.name, "unknown", exits.UNKNOWN, None, {"error": why, "valid": "unknown"})


def _judged(p: Planned, outcome: Any) -> Done:
    expected = expectation(p.spec.expect, p.spec.system.bugs)
    results = outcome.results if isinstance(outcome.results, dict) else {}
    judged = judge(expected, outcome.valid, anomaly_kinds(results), why_not_decided(results))
    return Done(p, outcome, expected, judged)


def _line(d: Done) -> str:
    """``PASS: invalid (expected invalid: still invalid, as expected); 3 anomalies: ...``."""
    word = verdict_word(d.outcome.valid)
    line = f"{d.judgement.status.upper()}: {word} (expected {d.expected}: {d.judgement.reason})"
    if d.outcome.valid is False:
        line += f"; {anomaly_summary(d.results)}"
    return line


def _say(text: str, out: Any) -> None:
    try:
        print(text, file=out)
        out.flush()
    except (OSError, ValueError):
        pass


# -- summary -------------------------------------------------------------------------------------


def invocation_dir(results_root: Path) -> Path:
    """A new folder ``<results>/_invocations/<UTC start>[-n]`` for one invocation's summary
    and JUnit; raises StorageError."""
    base = results_root / INVOCATIONS
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        base.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            path = base / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                n += 1
    except OSError as e:
        raise StorageError("create the invocation folder", base / stamp, e) from e


def summary_row(d: Done, results_root: Path) -> dict[str, Any]:
    """One test's line of the summary: verdict, expectation, judgement, anomaly kinds, time to
    first evidence, ops/s, setup time, where its results are, how to run it again."""
    r = d.results
    run_dir = d.outcome.run_dir
    report = run_dir / "report.html" if run_dir is not None else None
    return {
        "suite": d.planned.suite,
        "test": d.planned.spec.name,
        "key": d.planned.key,
        "bugs": list(d.planned.spec.system.bugs),
        "verdict": verdict_word(d.outcome.valid),
        "expect": str(d.expected),
        "status": d.judgement.status,
        "reason": d.judgement.reason,
        "anomalies": anomaly_summary(r) if d.outcome.valid is False else "",
        "anomaly_kinds": anomaly_kinds(r),
        "first_evidence_s": first_evidence_s(r),
        "ops_per_second": r.get("ops_per_second"),
        "setup_seconds": r.get("setup_seconds"),
        "wall_seconds": r.get("wall_seconds"),
        "seed": r.get("seed"),
        "error": r.get("error"),
        "run_dir": _relative(run_dir, results_root),
        "report": _relative(report, results_root) if report and report.exists() else None,
        "rerun": r.get("rerun"),
    }


def write_summary(
    folder: Path, done: Sequence[Done], results_root: Path, meta: dict[str, Any]
) -> dict[str, Any]:
    """Write ``summary.json`` and ``summary.md`` into ``folder``; returns the summary. ``meta``
    (command, jobs, shard, code, started, not_run, junit) goes in as it is. Raises
    StorageError."""
    rows = [summary_row(d, results_root) for d in done]
    counts = {s: sum(1 for r in rows if r["status"] == s)
              for s in ("pass", "fail", "unknown", "setup-failed")}  # fmt: skip
    summary = {
        **meta,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": str(results_root),
        "counts": counts,
        "tests": rows,
    }
    write_atomic(folder / "summary.json", json.dumps(summary, indent=2, default=str))
    write_atomic(folder / "summary.md", summary_markdown(summary))
    return summary


_MARK = {"pass": "✅", "fail": "❌", "unknown": "❔", "setup-failed": "⚠️"}


def summary_markdown(summary: dict[str, Any]) -> str:
    """A short Markdown page of the summary, for a CI job to post as a comment: one line per
    test, then what failed with its anomalies and the command that runs it again."""
    c = summary["counts"]
    words = (("passed", "pass"), ("failed", "fail"), ("unknown", "unknown"),
             ("setup failed", "setup-failed"))  # fmt: skip
    head = ", ".join(f"{c[k]} {w}" for w, k in words if c[k])
    shard = f", shard {summary['shard']}" if summary.get("shard") else ""
    lines = [
        f"### splitbrain: {head or 'no tests'} (exit {summary.get('exit_code', '?')}{shard})",
        "",
        "Judged against each test's expectation: a known-invalid test that is still invalid "
        "passes, one that turns valid fails.",
        "",
        "| | test | verdict | expected | anomalies | first evidence | ops/s | setup |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["tests"]:
        lines.append(
            "| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                _MARK.get(r["status"], ""),
                _md(r["key"]),
                r["verdict"],
                _md(r["expect"]),
                _md(r["anomalies"] or "-"),
                _secs(r["first_evidence_s"]),
                "-" if r["ops_per_second"] is None else f"{r['ops_per_second']:g}",
                _secs(r["setup_seconds"]),
            )
        )
    bad = [r for r in summary["tests"] if r["status"] != "pass"]
    if bad:
        lines += ["", "**Not passed:**", ""]
        for r in bad:
            lines.append(f"- `{r['key']}`: {_md(r['reason'])}")
            if r.get("report") or r.get("run_dir"):
                lines.append(f"  - results: `{r.get('report') or r.get('run_dir')}`")
            if r.get("rerun"):
                lines.append(f"  - run again: `{r['rerun']}`")
    if summary.get("not_run"):
        lines += ["", f"Not run (interrupted): {', '.join(summary['not_run'])}"]
    return "\n".join(lines) + "\n"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _secs(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f} s"


def _relative(path: Path | None, root: Path) -> str | None:
    """``path`` relative to the results root (CI keeps the results folder as an artifact, so
    paths inside it are what stays true after the job)."""
    if path is None:
        return None
    try:
        return str(Path(os.path.abspath(path)).relative_to(os.path.abspath(root)))
    except ValueError:
        return str(path)
