"""One test, from spec to verdict: cluster up, system set up, workload and nemesis run,
everything healed and torn down, history checked, results written.

Teardown always runs — on success, on a setup failure, on a crash, on Ctrl-C or SIGTERM —
and heals every fault before it removes the cluster.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.base import Result, Validity, WritesArtifacts, merge_valid
from clusters.base import SetupError
from harness.config import ConfigError
from harness.generator import (
    Generator,
    clients_and_nemesis,
    each_thread,
    once,
    phases,
    seq,
    time_limit,
)
from harness.history import Journal, Op
from harness.runner import Runner, Worker
from harness.spec import TestSpec
from harness.store import RunDir
from nemesis.schedule import final_heal, schedule
from workloads import registry

__all__ = ["EXIT", "Outcome", "check_history", "run_test"]

log = logging.getLogger("splitbrain")

EXIT = {True: 0, False: 1, "unknown": 2, "bad-input": 3, "setup-failed": 4}


@dataclass
class Outcome:
    test: str
    valid: Validity | None  # None: the test could not be set up
    exit_code: int
    run_dir: Path | None
    results: dict[str, Any]


def run_test(
    spec: TestSpec,
    *,
    results_root: Path,
    suite_path: str = "<suite>",
    argv: list[str] | None = None,
    out: Any = sys.stderr,
) -> Outcome:
    """Run one test. Raises ConfigError for names the registry does not know (exit 3)."""
    if spec.seed is None:
        spec = dataclasses.replace(spec, seed=random.SystemRandom().randrange(2**31))
    assert spec.seed is not None
    sysinfo, winfo, checker_names = _resolve(spec, suite_path)
    try:  # bad hosts are bad input, found before anything is written
        _make_cluster(spec, results_root / ".check", sysinfo.node_packages)
    except ConfigError as e:
        raise ConfigError(suite_path, None, e.path, e.problem) from None

    run = RunDir.create(results_root, spec.name)
    rerun = _rerun_command(suite_path, spec, argv)
    run.write_spec(spec, {"rerun": rerun})
    handler = _log_to(run.path / "harness.log")
    log.info("test %s, seed %s, results in %s", spec.name, spec.seed, run.path)
    results: dict[str, Any] = {
        "test": spec.name,
        "suite": suite_path,
        "seed": spec.seed,
        "rerun": rerun,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    interrupted = False
    setup_error: str | None = None
    harness_error: str | None = None
    journal: Journal | None = None
    t_start = time.monotonic()
    try:
        with _signals() as guard:
            cluster = _make_cluster(spec, run.path, sysinfo.node_packages)
            system: Any = None
            nemesis: Any = None
            try:
                try:
                    t = time.monotonic()
                    cluster.create()
                    system = sysinfo.make(spec.system, cluster.nodes)
                    _on_all(cluster.nodes, system.setup)
                    nemesis = _make_nemesis(spec, cluster, system)
                    nemesis.setup(cluster)
                    results["setup_seconds"] = round(time.monotonic() - t, 2)
                    log.info(
                        "cluster of %d up and system ready in %.1fs",
                        len(cluster.nodes),
                        results["setup_seconds"],
                    )
                except (SetupError, OSError, RuntimeError, TimeoutError) as e:
                    if guard.stop.is_set():
                        raise KeyboardInterrupt from e
                    setup_error = f"{type(e).__name__}: {e}"
                    log.error("setup failed: %s", setup_error)
                else:
                    t0_ns = time.monotonic_ns()
                    journal = Journal(run.history, lambda: time.monotonic_ns() - t0_ns)
                    runner = _make_runner(spec, sysinfo, winfo, cluster, nemesis, journal)
                    runner.t0 = t0_ns / 1e9
                    guard.stage = "running"
                    interrupted = _drive(runner, spec, guard.stop, out)
                    results["ops_per_second"] = round(
                        runner.stats.invocations / max(runner.now(), 1e-9), 1
                    )
                    if runner.errors:
                        setup_error = f"harness error in a worker: {runner.errors[0]!r}"
            finally:
                guard.stage = "teardown"
                _teardown(cluster, system, nemesis, run)
            interrupted = interrupted or guard.stop.is_set()
    except KeyboardInterrupt:
        interrupted = True
    except Exception as e:  # a harness bug: healed and torn down above; no verdict
        log.exception("harness error")
        harness_error = f"harness error: {type(e).__name__}: {e}"
    finally:
        if journal is not None:
            journal.close()
    results["wall_seconds"] = round(time.monotonic() - t_start, 2)
    results["interrupted"] = interrupted

    if setup_error is not None and journal is None:
        results.update(valid=None, error=setup_error, exit_code=EXIT["setup-failed"])
        run.write_results(results)
        _write_report(run.path)
        _detach(handler)
        print(f"{spec.name}: SETUP FAILED: {setup_error}\n  logs: {run.path}")
        return Outcome(spec.name, None, EXIT["setup-failed"], run.path, results)

    history = journal.ops if journal is not None else []
    checked = check_history(history, checker_names, run.path, {"test": spec.name})
    results.update(checked)
    results["faults"] = _faults_applied(history)
    if journal is None:  # interrupted before the workload began: nothing was tested
        results["valid"] = "unknown"
        results["error"] = "interrupted during setup, before any operation"
    for error in (setup_error, harness_error):
        if error is not None:
            results["error"] = error
            results["valid"] = merge_valid([results["valid"], "unknown"])
    results["exit_code"] = EXIT[results["valid"]]
    run.write_results(results)
    _write_report(run.path)
    _detach(handler)
    _print_verdict(spec.name, results, run.path, sys.stdout)
    return Outcome(spec.name, results["valid"], results["exit_code"], run.path, results)


def _write_report(path: Path) -> None:
    """report.html for the run; a report that cannot be drawn never changes the verdict."""
    try:
        from harness.report import build_report

        build_report(path)
    except Exception:
        log.exception("could not build report.html (splitbrain report %s tries again)", path)


def check_history(
    history: list[Op], checker_names: list[str], directory: Path | None, ctx: dict[str, Any]
) -> dict[str, Any]:
    """Run each named checker; a crash is "unknown" with the reason, never a pass."""
    infos = registry.checkers()
    per: dict[str, Any] = {}
    for name in checker_names:
        t = time.monotonic()
        checker: Any = None
        try:  # making it imports its module: that can fail too
            checker = infos[name].make(**infos[name].options)
            result: Result = checker.check(history, ctx)
        except Exception as e:  # a checker bug must not pass a test
            log.exception("checker %s crashed", name)
            result = Result("unknown", [], {"reason": f"checker crashed: {type(e).__name__}: {e}"})
        files: list[str] = []
        if directory is not None and isinstance(checker, WritesArtifacts):
            try:
                files = [str(p.name) for p in checker.write_artifacts(result, directory)]
            except Exception:
                log.exception("checker %s could not draw its result", name)
        per[name] = {**result.to_dict(), "seconds": round(time.monotonic() - t, 3), "files": files}
    counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
    for op in history:
        if op.is_client:
            counts[op.type] += 1
    return {
        "valid": merge_valid([r["valid"] for r in per.values()]),
        "checkers": per,
        "op_counts": counts,
    }


# -- parts -------------------------------------------------------------------------------------


def _resolve(spec: TestSpec, source: str) -> tuple[Any, Any, list[str]]:
    systems, workloads, checkers = registry.systems(), registry.workloads(), registry.checkers()
    sysinfo = systems.get(spec.system.name)
    if sysinfo is None:
        raise ConfigError(
            source,
            None,
            "system.name",
            f"unknown system {spec.system.name!r}; allowed: {', '.join(systems)}",
        )
    for bug in spec.system.bugs:
        if bug not in sysinfo.bugs:
            raise ConfigError(
                source,
                None,
                "system.bugs",
                f"{sysinfo.name} has no seeded bug {bug!r}; allowed: {', '.join(sysinfo.bugs)}",
            )
    winfo = workloads.get(spec.workload.name)
    if winfo is None:
        raise ConfigError(
            source,
            None,
            "workload.name",
            f"unknown workload {spec.workload.name!r}; allowed: {', '.join(workloads)}",
        )
    if winfo.name not in sysinfo.clients:
        raise ConfigError(
            source,
            None,
            "workload.name",
            f"{sysinfo.name} has no client for workload {winfo.name!r}; "
            f"it runs: {', '.join(sysinfo.clients)}",
        )
    names = list(spec.checkers) or list(dict.fromkeys([*winfo.checkers, *sysinfo.checkers]))
    for name in names:
        if name not in checkers:
            raise ConfigError(
                source,
                None,
                "checkers",
                f"unknown checker {name!r}; allowed: {', '.join(checkers)}",
            )
    return sysinfo, winfo, names


def _make_cluster(spec: TestSpec, workroot: Path, packages: tuple[str, ...] = ()) -> Any:
    """The cluster for ``spec``; ``packages`` are the Debian packages the system needs on a
    node (a docker cluster runs an image with them)."""
    backend = spec.cluster.backend
    if backend == "local":
        from clusters.local import LocalCluster

        return LocalCluster(spec.cluster.nodes, workroot=workroot)
    if backend == "docker":
        from clusters.docker import DockerCluster

        return DockerCluster(
            spec.cluster.nodes, workroot=workroot, image=spec.cluster.image, packages=packages
        )
    if backend == "ssh":
        from clusters.ssh import SshCluster

        try:  # only reads the host list and inventory: connects to nothing, writes nothing
            return SshCluster.from_spec(spec.cluster, workroot=workroot, n=spec.cluster.nodes)
        except ValueError as e:  # a bad host list or inventory is bad input
            raise ConfigError("cluster", None, "cluster.hosts", str(e)) from None
    raise SetupError(f"cluster backend {backend!r} is not available in this build")


def _make_nemesis(spec: TestSpec, cluster: Any, system: Any) -> Any:
    from nemesis.clock import ClockNemesis
    from nemesis.compose import compose
    from nemesis.partition import PartitionNemesis
    from nemesis.process import KillNemesis, PauseNemesis

    rng = random.Random(f"{spec.seed}/nemesis")
    faults = set(spec.nemesis.faults)
    parts: list[Any] = []
    if faults & {"partition", "loss"}:
        parts.append(PartitionNemesis(rng=rng, system=system))
    if "kill" in faults:
        parts.append(KillNemesis(rng=rng, system=system))
    if "pause" in faults:
        parts.append(PauseNemesis(rng=rng, system=system))
    if "clock" in faults:
        parts.append(ClockNemesis(rng=rng))
    return compose(parts)


def _make_runner(
    spec: TestSpec, sysinfo: Any, winfo: Any, cluster: Any, nemesis: Any, journal: Journal
) -> Runner:
    main, final = winfo.generators(spec.workload)
    make_client = sysinfo.clients[winfo.name]
    nodes = cluster.nodes
    workers = [
        Worker(nodes[t % len(nodes)].name, _opener(make_client, spec, nodes[t % len(nodes)]))
        for t in range(spec.workload.concurrency)
    ]
    # after the heal: the workload's final reads, then (all threads together, so no thread
    # skips one) every thread's system-specific final ops, such as a status report
    finals: list[Generator] = []
    if final is not None:
        finals.append(final)
    if sysinfo.final_ops:
        finals.append(each_thread(lambda: seq([once(f) for f in sysinfo.final_ops])))
    nemesis_main = schedule(spec.nemesis)
    gen = phases(
        clients_and_nemesis(
            time_limit(spec.time_limit, main),
            time_limit(spec.time_limit, nemesis_main) if nemesis_main else None,
        ),
        clients_and_nemesis(None, final_heal(spec.nemesis)),
        clients_and_nemesis(phases(*finals), None),
    )
    return Runner(gen, journal, workers, nemesis=nemesis, seed=spec.seed or 0)


def _opener(make_client: Callable[[Any], Any], spec: TestSpec, node: Any) -> Callable[[], Any]:
    def open_client() -> Any:
        client = make_client(spec.workload)
        client.open(node)
        return client

    return open_client


def _drive(runner: Runner, spec: TestSpec, stop_requested: threading.Event, out: Any) -> bool:
    """Run the workers to the end, printing progress; True if interrupted."""
    runner.start()
    tty = hasattr(out, "isatty") and out.isatty()
    every = 1.0 if tty else 10.0
    last = time.monotonic()
    interrupted = False
    while not runner.join(timeout=0.2):
        if stop_requested.is_set() and not interrupted:
            interrupted = True
            print("\ninterrupted: finishing in-flight operations, then healing", file=out)
            runner.stop()
        if time.monotonic() - last >= every:
            last = time.monotonic()
            line = _progress(runner, spec)
            print(("\r" + line + "\x1b[K") if tty else line, end="" if tty else "\n", file=out)
            out.flush()
    if tty:
        print(file=out)
    return interrupted or stop_requested.is_set()


def _progress(runner: Runner, spec: TestSpec) -> str:
    now = runner.now()
    s = runner.stats
    c = s.completions
    left = max(0.0, spec.time_limit - now)
    # stats.fault is the nemesis' last op: after a heal, no fault is in force
    fault = s.fault
    if fault is not None and fault.split(" ", 1)[0] in _HEAL_FS:
        fault = None
    when = f"{left:.0f}s left" if left > 0 else "final phase"
    return (
        f"{spec.name}: {now:5.0f}s ({when})  {s.invocations / max(now, 1e-9):6.0f} ops/s"
        f"  ok {c['ok']} fail {c['fail']} info {c['info']}  fault: {fault or 'none'}"
    )


_HEAL_FS = frozenset({"stop-partition", "stop-loss", "start", "resume", "reset-clock"})


def _teardown(cluster: Any, system: Any, nemesis: Any, run: RunDir) -> None:
    """Heal, stop, collect logs, remove. Every step is tried even if one before it failed."""
    steps: list[tuple[str, Callable[[], None]]] = []
    if nemesis is not None:
        steps.append(("heal every fault", nemesis.teardown))
    if system is not None:
        steps.append(("stop the system", lambda: _on_all(cluster.nodes, system.teardown)))
        steps.append(("collect logs", lambda: _collect_logs(cluster, system, run)))
    steps.append(("remove the cluster", cluster.destroy))
    for what, step in steps:
        try:
            step()
        except Exception:
            log.exception("teardown: could not %s", what)


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


def _on_all(nodes: list[Any], f: Callable[[Any], None]) -> None:
    """Call f(node) on every node in parallel; raise the first error after all are done."""
    if not nodes:
        return
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = [pool.submit(f, n) for n in nodes]
        errors = [e for e in (fu.exception() for fu in futures) if e is not None]
    if errors:
        raise errors[0]


class _Guard:
    """What SIGINT / SIGTERM do, by stage: during setup they interrupt it (KeyboardInterrupt);
    while the workload runs they only set ``stop`` (the driver winds the workers down);
    during teardown they are logged and ignored, so faults always get healed."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.stage = "setup"

    def on_signal(self, signum: int, _frame: Any) -> None:
        if self.stage == "teardown" or self.stop.is_set():
            log.warning("signal %d: still healing and cleaning up, please wait", signum)
            self.stop.set()
            return
        self.stop.set()
        if self.stage == "setup":
            raise KeyboardInterrupt


