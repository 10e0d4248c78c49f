"""When faults happen: the nemesis generator built from a suite's ``nemesis`` section.

The schedule takes the configured fault kinds in turn — quiet, start a fault, let it last,
heal it — so that every kind is exercised in every run that lasts one round
(``len(faults) * (quiet + interval)`` seconds). Partition shapes and kill / pause targets
rotate in the order the suite lists them, so the suite author decides what a short run is
sure to cover (put the shape a bug needs first); clock offsets are drawn from the nemesis
thread's seeded random source, so a seed replays the same schedule.
"""

from __future__ import annotations

from typing import Any

from harness.generator import Context, Generator, cycle, fn, once, seq, sleep
from harness.spec import NemesisSpec

__all__ = ["HEALS", "final_heal", "schedule"]

#: the op that undoes each kind of fault
HEALS: dict[str, str] = {
    "partition": "stop-partition",
    "loss": "stop-partition",
    "kill": "start",
    "pause": "resume",
    "clock": "reset-clock",
}


def schedule(spec: NemesisSpec) -> Generator | None:
    """The main-phase nemesis generator, or None when no faults are configured."""
    if not spec.faults:
        return None

    turn: dict[str, int] = {}

    def round_() -> list[Generator]:
        gens: list[Generator] = []
        for fault in spec.faults:
            gens += [sleep(spec.quiet), _once_fn(_start(fault, spec, turn)), sleep(spec.interval)]
            gens.append(once(HEALS[fault]))
        return gens

    return cycle(round_)


def final_heal(spec: NemesisSpec) -> Generator | None:
    """Heal every kind of fault the schedule may have left in force, then wait for the system
    to recover before the final reads."""
    heals = list(dict.fromkeys(HEALS[f] for f in spec.faults))
    if not heals:
        return None
    return seq([*(once(h) for h in heals), sleep(spec.recovery)])


def _start(fault: str, spec: NemesisSpec, turn: dict[str, int]) -> Any:
    def next_of(options: tuple[str, ...]) -> str:
        i = turn[fault] = turn.get(fault, -1) + 1
        return options[i % len(options)]

    def start(ctx: Context) -> dict[str, Any]:
        rng = ctx.rng
        if fault == "partition":
            return {"f": "start-partition", "value": next_of(spec.shapes)}
        if fault == "kill":
            return {"f": "kill", "value": next_of(spec.kill_targets)}
        if fault == "pause":
            return {"f": "pause", "value": next_of(spec.pause_targets)}
        if fault == "loss":
            return {"f": "start-loss", "value": {"probability": spec.loss}}
        if fault == "clock":
            delta = rng.randint(-spec.clock_max_ms, spec.clock_max_ms)
            if rng.random() < 0.5:
                return {"f": "bump-clock", "value": {"nodes": "one", "delta_ms": delta}}
            return {
                "f": "strobe-clock",
                "value": {
                    "nodes": "one",
                    "delta_ms": abs(delta),
                    "period_ms": 200,
                    "duration_ms": int(spec.interval * 1000),
                },
            }
        raise ValueError(f"unknown fault {fault!r}")

    return start


class _once_fn:
    """One op computed by ``f(ctx)`` when first asked."""

    def __init__(self, f: Any) -> None:
        self.gen = fn(f)
        self.done = False

    def op(self, ctx: Context) -> Any:
        if self.done:
            return None
        self.done = True
        return self.gen.op(ctx)
