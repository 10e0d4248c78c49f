"""The ``splitbrain`` command line (see DESIGN.md, "Command line").

Exit codes: 0 all valid, 1 an invalid result, 2 unknown, 3 bad input, 4 setup failed. For
``run`` a test's result is judged against its expectation (``harness.expect``): 0 every test
met it (a known-invalid or seeded-bug test still invalid included), 1 one did not.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import sys
import textwrap
import traceback
import typing
from pathlib import Path
from typing import Any

from checkers.base import Result, WritesArtifacts, check_safely, merge_valid
from harness.config import ConfigError, override
from harness.exits import BAD_INPUT, INVALID, SETUP_FAILED, UNKNOWN, VALID
from harness.exits import of as exit_of
from harness.formats import FORMATS
from harness.headline import explanation_of, headline, severity
from harness.history import HistoryError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names; returns the exit code. Usage errors and every other
    bad input exit 3 with one line naming the flag, file, line or key, before anything is
    created; 2 is kept for "unknown" (and splitbrain's own crash)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (3, from _Parser.error)
        return e.code if isinstance(e.code, int) else BAD_INPUT
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for h in logging.getLogger().handlers:  # a run logs INFO to its harness.log, not here
        h.setLevel(logging.WARNING)
    if not isinstance(sys.stdout, _ClosedPipeTolerant):
        sys.stdout = _ClosedPipeTolerant(sys.stdout)
    try:
        _check_paths(args)
        return int(args.func(args, argv))
    except (ConfigError, HistoryError) as e:
        print(f"splitbrain: {e}", file=sys.stderr)
        return BAD_INPUT
    except UnicodeDecodeError as e:  # a history that is not text, past what _check_paths read
        source = getattr(args, "history", None) or getattr(args, "suite", "the input")
        print(
            f"splitbrain: {source}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
            f"{e.start}); expected a text history (jsonl, EDN or a Jepsen log)",
            file=sys.stderr,
        )
        return BAD_INPUT
    except Exception:  # a bug of splitbrain's own: no verdict, and never "invalid" (1)
        traceback.print_exc()
        print("splitbrain: internal error (the traceback is above); no verdict", file=sys.stderr)
        return UNKNOWN


class _ClosedPipeTolerant:
    """stdout that stops writing, silently, once its reader has gone (``check ... | head -1``):
    the verdict is decided whatever the reader kept, so the exit code must still be it, not
    an internal error."""

    def __init__(self, stream: typing.TextIO) -> None:
        self._stream = stream
        self._closed = False

    def write(self, text: str) -> int:
        if not self._closed:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self._closed:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def _gone(self) -> None:
        self._closed = True
        try:  # what is buffered would fail again when Python flushes at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> typing.Any:
        return getattr(self._stream, name)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit 3 (bad input) with one line, not 2: a nightly
    job must tell a mistyped flag from an "unknown" verdict."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(BAD_INPUT, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _backend(text: str) -> str:
    """A registered cluster backend's name."""
    from harness import registry

    known = registry.backends()
    if text not in known:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(map(repr, sorted(known)))})"
        )
    return text


