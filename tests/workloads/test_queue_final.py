"""The queue workload's final phase: every worker drains, and no audit is asked for while any
drain is still in flight (an audit taken mid-drain would count messages as still queued)."""

from __future__ import annotations

import random

from harness.generator import Context, Wait
from harness.registry import NoOptions
from harness.spec import WorkloadSpec
from workloads.queue import queue_generators


def ctx(thread: int, busy: frozenset[int] = frozenset()) -> Context:
    return Context(
        time=0.0, thread=thread, process=thread, rng=random.Random(1), threads=(0, 1, 2), busy=busy
    )


def f_of(op: object) -> str:
    assert isinstance(op, dict), op
    return str(op["f"])


def test_audits_start_only_once_every_drain_is_done() -> None:
    spec = WorkloadSpec(name="queue", concurrency=3, mix={"enqueue": 1.0})
    _, final = queue_generators(spec, NoOptions())
    assert final is not None
    assert [f_of(final.op(ctx(t))) for t in (0, 1, 2)] == ["drain"] * 3
    # thread 0's drain is done, thread 2's is still running: thread 0 must wait, not audit
    assert isinstance(final.op(ctx(0, busy=frozenset({2}))), Wait)
    assert isinstance(final.op(ctx(1, busy=frozenset({2}))), Wait)
    assert f_of(final.op(ctx(2))) == "audit"
    assert f_of(final.op(ctx(0))) == "audit"
    assert f_of(final.op(ctx(1))) == "audit"
    # nothing more: each worker is told the phase is over once all three have asked
    rest = [final.op(ctx(t)) for t in (0, 1, 2, 0, 1, 2)]
    assert all(r is None or isinstance(r, Wait) for r in rest) and rest[-3:] == [None] * 3
