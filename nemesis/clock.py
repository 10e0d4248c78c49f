"""Clock faults: bump, strobe and reset the clocks of the nodes' processes.

The offsets are written to each node's libfaketime offset file (``clusters.clock``); they reach
only the processes the system started with ``clusters.clock.faketime_env(node)``, and only
programs that read the time through libc (not Go programs). By default they move the wall
clock, not the monotonic one.

Ops (``f``: value -> completion value):

- ``bump-clock``: ``None`` (a random non-empty subset of the nodes, a random delta in
  ±``max_ms``) or ``{"nodes": target, "delta_ms": int}`` -> ``{node: offset_seconds}``, the
  offset now in force on each node bumped. Bumps add up: a node's offset is the sum of its
  bumps since the last reset, as when a real clock is stepped twice.
- ``strobe-clock``: ``None`` or ``{"nodes": target, "delta_ms": int, "period_ms": int,
  "duration_ms": int}`` -> the same keys (as applied, after bounds) plus ``"offsets"``
  ``{node: [low, high]}``. A background thread flips each node's offset between its current
  one and that plus delta every period, for the duration (at most ``max_strobe_ms``, a period
  at least ``min_period_ms``), then puts the current one back. The op returns at once.
- ``reset-clock``: ``None`` (every node) or a target -> ``{node: 0.0}``; stops a strobe.

A target is "one", "minority", "majority", "all", a node name or a list of node names. A new
bump or strobe stops a strobe in progress first. Teardown stops any strobe and resets every
node.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clusters import clock
from clusters.base import Cluster, Node
from harness.history import Op
from harness.registry import FaultInfo, option
from nemesis._common import describe_errors, node_names, nodes_of, on_nodes, pick_nodes, pin_nodes

__all__ = ["CLOCK", "ClockNemesis", "ClockOptions"]


@dataclass(frozen=True)
class ClockOptions:
    max_ms: int = option(
        60_000, "the largest clock offset a bump or strobe uses, in milliseconds", minimum=0
    )


def _make_clock(options: ClockOptions, rng: random.Random, system: object) -> ClockNemesis:
    return ClockNemesis(rng, max_ms=options.max_ms)


def _pick_clock(
    options: ClockOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    """A bump or a strobe of one node, as likely each, by a random delta in ±max_ms; a
    strobe lasts the fault's interval."""
    delta = rng.randint(-options.max_ms, options.max_ms)
    if rng.random() < 0.5:
        return "bump-clock", {"nodes": "one", "delta_ms": delta}
    return "strobe-clock", {
        "nodes": "one",
        "delta_ms": abs(delta),
        "period_ms": 200,
        "duration_ms": int(interval * 1000),
    }


CLOCK = FaultInfo(
    name="clock",
    description="bump or strobe the clock of a node's processes (libfaketime), reset at the heal",
    make=_make_clock,
    starts=("bump-clock", "strobe-clock"),
    heal="reset-clock",
    pick=_pick_clock,
    options=ClockOptions,
    color="rgba(218,165,32,.4)",
    heal_rank=30,
    pin=pin_nodes,
)


