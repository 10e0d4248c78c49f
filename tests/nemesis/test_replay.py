"""Recording a run's faults as steps and giving them back: pure logic on hand-made
histories (the end-to-end replay is in tests/e2e/test_replay_shrink.py)."""

from __future__ import annotations

import random

from harness.generator import Context, Wait
from harness.history import Op
from harness.registry import FaultInfo, lookup
from harness.spec import FaultSpec, NemesisSpec, Step
from nemesis.replay import episodes, flatten, next_step, recorded, steps_generator

INFOS = {k: lookup(FaultInfo, k, "fault") for k in ("partition", "kill", "clock")}


def nem(i: int, t: float, type_: str, f: str, value: object) -> Op:
    return Op(index=i, time=int(t * 1e9), type=type_, process="nemesis", f=f, value=value)


HISTORY = [
    nem(0, 1.0, "invoke", "kill", "one"),
    Op(index=1, time=1_100_000_000, type="invoke", process=0, f="read", value=None),
    nem(2, 1.2, "ok", "kill", ["n3"]),
    nem(3, 4.0, "invoke", "start", None),
    nem(4, 4.3, "ok", "start", ["n3"]),
    nem(5, 5.0, "invoke", "start-partition", "halves"),
    nem(6, 5.1, "ok", "start-partition", {"shape": "halves", "grudge": {"n1": ["n2"]}}),
    nem(7, 8.0, "invoke", "stop-partition", None),
    nem(8, 8.1, "ok", "stop-partition", "healed"),
    nem(9, 9.0, "invoke", "bump-clock", {"nodes": "one", "delta_ms": 500}),
    nem(10, 9.1, "ok", "bump-clock", {"n4": 0.5}),
    nem(11, 10.0, "invoke", "kill", "leader"),
    nem(12, 10.1, "fail", "kill", "leader"),
    nem(13, 12.0, "invoke", "reset-clock", None),  # after the time limit: the final heal
    nem(14, 12.1, "ok", "reset-clock", {"n4": 0.0}),
]


def test_each_start_is_pinned_to_what_it_did_and_a_failed_start_is_left_out() -> None:
    steps = recorded(HISTORY, INFOS.values(), until=11.0)
    assert steps == [
        Step(1.0, "kill", ["n3"]),
        Step(4.0, "start", None),
        Step(5.0, "start-partition", {"n1": ["n2"]}),
        Step(8.0, "stop-partition", None),
        Step(9.0, "bump-clock", {"nodes": ["n4"], "delta_ms": 500}),
    ]


def test_episodes_pair_each_start_with_its_heal_and_flatten_back() -> None:
    steps = recorded(HISTORY, INFOS.values(), until=11.0)
    eps = episodes(steps, INFOS.values())
    assert [(e.start.f, e.heal.f if e.heal else None) for e in eps] == [
        ("kill", "start"),
        ("start-partition", "stop-partition"),
        ("bump-clock", None),
    ]
    assert flatten(eps) == steps
    assert flatten([eps[1]]) == steps[2:4]
    assert eps[0].describe() == "kill [n3] at 1.0 s, healed at 4.0 s"


def test_the_steps_generator_waits_for_each_step_time() -> None:
    gen = steps_generator([Step(2.0, "start", None), Step(1.0, "kill", ["n1"])])
    ctx = Context(time=0.5, thread="nemesis", process="nemesis", rng=random.Random(1))
    assert gen.op(ctx) == Wait(1.0)
    ctx.time = 1.0
    assert gen.op(ctx) == {"f": "kill", "value": ["n1"]}
    assert gen.op(ctx) == Wait(2.0)
    ctx.time = 2.5
    assert gen.op(ctx) == {"f": "start", "value": None}
    assert gen.op(ctx) is None


def test_next_step_is_the_heal_owed_or_the_next_kind_in_turn() -> None:
    spec = NemesisSpec(faults=(FaultSpec("kill"), FaultSpec("partition")), quiet=1, interval=3)
    started = [Step(1.0, "kill", ["n1"])]
    assert next_step(spec, started, INFOS) == {"f": "start", "at": 4.0}
    healed = [*started, Step(4.0, "start", None)]
    assert next_step(spec, healed, INFOS) == {
        "kind": "partition",
        "f": "start-partition",
        "at": 5.0,
    }