def _seconds(text: str) -> float:
    """A flag's number of seconds: finite and > 0 (``nan`` or ``inf`` would never end)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds > 0, got {text!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {text!r}")
    return value


def _count(text: str) -> int:
    """A flag's count of nodes: an integer >= 1 (the backend's own bound is checked with the
    suite, where the backend is known)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _shard(text: str) -> tuple[int, int]:
    """``--shard I/N``: shard I (from 1) of N."""
    from harness.nightly import parse_shard

    try:
        return parse_shard(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse, before anything is made, the files and directories a command cannot use: a
    history that is missing, a directory, a FIFO or a device, or that does not start as text;
    a results root that is a file or cannot be written. Raises ConfigError (exit 3)."""
    from harness.config import regular_file

    if args.command == "check":
        problem = regular_file(args.history)
        if problem is None:
            problem = _not_text(Path(args.history))
        if problem is not None:
            raise ConfigError(
                args.history,
                None,
                "",
                f"cannot read the history: {problem}; expected a history file "
                f"({', '.join(f for f in FORMATS if f != 'auto')})",
            )
    if args.command == "run":
        problem = _unwritable(Path(args.results))
        if problem is not None:
            raise ConfigError("--results", None, "", f"{args.results}: {problem}")


def _not_text(path: Path, size: int = 1 << 16) -> str | None:
    """Why the file at ``path`` is not text, judged from its first ``size`` bytes (a NUL, or
    bytes that are not UTF-8), or None."""
    import codecs

    try:
        with open(path, "rb") as fh:
            head = fh.read(size)
    except OSError as e:
        return str(e.strerror).lower()
    nul = head.find(b"\0")
    if nul >= 0:
        return f"it is binary (a NUL byte at offset {nul})"
    try:  # not final: a character cut at the end of the sample is not an error
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as e:
        return f"it is not UTF-8 text (byte 0x{head[e.start]:02x} at offset {e.start})"
    return None


def _unwritable(root: Path) -> str | None:
    """Why runs cannot be written under ``root`` (a file is in its place, or it or the
    nearest directory that exists above it cannot be written), or None. Creates nothing."""
    probe = root
    while not probe.exists() and not probe.is_symlink():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "it is" if probe == root else f"{probe} is"
        return f"{where} a file, not a directory; expected a results directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "it" if probe == root else f"{probe} (where it would be made)"
        return (
            f"{where} cannot be written (read-only or not permitted); expected a directory "
            "this user can write"
        )
    return None


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="splitbrain", description="Jepsen-style chaos testing: run, check, clean, list."
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run every test of suites (files, or folders of them)")
    r.add_argument("suite", nargs="+", help="suite YAML files, or folders of them")
    r.add_argument(
        "--cluster", type=_backend, help="override the backend (local, docker, ssh, a plugin's)"
    )
    r.add_argument("--test", action="append", help="run only this test (repeatable)")
    r.add_argument("--time-limit", type=_seconds, help="seconds of workload per test")
    r.add_argument("--seed", type=_integer, help="the random seed (replays a run)")
    r.add_argument(
        "--bug", action="append", default=[], help="turn on a named seeded bug (expects invalid)"
    )
    r.add_argument("--nodes", type=_count, help="override the node count")
    r.add_argument("--inventory", help="for --cluster ssh: a YAML inventory of hosts")
    r.add_argument("--results", default="results", help="results root (default ./results)")
    r.add_argument(
        "--jobs",
        type=_count,
        help="tests side by side on this machine (default: half the cores, at least 1)",
    )
    r.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="run only shard I of N: a stable share of the tests, by a hash of their names",
    )
    r.add_argument(
        "--junit",
        help="the invocation's JUnit file (default: <results>/_invocations/<start>/junit.xml)",
    )
    r.add_argument(
        "--replay",
        metavar="RUN_DIR",
        help="run the suite's test of that run with the run's seed and exact fault schedule",
    )
    r.set_defaults(func=_cmd_run)

    h = sub.add_parser("history", help="each test's verdicts over its last runs, trends, flaky")
    h.add_argument("results", nargs="?", default="results", help="results root (./results)")
    h.add_argument("--runs", type=_count, default=10, help="runs per test shown (default 10)")
    h.add_argument("--test", action="append", help="only this test (name or key; repeatable)")
    h.add_argument("--json", action="store_true", help="print the history as JSON")
    h.set_defaults(func=_cmd_history)

    pr = sub.add_parser(
        "prune", help="remove old runs; keeps the newest and every failing run not cleared"
    )
    pr.add_argument("results", nargs="?", default="results", help="results root (./results)")
    pr.add_argument("--keep-runs", type=_count, help="keep each test's newest N runs")
    pr.add_argument("--keep-days", type=_seconds, help="keep the runs of the last D days")
    pr.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    pr.set_defaults(func=_cmd_prune)

    cl = sub.add_parser("clear", help="mark failing runs as seen, so prune may remove them")
    cl.add_argument("run_dir", nargs="+", help="run directories: results/<test>/<UTC start>")
    cl.add_argument("--note", default="", help="why (kept in the run's cleared.json)")
    cl.set_defaults(func=_cmd_clear)

    _add_check(sub)

    sh = sub.add_parser("shrink", help="cut a failing run's faults down to a few that still fail")
    sh.add_argument("run_dir", help="a failing run directory: results/<test>/<UTC start>")
    sh.add_argument("--results", default="results", help="results root (default ./results)")
    sh.add_argument("--runs", type=_count, default=40, help="at most this many runs (40)")
    sh.add_argument("--minutes", type=_seconds, default=60.0, help="at most this long (60)")
    sh.add_argument("--tries", type=_count, default=3, help="runs of each candidate (3)")
    sh.set_defaults(func=_cmd_shrink)

    rp = sub.add_parser("report", help="(re)build report.html from a run directory")
    rp.add_argument("run_dir", help="a run directory: results/<test>/<UTC start>")
    rp.set_defaults(func=_cmd_report)

    sv = sub.add_parser("serve", help="browse runs in a local web page")
    sv.add_argument("results", nargs="?", default="results", help="results root (./results)")
    sv.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free)")
    sv.set_defaults(func=_cmd_serve)

    k = sub.add_parser(
        "clean", help="remove namespaces, containers, processes, rules a dead run left"
    )
    k.set_defaults(func=_cmd_clean)

    im = sub.add_parser("image", help="the Docker node image")
    im_sub = im.add_subparsers(dest="image_command", required=True)
    ib = im_sub.add_parser("build", help="build the node image (cached by its inputs)")
    ib.add_argument(
        "--base",
        help="base image (default python:3.11-slim, else a Debian made "
        "with debootstrap; 'debootstrap' forces that)",
    )
    ib.add_argument("--force", action="store_true", help="rebuild even if cached")
    ib.add_argument(
        "--system",
        help="also build the image with this system's Debian packages on top (e.g. etcd; "
        "`splitbrain list` names them), as a docker run of it would",
    )
    ib.set_defaults(func=_cmd_image_build)

    ls = sub.add_parser("list", help="systems and their bugs, workloads, nemeses, checkers")
    ls.set_defaults(func=_cmd_list)
    return p


# -- run ---------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from harness import nightly
    from harness.run import handle_interrupts

    if args.replay and not args.test:  # the replayed run's test, only
        from harness.replay import as_run

        args.test = [as_run(Path(args.replay)).name]
    suites, planned = nightly.plan(
        args.suite, tests=args.test or (), shard=args.shard, override=lambda t: _override(t, args)
    )
    _check_overrides([p.spec for p in planned], args)
    from harness import registry

    backends = registry.backends()
    rooted = sorted(
        {p.spec.cluster.backend for p in planned if backends[p.spec.cluster.backend].needs_root}
    )
    if os.geteuid() != 0 and rooted:
        print(f"splitbrain: the {', '.join(rooted)} cluster needs root", file=sys.stderr)
        return SETUP_FAILED
    if not planned:
        total = sum(len(s.tests) for s in suites)
        print(f"splitbrain: shard {args.shard[0]}/{args.shard[1]} holds none of the {total} "
              "tests; nothing to run")  # fmt: skip
        return VALID
    root = Path(args.results)
    jobs = min(args.jobs or nightly.default_jobs(), len(planned))
    from harness.store import StorageError, code_version

    try:
        folder = nightly.invocation_dir(root)
    except StorageError as e:
        _say_err(f"splitbrain: {e}")
        return SETUP_FAILED
    meta: dict[str, Any] = {
        "command": ["splitbrain", "run", *argv],
        "started": _utc_now(),
        "suites": [s.source for s in suites],
        "jobs": jobs,
        "shard": f"{args.shard[0]}/{args.shard[1]}" if args.shard else None,
        "code": code_version(suites[0].source),
    }
    # one handler of SIGINT / SIGTERM / SIGHUP for the whole invocation: a signal stops the
    # tests under way (healed, torn down, their results written) and starts no other
    with handle_interrupts() as interrupts:
        done = nightly.run_planned(planned, jobs=jobs, results_root=root, interrupts=interrupts)
        codes = [d.judgement.exit_code for d in done]
        ran = {id(d.planned) for d in done}
        left = [p.spec.name for p in planned if id(p) not in ran]
        if interrupts.stop.is_set():
            codes.append(UNKNOWN)  # an interrupted run never passes
            if left:
                _say_err(f"splitbrain: interrupted ({interrupts.signal}); not run: "
                         f"{', '.join(left)}")  # fmt: skip
        for s in suites:  # each suite's latest JUnit, as before: <results>/<suite>-junit.xml
            mine = [d for d in done if d.planned.suite == s.name]
            if mine and not _write_junit(root / f"{s.name}-junit.xml", s.name, mine, root):
                codes.append(UNKNOWN)
        junit = Path(args.junit) if args.junit else folder / "junit.xml"
        if not _write_junit_all(junit, done, root):
            codes.append(UNKNOWN)
        code = _suite_exit(codes)
        meta.update(exit_code=code, not_run=left, junit=str(junit), folder=str(folder))
        try:
            summary = nightly.write_summary(folder, done, root, meta)
        except StorageError as e:
            _say_err(f"splitbrain: {e}")
            return _suite_exit([code, UNKNOWN])
        _index_history(root)
        _print_summary(summary, folder, junit)
    return code


def _utc_now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _print_summary(summary: dict[str, Any], folder: Path, junit: Path) -> None:
    """The invocation's last lines: the count, then each test that did not pass and why."""
    c = summary["counts"]
    words = (("passed", "pass"), ("failed", "fail"), ("unknown", "unknown"),
             ("setup failed", "setup-failed"))  # fmt: skip
    counts = ", ".join(f"{c[k]} {w}" for w, k in words if c[k])
    lines = [
        "",
        f"splitbrain: {len(summary['tests'])} tests: {counts} (exit {summary['exit_code']}); "
        "each judged against its expectation",
    ]
    for r in summary["tests"]:
        status = r["status"].upper()
        lines.append(f"  {status:<12} {r['key']}: {r['verdict']}, expected {r['expect']}"
                     + (f"; {r['anomalies']}" if r["anomalies"] else ""))  # fmt: skip
        if r["status"] != "pass":
            lines.append(f"               {r['reason']}")
            if r.get("rerun"):
                lines.append(f"               run again: {r['rerun']}")
    lines.append(f"summary: {folder / 'summary.md'} (and summary.json)")
    lines.append(f"junit: {junit}")
    _say("\n".join(lines))


def _say(text: str) -> None:
    try:
        print(text)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def _index_history(root: Path) -> None:
    """Bring the history's index up to date with the runs just made (a convenience: the
    run folders are the truth, and `splitbrain history` syncs them itself)."""
    import sqlite3

    from harness import runs_db

    try:
        with runs_db.connect(root):
            pass
    except (sqlite3.Error, OSError) as e:
        _say_err(f"splitbrain: could not index the history in {root / runs_db.DB_NAME}: {e}")


def _write_junit(path: Path, suite: str, done: list[Any], root: Path) -> bool:
    """The suite's JUnit file, whole or not at all; False (said on stderr) when it cannot be
    written, as on a full disk or a read-only file system."""
    from harness.junit import write_junit
    from harness.store import StorageError

    try:
        write_junit(path, suite, done, results_root=root)
    except StorageError as e:
        _say_err(f"splitbrain: {e}")
        return False
    return True


def _write_junit_all(path: Path, done: list[Any], root: Path) -> bool:
    from harness.junit import write_junit_all
    from harness.store import StorageError

    try:
        write_junit_all(path, done, results_root=root)
    except StorageError as e:
        _say_err(f"splitbrain: {e}")
        return False
    return True


def _say_err(text: str) -> None:
    try:  # stderr may be a terminal that is gone (SIGHUP)
        print(text, file=sys.stderr)
    except (OSError, ValueError):
        pass


def _check_overrides(tests: list[Any], args: argparse.Namespace) -> None:
    """Check every test again with the command line's overrides (a --bug the system has not,
    --nodes beyond what the backend makes), before any test runs; an error names the flag."""
    from harness.config import check_test

    flags = {
        key: flag
        for key, flag, given in (
            ("cluster.backend", "--cluster", args.cluster),
            ("cluster.nodes", "--nodes", args.nodes),
            ("time_limit", "--time-limit", args.time_limit),
            ("system.bugs", "--bug", args.bug),
            ("cluster.inventory", "--inventory", getattr(args, "inventory", None)),
        )
        if given
    }
    if flags:
        for t in tests:
            check_test(t, source=", ".join(args.suite), flags=flags)


def _override(t: Any, args: argparse.Namespace) -> Any:
    if getattr(args, "replay", None):
        from harness.replay import replayed

        return replayed(t, Path(args.replay))
    return override(
        t,
        backend=args.cluster,
        nodes=args.nodes,
        inventory=getattr(args, "inventory", None),
        time_limit=args.time_limit,
        seed=args.seed,
        bugs=args.bug,
    )


def _suite_exit(codes: list[int]) -> int:
    """An invalid test decides the suite; then a setup failure; then unknown; else valid."""
    for code in (INVALID, SETUP_FAILED, BAD_INPUT, UNKNOWN):
        if code in codes:
            return code
    return VALID


# -- check -------------------------------------------------------------------------------------

#: the flags that set a checker's option, and the option each sets; ``--option KEY=VALUE``
#: sets any declared option by name
_CHECK_FLAGS = {
    "--model": "model",
    "--initial": "initial",
    "--semantics": "semantics",
    "--consistency-models": "consistency_models",
    "--anomalies": "anomalies",
    "--time-budget": "time_budget_s",
}
#: what ``check`` gives a checker that takes a time budget when --time-budget is not given
_CHECK_TIME_BUDGET = 300.0
#: where ``check --help`` lists the registered checkers (loaded only when help is asked for)
_CHECKERS_HELP = "\0checkers\0"


def _add_check(sub: Any) -> None:
    c = sub.add_parser(
        "check",
        help="check a history file",
        formatter_class=_CheckHelp,
        epilog=_CHECKERS_HELP,
    )
    c.add_argument("history")
    c.add_argument(
        "--checker",
        action="append",
        metavar="NAME",
        help="a registered checker, listed below (repeatable: each checks the history; "
        "default linearizable)",
    )
    c.add_argument(
        "--model",
        help="for linearizable: the model (default cas-register); for elle-cli: its --model",
    )
    c.add_argument("--format", default="auto", choices=list(FORMATS))
    c.add_argument("--initial", help="for linearizable: the model's first state (JSON), e.g. 0")
    c.add_argument(
        "--semantics",
        choices=["knossos", "splitbrain"],
        help="for linearizable: how op values are read. knossos, the default for --format edn "
        "(Jepsen and Knossos histories), as Knossos' models: an ok read of nil is a read whose "
        "value is not known, a dequeue's value is the element taken (nil too), an op that did "
        "not complete carries its invocation's value. splitbrain, the default for jsonl and "
        "every other format: a read of nil found the register nil, a dequeue of nil found the "
        "queue empty",
    )
    c.add_argument(
        "--consistency-models",
        help="for list-append / rw-register / causal / elle-cli: models to check, "
        "comma-separated (default strict-serializable; causal for causal)",
    )
    c.add_argument(
        "--anomalies",
        help="for list-append / rw-register / elle-cli: anomalies to look for, comma-separated",
    )
    c.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a checker's own option, e.g. group_size=3 for long-fork, negative_balances=true "
        "for bank; a list is comma-separated (repeatable)",
    )
    c.add_argument(
        "--time-budget",
        type=_seconds,
        help=f"seconds before 'unknown' (default {_CHECK_TIME_BUDGET:g})",
    )
    c.add_argument("--out", help="directory for drawings (default: beside the history)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=_cmd_check)


class _CheckHelp(argparse.RawDescriptionHelpFormatter):
    """``check --help``: the registered checkers and their options at the end, loaded only
    when help is asked for (loading every checker is not free)."""

    def add_text(self, text: str | None) -> None:
        super().add_text(_checkers_help() if text == _CHECKERS_HELP else text)


def _checkers_help() -> str:
    from harness import registry

    infos = registry.checkers()
    width = max(map(len, infos), default=0)
    indent = " " * (width + 4)
    lines = ["checkers (--checker NAME; their options with --option KEY=VALUE):"]
    for name, info in infos.items():
        first = f"  {name:<{width}}  "
        lines.append(_fill(info.description, first, indent))
        options = ", ".join(o.name for o in registry.declared(info.options))
        if options:
            lines.append(_fill(f"options: {options}", indent, indent + "  "))
    for name, why in registry.broken(registry.CheckerInfo).items():
        lines.append(f"  {name}: cannot be used: {why}")
    return "\n".join(lines)


def _fill(text: str, first: str, rest: str) -> str:
    return textwrap.fill(
        text, 100, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )


def _cmd_check(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.formats import load_history

    checkers = _made_checkers(args)
    with _parsed(lambda: load_history(args.history, args.format)) as history:
        results = _check_all(args, checkers, history)
    if args.json:
        if len(results) == 1:
            (result,) = results.values()
            shown: dict[str, Any] = result.to_dict()
        else:
            shown = {
                "valid": merge_valid([r.valid for r in results.values()]),
                "checkers": {name: r.to_dict() for name, r in results.items()},
            }
        print(json.dumps(shown, indent=2, default=str))
    return exit_of(merge_valid([r.valid for r in results.values()]))


def _check_all(
    args: argparse.Namespace, checkers: dict[str, tuple[Any, str]], history: list[Any]
) -> dict[str, Result]:
    out_dir = Path(args.out) if args.out else Path(args.history).resolve().parent
    results: dict[str, Result] = {}
    for name, (checker, what) in checkers.items():
        result = check_safely(checker, history, {"source": args.history})
        results[name] = result
        files = _draw(checker, result, out_dir)
        if not args.json:
            _print_result(args.history, len(history), what, result, files)
    return results


@contextlib.contextmanager
def _parsed(load: typing.Callable[[], list[Any]]) -> typing.Iterator[list[Any]]:
    """The history ``load`` reads, read with the cyclic garbage collector paused and then
    frozen out of its reach until the block ends: parsing makes millions of small objects
    and no reference cycles, and each collection would rescan every one made so far (a
    100,000-transaction history: 1.7 s of CPU to parse with it running, 0.5 s without);
    frozen, the history is not rescanned by the collections the checkers' own garbage
    triggers. Unfrozen at the end, so that a caller in the same process (a test) leaks
    nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        history = load()
    finally:
        if was_enabled:
            gc.enable()
    gc.freeze()
    try:
        yield history
    finally:
        gc.unfreeze()


def _made_checkers(args: argparse.Namespace) -> dict[str, tuple[Any, str]]:
    """Each ``--checker`` named (linearizable when none is), made with the options the flags
    give it: name -> (checker, what the verdict line says it checked). A checker that is not
    registered, an option no checker named takes, or a value an option does not allow is a
    ConfigError naming the flag (exit 3)."""
    from harness import registry
    from harness.formats import default_semantics

    infos: dict[str, Any] = {}
    for name in dict.fromkeys(args.checker or ["linearizable"]):
        try:
            infos[name] = registry.lookup(registry.CheckerInfo, name, "checker")
        except registry.RegistryError as e:
            raise ConfigError("--checker", None, "", str(e)) from None
    declared = {
        name: {o.name: o for o in registry.declared(i.options)} for name, i in infos.items()
    }
    given = _given_options(args)
    values: dict[str, dict[str, Any]] = {name: {} for name in infos}
    flags: dict[tuple[str, str], str] = {}  # (checker, option) -> the flag that set it
    for flag, key, text in given:
        takers = [name for name in infos if key in declared[name]]
        if not takers:
            if flag == "--time-budget":
                continue  # as ever: the checkers that take no budget need none
            raise ConfigError(flag, None, "", _nobody_takes(key, infos, declared))
        for name in takers:
            values[name][key] = _from_text(declared[name][key], text, flag)
            flags[name, key] = flag
    out: dict[str, tuple[Any, str]] = {}
    for name, info in infos.items():
        mine = values[name]
        if "time_budget_s" in declared[name]:
            mine.setdefault("time_budget_s", _CHECK_TIME_BUDGET)
        if "semantics" in declared[name] and "semantics" not in mine:
            mine["semantics"] = default_semantics(args.history, args.format)
        try:
            options = registry.parse_options(info.options, mine, f"the {name} checker")
        except registry.OptionError as e:
            raise ConfigError(flags.get((name, e.key), "--checker"), None, "", e.problem) from None
        try:
            checker = info.make(options)
        except ValueError as e:  # a checker's own checks across its options
            raise ConfigError("--checker", None, "", f"{name}: {e}") from None
        what = f"checker {name}"
        if name == "linearizable":
            what = f"model {options.model}, {options.semantics} semantics"
        out[name] = (checker, what)
    return out


def _given_options(args: argparse.Namespace) -> list[tuple[str, str, Any]]:
    """(flag, option name, value as given) for each option flag on the command line, in
    order; ``--option KEY=VALUE`` names its option."""
    given: list[tuple[str, str, Any]] = []
    for flag, key in _CHECK_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            given.append((flag, key, value))
    for pair in args.option:
        key, eq, text = pair.partition("=")
        if not eq or not key.strip():
            raise ConfigError("--option", None, "", f"got {pair!r}; expected KEY=VALUE")
        given.append(("--option", key.strip(), text))
    return given


def _nobody_takes(key: str, infos: dict[str, Any], declared: dict[str, Any]) -> str:
    if len(infos) == 1:
        ((name, options),) = declared.items()
        allowed = ", ".join(options) or "none (it takes no options)"
        return f"the {name} checker has no option {key!r}; allowed: {allowed}"
    allowed = "; ".join(f"{name}: {', '.join(declared[name]) or 'none'}" for name in infos)
    return f"none of the checkers named has an option {key!r}; allowed: {allowed}"


def _from_text(option: Any, value: Any, flag: str) -> Any:
    """A flag's text as ``option`` holds it: a number, true or false, a comma-separated list
    (``a,b`` or ``[a, b]``), none for an optional one; a value that is already typed (a
    --time-budget) as it is. A text that is none of what it takes is a ConfigError."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if option.optional and text.lower() in ("none", "null"):
        return None
    if not option.many:
        return _scalar(option, value, flag)
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [_scalar(option, item.strip(), flag) for item in text.split(",") if item.strip()]


def _scalar(option: Any, text: str, flag: str) -> Any:
    tp = option.type
    try:
        if tp is bool:
            word = text.strip().lower()
            if word in ("true", "yes", "on", "1"):
                return True
            if word in ("false", "no", "off", "0"):
                return False
            raise ValueError(text)
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
    except ValueError:
        expected = "true or false" if tp is bool else option.expected()
        raise ConfigError(
            flag, None, "", f"option {option.name!r}: got {text!r}; expected {expected}"
        ) from None
    return text


def _draw(checker: Any, result: Result, out_dir: Path) -> list[Path]:
    """The drawings of a result that is not valid, by a checker that draws (an optional
    capability: the bank or set checkers have none); a drawing that fails must not cost the
    verdict already reached."""
    if result.valid is True or not isinstance(checker, WritesArtifacts):
        return []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return checker.write_artifacts(result, out_dir)
    except Exception as e:
        print(f"splitbrain: could not draw the result into {out_dir}: {e}", file=sys.stderr)
        return []


def _print_result(source: str, n: int, what: str, result: Result, files: list[Path]) -> None:
    word = {True: "valid", False: "INVALID", "unknown": "unknown"}[result.valid]
    print(f"{source}: {word} ({n} ops, {what})")
    if result.valid == "unknown":
        print(f"  reason: {result.details.get('reason')}")
    if result.anomalies:  # summary first: kinds and counts, then the worst kinds' anomalies
        print(f"  {headline(result.anomalies)}")
    for a in sorted(result.anomalies, key=lambda a: severity(a.name))[:5]:
        print(f"  - {a.name}: {explanation_of(a)}")
    for f in files:
        print(f"  drawn: {f}")


# -- history, prune, clear ---------------------------------------------------------------------


def _results_root(text: str) -> Path:
    root = Path(text)
    if not root.is_dir():
        raise ConfigError(text, None, "", "no results directory here; expected the --results "
                          "directory of `splitbrain run` (default ./results)")  # fmt: skip
    return root


def _cmd_history(args: argparse.Namespace, argv: list[str]) -> int:
    from harness import runs_db, trend

    root = _results_root(args.results)
    with runs_db.connect(root) as conn:
        histories = runs_db.history(conn, runs=args.runs, tests=args.test or ())
    if args.test and not histories:
        raise ConfigError("--test", None, "", f"no finished run of {', '.join(args.test)} in "
                          f"{root}")  # fmt: skip
    if args.json:
        print(json.dumps(trend.history_json(histories), indent=2))
    else:
        print(trend.history_text(histories, args.runs))
    return 0


def _cmd_prune(args: argparse.Namespace, argv: list[str]) -> int:
    import shutil
    import time

    from harness import runs_db

    if args.keep_runs is None and args.keep_days is None:
        raise ConfigError("prune", None, "", "say what to keep: --keep-runs N (each test's "
                          "newest N runs) and/or --keep-days D")  # fmt: skip
    root = _results_root(args.results)
    with runs_db.connect(root) as conn:
        plan = runs_db.prune_plan(
            conn, root, keep_runs=args.keep_runs, keep_days=args.keep_days, now=time.time()
        )
    verb = "would remove" if args.dry_run else "removed"
    for d in plan.remove:
        if not args.dry_run:
            shutil.rmtree(d, ignore_errors=True)
        print(f"{verb} {d}")
    if not args.dry_run:
        latest = root / "latest"
        if latest.is_symlink() and not latest.exists():
            latest.unlink()
        with runs_db.connect(root):
            pass  # forget the removed runs
    print(f"{verb} {len(plan.remove)}; kept {plan.kept}, of which {len(plan.kept_failing)} "
          "failing and not cleared (splitbrain clear RUN_DIR lets prune remove one)")  # fmt: skip
    return 0


def _cmd_clear(args: argparse.Namespace, argv: list[str]) -> int:
    from harness import runs_db

    dirs = []
    for given in args.run_dir:
        d = Path(given)
        if d.is_symlink():
            d = d.resolve()
        if not d.is_dir() or not any((d / f).exists() for f in ("results.json", "spec.yaml",
                                                                 "history.jsonl")):  # fmt: skip
            raise ConfigError(given, None, "", "not a run directory; expected "
                              "results/<test>/<UTC start>/")  # fmt: skip
        dirs.append(d)
    for d in dirs:
        print(f"cleared {runs_db.clear_marker(d, args.note).parent}")
    return 0


# -- report, serve -----------------------------------------------------------------------------


def _cmd_shrink(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.shrink import Budget, shrink

    budget = Budget(runs=args.runs, minutes=args.minutes)
    shrink(Path(args.run_dir), results_root=Path(args.results), tries=args.tries, budget=budget)
    return 0


def _cmd_report(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.report import build_report

    run_dir = Path(args.run_dir)
    if run_dir.is_symlink() or run_dir.name == "latest":
        run_dir = run_dir.resolve()
    if not run_dir.is_dir() or not any(
        (run_dir / f).exists() for f in ("history.jsonl", "results.json", "spec.yaml")
    ):
        raise ConfigError(
            args.run_dir,
            None,
            "",
            "not a run directory; expected results/<test>/<UTC start>/ with "
            "history.jsonl, results.json or spec.yaml",
        )
    print(build_report(run_dir))
    return 0


def _cmd_serve(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.serve import serve

    return serve(Path(args.results), port=args.port)


# -- clean, list -------------------------------------------------------------------------------


def _cmd_clean(args: argparse.Namespace, argv: list[str]) -> int:
    from harness import registry

    # each backend removes what its dead runs left (docker: nothing without a Docker engine)
    removed = [line for b in registry.backends().values() if b.clean for line in b.clean()]
    from clusters.clock import remove_dead_shm

    dead_shm = remove_dead_shm()  # one line for all: there may be thousands
    if dead_shm:
        removed.append(f"{len(dead_shm)} libfaketime shared-memory files of dead processes")
    for thing in removed:
        print(f"removed {thing}")
    if not removed:
        print("nothing to clean")
    return 0


def _cmd_image_build(args: argparse.Namespace, argv: list[str]) -> int:
    import time

    from clusters.image import ImageError, ensure_image

    packages: tuple[str, ...] = ()
    if args.system is not None:
        from harness import registry

        known = registry.systems()
        if args.system not in known:
            print(
                f"splitbrain image: unknown system {args.system!r} for --system; "
                f"allowed: {', '.join(known)}",
                file=sys.stderr,
            )
            return BAD_INPUT
        packages = known[args.system].node_packages
        if not packages:
            print(
                f"splitbrain image: {args.system} needs no Debian packages on a node: "
                "the node image serves it",
                file=sys.stderr,
            )
    t = time.monotonic()
    try:
        tag = ensure_image(args.base, packages=packages, force=args.force)
    except ImageError as e:
        print(f"splitbrain image: {e}", file=sys.stderr)
        return SETUP_FAILED
    print(f"{tag} ({time.monotonic() - t:.1f}s)")
    return 0


def _option_line(o: Any) -> str:
    """One declared option as ``splitbrain list`` shows it: name, type, default, doc."""
    kind = f"a list of {o.expected()}" if o.many else o.expected()
    allowed = f", one of {', '.join(map(str, o.choices))}" if o.choices else ""
    default = o.default
    if isinstance(default, bool):  # as a suite writes it
        default = "true" if default else "false"
    elif isinstance(default, tuple):
        default = ", ".join(map(str, default)) or "none"
    shown = "" if default is None else f", default {default}"
    return f"{o.name} ({kind}{allowed}{shown}): {o.doc}"


def _options(cls: type, indent: str, prefix: str = "options.") -> None:
    from harness.registry import declared

    for o in declared(cls):
        print(f"{indent}{prefix}{_option_line(o)}")


def _cmd_list(args: argparse.Namespace, argv: list[str]) -> int:
    from harness import registry

    print("systems:")
    for s in registry.systems().values():
        print(f"  {s.name}: {s.description}")
        print(f"    workloads: {', '.join(s.clients)}; default port {s.default_port}")
        for bug, what in s.bugs.items():
            print(f"    --bug {bug}: {what}")
        for fault, why in s.unreachable.items():
            print(f"    cannot be reached by the {fault} fault: {why}")
        for capability, variants in s.offers.items():
            print(f"    offers {capability}: {', '.join(variants)}")
        _options(s.options, "    ")
        for workload, cls in s.client_options.items():
            _options(cls, "    ", f"{workload} workload options.")
    print("workloads:")
    for w in registry.workloads().values():
        print(f"  {w.name}: {w.description} (checkers: {', '.join(w.checkers)})")
        if w.ops is not None:
            print(f"    mix of: {', '.join(w.ops)}")
        _options(w.options, "    ")
    print("faults (nemesis.faults):")
    for f in registry.faults().values():
        print(f"  {f.name}: {f.description} (ops: {', '.join(f.starts)}; healed by {f.heal})")
        if f.needs:
            print(f"    only for systems that offer {f.needs!r}")
        _options(f.options, "    ", "")
    print("checkers:")
    for c in registry.checkers().values():
        print(f"  {c.name}: {c.description}")
        _options(c.options, "    ", "")
    print("cluster backends:")
    for b in registry.backends().values():
        most = f" (up to {b.max_nodes} nodes)" if b.max_nodes else ""
        print(f"  {b.name}: {b.description}{most}")
    for kind in registry.GROUPS:
        for name, why in registry.broken(kind).items():
            print(f"broken {registry.GROUPS[kind]} entry {name!r}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
