"""bench/detection_table.py's plan covers every seeded bug of every reference pattern, each
with a suite that runs the system that has it: the detection table cannot leave a bug out."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from harness import registry
from harness.config import load_suite

ROOT = Path(__file__).resolve().parents[2]


def _plan() -> dict[str, tuple[str, ...]]:
    spec = importlib.util.spec_from_file_location(
        "detection_table", ROOT / "bench/detection_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PLAN  # type: ignore[no-any-return]


def test_the_plan_names_every_seeded_bug_once() -> None:
    plan = _plan()
    planned = [b for bugs in plan.values() for b in bugs]
    assert len(planned) == len(set(planned))
    seeded = {b for info in registry.systems().values() for b in info.bugs}
    assert seeded and seeded == set(planned)


def test_each_bug_is_run_by_a_suite_of_its_system() -> None:
    systems = registry.systems()
    for suite, bugs in _plan().items():
        names = {t.system.name for t in load_suite(ROOT / suite).tests}
        for bug in bugs:
            assert any(bug in systems[n].bugs for n in names), (suite, bug)
