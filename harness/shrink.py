"""``splitbrain shrink RUN_DIR``: from a failing run, a smaller fault schedule that still fails.

The failing run's faults are its *episodes* (a start and the heal that ended it,
``nemesis.replay``). Shrinking searches for fewer of them, affecting fewer nodes, in a
shorter run, that still makes the test fail:

1. **Cut at the first evidence.** Faults that started after the first anomaly's evidence
   cannot have caused it: try the episodes before it, and a run that ends a little after it.
2. **Fewer faults:** delta debugging (Zeller's ddmin) over the episodes: try halves, then
   quarters, ...: each subset alone, then each complement; keep any that fails.
3. **Fewer nodes:** for each fault that names several nodes (a kill or pause of a majority,
   a clock bump of two), try it on one node fewer, one node at a time.
4. **Shorter run:** the time limit cut to the last fault's end plus a tail, halving the tail.

A run is not deterministic, so a candidate *fails* when one of up to ``tries`` runs of it is
invalid (it stops at the first); the report says how often each kept candidate failed. Every
candidate is a real run (``splitbrain run`` of a one-test suite written beside the shrink's
log, with the run's seed), stored in the results like any other. The budget (runs, minutes)
bounds the search; when it is spent, the smallest failing schedule so far is the answer.

Output: ``<results>/_shrink/<test>-<UTC start>/``: ``log.txt`` (every candidate and its runs),
``shrunk.yaml`` (the smallest failing schedule, as a suite: ``splitbrain run`` it to replay),
``shrink.json`` (the same, with the figures).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.config import ConfigError
from harness.registry import FaultInfo, lookup
from harness.replay import as_run, steps_of, suite_text
from harness.spec import TestSpec, fault_options
from nemesis.replay import Episode, episodes, flatten

__all__ = ["Budget", "Shrinker", "shrink"]


@dataclass
class Budget:
    """How much searching is allowed: runs and minutes, whichever ends first."""

    runs: int = 40
    minutes: float = 60.0
    started: float = field(default_factory=time.monotonic)
    used: int = 0

    def left(self) -> bool:
        return self.used < self.runs and time.monotonic() - self.started < self.minutes * 60


@dataclass
class Trial:
    """One candidate schedule and what its runs showed."""

    eps: list[Episode]
    time_limit: float
    failed: int = 0
    runs: int = 0
    dirs: list[str] = field(default_factory=list)

    @property
    def fails(self) -> bool:
        return self.failed > 0


#: runs a candidate: (spec, tries) -> (failed, runs, run directories)
Runner = Callable[[TestSpec, int], tuple[int, int, list[str]]]


class Shrinker:
    """The search, over a failing run's spec and episodes; ``run`` makes the real runs."""

    def __init__(
        self,
        spec: TestSpec,
        eps: list[Episode],
        run: Runner,
        *,
        tries: int,
        budget: Budget,
        log: Callable[[str], None],
        evidence: float | None = None,
    ) -> None:
        self.spec, self.run, self.tries, self.budget, self.log = spec, run, tries, budget, log
        self.evidence = evidence
        self.tail = max(5.0, 2 * spec.nemesis.interval)
        self.best = Trial(list(eps), spec.time_limit)

    def search(self) -> Trial:
        self._cut_at_evidence()
        self._fewer_faults()
        self._fewer_nodes()
        self._shorter()
        return self.best

    # -- the phases ----------------------------------------------------------------------------

    def _cut_at_evidence(self) -> None:
        if self.evidence is None:
            return
        before = [e for e in self.best.eps if e.start.at < self.evidence]
        limit = round(min(self.best.time_limit, self.evidence + self.tail), 1)
        if len(before) < len(self.best.eps) or limit < self.best.time_limit:
            self._try(before, limit, f"cut at the first evidence ({self.evidence:.1f} s)")

    def _fewer_faults(self) -> None:
        n = 2
        while len(self.best.eps) >= 1 and self.budget.left():
            eps = self.best.eps
            if len(eps) == 1:
                self._try([], self.best.time_limit, "no fault at all")
                return
            n = min(n, len(eps))
            chunks = [eps[i * len(eps) // n : (i + 1) * len(eps) // n] for i in range(n)]
            reduced = False
            for chunk in chunks:  # a chunk alone
                if self._try(chunk, self.best.time_limit, f"only faults {_names(chunk)}"):
                    n, reduced = 2, True
                    break
            if not reduced and n > 2:
                for chunk in chunks:  # everything but a chunk
                    rest = [e for e in eps if e not in chunk]
                    if self._try(rest, self.best.time_limit, f"without {_names(chunk)}"):
                        n, reduced = max(n - 1, 2), True
                        break
            if not reduced:
                if n >= len(eps):
                    return
                n = min(len(eps), 2 * n)

    def _fewer_nodes(self) -> None:
        i = 0
        while i < len(self.best.eps) and self.budget.left():
            ep = self.best.eps[i]
            smaller = _one_node_fewer(ep)
            for candidate in smaller:
                eps = [*self.best.eps[:i], candidate, *self.best.eps[i + 1 :]]
                if self._try(eps, self.best.time_limit, f"{candidate.describe()}"):
                    break
            else:
                i += 1

    def _shorter(self) -> None:
        end = max((e.end for e in self.best.eps), default=0.0)
        tail = self.tail
        while tail >= 2.5 and self.budget.left():
            limit = round(end + tail, 1)
            if limit >= self.best.time_limit:
                tail /= 2
                continue
            if not self._try(self.best.eps, limit, f"a {limit:.1f} s run"):
                return
            tail /= 2

    # -- one candidate ---------------------------------------------------------------------------

    def _try(self, eps: list[Episode], time_limit: float, what: str) -> bool:
        if not self.budget.left():
            return False
        tries = min(self.tries, self.budget.runs - self.budget.used)
        spec = candidate(self.spec, eps, time_limit)
        failed, runs, dirs = self.run(spec, tries)
        self.budget.used += runs
        fails = failed > 0
        self.log(
            f"{'FAILS' if fails else 'passes'} {failed}/{runs}: {what} "
            f"({len(eps)} fault(s), {time_limit:.1f} s) {' '.join(dirs)}"
        )
        if fails:
            self.best = Trial(list(eps), time_limit, failed, runs, dirs)
        return fails


def candidate(spec: TestSpec, eps: Sequence[Episode], time_limit: float) -> TestSpec:
    """The test with only these episodes, as an explicit schedule, and this time limit."""
    r = dataclasses.replace
    return r(spec, time_limit=time_limit, nemesis=r(spec.nemesis, schedule=tuple(flatten(eps))))


def _one_node_fewer(ep: Episode) -> list[Episode]:
    """The episode with each one of its nodes left out, when its start names several."""
    value = ep.start.value
    nodes = value if isinstance(value, list) else None
    if isinstance(value, dict) and isinstance(value.get("nodes"), list):
        nodes = value["nodes"]
    if not nodes or len(nodes) < 2:
        return []
    out = []
    for drop in nodes:
        kept = [n for n in nodes if n != drop]
        new = kept if isinstance(value, list) else {**value, "nodes": kept}
        out.append(Episode(dataclasses.replace(ep.start, value=new), ep.heal))
    return out


def _names(eps: Sequence[Episode]) -> str:
    return "; ".join(e.describe() for e in eps) or "none"


# -- real runs -------------------------------------------------------------------------------------


def subprocess_runner(folder: Path, results_root: Path, log: Callable[[str], None]) -> Runner:
    """Runs a candidate as a user would: ``splitbrain run`` of a one-test suite, up to
    ``tries`` times, stopping at the first invalid run."""
    count = 0

    def run(spec: TestSpec, tries: int) -> tuple[int, int, list[str]]:
        nonlocal count
        failed, runs, dirs = 0, 0, []
        count += 1
        suite = folder / f"candidate-{count:03d}.yaml"
        suite.write_text(suite_text(spec))
        for _ in range(tries):
            runs += 1
            cmd = [sys.executable, "-m", "harness.cli", "run", str(suite),
                   "--results", str(results_root)]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            found = re.findall(r"results: (\S+)", done.stdout + done.stderr)
            run_dir = Path(found[-1]) if found else None
            verdict = _verdict(run_dir)
            if run_dir is not None:
                dirs.append(str(run_dir))
            if verdict is None:
                log(
                    f"  run {runs} of {suite.name} ended without a verdict (exit {done.returncode})"
                )
            elif verdict is False:
                failed += 1
                break
        return failed, runs, dirs

    return run


def _verdict(run_dir: Path | None) -> bool | None:
    if run_dir is None:
        return None
    try:
        valid = json.loads((run_dir / "results.json").read_text()).get("valid")
    except (OSError, ValueError):
        return None
    return valid if isinstance(valid, bool) else None


def first_evidence(run_dir: Path) -> float | None:
    """Seconds into the run when the earliest anomaly's last op had completed."""
    try:
        data = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return None
    times = [
        max(op["time"] for op in a["ops"] if isinstance(op.get("time"), int)) / 1e9
        for r in data.get("checkers", {}).values()
        for a in r.get("anomalies", [])
        if any(isinstance(op.get("time"), int) for op in a.get("ops", []))
    ]
    return min(times) if times else None


def shrink(
    run_dir: Path,
    *,
    results_root: Path,
    tries: int = 3,
    budget: Budget | None = None,
    out: Any = sys.stderr,
    runner: Runner | None = None,
) -> dict[str, Any]:
    """Shrink a failing run; returns what ``shrink.json`` holds. ConfigError (exit 3) when the
    run is not a failing run with faults."""
    spec = as_run(run_dir)
    if _verdict(run_dir) is not False:
        raise ConfigError(str(run_dir), None, "", "not a failing run (results.json: valid is "
                          "not false); shrink starts from an invalid run")  # fmt: skip
    infos = [lookup(FaultInfo, k, "fault") for k in fault_options(spec.nemesis)]
    eps = episodes(steps_of(run_dir, spec), infos)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = results_root / "_shrink" / f"{spec.name}-{stamp}"
    folder.mkdir(parents=True, exist_ok=False)
    logfile = (folder / "log.txt").open("a")

    def log(line: str) -> None:
        print(line, file=out, flush=True)
        print(line, file=logfile, flush=True)

    budget = budget or Budget()
    log(f"shrinking {run_dir}: {len(eps)} fault(s) in {spec.time_limit:.0f} s, seed {spec.seed}")
    evidence = first_evidence(run_dir)
    s = Shrinker(
        spec,
        eps,
        runner or subprocess_runner(folder, results_root, log),
        tries=tries,
        budget=budget,
        log=log,
        evidence=evidence,
    )
    best = s.search()
    shrunk = candidate(spec, best.eps, best.time_limit)
    note = (
        f"shrunk from {run_dir} ({len(eps)} faults, {spec.time_limit:.0f} s) by splitbrain "
        f"shrink: {len(best.eps)} fault(s), {best.time_limit:.1f} s; failed {best.failed} of "
        f"{best.runs} run(s) when tried\nreplay: splitbrain run {folder / 'shrunk.yaml'}"
    )
    (folder / "shrunk.yaml").write_text(suite_text(shrunk, note))
    summary = {
        "run": str(run_dir),
        "from": {"faults": len(eps), "time_limit": spec.time_limit},
        "to": {
            "faults": [e.describe() for e in best.eps],
            "time_limit": best.time_limit,
            "failed": best.failed,
            "runs": best.runs,
            "runs_dirs": best.dirs,
        },
        "runs_used": budget.used,
        "minutes": round((time.monotonic() - budget.started) / 60, 1),
        "replay": f"splitbrain run {folder / 'shrunk.yaml'}",
    }
    (folder / "shrink.json").write_text(json.dumps(summary, indent=2) + "\n")
    if best.runs == 0:
        log("no smaller schedule was tried that failed: shrunk.yaml is the run's own schedule")
    log(f"smallest failing schedule: {len(best.eps)} fault(s) in {best.time_limit:.1f} s "
        f"(failed {best.failed} of {best.runs} run(s)); {budget.used} runs used")  # fmt: skip
    for e in best.eps:
        log(f"  {e.describe()}")
    log(f"replay it: {summary['replay']}")
    logfile.close()
    return summary