@contextmanager
def _signals() -> Iterator[_Guard]:
    guard = _Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    old_int = signal.signal(signal.SIGINT, guard.on_signal)
    old_term = signal.signal(signal.SIGTERM, guard.on_signal)
    try:
        yield guard
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


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
        if not op.is_client and op.type != "invoke"
    ]


def _rerun_command(suite: str, spec: TestSpec, argv: list[str] | None) -> str:
    parts = ["splitbrain", "run", suite, "--test", spec.name, "--seed", str(spec.seed)]
    parts += ["--time-limit", f"{spec.time_limit:g}"]
    for bug in spec.system.bugs:
        parts += ["--bug", bug]
    if spec.cluster.backend != "local":
        parts += ["--cluster", spec.cluster.backend]
    return shlex.join(parts)


def _log_to(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def _detach(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


def _print_verdict(test: str, results: dict[str, Any], path: Path, out: Any) -> None:
    valid = results["valid"]
    word = {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}[valid]
    c = results["op_counts"]
    kinds = sorted({f["f"] for f in results.get("faults", []) if f["type"] != "invoke"})
    lines = [
        f"{test}: {word}  ({c['ok']} ok, {c['fail']} fail, {c['info']} info; "
        f"faults: {', '.join(kinds) or 'none'})"
    ]
    for name, r in results["checkers"].items():
        v = {True: "valid", False: "INVALID", "unknown": "unknown"}[r["valid"]]
        reason = r["details"].get("reason") if isinstance(r["details"], dict) else None
        lines.append(
            f"  {name}: {v}" + (f" ({reason})" if reason and r["valid"] is not True else "")
        )
        for a in r["anomalies"][:3]:
            text = a["explanation"].strip().replace("\n", "\n      ")
            lines.append(f"    - {a['name']}: {text}")
        if len(r["anomalies"]) > 3:
            lines.append(f"    ... and {len(r['anomalies']) - 3} more in results.json")
    if results.get("interrupted"):
        lines.append("  (interrupted: the history up to the interruption was checked)")
    lines.append(f"  results: {path}")
    if (path / "report.html").exists():
        lines.append(f"  report: {path / 'report.html'}")
    lines.append(f"  run again: {results['rerun']}")
    print("\n".join(lines), file=out)
