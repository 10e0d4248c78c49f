"""The ``splitbrain`` command line (see DESIGN.md, "Command line").

Exit codes: 0 all valid, 1 an invalid result, 2 unknown, 3 bad input, 4 setup failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from harness.config import ConfigError
from harness.formats import FORMATS
from harness.history import HistoryError

__all__ = ["main"]

UNKNOWN = 2
BAD_INPUT = 3
SETUP_FAILED = 4


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return int(args.func(args, argv))
    except (ConfigError, HistoryError) as e:
        print(f"splitbrain: {e}", file=sys.stderr)
        return BAD_INPUT
    except Exception:  # a bug of splitbrain's own: no verdict, and never "invalid" (1)
        traceback.print_exc()
        print("splitbrain: internal error (the traceback is above); no verdict", file=sys.stderr)
        return UNKNOWN


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="splitbrain", description="Jepsen-style chaos testing: run, check, clean, list."
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run every test of a suite")
    r.add_argument("suite", help="a suite YAML file")
    r.add_argument("--cluster", choices=["local", "docker", "ssh"], help="override the backend")
    r.add_argument("--test", action="append", help="run only this test (repeatable)")
    r.add_argument("--time-limit", type=float, help="seconds of workload per test")
    r.add_argument("--seed", type=int, help="the random seed (replays a run)")
    r.add_argument("--bug", action="append", default=[], help="turn on a named seeded bug")
    r.add_argument("--nodes", type=int, help="override the node count")
    r.add_argument("--inventory", help="for --cluster ssh: a YAML inventory of hosts")
    r.add_argument("--results", default="results", help="results root (default ./results)")
    r.set_defaults(func=_cmd_run)

    c = sub.add_parser("check", help="check a history file")
    c.add_argument("history")
    c.add_argument("--checker", default="linearizable")
    c.add_argument("--model", default="cas-register")
    c.add_argument("--format", default="auto", choices=list(FORMATS))
    c.add_argument("--initial", help="the register's initial value (JSON), e.g. 0")
    c.add_argument(
        "--consistency-models",
        help="for list-append / rw-register: models to "
        "check, comma-separated (default strict-serializable)",
    )
    c.add_argument("--anomalies", help="for list-append / rw-register: anomalies to look for")
    c.add_argument("--time-budget", type=float, default=300.0, help="seconds before 'unknown'")
    c.add_argument("--out", help="directory for drawings (default: beside the history)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=_cmd_check)

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
    from harness.config import load_suite
    from harness.junit import write_junit
    from harness.run import run_test

    suite = load_suite(args.suite)
    tests = list(suite.tests)
    if args.test:
        names = {t.name for t in tests}
        for name in args.test:
            if name not in names:
                raise ConfigError(
                    args.suite,
                    None,
                    "tests",
                    f"no test named {name!r}; the suite has: {', '.join(sorted(names))}",
                )
        tests = [t for t in tests if t.name in args.test]
    if args.nodes is not None and args.nodes < 1:
        raise ConfigError("--nodes", None, "", f"got {args.nodes}; need at least 1 node")
    if args.time_limit is not None and args.time_limit <= 0:
        raise ConfigError("--time-limit", None, "", f"got {args.time_limit}; need seconds > 0")
    tests = [_override(t, args) for t in tests]
    if os.geteuid() != 0 and any(t.cluster.backend == "local" for t in tests):
        print(
            "splitbrain: the local cluster needs root (network namespaces, iptables)",
            file=sys.stderr,
        )
        return SETUP_FAILED
    outcomes = []
    for t in tests:
        outcomes.append(run_test(t, results_root=Path(args.results), suite_path=args.suite))
    write_junit(Path(args.results) / f"{suite.name}-junit.xml", suite.name, outcomes)
    return _suite_exit([o.exit_code for o in outcomes])


def _override(t: Any, args: argparse.Namespace) -> Any:
    r = dataclasses.replace
    if args.cluster:
        t = r(t, cluster=r(t.cluster, backend=args.cluster))
    if args.nodes:
        t = r(t, cluster=r(t.cluster, nodes=args.nodes))
    if getattr(args, "inventory", None):
        t = r(t, cluster=r(t.cluster, inventory=args.inventory))
    if args.time_limit:
        t = r(t, time_limit=args.time_limit)
    if args.seed is not None:
        t = r(t, seed=args.seed)
    if args.bug:
        t = r(t, system=r(t.system, bugs=tuple(dict.fromkeys([*t.system.bugs, *args.bug]))))
    return t


def _suite_exit(codes: list[int]) -> int:
    """An invalid test decides the suite; then a setup failure; then unknown; else valid."""
    for code in (1, SETUP_FAILED, BAD_INPUT, UNKNOWN):
        if code in codes:
            return code
    return 0


# -- check -------------------------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace, argv: list[str]) -> int:
    from checkers.history_checks import HISTORY_CHECKERS
    from harness.formats import load_history
    from harness.run import EXIT

    allowed = ["linearizable", *HISTORY_CHECKERS]
    if args.checker not in allowed:
        raise ConfigError(
            "--checker",
            None,
            "",
            f"unknown checker {args.checker!r}; allowed: {', '.join(allowed)}",
        )
    history = load_history(args.history, args.format)
    checker: Any
    if args.checker in HISTORY_CHECKERS:
        try:
            checker = HISTORY_CHECKERS[args.checker](
                consistency_models=_csv(args.consistency_models),
                anomalies=_csv(args.anomalies),
                time_budget_s=args.time_budget,
            )
        except ValueError as e:
            raise ConfigError("--checker", None, "", str(e)) from None
        return _report_check(args, checker, history, EXIT, what=f"checker {args.checker}")
    from checkers.linearizable import MODELS, LinearizableChecker

    if args.model not in MODELS:
        raise ConfigError(
            "--model",
            None,
            "",
            f"unknown model {args.model!r}; allowed: {', '.join(sorted(MODELS))}",
        )
    initial = None
    if args.initial is not None:
        try:
            initial = json.loads(args.initial)
        except json.JSONDecodeError:
            initial = args.initial
    checker = LinearizableChecker(model=args.model, initial=initial, time_budget_s=args.time_budget)
    return _report_check(args, checker, history, EXIT, what=f"model {args.model}")


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def _report_check(
    args: argparse.Namespace,
    checker: Any,
    history: list[Any],
    exit_codes: dict[Any, int],
    what: str,
) -> int:
    result = checker.check(history, {"source": args.history})
    out_dir = Path(args.out) if args.out else Path(args.history).resolve().parent
    files = []
    if result.valid is not True:
        out_dir.mkdir(parents=True, exist_ok=True)
        files = checker.write_artifacts(result, out_dir)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        word = {True: "valid", False: "INVALID", "unknown": "unknown"}[result.valid]
        print(f"{args.history}: {word} ({len(history)} ops, {what})")
        if result.valid == "unknown":
            print(f"  reason: {result.details.get('reason')}")
        for a in result.anomalies[:5]:
            print(f"  - {a.name}: {a.explanation}")
        for f in files:
            print(f"  drawn: {f}")
    return exit_codes[result.valid]


# -- report, serve -----------------------------------------------------------------------------


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
    from clusters import docker, local, ssh

    removed = local.clean()
    removed += docker.clean()  # nothing when there is no Docker engine
    removed += ssh.clean()
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
        from workloads.registry import systems

        known = systems()
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


def _cmd_list(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.spec import FAULTS, SHAPES, TARGETS
    from workloads import registry

    print("systems:")
    for s in registry.systems().values():
        print(f"  {s.name}: {s.description}")
        print(f"    workloads: {', '.join(s.clients)}")
        for bug, what in s.bugs.items():
            print(f"    --bug {bug}: {what}")
    print("workloads:")
    for w in registry.workloads().values():
        print(f"  {w.name}: {w.description} (checkers: {', '.join(w.checkers)})")
    print("nemeses:")
    print(f"  faults: {', '.join(FAULTS)}")
    print(f"  partition shapes: {', '.join(SHAPES)}")
    print(f"  kill / pause targets: {', '.join(TARGETS)}")
    print("checkers:")
    for c in registry.checkers().values():
        print(f"  {c.name}: {c.description}")
    try:
        from checkers.linearizable import MODELS

        print(f"models: {', '.join(sorted(MODELS))}")
    except ImportError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
