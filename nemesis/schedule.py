"""When faults happen: the nemesis generator built from a suite's ``nemesis`` section.

The schedule takes the test's fault kinds in turn — quiet, start a fault, let it last, heal
it — so that every kind is exercised in every run that lasts one round
(``len(faults) * (quiet + interval)`` seconds). What each start op is comes from the kind's
``FaultInfo.pick`` (the registry): partition shapes and kill / pause targets rotate in the
order the suite lists them, so the suite author decides what a short run is sure to cover (put
the shape a bug needs first); clock offsets are drawn from the nemesis thread's seeded random
source, so a seed replays the same schedule.

Every function takes the test's fault kinds as ``fault_options``, a mapping from each kind's
name (in the suite's order) to its options instance, and looks the kinds up in the registry;
``infos`` gives them instead (a kind that no entry point registers, in a test).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.generator import Context, Generator, cycle, once, seq, sleep
from harness.history import Op
from harness.registry import FaultInfo, lookup, parse_options
from harness.spec import NemesisSpec
from nemesis.replay import steps_generator

__all__ = ["fault_infos", "final_heal", "heal_of", "heals_owed", "schedule"]


def schedule(
    spec: NemesisSpec,
    fault_options: Mapping[str, Any],
    infos: Mapping[str, FaultInfo] | None = None,
) -> Generator | None:
    """The main-phase nemesis generator (quiet, interval from ``spec``; or the explicit steps of
    ``spec.schedule``), or None when the test has no fault."""
    kinds = fault_infos(fault_options, infos)
    if not kinds:
        return None
    if spec.schedule is not None:  # explicit steps: a replay, or a shrunk schedule
        return steps_generator(spec.schedule)
    options = {name: _options(info, fault_options[name]) for name, info in kinds.items()}
    turns: dict[str, int] = {}
    # the suite's list, repeats included (``[clock, pause, clock]``: a clock fault twice a
    # round, the turns of one kind counted across its places)
    order = [f.name for f in spec.faults if f.name in kinds]
    if set(order) != set(kinds):  # options for kinds the spec does not list: theirs is the order
        order = list(kinds)

    def round_() -> list[Generator]:
        gens: list[Generator] = []
        for name in order:
            info = kinds[name]
            start = _Start(info, options[name], turns, spec.interval)
            gens += [sleep(spec.quiet), start, sleep(spec.interval), once(info.heal)]
        return gens

    return cycle(round_)


def final_heal(
    spec: NemesisSpec,
    fault_options: Mapping[str, Any],
    infos: Mapping[str, FaultInfo] | None = None,
) -> Generator | None:
    """Heal every kind of fault the schedule may have left in force, then wait ``recovery``
    seconds for the system to recover before the final reads."""
    heals = list(dict.fromkeys(info.heal for info in fault_infos(fault_options, infos).values()))
    if not heals:
        return None
    return seq([*(once(h) for h in heals), sleep(spec.recovery)])


def fault_infos(
    names: Iterable[str], infos: Mapping[str, FaultInfo] | None = None
) -> dict[str, FaultInfo]:
    """Each fault kind named, in order -> its FaultInfo, from ``infos`` when given, else from
    the registry (RegistryError for a name not registered)."""
    if infos is not None:
        return {name: infos[name] for name in names}
    return {name: lookup(FaultInfo, name, "fault") for name in names}


def heal_of(infos: Iterable[FaultInfo]) -> dict[str, str]:
    """Each op that starts a fault -> the op that heals it."""
    return {start: info.heal for info in infos for start in info.starts}


def heals_owed(history: Iterable[Op], infos: Iterable[FaultInfo]) -> list[str]:
    """The heal ops a history still owes, in the order to make them (``heal_rank``): for each
    kind of fault, a start that may have taken effect (``ok``, ``info``, or never completed)
    after the last heal of that kind that succeeded."""
    infos = sorted(infos, key=lambda i: (i.heal_rank, i.name))
    heals = heal_of(infos)
    order = list(dict.fromkeys(i.heal for i in infos))
    owed: dict[str, bool] = {}
    pending: Op | None = None
    for op in history:
        if op.is_client:
            continue
        if op.type == "invoke":
            pending = op
            continue
        pending = None
        if op.f in heals and op.type != "fail":
            owed[heals[op.f]] = True
        elif op.f in order and op.type == "ok":
            owed[op.f] = False
    if pending is not None and pending.f in heals:
        owed[heals[pending.f]] = True
    return [f for f in order if owed.get(f)]


def _options(info: FaultInfo, given: Any) -> Any:
    """The kind's options instance: ``given`` itself, or its defaults for None."""
    return parse_options(info.options, given, f"the {info.name} fault")


class _Start:
    """One start op of a kind, made by its ``pick`` when first asked (once per round)."""

    def __init__(
        self, info: FaultInfo, options: Any, turns: dict[str, int], interval: float
    ) -> None:
        self.info, self.options, self.turns, self.interval = info, options, turns, interval
        self.done = False

    def op(self, ctx: Context) -> dict[str, Any] | None:
        if self.done:
            return None
        self.done = True
        info = self.info
        if info.pick is None:
            return {"f": info.starts[0], "value": None}
        turn = self.turns[info.name] = self.turns.get(info.name, -1) + 1
        f, value = info.pick(self.options, turn, ctx.rng, self.interval)
        return {"f": f, "value": value}