class ClockNemesis:
    """Clock skew through libfaketime offset files. ``rng`` draws the nodes and deltas a
    ``None`` value leaves open; ``nodes`` defaults to the cluster's."""

    fs = frozenset({"bump-clock", "strobe-clock", "reset-clock"})

    def __init__(
        self,
        rng: random.Random,
        nodes: Sequence[Node] | None = None,
        *,
        max_ms: int = 60_000,
        max_strobe_ms: int = 60_000,
        min_period_ms: int = 10,
    ) -> None:
        self.rng = rng
        self.max_ms = max_ms
        self.max_strobe_ms = max_strobe_ms
        self.min_period_ms = min_period_ms
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = []
        #: the offset (seconds) each node is at, outside of a strobe's flips
        self.offsets: dict[str, float] = {}
        self._strobe: threading.Thread | None = None
        self._stop = threading.Event()
        self._strobe_errors: list[str] = []

    def setup(self, cluster: Cluster) -> None:
        """Write a zero offset on every node (the file then exists from the start)."""
        self.nodes = nodes_of(cluster, self._given)
        self.offsets = {n.name: 0.0 for n in self.nodes}
        errors = on_nodes(self.nodes, clock.reset)
        if errors:
            raise RuntimeError(f"could not write the clock offset files: {describe_errors(errors)}")

    def invoke(self, op: Op) -> Op:
        try:
            if op.f == "bump-clock":
                return self._bump(op)
            if op.f == "strobe-clock":
                return self._strobe_op(op)
            if op.f == "reset-clock":
                return self._reset(op)
        except ValueError as e:
            return op.complete("info", op.value, error=str(e))
        return op.complete("info", op.value, error=f"clock nemesis does not handle {op.f!r}")

    def teardown(self) -> None:
        self._stop_strobe()
        errors = on_nodes(self.nodes, clock.reset)
        for node in self.nodes:
            if node.name not in errors:
                self.offsets[node.name] = 0.0
        if errors:
            raise RuntimeError(f"could not reset the clocks: {describe_errors(errors)}")

    # -- ops --------------------------------------------------------------------------------

    def _bump(self, op: Op) -> Op:
        v = _options(op.value, "bump-clock", {"nodes", "delta_ms"})
        targets = self._targets(v)
        delta_ms = _int(v, "delta_ms", None)
        if delta_ms is None:
            delta_ms = self.rng.randint(-self.max_ms, self.max_ms)
        self._stop_strobe()
        new = {n.name: round(self.offsets.get(n.name, 0.0) + delta_ms / 1000, 6) for n in targets}
        errors = on_nodes(targets, _setter(new))
        for name, offset in new.items():
            if name not in errors:
                self.offsets[name] = offset
        error = describe_errors(errors)
        value = {name: offset for name, offset in new.items() if name not in errors}
        return op.complete("info" if error else "ok", value, error=error)

    def _strobe_op(self, op: Op) -> Op:
        v = _options(op.value, "strobe-clock", {"nodes", "delta_ms", "period_ms", "duration_ms"})
        targets = self._targets(v)
        delta_ms = _int(v, "delta_ms", None)
        if delta_ms is None:
            delta_ms = self.rng.randint(1, max(1, self.max_ms))
        period_ms = max(self.min_period_ms, _int(v, "period_ms", 200) or 0)
        duration_ms = min(self.max_strobe_ms, max(0, _int(v, "duration_ms", 10_000) or 0))
        self._stop_strobe()
        lows = {n.name: self.offsets.get(n.name, 0.0) for n in targets}
        highs = {name: round(low + delta_ms / 1000, 6) for name, low in lows.items()}
        self._stop = threading.Event()
        self._strobe_errors = []
        # The first flip happens now, so the fault is in force when the op completes.
        errors = on_nodes(targets, _setter(highs))
        thread = threading.Thread(
            target=self._run_strobe,
            args=(targets, lows, highs, period_ms / 1000, duration_ms / 1000, self._stop),
            name="strobe-clock",
            daemon=True,
        )
        self._strobe = thread
        thread.start()
        value = {
            "nodes": node_names(targets),
            "delta_ms": delta_ms,
            "period_ms": period_ms,
            "duration_ms": duration_ms,
            "offsets": {name: [lows[name], highs[name]] for name in lows},
        }
        error = describe_errors(errors)
        return op.complete("info" if error else "ok", value, error=error)

    def _reset(self, op: Op) -> Op:
        target = "all" if op.value is None else op.value
        targets = pick_nodes(target, self.nodes, self.rng)
        self._stop_strobe()
        errors = on_nodes(targets, clock.reset)
        for n in targets:
            if n.name not in errors:
                self.offsets[n.name] = 0.0
        problems = [f"{describe_errors(errors)}"] if errors else []
        problems += [f"during the strobe: {e}" for e in self._strobe_errors]
        self._strobe_errors = []
        value = {n.name: 0.0 for n in targets if n.name not in errors}
        error = "; ".join(problems) if problems else None
        return op.complete("info" if error else "ok", value, error=error)

    # -- helpers ----------------------------------------------------------------------------

    def _targets(self, v: Mapping[str, Any]) -> list[Node]:
        if "nodes" in v:
            return pick_nodes(v["nodes"], self.nodes, self.rng)
        k = self.rng.randint(1, len(self.nodes)) if self.nodes else 0
        return pick_nodes([n.name for n in self.rng.sample(self.nodes, k)], self.nodes, self.rng)

    def _run_strobe(
        self,
        targets: list[Node],
        lows: dict[str, float],
        highs: dict[str, float],
        period: float,
        duration: float,
        stop: threading.Event,
    ) -> None:
        high = True
        start = time.monotonic()
        tick = 1
        try:
            # Ticks on a fixed grid from the start, so the time spent writing offsets does
            # not stretch the strobe past its duration.
            while start + tick * period <= start + duration:
                if stop.wait(max(0.0, start + tick * period - time.monotonic())):
                    break
                tick += 1
                high = not high
                errors = on_nodes(targets, _setter(highs if high else lows))
                if errors:
                    self._strobe_errors.append(describe_errors(errors) or "")
        finally:
            errors = on_nodes(targets, _setter(lows))
            if errors:
                self._strobe_errors.append(f"restoring: {describe_errors(errors)}")

    def _stop_strobe(self) -> None:
        if self._strobe is not None:
            self._stop.set()
            self._strobe.join(timeout=30)
            self._strobe = None


def _setter(offsets: dict[str, float]) -> Callable[[Node], None]:
    """Sets each node to its offset in ``offsets``."""

    def set_one(node: Node) -> None:
        clock.set_offset(node, offsets[node.name])

    return set_one


def _options(value: Any, f: str, allowed: set[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"expected null or a map with {', '.join(sorted(allowed))} for {f}, got {value!r}"
        )
    unknown = set(value) - allowed
    if unknown:
        raise ValueError(
            f"unknown {f} key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return value


def _int(v: Mapping[str, Any], key: str, default: int | None) -> int | None:
    x = v.get(key, default)
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int):
        raise ValueError(f"expected an integer for {key!r}, got {x!r}")
    return x
