"""The set workload: unique adds at the offered rate, then one final read per thread."""

from __future__ import annotations

import random

from harness.generator import Context, Wait
from harness.registry import NoOptions
from harness.spec import WorkloadSpec
from workloads.set import SET


def ctx(thread: int, t: float = 0.0) -> Context:
    return Context(time=t, thread=thread, process=thread, rng=random.Random(3))


def test_adds_are_unique_integers_and_each_thread_reads_once_at_the_end() -> None:
    main, final = SET.generators(WorkloadSpec(name="set", rate=0), NoOptions())
    assert [main.op(ctx(i % 3)) for i in range(4)] == [{"f": "add", "value": v} for v in range(4)]
    assert final is not None
    assert [final.op(ctx(t)) for t in (0, 1, 0)] == [
        {"f": "read", "value": None}, {"f": "read", "value": None}, None,
    ]  # fmt: skip
    assert SET.checkers == ("set", "stats")


def test_a_rate_spaces_the_adds() -> None:
    main, _ = SET.generators(WorkloadSpec(name="set", rate=10), NoOptions())
    assert main.op(ctx(0, 0.0)) == {"f": "add", "value": 0}
    assert isinstance(main.op(ctx(1, 0.0)), Wait | dict)
