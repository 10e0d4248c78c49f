"""One test, from spec to verdict: cluster up, system set up, workload and nemesis run,
everything healed and torn down, history checked, results written.

Teardown always runs — on success, on a setup failure, on a crash, on Ctrl-C, SIGTERM or
SIGHUP, on a full disk — and heals every fault before it removes the cluster; a fault still in
force when the workload stopped gets its heal operation in the history.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import logging
import random
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.base import Result, Validity, WritesArtifacts, check_safely, crashed, merge_valid
from clusters.base import SetupError
from harness import exits, members, registry
from harness.config import check_test, split_workload_options
from harness.faults_in_force import annotate
from harness.generator import (
    Generator,
    clients_and_nemesis,
    each_thread,
    once,
    phases,
    seq,
    time_limit,
)
from harness.headline import (
    anomalies_of,
    by_kind,
    describe,
    explanation_of,
    headline,
    worst_example,
)
from harness.history import NEMESIS, Journal, Op
from harness.registry import (
    BackendInfo,
    CheckerInfo,
    FaultInfo,
    SystemInfo,
    WorkloadInfo,
    parse_options,
)
from harness.replay import write_schedule
from harness.runner import Runner, Worker
from harness.spec import CheckerSpec, TestSpec, fault_options
from harness.store import RunDir, StorageError, code_version, is_storage_error, remove_partial
from nemesis.compose import for_test
from nemesis.schedule import final_heal, heals_owed, schedule

__all__ = [
    "Deployment",
    "Interrupts",
    "Outcome",
    "Prepared",
    "SetupFailed",
    "check_history",
    "check_made",
    "check_prepared",
    "deployed",
    "faults_in_force",
    "handle_interrupts",
    "prepare",
    "run_test",
]

log = logging.getLogger("splitbrain")


@dataclass
class Outcome:
    test: str
    valid: Validity | None  # None: the test could not be set up
    exit_code: int
    run_dir: Path | None
    results: dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    """Everything a test needs, resolved and checked before anything is made: the spec (with
    its seed and port filled in), each registry entry it names, looked up once, and the typed
    options of each."""

    spec: TestSpec
    backend: BackendInfo
    system: SystemInfo
    system_options: Any
    workload: WorkloadInfo
    workload_options: Any
    client_options: Any
    checkers: tuple[tuple[str, CheckerInfo, Any], ...]
    faults: tuple[tuple[FaultInfo, Any], ...]
    rerun: str


@dataclass
class Deployment:
    """What ``deployed`` made: the cluster, the system on it, the nemesis, and (once the
    workload starts) the journal its history goes to."""

    cluster: Any
    system: Any = None
    nemesis: Any = None
    journal: Journal | None = None
    setup_seconds: float | None = None


class SetupFailed(Exception):
    """The cluster, the system or the nemesis could not be set up (exit 4)."""


def run_test(
    spec: TestSpec,
    *,
    results_root: Path,
    suite_path: str = "<suite>",
    argv: list[str] | None = None,
    out: Any = sys.stderr,
    interrupts: Interrupts | None = None,
) -> Outcome:
    """Run one test and return its outcome: prepare (resolve and check everything: a
    ConfigError, exit 3, before anything is made), deploy (cluster, system, nemesis; healed and
    torn down on the way out, whatever happens), drive the workload and the nemesis, check the
    history, write the results. ``interrupts``: the signal handling of the whole suite
    (``handle_interrupts()``); without it, the test installs its own for its duration."""
    if interrupts is None:
        with handle_interrupts() as own:
            return run_test(
                spec,
                results_root=results_root,
                suite_path=suite_path,
                argv=argv,
                out=out,
                interrupts=own,
            )
    guard = interrupts
    p = prepare(spec, suite_path, argv)
    spec = p.spec
    run: RunDir | None = None
    try:
        run = RunDir.create(results_root, spec.name)
        rerun = _with_replay(p.rerun, spec, run.path)
        run.write_spec(spec, {"rerun": rerun})
    except StorageError as e:  # nothing is set up yet: nothing to heal
        return _could_not_store(spec, e, run, p.rerun, out)
    handler = _log_to(run.path / "harness.log")
    log.info("test %s, seed %s, results in %s", spec.name, spec.seed, run.path)
    results: dict[str, Any] = {
        "test": spec.name,
        "suite": suite_path,
        "seed": spec.seed,
        "rerun": rerun,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": code_version(suite_path),  # git commit and dirty flag: flaky or changed?
    }
    interrupted = False
    setup_error: str | None = None
    harness_error: str | None = None
    d: Deployment | None = None
    t_start = time.monotonic()
    try:
        guard.stage = "setup"
        if guard.stop.is_set():  # a signal came while the run directory was being made
            raise KeyboardInterrupt
        with deployed(p, run, guard) as d:
            results["setup_seconds"] = d.setup_seconds
            t0_ns = time.monotonic_ns()
            zero_ms = time.time_ns() // 1_000_000  # the wall clock at the history's time zero
            results["time_zero"] = {"utc": _iso_ms(zero_ms), "epoch_ms": zero_ms}
            handler.formatter.zero_ms = zero_ms  # type: ignore[union-attr]
            log.info("the history begins: time zero is %s", results["time_zero"]["utc"])
            d.journal = _LoggedJournal(run.history, lambda: time.monotonic_ns() - t0_ns)
            runner = _make_runner(p, d)
            runner.t0 = t0_ns / 1e9
            if guard.stop.is_set():
                raise KeyboardInterrupt
            guard.stage = "running"
            interrupted = _drive(runner, spec, guard, d.journal, out)
            results["ops_per_second"] = round(runner.stats.invocations / max(runner.now(), 1e-9), 1)
            if not interrupted and d.journal.error is None and members.offers(d.system):
                members.record_member_states(d.system, d.cluster.nodes, d.journal, guard.stop)
            if runner.errors:
                harness_error = f"harness error in a worker: {runner.errors[0]!r}"
        interrupted = interrupted or guard.stop.is_set()
    except SetupFailed as e:
        setup_error = str(e)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as e:  # a harness bug: healed and torn down above; no verdict
        log.exception("harness error")
        harness_error = f"harness error: {type(e).__name__}: {e}"
    finally:
        guard.stage = "writing"
        if d is not None and d.journal is not None:
            d.journal.close()
    journal = d.journal if d is not None else None
    results["wall_seconds"] = round(time.monotonic() - t_start, 2)
    results["interrupted"] = interrupted
    if guard.signal is not None and interrupted:
        results["signal"] = guard.signal
    storage_error = None
    if journal is not None and journal.error is not None:
        storage_error = str(StorageError("write", run.history, journal.error))
        storage_error += " (the run stopped there; the operations held in memory were checked)"
        results["storage_error"] = storage_error

    if setup_error is not None:
        results.update(valid=None, error=setup_error, exit_code=exits.SETUP_FAILED)
        problems = _store(run, results, spec, None)
        _detach(handler)
        _say(f"{spec.name}: SETUP FAILED: {setup_error}", out=sys.stdout)
        for problem in problems:
            _say(f"  {problem}", out=sys.stdout)
        _say(f"  logs: {run.path}", out=sys.stdout)
        return Outcome(spec.name, None, exits.SETUP_FAILED, run.path, results)

    if journal is None:  # stopped before the workload began: nothing was tested
        why = harness_error or "interrupted during setup, before any operation"
        results.update(
            valid="unknown",
            checkers={},
            op_counts={"invoke": 0, "ok": 0, "fail": 0, "info": 0},
            faults=[],
            error=f"{why}: nothing was checked",
        )
    else:
        history = journal.ops
        guard.stage = "checking"
        try:
            zero = results.get("time_zero", {}).get("epoch_ms")
            results.update(check_prepared(history, p, run.path, zero))
        except KeyboardInterrupt:  # the cluster is gone: only the verdict is lost
            interrupted = results["interrupted"] = True
            results["signal"] = guard.signal
            results.update(
                valid="unknown",
                checkers={},
                op_counts=_op_counts(history),
                error="interrupted while checking: no verdict",
            )
        finally:
            guard.stage = "writing"
        results["faults"] = _faults_applied(history)
    for error in (harness_error, storage_error):
        if error is not None:
            results.setdefault("error", error)
            results["valid"] = merge_valid([results["valid"], "unknown"])
    if interrupted:  # what was asked was not all done: never a pass
        results["valid"] = merge_valid([results["valid"], "unknown"])
    results["exit_code"] = exits.of(results["valid"])
    problems = _store(run, results, spec, journal.ops if journal is not None else None)
    if problems:
        results["valid"] = merge_valid([results["valid"], "unknown"])
        results["exit_code"] = exits.of(results["valid"])
    _detach(handler)
    _print_verdict(spec.name, results, run.path, sys.stdout, problems)
    return Outcome(spec.name, results["valid"], results["exit_code"], run.path, results)


# -- prepare ----------------------------------------------------------------------------------


def prepare(spec: TestSpec, suite_path: str = "<suite>", argv: list[str] | None = None) -> Prepared:
    """Resolve ``spec`` against the registries once, with the checks a suite gets when it is
    read (``config.check_test``: a spec built in Python gets them too), and parse every
    option. Raises ConfigError (exit 3); makes nothing."""
    if spec.seed is None:
        spec = dataclasses.replace(spec, seed=random.SystemRandom().randrange(2**31))
    check_test(spec, source=suite_path)
    sysinfo = registry.systems()[spec.system.name]
    if spec.system.port is None:
        spec = dataclasses.replace(
            spec, system=dataclasses.replace(spec.system, port=sysinfo.default_port)
        )
    winfo = registry.workloads()[spec.workload.name]
    wopts, copts = split_workload_options(sysinfo, winfo, spec.workload.options)
    named = spec.checkers or tuple(
        CheckerSpec(n) for n in dict.fromkeys([*winfo.checkers, *sysinfo.checkers])
    )
    infos = registry.checkers()
    checkers: tuple[tuple[str, CheckerInfo, Any], ...] = tuple(
        (c.name, infos[c.name], parse_options(infos[c.name].options, c.options, c.name))
        for c in named
    )
    kinds = registry.faults()
    faults: tuple[tuple[FaultInfo, Any], ...] = tuple(
        (kinds[name], parse_options(kinds[name].options, given, f"the {name} fault"))
        for name, given in fault_options(spec.nemesis).items()
    )
    backend = registry.backends()[spec.cluster.backend]
    return Prepared(
        spec=spec,
        backend=backend,
        system=sysinfo,
        system_options=parse_options(sysinfo.options, spec.system.options, sysinfo.name),
        workload=winfo,
        workload_options=wopts,
        client_options=copts,
        checkers=checkers,
        faults=faults,
        rerun=_rerun_command(suite_path, spec, argv),
    )


# -- deploy -----------------------------------------------------------------------------------


@contextmanager
def deployed(p: Prepared, run: RunDir, guard: Interrupts) -> Iterator[Deployment]:
    """Make the cluster, set the system up on every node, set up the nemesis; on the way out,
    whatever happened, heal every fault (into the history, when it has begun) and tear
    everything down. A setup that fails raises SetupFailed, after the teardown."""
    spec = p.spec
    needs = sorted({need for info, _ in p.faults for need in info.node_needs})
    extra = {"node_needs": tuple(needs)} if needs else {}  # a backend that needs none: as was
    d = Deployment(p.backend.make(spec.cluster, run.path, p.system.node_packages, **extra))
    try:
        try:
            t = time.monotonic()
            d.cluster.create()
            d.system = p.system.make(spec.system, d.cluster.nodes, p.system_options)
            for info, _ in p.faults:  # before the system first writes (FaultInfo.prepare)
                if info.prepare is not None:
                    _on_all(d.cluster.nodes, functools.partial(_prepare, info.prepare, d.system))
            _on_all(d.cluster.nodes, d.system.setup)
            rng = random.Random(f"{spec.seed}/nemesis")
            d.nemesis = for_test(_by_kind(p), rng, d.system)
            d.nemesis.setup(d.cluster)
            d.setup_seconds = round(time.monotonic() - t, 2)
            log.info(
                "cluster of %d up and system ready in %.1fs",
                len(d.cluster.nodes),
                d.setup_seconds,
            )
        except (SetupError, OSError, RuntimeError, TimeoutError) as e:
            if guard.stop.is_set():
                raise KeyboardInterrupt from e
            log.error("setup failed: %s: %s", type(e).__name__, e)
            raise SetupFailed(f"{type(e).__name__}: {e}") from e
        yield d
    finally:
        guard.stage = "teardown"  # from here on a signal cannot stop the healing
        log.info("tearing down: healing every fault, stopping the system")
        if d.journal is not None and d.nemesis is not None:
            _heal_in_history(d.journal, d.nemesis)
        _teardown(d.cluster, d.system, d.nemesis, run, p.faults)


# -- drive ------------------------------------------------------------------------------------


def _make_runner(p: Prepared, d: Deployment) -> Runner:
    spec = p.spec
    assert d.journal is not None
    main, final = p.workload.generators(spec.workload, p.workload_options)
    make_client = p.system.clients[p.workload.name]
    nodes = d.cluster.nodes

    def opener(node: Any) -> Callable[[], Any]:
        def open_client() -> Any:
            client = make_client(spec.workload, p.client_options, d.system)
            client.open(node)
            return client

        return open_client

    workers = [
        Worker(nodes[t % len(nodes)].name, opener(nodes[t % len(nodes)]))
        for t in range(spec.workload.concurrency)
    ]
    # after the heal: the workload's final reads, then (all threads together, so no thread
    # skips one) every thread's system-specific final ops, such as a status report
    finals: list[Generator] = []
    if final is not None:
        finals.append(final)
    if p.system.final_ops:
        finals.append(each_thread(lambda: seq([once(f) for f in p.system.final_ops])))
    nemesis_main = schedule(spec.nemesis, _by_kind(p))
    gen = phases(
        clients_and_nemesis(
            time_limit(spec.time_limit, main),
            time_limit(spec.time_limit, nemesis_main) if nemesis_main else None,
        ),
        clients_and_nemesis(None, final_heal(spec.nemesis, _by_kind(p))),
        clients_and_nemesis(phases(*finals), None),
    )
    return Runner(
        gen,
        d.journal,
        workers,
        nemesis=d.nemesis,
        seed=spec.seed or 0,
        timeout=spec.workload.timeout,
    )


def _by_kind(p: Prepared) -> dict[str, Any]:
    """Each fault kind of the test -> its options."""
    return {info.name: opts for info, opts in p.faults}


def _could_not_store(
    spec: TestSpec, e: StorageError, run: RunDir | None, rerun: str, out: Any
) -> Outcome:
    """The outcome of a test whose run directory could not be made or written: setup failed,
    nothing else was made. Removes the ``.tmp`` files the failed writes left."""
    if run is not None:
        remove_partial(run.path)
    results: dict[str, Any] = {
        "test": spec.name,
        "seed": spec.seed,
        "rerun": rerun,
        "valid": None,
        "error": str(e),
        "exit_code": exits.SETUP_FAILED,
        "interrupted": False,
    }
    _say(f"{spec.name}: SETUP FAILED: {e}", out=sys.stdout)
    _say(f"  run again: {rerun}", out=sys.stdout)
    return Outcome(spec.name, None, exits.SETUP_FAILED, None if run is None else run.path, results)


def _store(
    run: RunDir, results: dict[str, Any], spec: TestSpec, history: list[Op] | None
) -> list[str]:
    """Write results.json, then schedule.json (from ``history``, when the run has one) and
    report.html; returns what could not be written, one line each
    (and then removes the half-written ``.tmp`` files of the run). Never raises for a full disk
    or a read-only file system."""
    problems: list[str] = []
    try:
        run.write_results(results)
    except StorageError as e:
        problems.append(str(e))
        log.error("%s", e)
    else:
        if history is not None:
            write_schedule(run.path, spec, history)
        problem = _write_report(run.path)
        if problem is not None:
            problems.append(problem)
    if problems or results.get("storage_error"):
        for p in remove_partial(run.path):
            log.info("removed the half-written %s", p)
    return problems


def _write_report(path: Path) -> str | None:
    """report.html for the run; a report that cannot be drawn never changes the verdict.
    Returns why it could not be written when the disk is full or read-only, else None."""
    try:
        from harness.report import build_report

        build_report(path)
    except Exception as e:
        if is_storage_error(e):
            problem = (
                str(e)
                if isinstance(e, StorageError)
                else str(StorageError("write", path / "report.html", e))  # type: ignore[arg-type]
            )
            log.error("%s", problem)
            return problem
        log.exception("could not build report.html (splitbrain report %s tries again)", path)
    return None


def check_history(
    history: list[Op],
    checkers: Sequence[str | CheckerSpec],
    directory: Path | None,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    """Run each checker named (with its options) on ``history``; see ``check_made``."""
    infos = registry.checkers()
    made: list[tuple[str, CheckerInfo, Any]] = []
    for c in checkers:
        c = CheckerSpec(c) if isinstance(c, str) else c
        info = infos[c.name]
        made.append((c.name, info, parse_options(info.options, c.options, c.name)))
    return check_made(history, made, directory, ctx)


def check_prepared(
    history: list[Op], p: Prepared, directory: Path, time_zero_ms: int | None = None
) -> dict[str, Any]:
    """Run the test's checkers on its history; ``time_zero_ms``: the wall clock (epoch ms) of
    the history's time zero, so that anomalies say when they happened as the nodes' logs do."""
    ctx: dict[str, Any] = {"test": p.spec.name}
    if time_zero_ms is not None:
        ctx["time_zero_ms"] = time_zero_ms
    return check_made(history, p.checkers, directory, ctx)


def check_made(
    history: list[Op],
    checkers: Sequence[tuple[str, CheckerInfo, Any]],
    directory: Path | None,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    """Run each (name, info, options); a crash is "unknown" with the reason, never a pass.
    Each checker that draws (WritesArtifacts) writes its files into ``directory``. Every
    anomaly gets its ``when`` (the span its ops ran, as wall clock too when ``ctx`` has
    ``time_zero_ms``, and the faults in force then: ``faults_in_force.annotate``)."""
    # the history (and everything else alive) out of the cyclic collector's reach while the
    # checkers make garbage: it is not rescanned by every collection (lamport, 100,000 ops:
    # 0.67 s of CPU instead of 1.25); unfrozen at the end
    gc.freeze()
    try:
        return _check_each(history, checkers, directory, ctx)
    finally:
        gc.unfreeze()


def _check_each(
    history: list[Op],
    checkers: Sequence[tuple[str, CheckerInfo, Any]],
    directory: Path | None,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    per: dict[str, Any] = {}
    began, cpu = time.monotonic(), time.process_time()  # check_seconds: wall_seconds omits it
    kinds = registry.faults().values()
    starts = {f: info.name for info in kinds for f in info.starts}
    heals = {info.name: info.heal for info in kinds}
    for name, info, options in checkers:
        log.info("checker %s: checking %d operations", name, len(history))
        t = time.monotonic()
        checker: Any = None
        try:  # making it imports its module: that can fail too
            checker = info.make(options)
        except Exception as e:  # a checker that cannot be made must not pass a test
            log.exception("checker %s could not be made", name)
            result: Result = crashed(e)
        else:  # the one guard against a checker's crash, as `splitbrain check` uses
            result = check_safely(checker, history, ctx)
        files: list[str] = []
        if directory is not None and isinstance(checker, WritesArtifacts):
            try:
                files = [str(p.name) for p in checker.write_artifacts(result, directory)]
            except Exception:
                log.exception("checker %s could not draw its result", name)
        per[name] = {**result.to_dict(), "seconds": round(time.monotonic() - t, 3), "files": files}
        annotate(per[name]["anomalies"], history, starts, heals, ctx.get("time_zero_ms"))
        log.info(
            "checker %s: %s in %.1f s%s",
            name,
            _WORD[result.valid].lower(),
            per[name]["seconds"],
            f"; {headline(result.anomalies)}" if result.anomalies else "",
        )
    return {
        "valid": merge_valid([r["valid"] for r in per.values()]),
        "checkers": per,
        "op_counts": _op_counts(history),
        "check_seconds": round(time.monotonic() - began, 3),
        "check_cpu_seconds": round(time.process_time() - cpu, 3),
    }


_WORD: dict[Validity, str] = {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}


def _op_counts(history: list[Op]) -> dict[str, int]:
    counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
    for op in history:
        if op.is_client:
            counts[op.type] += 1
    return counts


# -- parts -------------------------------------------------------------------------------------


def _drive(runner: Runner, spec: TestSpec, guard: Interrupts, journal: Journal, out: Any) -> bool:
    """Run the workers to the end, printing progress; True if interrupted. A signal, or a
    history that can no longer be written, makes the workers finish their operation in flight
    and stop."""
    runner.start()
    tty = _isatty(out)
    every = 1.0 if tty else 10.0
    last = time.monotonic()
    stopping = False
    seen = _Seen()
    while not runner.join(timeout=0.2):
        if stopping:
            continue
        if guard.stop.is_set():
            stopping = True
            _say(
                f"\ninterrupted ({guard.signal}): finishing in-flight operations, then healing", out
            )
            log.warning("interrupted by %s: stopping the workload, then healing", guard.signal)
            runner.stop()
        elif journal.error is not None:
            stopping = True
            problem = StorageError("write", journal.path, journal.error)
            _say(f"\n{problem}: stopping the workload, then healing", out)
            runner.stop()
        elif time.monotonic() - last >= every:
            last = time.monotonic()
            line = _progress(runner, spec, journal, seen)
            _say(("\r" + line + "\x1b[K") if tty else line, out, end="" if tty else "\n")
    if tty:
        _say("", out)
    return guard.stop.is_set()


def _isatty(out: Any) -> bool:
    try:
        return bool(hasattr(out, "isatty") and out.isatty())
    except (OSError, ValueError):
        return False


def _say(text: str, out: Any, end: str = "\n") -> None:
    """Print to ``out``, which may be a terminal that is gone (SIGHUP): the results are on
    disk, so a line that cannot be shown is dropped rather than failing the run."""
    try:
        print(text, end=end, file=out)
        out.flush()
    except (OSError, ValueError):
        pass


@dataclass
class _Seen:
    """What the progress lines have read of the journal: up to which op, and the faults in
    force there (kind -> label)."""

    upto: int = 0
    in_force: dict[str, str] = dataclasses.field(default_factory=dict)
    asked: dict[str, Any] = dataclasses.field(default_factory=dict)  # f -> the last value asked


def _progress(runner: Runner, spec: TestSpec, journal: Journal, seen: _Seen) -> str:
    """The progress line. Its faults are those of the interval since the last line, not of
    one instant: every fault that began or was healed in it, and the ones still in force
    ("faults: partition leader (healed), kill majority")."""
    now = runner.now()
    s = runner.stats
    c = s.completions
    left = max(0.0, spec.time_limit - now)
    ops = journal.ops
    end = len(ops)
    in_force = seen.in_force
    shown = dict(in_force)
    healed: set[str] = set()
    heals = _heal_fs()
    for op in ops[seen.upto : end]:
        if op.process != NEMESIS or op.type == "fail":
            continue
        if op.type == "invoke":
            seen.asked[op.f] = op.value
            continue
        kind = _fault_kind(op.f)
        if op.f in heals:
            if kind in in_force:
                in_force.pop(kind)
                healed.add(kind)
        else:
            asked = seen.asked.get(op.f)
            label = f"{kind} {_short(asked, 30)}" if isinstance(asked, str) else kind
            in_force[kind] = shown[kind] = label
    seen.upto = end
    faults = ", ".join(
        label + (" (healed)" if kind in healed and kind not in in_force else "")
        for kind, label in shown.items()
        if kind in in_force or kind in healed
    )
    when = f"{left:.0f}s left" if left > 0 else "final phase"
    return (
        f"{spec.name}: {now:5.0f}s ({when})  {s.invocations / max(now, 1e-9):6.0f} ops/s"
        f"  ok {c['ok']} fail {c['fail']} info {c['info']}  faults: {faults or 'none'}"
    )


def _heal_fs() -> set[str]:
    return {info.heal for info in registry.faults().values()}


def _clip(text: str, most: int, indent: int, width: int = 240) -> str:
    """``text`` for the terminal: at most ``most`` lines of at most ``width`` characters, the
    lines after the first indented by ``indent`` (results.json and the report have it all)."""
    lines = [ln if len(ln) <= width else ln[: width - 3] + "..." for ln in text.strip().split("\n")]
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] += " [...]"
    return ("\n" + " " * indent).join(lines)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("name") == b.get("name") and a.get("explanation") == b.get("explanation")


def _fault_kind(f: str) -> str:
    """The kind of fault a nemesis op starts or heals (``start-partition`` -> partition)."""
    for info in registry.faults().values():
        if f in info.starts or f == info.heal:
            return info.name
    return f.removeprefix("start-").removeprefix("stop-")


def _teardown(
    cluster: Any, system: Any, nemesis: Any, run: RunDir, faults: Sequence[tuple[Any, Any]] = ()
) -> None:
    """Heal, stop, collect logs, undo what fault kinds prepared, remove. Every step is tried
    even if one before it failed."""
    steps: list[tuple[str, Callable[[], None]]] = []
    if nemesis is not None:
        steps.append(("heal every fault", nemesis.teardown))
    if system is not None:
        steps.append(("stop the system", lambda: _on_all(cluster.nodes, system.teardown)))
        steps.append(("collect logs", lambda: _collect_logs(cluster, system, run)))
    for info, _ in faults:
        if info.unprepare is not None:
            undo = functools.partial(_on_all, cluster.nodes, info.unprepare)
            steps.append((f"undo {info.name}'s prepare", undo))
    steps.append(("remove the cluster", cluster.destroy))
    for what, step in steps:
        log.info("teardown: %s", what)
        try:
            step()
        except Exception as e:
            if is_storage_error(e):  # a full disk: no traceback, the disk is the reason
                log.error("teardown (%s): a file could not be written: %s", what, e)
            else:
                log.exception("teardown: could not %s", what)


def faults_in_force(history: list[Op]) -> list[str]:
    """The heal operations a history still owes, in the order to make them: for each kind of
    fault, a start that may have taken effect (``ok``, ``info``, or never completed) after the
    last heal of that kind that succeeded."""
    return heals_owed(history, registry.faults().values())


def _heal_in_history(journal: Journal, nemesis: Any) -> None:
    """Heal, through the nemesis and into the history, every fault the history shows still in
    force (a run stopped by a signal or a full disk ends with a fault on), so the history and
    its report show when each fault ended. nemesis.teardown() runs after it all the same."""
    for f in faults_in_force(journal.ops):
        log.info("teardown: %s (a fault was still in force)", f)
        invoke = journal.append(Op("invoke", f, None, NEMESIS))
        try:
            done = nemesis.invoke(invoke)
        except Exception as e:
            done = invoke.complete("info", None, error=f"{type(e).__name__}: {e}")
        journal.append(done)


def _collect_logs(cluster: Any, system: Any, run: RunDir) -> None:
    for node in cluster.nodes:
        dest = run.nodes / node.name
        dest.mkdir(parents=True, exist_ok=True)
        for remote in system.log_files(node):
            local = dest / Path(remote).name
            if Path(remote).resolve() == local.resolve():
                continue  # the local backend already keeps node files in the run dir
            try:
                node.get(remote, local)
            except Exception as e:
                log.warning("could not fetch %s from %s: %s", remote, node.name, e)


def _prepare(prepare: Callable[[Any, Any], None], system: Any, node: Any) -> None:
    prepare(node, system)


def _on_all(nodes: list[Any], f: Callable[[Any], None]) -> None:
    """Call f(node) on every node in parallel; raise the first error after all are done."""
    if not nodes:
        return
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = [pool.submit(f, n) for n in nodes]
        errors = [e for e in (fu.exception() for fu in futures) if e is not None]
    if errors:
        raise errors[0]


class Interrupts:
    """What SIGINT, SIGTERM and SIGHUP do, for a whole ``splitbrain run`` (one handler for the
    three, installed once by ``handle_interrupts``). The first signal sets ``stop``: no further
    test of the suite starts. Then, by the ``stage`` of the test under way:

    - ``setup``: the setup is interrupted (KeyboardInterrupt), what was made is torn down;
    - ``running``: the workers finish their operation in flight, then teardown;
    - ``teardown`` and ``writing`` (results, report): nothing more happens: a second Ctrl-C
      is logged and ignored, so every fault is still healed and the results are written;
    - ``checking`` (the cluster is gone): the checkers stop (KeyboardInterrupt), no verdict;
    - ``idle`` (between tests): nothing to stop.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.stage = "idle"
        self.signal: str | None = None  # the name of the first signal

    def on_signal(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        first = not self.stop.is_set()
        self.stop.set()
        if first:
            self.signal = name
        if self.stage == "checking" or (self.stage == "setup" and first):
            # the stage moves on before the exception is raised, so that a second signal
            # arriving while it unwinds cannot interrupt the teardown or the writing
            self.stage = "writing" if self.stage == "checking" else "teardown"
            raise KeyboardInterrupt
        if self.stage in ("teardown", "writing") or not first:
            log.warning("%s: still healing, cleaning up and writing the results; please wait", name)


@contextmanager
def handle_interrupts() -> Iterator[Interrupts]:
    """Handle SIGINT, SIGTERM and SIGHUP (a closed terminal, a dropped SSH session) alike for
    the duration of the block; yields the Interrupts that say whether one came. Outside the
    main thread (no signals there) it only yields."""
    guard = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    old = {sig: signal.signal(sig, guard.on_signal) for sig in _SIGNALS}
    try:
        yield guard
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _faults_applied(history: list[Op]) -> list[dict[str, Any]]:
    return [
        {
            "time_s": round(op.time / 1e9, 3),
            "f": op.f,
            "type": op.type,
            "value": op.value,
            **({"error": op.error} if op.error else {}),
        }
        for op in history
        if not op.is_client and op.type != "invoke" and op.f != members.MEMBER_STATES
    ]


def _rerun_command(suite: str, spec: TestSpec, argv: list[str] | None) -> str:
    """The command that runs this test again as it ran: every value a command-line override
    can change is given, whatever the suite says (an override is not in the suite file)."""
    parts = ["splitbrain", "run", suite, "--test", spec.name, "--seed", str(spec.seed)]
    parts += ["--time-limit", f"{spec.time_limit:g}"]
    parts += ["--cluster", spec.cluster.backend, "--nodes", str(spec.cluster.nodes)]
    if spec.cluster.inventory:
        parts += ["--inventory", spec.cluster.inventory]
    for bug in spec.system.bugs:
        parts += ["--bug", bug]
    return shlex.join(parts)


def _with_replay(rerun: str, spec: TestSpec, run_dir: Path) -> str:
    """A test with an explicit schedule (a replay's, or its suite's) runs again with this
    run's own schedule (``--replay`` of this run: the same steps, whichever way they came):
    the suite's rotation would make other faults."""
    if spec.nemesis.schedule is None:
        return rerun
    return rerun + " " + shlex.join(["--replay", str(run_dir)])


class _LogFile(logging.FileHandler):
    """harness.log. When it cannot be written (a full disk) it goes quiet rather than print a
    traceback per line: the controller reports the storage problem itself, once."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        try:
            super().emit(record)  # opens the file on the first record: that can fail too
        except OSError:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self.failed = True
        try:
            self.close()
        except OSError:
            pass


class _RunClock(logging.Formatter):
    """harness.log's timestamps: the UTC wall clock to the millisecond, and, once the history
    has begun, the time since its time zero as the history and the report count it
    ("2026-12-03T16:43:23.430Z +21.417s INFO ..."), so a line of the log, an op of the history
    and a line of a node's log can be put side by side. Before time zero: "setup"."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(since)s %(levelname)s %(name)s: %(message)s")
        self.zero_ms: int | None = None

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso_ms(int(record.created * 1000))

    def format(self, record: logging.LogRecord) -> str:
        zero = self.zero_ms
        record.since = "setup" if zero is None else f"{record.created - zero / 1000:+.3f}s"
        return super().format(record)


def _iso_ms(epoch_ms: int) -> str:
    """ "2026-12-03T16:43:23.430Z"."""
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_ms // 1000))
        + f".{epoch_ms % 1000:03d}Z"
    )


