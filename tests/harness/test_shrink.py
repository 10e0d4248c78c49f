"""The shrinking search, on a runner that stands in for real runs (pure logic: which
candidates it tries and what it keeps). Real runs: tests/e2e/test_replay_shrink.py."""

from __future__ import annotations

from harness.shrink import Budget, Shrinker
from harness.spec import NemesisSpec, Step, TestSpec
from nemesis.replay import Episode


def ep(at: float, f: str, value: object, heal: str) -> Episode:
    return Episode(Step(at, f, value), Step(at + 3, heal, None))


EPS = [
    ep(1, "start-partition", {"n1": ["n2"]}, "stop-partition"),
    ep(5, "kill", ["n1", "n2", "n3"], "start"),
    ep(9, "pause", ["n4"], "resume"),
    ep(13, "kill", ["n4", "n5"], "start"),
    ep(17, "start-partition", {"n3": ["n1"]}, "stop-partition"),
    ep(21, "pause", ["n1", "n2"], "resume"),
]
SPEC = TestSpec(name="t", time_limit=30, nemesis=NemesisSpec(interval=3))


def bug_needs_n2_killed(spec: TestSpec, tries: int) -> tuple[int, int, list[str]]:
    """Fails (once in its tries) iff n2 is killed before 12 s and the run lasts past 9 s."""
    steps = spec.nemesis.schedule or ()
    hit = any(s.f == "kill" and "n2" in s.value and s.at < 12 for s in steps)
    if hit and spec.time_limit > 9:
        return 1, 2, ["results/t/x"]
    return 0, tries, []


def test_it_keeps_the_one_fault_that_matters_on_the_one_node_that_matters() -> None:
    lines: list[str] = []
    s = Shrinker(SPEC, EPS, bug_needs_n2_killed, tries=3, budget=Budget(runs=200), log=lines.append)
    best = s.search()
    assert [(e.start.f, e.start.value) for e in best.eps] == [("kill", ["n2"])]
    assert best.time_limit < 15
    assert best.failed == 1 and best.runs == 2
    assert any(line.startswith("FAILS") for line in lines)


def test_the_first_evidence_cuts_the_faults_after_it_first() -> None:
    tried: list[int] = []

    def runner(spec: TestSpec, tries: int) -> tuple[int, int, list[str]]:
        tried.append(len(spec.nemesis.schedule or ()))
        return bug_needs_n2_killed(spec, tries)

    s = Shrinker(SPEC, EPS, runner, tries=1, budget=Budget(runs=200), log=lambda _: None,
                 evidence=10.0)  # fmt: skip
    s.search()
    assert tried[0] == 2 * 3  # the three episodes that started before 10 s, start and heal


def test_the_budget_stops_the_search_with_the_best_so_far() -> None:
    s = Shrinker(SPEC, EPS, bug_needs_n2_killed, tries=3, budget=Budget(runs=4), log=lambda _: None)
    best = s.search()
    assert s.budget.used <= 4
    assert any(e.start.f == "kill" and "n2" in e.start.value for e in best.eps)


def test_nothing_fails_keeps_the_original_schedule() -> None:
    def never(spec: TestSpec, tries: int) -> tuple[int, int, list[str]]:
        return 0, tries, []

    s = Shrinker(SPEC, EPS, never, tries=2, budget=Budget(runs=100), log=lambda _: None)
    best = s.search()
    assert best.eps == EPS and best.runs == 0
