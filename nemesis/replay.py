"""A run's faults as explicit steps: recorded from its history, given back to replay it.

A *step* is one nemesis op at a moment: ``Step(at, f, value)``, ``at`` in seconds after the
history's time zero. A test runs the steps of ``nemesis.schedule`` instead of the rotation
when it has them (``schedule()`` in ``nemesis.schedule`` asks ``steps_generator``); they
come from a suite, from ``splitbrain run SUITE --replay RUN_DIR`` (the steps a run made) or
from ``splitbrain shrink`` (fewer of them).

The steps of a run are its nemesis invocations before the time limit (the final heals are the
schedule's own, after it), each *pinned*: a start op's value may leave a choice to the
nemesis ("one" node, a shape drawn at random), so the step carries what the op did instead
(``FaultInfo.pin``: the nodes killed, the grudge cut), and a replay does the same thing to the
same nodes. A start that failed did nothing and is left out.

An *episode* is a start with the heal that ended it: what shrinking removes, one at a time
or in halves, so that a schedule never keeps a heal without its fault nor loses one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.generator import Context, Result, Wait
from harness.history import Op
from harness.registry import FaultInfo
from harness.spec import NemesisSpec, Step

__all__ = ["Episode", "episodes", "flatten", "next_step", "recorded", "steps_generator"]


def recorded(
    history: Iterable[Op], infos: Iterable[FaultInfo], until: float | None = None
) -> list[Step]:
    """The steps the nemesis took in ``history`` before ``until`` seconds (all: None), each
    start pinned to what it did; a start that failed is left out."""
    infos = list(infos)
    pins = {f: info.pin for info in infos for f in info.starts}
    known = {f for info in infos for f in (*info.starts, info.heal)}
    invoked: Op | None = None
    steps: list[Step] = []
    for op in history:
        if op.is_client or op.f not in known:
            continue
        if op.type == "invoke":
            invoked = op
            continue
        if invoked is None or invoked.f != op.f:
            continue
        at = invoked.time / 1e9
        if (until is None or at < until) and op.type != "fail":
            value = invoked.value
            pin = pins.get(op.f)
            if pin is not None and op.type == "ok":
                value = pin(invoked.value, op.value)
            steps.append(Step(round(at, 3), op.f, value))
        invoked = None
    if invoked is not None and (until is None or invoked.time / 1e9 < until):
        steps.append(Step(round(invoked.time / 1e9, 3), invoked.f, invoked.value))
    return steps


@dataclass(frozen=True)
class Episode:
    """A start step and the heal that ended it (None: not healed before the time limit)."""

    start: Step
    heal: Step | None

    @property
    def end(self) -> float:
        return self.heal.at if self.heal is not None else self.start.at

    def describe(self) -> str:
        healed = f", healed at {self.heal.at:.1f} s" if self.heal is not None else ""
        return f"{self.start.f} {_short(self.start.value)} at {self.start.at:.1f} s{healed}"


def episodes(steps: Sequence[Step], infos: Iterable[FaultInfo]) -> list[Episode]:
    """The steps as episodes, in order of their starts; a heal with no start before it
    (healing what an earlier fault left) belongs to no episode and is dropped."""
    heal_of = {f: info.heal for info in infos for f in info.starts}
    out: list[Episode] = []
    open_: dict[str, int] = {}  # heal op -> index of the episode it would end
    for step in steps:
        if step.f in heal_of:
            open_[heal_of[step.f]] = len(out)
            out.append(Episode(step, None))
        elif step.f in open_:
            i = open_.pop(step.f)
            out[i] = Episode(out[i].start, step)
    return out


def flatten(eps: Iterable[Episode]) -> list[Step]:
    """The steps of some episodes, in time order."""
    steps = [s for e in eps for s in (e.start, e.heal) if s is not None]
    return sorted(steps, key=lambda s: s.at)


def next_step(spec: NemesisSpec, steps: Sequence[Step], infos: Mapping[str, FaultInfo]) -> Any:
    """What the rotation would have done next after ``steps``: the heal of a fault still in
    force, else the start of the next kind in the suite's order, with the time it was due
    (None when the schedule is explicit or empty)."""
    if spec.schedule is not None or not steps:
        return None
    last = steps[-1]
    kinds = [f.name for f in spec.faults if f.name in infos]
    by_start = {f: name for name, info in infos.items() for f in info.starts}
    if last.f in by_start:
        return {"f": infos[by_start[last.f]].heal, "at": round(last.at + spec.interval, 3)}
    started = [by_start[s.f] for s in steps if s.f in by_start]
    if not started or not kinds:
        return None
    turn = len(started) % len(kinds)
    return {"kind": kinds[turn], "f": infos[kinds[turn]].starts[0],
            "at": round(last.at + spec.quiet, 3)}  # fmt: skip


class steps_generator:
    """The nemesis generator of explicit steps: each op when its time comes."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = sorted(steps, key=lambda s: s.at)
        self.i = 0

    def op(self, ctx: Context) -> Result:
        if self.i >= len(self.steps):
            return None
        step = self.steps[self.i]
        if ctx.time < step.at:
            return Wait(step.at)
        self.i += 1
        return {"f": step.f, "value": step.value}


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        return _grudge(value)
    return str(value)


def _grudge(grudge: dict[str, list[str]]) -> str:
    """A partition in few words: its sides when it is a clean split (``n2 | n1 n3 n4 n5``),
    else who cannot hear whom (``n1 <- n4 n5; n2 <- n3 n5; ...``)."""
    nodes = sorted(set(grudge) | {n for v in grudge.values() for n in v})
    sides: list[list[str]] = []
    for n in nodes:
        side = sorted(m for m in nodes if m not in grudge.get(n, []))
        if side not in sides:
            sides.append(side)
    if sorted(n for side in sides for n in side) == nodes:
        return "partition " + " | ".join(" ".join(side) for side in sides)
    return "grudge " + "; ".join(f"{n} <- {' '.join(v)}" for n, v in sorted(grudge.items()) if v)