class _LoggedJournal(Journal):
    """The history's journal, which also writes to harness.log what a person reading the log
    needs from it: every nemesis operation (each fault and heal, with what it struck), and
    every client operation whose outcome is unknown (info): its worker drops the connection
    and opens a new one, as a new process."""

    def append(self, op: Op) -> Op:
        op = super().append(op)
        if op.process == NEMESIS:
            if op.type == "invoke":
                log.info("nemesis invokes %s %s", op.f, _short(op.value))
            else:
                err = f" ({op.error})" if op.error else ""
                log.info("nemesis %s %s: %s%s", op.f, op.type, _short(op.value), err)
        elif op.type == "info":
            log.info(
                "process %s%s: %s outcome unknown (%s); its worker reconnects as a new process",
                op.process,
                f" on {op.node}" if op.node else "",
                op.f,
                _short(op.error or op.value),
            )
        return op


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _log_to(path: Path) -> logging.Handler:
    handler = _LogFile(path)
    handler.setFormatter(_RunClock())
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def _detach(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


def _print_verdict(
    test: str, results: dict[str, Any], path: Path, out: Any, problems: list[str]
) -> None:
    """The verdict, summary first: the verdict line; when anomalies were found, their kinds
    and counts worst first (``headline``), then the shortest example of the worst kind with
    when it happened and the faults then in force; then each checker's verdict and its first
    anomalies; then where the results are and how to run the test again."""
    valid = results["valid"]
    word = _WORD[valid]
    c = results["op_counts"]
    kinds = list(dict.fromkeys(_fault_kind(f["f"]) for f in results.get("faults", [])))
    if not results["checkers"]:  # nothing was checked: say why instead of a verdict
        lines = [f"{test}: {word}  ({results.get('error', 'nothing was checked')})"]
    else:
        lines = [
            f"{test}: {word}  ({c['ok']} ok, {c['fail']} fail, {c['info']} info; "
            f"faults: {', '.join(kinds) or 'none'})"
        ]
    found = anomalies_of(results)
    worst: dict[str, Any] = worst_example(found) or {}
    if found:
        lines.append(f"  {headline(found)}")
        when = worst.get("when")
        at = f" {when['text']}" if isinstance(when, dict) and when.get("text") else ""
        lines.append(f"  worst: {worst['name']}{at}  [{worst['checker']}]")
        lines.append("      " + _clip(explanation_of(worst), 40, 6, width=400))
    for name, r in results["checkers"].items():
        v = {True: "valid", False: "INVALID", "unknown": "unknown"}[r["valid"]]
        reason = r["details"].get("reason") if isinstance(r["details"], dict) else None
        mine = r["anomalies"]
        summary = f" ({headline(mine)})" if mine else ""
        lines.append(
            f"  {name}: {v}{summary}"
            + (f" ({reason})" if reason and r["valid"] is not True else "")
        )
        firsts = [group[0] for group in by_kind(mine).values()][:4]  # one of each kind
        for a in firsts:
            if not _same(a, worst):  # the worst is shown above
                lines.append(f"    - {_clip(describe(a), 1, 6)}")
        if len(mine) > len(firsts):
            lines.append(
                f"    ... and {len(mine) - len(firsts)} more in the report and results.json"
            )
    if results.get("interrupted") and results["checkers"]:
        lines.append(
            f"  (interrupted by {results.get('signal') or 'a signal'}: the history up to the "
            "interruption was checked)"
        )
    if results.get("storage_error"):
        lines.append(f"  {results['storage_error']}")
    lines += [f"  {p}" for p in problems]
    lines.append(f"  results: {path}")
    if (path / "report.html").exists():
        lines.append(f"  report: {path / 'report.html'}")
    lines.append(f"  run again: {results['rerun']}")
    _say("\n".join(lines), out)
