"""A pytest plugin: ``pytest suites/`` collects suite YAML files, one test item per test of the
suite, so ``-k``, ``-m``, ``--junitxml``, ``-x`` and the rest of pytest's habits work for
chaos suites.

    pytest suites/smoke.yaml -k raft --junitxml=chaos.xml --sb-time-limit 30

Only paths named on the command line are searched: a bare ``pytest`` (the project's own test
run, from ``testpaths``) never collects a suite, so running the unit tests never starts a
cluster. A YAML file is a suite if it is a mapping with a ``tests`` list; other YAML files (CI
configs, ...) are left alone. Every item carries the ``cluster`` marker (``-m "not cluster"``
deselects them all).

An item passes when the run meets its expectation (``expect`` in the suite, see
``harness.expect``): valid by default, invalid for a test with seeded bugs or ``expect:
invalid`` (a known-invalid test that is still invalid passes; one that turns valid fails: the
bug it guards may no longer be reachable). A failure shows the anomaly summary, the verdict
against the expectation, the anomalies, the report and the command that runs it again; an
unknown verdict or a setup that failed also fail (a chaos test that could not decide did not
pass). The seed, run directory, report path, verdict and expectation are recorded as JUnit
properties.

pytest-xdist (``pytest suites/ -n 4``) runs items side by side: each run has its own
cluster (prefix, bridge, lock) and its own run directory, as ``splitbrain run --jobs`` does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ChaosTestFailed", "SuiteFile", "SuiteItem"]


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("splitbrain", "splitbrain chaos suites (YAML files given as paths)")
    g.addoption("--sb-results", default="results", metavar="DIR",
                help="results root for chaos runs (default ./results)")  # fmt: skip
    g.addoption("--sb-time-limit", type=float, metavar="S", help="seconds of workload per test")
    g.addoption("--sb-seed", type=int, metavar="N", help="the random seed (replays a run)")
    g.addoption("--sb-bug", action="append", default=[], metavar="NAME",
                help="turn on a named seeded bug (repeatable)")  # fmt: skip
    g.addoption(
        "--sb-cluster", help="override the backend (a registered one: splitbrain list shows them)"
    )
    g.addoption("--sb-nodes", type=int, metavar="N", help="override the node count")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: starts real network namespaces, processes and iptables rules"
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if parent.config.args_source != pytest.Config.ArgsSource.ARGS:
        return None  # only suites named on the command line, never from testpaths
    if not _is_suite(file_path):
        return None
    return SuiteFile.from_parent(parent, path=file_path)  # type: ignore[no-any-return]


def _is_suite(path: Path) -> bool:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # not ours to judge; `splitbrain run` names what is wrong
    return isinstance(data, dict) and isinstance(data.get("tests"), list)


class SuiteFile(pytest.File):
    """A suite file: one item per test, validated as ``splitbrain run`` validates it."""

    def collect(self) -> Any:
        from harness.config import ConfigError, load_suite

        try:  # named as the user named it, relative to where pytest was started
            suite = load_suite(os.path.relpath(self.path, self.config.invocation_params.dir))
        except ConfigError as e:
            raise self.CollectError(str(e)) from None
        for spec in suite.tests:
            item = SuiteItem.from_parent(self, name=spec.name, spec=spec, suite=suite.name)
            item.add_marker(pytest.mark.cluster)
            yield item


class ChaosTestFailed(Exception):
    """A run that was not valid; the message is the verdict a person reads."""


class SuiteItem(pytest.Item):
    """One test of a suite: a real chaos run through ``harness.run.run_test``."""

    def __init__(self, *, spec: Any, suite: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.spec = spec
        self.suite = suite

    def runtest(self) -> None:
        from harness import run as harness_run
        from harness.config import override

        opts = self.config.option
        from harness import registry

        backend = registry.backends().get(opts.sb_cluster or self.spec.cluster.backend)
        if os.geteuid() != 0 and backend is not None and backend.needs_root:
            raise ChaosTestFailed(f"SETUP FAILED: the {backend.name} cluster needs root "
                                  "(network namespaces, iptables); run pytest as root")  # fmt: skip
        spec = override(
            self.spec,
            backend=opts.sb_cluster,
            nodes=opts.sb_nodes,
            time_limit=opts.sb_time_limit,
            seed=opts.sb_seed,
            bugs=opts.sb_bug,
        )
        from harness.nightly import repo_relative

        suite_path = repo_relative(os.path.relpath(self.path, self.config.invocation_params.dir))
        results_root = Path(opts.sb_results)
        if not results_root.is_absolute():
            results_root = self.config.invocation_params.dir / results_root
        outcome = harness_run.run_test(spec, results_root=results_root, suite_path=suite_path)
        r = outcome.results
        self.user_properties.append(("seed", str(r.get("seed", ""))))
        if outcome.run_dir is not None:
            self.user_properties.append(("run_dir", str(outcome.run_dir)))
            report = outcome.run_dir / "report.html"
            if report.exists():
                self.user_properties.append(("report", str(report)))
        self.user_properties.append(("rerun", str(r.get("rerun", ""))))
        from harness.expect import (
            anomaly_kinds,
            expectation,
            judge,
            verdict_word,
            why_not_decided,
        )

        expected = expectation(spec.expect, spec.system.bugs)
        found = r if isinstance(r, dict) else {}
        judged = judge(expected, outcome.valid, anomaly_kinds(found), why_not_decided(found))
        self.user_properties.append(("verdict", verdict_word(outcome.valid)))
        self.user_properties.append(("expect", str(expected)))
        if judged.passed:
            return
        raise ChaosTestFailed(_failure_text(outcome, f"expected {expected}: {judged.reason}"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ChaosTestFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.suite}::{self.name}"


def _failure_text(outcome: Any, judged: str) -> str:
    from harness.expect import anomaly_summary

    r = outcome.results
    if outcome.valid is None:
        lines = [f"SETUP FAILED: {r.get('error', 'the test could not be set up')}"]
    else:
        word = {True: "VALID", False: "INVALID"}.get(outcome.valid, "UNKNOWN")
        c = r.get("op_counts") or {}
        lines = [
            anomaly_summary(r),
            f"{word} ({c.get('ok', 0)} ok, {c.get('fail', 0)} fail, {c.get('info', 0)} info); "
            f"{judged}",
        ]
        for name, cr in (r.get("checkers") or {}).items():
            v = cr.get("valid")
            if v is True:
                continue
            reason = (cr.get("details") or {}).get("reason")
            lines.append(f"  {name}: {'INVALID' if v is False else 'unknown'}"
                         + (f" ({reason})" if reason else ""))  # fmt: skip
            for a in (cr.get("anomalies") or [])[:3]:
                text = str(a.get("explanation", "")).strip().replace("\n", "\n      ")
                lines.append(f"    - {a.get('name')}: {text}")
    if outcome.run_dir is not None:
        report = outcome.run_dir / "report.html"
        lines.append(f"  report: {report if report.exists() else outcome.run_dir}")
    lines.append(f"  run again: {r.get('rerun', '')}")
    return "\n".join(lines)
