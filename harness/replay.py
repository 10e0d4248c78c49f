"""A run again with the same faults: ``splitbrain run SUITE --replay RUN_DIR``.

The run's ``spec.yaml`` is the test as it ran, and its history holds every fault the nemesis
made (``nemesis.replay.recorded``). A replay takes the suite's test of the same name with the
run's seed (the clients draw the same operations), time limit, nodes and seeded bugs, and the
run's faults as an explicit schedule (``nemesis.schedule``): the same fault, to the same
nodes, at the same moment after time zero. The suite's system and workload settings are its
own, so a replay also tells whether a fix holds against the schedule that found the bug.

Runs are not deterministic (threads, the kernel, the system's own timers): a replay makes the
same faults and the same requests, not the same interleaving, so a failure it replays shows
again most of the time, not every time. ``splitbrain shrink`` therefore runs each candidate
several times.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import yaml

from harness.config import ConfigError, parse_suite
from harness.history import Op, read_jsonl
from harness.registry import FaultInfo, lookup
from harness.spec import Step, TestSpec, fault_options
from harness.store import spec_to_dict, write_atomic
from nemesis.replay import next_step, recorded

__all__ = ["as_run", "replayed", "schedule_of", "steps_of", "suite_text", "write_schedule"]

log = logging.getLogger(__name__)


def as_run(run_dir: Path) -> TestSpec:
    """The test exactly as it ran, from the run's ``spec.yaml``; ConfigError if the folder is
    not a run or its spec no longer reads (a system or fault no longer registered)."""
    path = run_dir / "spec.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(str(path), None, "", f"cannot read the run's spec: {e}") from None
    if not isinstance(data, dict) or "name" not in data:
        raise ConfigError(str(path), None, "", "not a run's spec.yaml (expected a test mapping)")
    fields = {f.name for f in dataclasses.fields(TestSpec)}
    test = {k: v for k, v in data.items() if k in fields}
    return parse_suite(suite_text(test), source=str(path)).tests[0]


def steps_of(run_dir: Path, spec: TestSpec) -> list[Step]:
    """The fault steps the run in ``run_dir`` made before its time limit."""
    path = run_dir / "history.jsonl"
    try:
        history = read_jsonl(path)
    except OSError as e:
        raise ConfigError(str(path), None, "", f"cannot read the run's history: {e}") from None
    return recorded(history, list(_fault_infos(spec).values()), until=spec.time_limit)


def schedule_of(spec: TestSpec, history: list[Op]) -> dict[str, Any]:
    """What ``schedule.json`` holds: the steps, and what the rotation would have done next."""
    infos = _fault_infos(spec)
    steps = recorded(history, list(infos.values()), until=spec.time_limit)
    return {
        "steps": [dataclasses.asdict(s) for s in steps],
        "next": next_step(spec.nemesis, steps, infos),
        "explicit": spec.nemesis.schedule is not None,
    }


def write_schedule(run_dir: Path, spec: TestSpec, history: list[Op]) -> None:
    """``schedule.json`` of a finished run from its spec and history, as the run holds them:
    its fault steps (what ``--replay`` and ``shrink`` give back) and what the rotation would
    have done next; best effort, like the report: a schedule that cannot be made or written
    leaves none, and a warning in the run's log."""
    try:
        data = schedule_of(spec, history)
        write_atomic(run_dir / "schedule.json", json.dumps(data, indent=1) + "\n")
    except (ConfigError, OSError, ValueError) as e:
        log.warning("no schedule.json: %s", e)


def _fault_infos(spec: TestSpec) -> dict[str, FaultInfo]:
    return {k: lookup(FaultInfo, k, "fault") for k in fault_options(spec.nemesis)}


def replayed(test: TestSpec, run_dir: Path) -> TestSpec:
    """``test`` (the suite's) with the run's seed, time limit, cluster size, bugs and fault
    schedule. ConfigError when the run is of another test."""
    ran = as_run(run_dir)
    if ran.name != test.name:
        raise ConfigError(
            str(run_dir), None, "", f"the run is of test {ran.name!r}, not {test.name!r}"
        )
    steps = tuple(steps_of(run_dir, ran))
    r = dataclasses.replace
    return r(
        test,
        seed=ran.seed,
        time_limit=ran.time_limit,
        cluster=r(test.cluster, nodes=ran.cluster.nodes),
        system=r(test.system, bugs=ran.system.bugs),
        nemesis=r(ran.nemesis, schedule=steps),
    )


def suite_text(test: TestSpec | dict[str, Any], note: str = "") -> str:
    """A suite file of one test, with ``note`` as its header comment."""
    head = "".join(f"# {line}\n" for line in note.splitlines())
    data = spec_to_dict(test) if isinstance(test, TestSpec) else test
    return head + yaml.safe_dump({"suite": "replay", "tests": [data]}, sort_keys=False)
