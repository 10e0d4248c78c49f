"""Clock drift: a node's clock runs fast or slow (a rate), instead of stepping.

Made with libfaketime's rate, written to the node's offset file with the offset that keeps
the clock where it was (``clusters.clock.set_rate``): like the clock fault it reaches only the
processes a system started with ``clusters.clock.faketime_env(node)``, and only the wall
clock (the monotonic clock, and so timeouts, stay true). The clock may step by ``|rate - 1|``
times the moment libfaketime started after its process (a few ms at x1.1) when the rate is
set and when it ends; see ``clusters/clock.py``.

Ops (``f``: value -> completion value):

- ``start-drift``: ``None`` (one random node, a rate drawn from the fault's ``rates``) or
  ``{"nodes": target, "rate": float}`` -> ``{node: {"rate": r, "offset": seconds,
  "processes": k}}``: from the moment of the op, each node's clock runs at ``r`` times the
  true rate, starting from ``offset`` seconds off the true time (the offset it had: nothing
  steps); ``processes`` is how many processes read its clock file. A node already drifting
  takes the new rate from where its clock is.
- ``stop-drift``: ignored -> ``{node: {"rate": 1.0, "reached": seconds, "offset":
  seconds}}`` for every node that was drifting: ``reached`` is the offset its clock had
  drifted to (the offset it started from plus what the drift accumulated), ``offset`` the
  one in force after the heal: 0.0 (the clock steps back to the true time) unless the fault
  has ``keep_offset``, when the clock keeps what it reached and runs at the true rate from
  there, as a real clock does once its oscillator is fixed.

A target is "one", "minority", "majority", "all", a node name or a list of node names. A
completion is ``ok`` when every node took it, ``info`` with ``error`` naming those that did
not. Teardown puts every node it touched back to the true rate and time.

The clock fault (``nemesis.clock``) writes the same file: its bumps write no rate, and
libfaketime keeps the last rate it read, so a bump during a drift keeps the rate but not the
offset that made it continuous. The schedule never overlaps two faults; a hand-written
schedule should not either.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clusters import clock
from clusters.base import Cluster, Node
from harness.history import Op
from harness.registry import FaultInfo, option
from nemesis._common import TARGETS, describe_errors, nodes_of, on_nodes, pick_nodes, pin_nodes

__all__ = ["DRIFT", "DriftNemesis", "DriftOptions"]


@dataclass(frozen=True)
class DriftOptions:
    rates: tuple[float, ...] = option(
        (0.9, 0.95, 1.05, 1.1),
        "the rates a drift draws from (1.05: the clock runs 5% fast)",
        minimum=0.01,
        maximum=100,
    )
    targets: tuple[str, ...] = option(
        ("one",), "which nodes each drift hits, taken in turn", choices=TARGETS
    )
    keep_offset: bool = option(
        False,
        "at the heal, the clock keeps the offset it drifted to (else it steps back to the "
        "true time)",
    )


def _make(options: DriftOptions, rng: random.Random, system: object) -> DriftNemesis:
    return DriftNemesis(rng, rates=options.rates, keep_offset=options.keep_offset)


def _pick(options: DriftOptions, turn: int, rng: random.Random, interval: float) -> tuple[str, Any]:
    """The turn-th target of ``targets``, at a rate drawn from ``rates`` with the nemesis
    thread's seeded random."""
    if not options.targets or not options.rates:
        raise ValueError("the drift fault needs at least one target and one rate")
    target = options.targets[turn % len(options.targets)]
    return "start-drift", {"nodes": target, "rate": rng.choice(options.rates)}


DRIFT = FaultInfo(
    name="drift",
    description="make the clock of a node's processes run fast or slow (a libfaketime rate), "
    "back to the true rate at the heal",
    make=_make,
    starts=("start-drift",),
    heal="stop-drift",
    pick=_pick,
    options=DriftOptions,
    color="rgba(205,133,63,.35)",
    heal_rank=30,
    pin=pin_nodes,
)


class DriftNemesis:
    """Clock drift through libfaketime rates. ``rng`` draws the nodes and rates a ``None``
    value leaves open; ``nodes`` defaults to the cluster's."""

    fs = frozenset({"start-drift", "stop-drift"})

    def __init__(
        self,
        rng: random.Random,
        nodes: Sequence[Node] | None = None,
        *,
        rates: Sequence[float] = (0.9, 0.95, 1.05, 1.1),
        keep_offset: bool = False,
    ) -> None:
        self.rng = rng
        self.rates = tuple(rates)
        self.keep_offset = keep_offset
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = []
        #: node name -> the rate it drifts at now
        self.drifting: dict[str, float] = {}
        #: nodes whose clock this nemesis ever changed (teardown puts them back)
        self.touched: set[str] = set()

    def setup(self, cluster: Cluster) -> None:
        self.nodes = nodes_of(cluster, self._given)

    def invoke(self, op: Op) -> Op:
        try:
            if op.f == "start-drift":
                return self._start(op)
            if op.f == "stop-drift":
                return self._stop(op)
        except ValueError as e:
            return op.complete("info", op.value, error=str(e))
        return op.complete("info", op.value, error=f"drift nemesis does not handle {op.f!r}")

    def teardown(self) -> None:
        """Every node this nemesis touched back to the true rate and the true time."""
        touched = [n for n in self.nodes if n.name in self.touched]
        errors = on_nodes(touched, lambda n: clock.set_rate(n, 1.0, 0.0))
        for node in touched:
            if node.name not in errors:
                self.drifting.pop(node.name, None)
                self.touched.discard(node.name)
        if errors:
            raise RuntimeError(f"could not put the clocks back: {describe_errors(errors)}")

    # -- ops --------------------------------------------------------------------------------

    def _start(self, op: Op) -> Op:
        v = op.value if op.value is not None else {}
        if not isinstance(v, Mapping):
            raise ValueError(f"expected null or {{nodes, rate}} for start-drift, got {v!r}")
        unknown = set(v) - {"nodes", "rate"}
        if unknown:
            raise ValueError(f"unknown start-drift key(s) {sorted(unknown)}; allowed: nodes, rate")
        rate = v.get("rate")
        if rate is None:
            if not self.rates:
                raise ValueError("no rate given and none to draw from")
            rate = self.rng.choice(self.rates)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1000:
            raise ValueError(f"expected a rate above 0 for 'rate' (1.0: true), got {rate!r}")
        targets = pick_nodes(v.get("nodes", "one"), self.nodes, self.rng)
        changes: dict[str, clock.RateChange] = {}

        def drift(node: Node) -> None:
            self.touched.add(node.name)
            changes[node.name] = clock.set_rate(node, float(rate))
            self.drifting[node.name] = float(rate)

        error = describe_errors(on_nodes(targets, drift))
        value = {
            name: {"rate": c.rate, "offset": round(c.before, 6), "processes": c.processes}
            for name, c in sorted(changes.items())
        }
        return op.complete("info" if error else "ok", value, error=error)

    def _stop(self, op: Op) -> Op:
        drifting = [n for n in self.nodes if n.name in self.drifting]
        goal = None if self.keep_offset else 0.0
        changes: dict[str, clock.RateChange] = {}

        def heal(node: Node) -> None:
            changes[node.name] = clock.set_rate(node, 1.0, goal)
            del self.drifting[node.name]

        error = describe_errors(on_nodes(drifting, heal))
        value = {
            name: {"rate": 1.0, "reached": round(c.before, 6), "offset": round(c.after, 6)}
            for name, c in sorted(changes.items())
        }
        return op.complete("info" if error else "ok", value, error=error)
