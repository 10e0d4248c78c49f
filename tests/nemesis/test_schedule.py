"""The fault kinds from the registry: their options, the schedule they make, the heals owed, and
a test's nemesis made from them; a kind no entry point registers works the same way."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from clusters.base import Cluster, SetupError
from harness.generator import Context, Generator, Wait
from harness.history import Op
from harness.registry import FaultInfo, OptionError, declared, faults, option, parse_options
from harness.report import fault_kinds
from harness.report._model import fault_bands, intervals, page_data
from harness.spec import NemesisSpec
from nemesis.clock import ClockOptions
from nemesis.compose import for_test
from nemesis.partition import SHAPES, LossNemesis, LossOptions, PartitionNemesis
from nemesis.process import TARGETS, KillOptions, PauseOptions
from nemesis.schedule import final_heal, heals_owed, schedule

SPEC = NemesisSpec(quiet=1.0, interval=2.0, recovery=3.0)


def ops(gen: Generator | None, n: int, seed: int = 7) -> list[tuple[float, str, Any]]:
    """The first ``n`` ops ``gen`` gives the nemesis thread, with the time each was given,
    waiting as long as it asks."""
    assert gen is not None
    out: list[tuple[float, str, Any]] = []
    now, rng = 0.0, random.Random(seed)
    while len(out) < n:
        r = gen.op(Context(now, "nemesis", "nemesis", rng))
        if r is None:
            break
        if isinstance(r, Wait):
            now = r.until
            continue
        out.append((now, r["f"], r["value"]))
    return out


def defaults(*names: str) -> dict[str, Any]:
    return {name: faults()[name].options() for name in names}


# -- the built-in kinds ---------------------------------------------------------------------------


def test_every_built_in_kind_is_registered_with_its_ops_options_and_colour() -> None:
    kinds = faults()
    assert set(kinds) >= {"partition", "loss", "kill", "pause", "clock"}
    assert (kinds["partition"].starts, kinds["partition"].heal) == (
        ("start-partition",),
        "stop-partition",
    )
    assert (kinds["loss"].starts, kinds["loss"].heal) == (("start-loss",), "stop-loss")
    assert kinds["clock"].starts == ("bump-clock", "strobe-clock")
    ops_ = [f for info in kinds.values() for f in (*info.starts, info.heal)]
    assert len(ops_) == len(set(ops_)), "two kinds claim one op"
    assert len({info.color for info in kinds.values()}) == len(kinds)


def test_the_options_have_the_declared_defaults_and_one_list_of_choices_each() -> None:
    shapes = {o.name: o for o in declared(faults()["partition"].options)}["shapes"]
    assert shapes.default == ("one", "halves", "majorities-ring", "bridge", "leader")
    assert shapes.choices == SHAPES
    assert KillOptions().targets == ("one", "majority", "primaries")
    assert PauseOptions().targets == ("one", "primaries")
    assert declared(KillOptions)[0].choices == TARGETS == declared(PauseOptions)[0].choices
    assert faults()["clock"].options().max_ms == 60_000
    assert LossOptions().probability == 0.2
    with pytest.raises(OptionError, match="triangle"):
        parse_options(faults()["partition"].options, {"shapes": ["triangle"]}, "partition")
    with pytest.raises(OptionError, match="probability"):
        parse_options(LossOptions, {"probability": 1.5}, "loss")


def test_shapes_and_targets_rotate_in_the_order_given_and_each_start_is_healed() -> None:
    options = defaults("partition", "kill")
    options["kill"] = parse_options(KillOptions, {"targets": ["majority", "one"]}, "kill")
    got = ops(schedule(SPEC, options), 12)
    assert [(f, v) for _, f, v in got] == [
        ("start-partition", "one"), ("stop-partition", None),
        ("kill", "majority"), ("start", None),
        ("start-partition", "halves"), ("stop-partition", None),
        ("kill", "one"), ("start", None),
        ("start-partition", "majorities-ring"), ("stop-partition", None),
        ("kill", "majority"), ("start", None),
    ]  # fmt: skip
    # quiet, start, interval, heal: one kind every quiet + interval seconds
    assert [t for t, _, _ in got[:6]] == [1.0, 3.0, 4.0, 6.0, 7.0, 9.0]


def test_clock_offsets_come_from_the_seeded_random_and_a_strobe_lasts_the_interval() -> None:
    options: dict[str, Any] = {"clock": ClockOptions(max_ms=500)}
    first = ops(schedule(SPEC, options), 20, seed=3)
    assert first == ops(schedule(SPEC, options), 20, seed=3)
    starts = [(f, v) for _, f, v in first if f != "reset-clock"]
    assert {f for f, _ in starts} == {"bump-clock", "strobe-clock"}
    for f, v in starts:
        assert v["nodes"] == "one" and abs(v["delta_ms"]) <= 500
        if f == "strobe-clock":
            assert (v["period_ms"], v["duration_ms"]) == (200, 2000)
    assert [f for _, f, _ in first[1::2]] == ["reset-clock"] * 10


def test_loss_has_its_probability_and_its_own_heal() -> None:
    options = {"loss": LossOptions(probability=0.5)}
    assert [(f, v) for _, f, v in ops(schedule(SPEC, options), 2)] == [
        ("start-loss", {"probability": 0.5}),
        ("stop-loss", None),
    ]


def test_no_fault_is_no_schedule_and_the_final_heal_heals_each_kind_once_then_waits() -> None:
    assert schedule(SPEC, {}) is None and final_heal(SPEC, {}) is None
    heal = final_heal(SPEC, defaults("pause", "clock", "partition"))
    assert heal is not None
    ctx = Context(0.0, "nemesis", "nemesis", random.Random(0))
    assert [heal.op(ctx) for _ in range(4)] == [
        {"f": "resume", "value": None},
        {"f": "reset-clock", "value": None},
        {"f": "stop-partition", "value": None},
        Wait(3.0),  # then the recovery
    ]
    assert heal.op(Context(3.0, "nemesis", "nemesis", ctx.rng)) is None


def nem(type_: str, f: str, value: object = None) -> Op:
    return Op(type_, f, value, process="nemesis")


def test_the_heals_owed_are_those_of_starts_not_healed_since_in_heal_rank_order() -> None:
    kinds = faults().values()
    history = [
        nem("invoke", "kill", "one"), nem("ok", "kill", ["n1"]),
        nem("invoke", "start-partition", "one"), nem("info", "start-partition", None),
        nem("invoke", "bump-clock"), nem("fail", "bump-clock"),
        nem("invoke", "start-loss"), nem("ok", "start-loss"),
        nem("invoke", "stop-loss"), nem("ok", "stop-loss"),
        nem("invoke", "pause", "one"),  # never completed: it may have taken effect
    ]  # fmt: skip
    assert heals_owed(history, kinds) == ["resume", "stop-partition", "start"]
    assert heals_owed(history[:2] + [nem("invoke", "start"), nem("ok", "start")], kinds) == []


# -- a kind no entry point registers ---------------------------------------------------------------


@dataclass(frozen=True)
class FloodOptions:
    rates: tuple[int, ...] = option((10, 20), "packets per second, taken in turn", minimum=1)


class FloodNemesis:
    fs = frozenset({"start-flood", "stop-flood"})

    def __init__(self, options: FloodOptions, system: object) -> None:
        self.options, self.system = options, system
        self.seen: list[str] = []

    def setup(self, cluster: Cluster) -> None:
        self.seen.append("setup")

    def invoke(self, op: Op) -> Op:
        self.seen.append(op.f)
        return op.complete("ok", op.value)

    def teardown(self) -> None:
        self.seen.append("teardown")


FLOOD = FaultInfo(
    name="flood",
    description="flood the nodes",
    make=lambda options, rng, system: FloodNemesis(options, system),
    starts=("start-flood",),
    heal="stop-flood",
    pick=lambda options, turn, rng, interval: (
        "start-flood",
        {"rate": options.rates[turn % len(options.rates)], "for": interval},
    ),
    options=FloodOptions,
    color="rgb(1,2,3)",
)


def test_a_kind_known_only_to_the_test_is_made_scheduled_and_healed_at_the_end() -> None:
    infos = {"flood": FLOOD, "partition": faults()["partition"]}
    options = {"flood": FloodOptions(rates=(5, 6)), "partition": None}
    system = object()
    nemesis = for_test(options, random.Random(1), system, infos)
    assert nemesis.fs == {"start-flood", "stop-flood", "start-partition", "stop-partition"}
    flood, partition = nemesis.parts
    assert isinstance(flood, FloodNemesis) and flood.system is system
    assert isinstance(partition, PartitionNemesis) and partition.system is system

    got = [(f, v) for _, f, v in ops(schedule(SPEC, options, infos), 6)]
    assert got == [
        ("start-flood", {"rate": 5, "for": 2.0}), ("stop-flood", None),
        ("start-partition", "one"), ("stop-partition", None),
        ("start-flood", {"rate": 6, "for": 2.0}), ("stop-flood", None),
    ]  # fmt: skip
    assert [f for _, f, _ in ops(final_heal(SPEC, options, infos), 5)] == [
        "stop-flood",
        "stop-partition",
    ]
    history = [nem("invoke", "start-flood", 5), nem("ok", "start-flood", 5)]
    assert heals_owed(history, infos.values()) == ["stop-flood"]
    assert nemesis.invoke(nem("invoke", "stop-flood")).type == "ok"
    assert flood.seen == ["stop-flood"]


def test_a_kind_known_only_to_the_test_is_drawn_in_its_colour_in_the_report() -> None:
    t = iter(range(0, 10**9, 10**6))
    history = [
        {**nem(type_, f, v).to_dict(), "index": i, "time": next(t)}
        for i, (type_, f, v) in enumerate([
            ("invoke", "start-flood", {"rate": 5}), ("ok", "start-flood", {"rate": 5}),
            ("invoke", "stop-flood", None), ("ok", "stop-flood", None),
            ("invoke", "start-partition", "one"), ("ok", "start-partition", None),
        ])
    ]  # fmt: skip
    kinds = fault_kinds([FLOOD, faults()["partition"]])
    ivs = intervals(history)
    bands = fault_bands(ivs, 10**9, kinds)
    assert [(b.kind, b.end is not None, b.color) for b in bands] == [
        ("flood", True, "rgb(1,2,3)"),
        ("partition", False, faults()["partition"].color),
    ]
    drawn = page_data(ivs, bands, 10**9, [])["bands"][0]
    assert (drawn["kind"], drawn["color"], drawn["ink"]) == ("flood", "rgb(1,2,3)", "#000102")


def test_a_kind_without_pick_starts_with_its_first_op_and_no_value() -> None:
    bare = FaultInfo("bare", "", lambda o, r, s: None, ("start-bare", "other"), "stop-bare")
    got = ops(schedule(SPEC, {"bare": None}, {"bare": bare}), 2)
    assert [(f, v) for _, f, v in got] == [("start-bare", None), ("stop-bare", None)]


def test_partition_and_loss_are_two_nemeses_that_compose() -> None:
    nemesis = for_test(defaults("partition", "loss"), random.Random(1), object())
    partition, loss = nemesis.parts
    assert isinstance(partition, PartitionNemesis) and isinstance(loss, LossNemesis)
    assert loss.loss == 0.2


def test_a_kind_the_system_cannot_take_fails_when_the_nemesis_is_made() -> None:
    with pytest.raises(SetupError, match="Killable"):
        for_test(defaults("kill"), random.Random(1), object())
