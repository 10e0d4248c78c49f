"""Byzantine faults: make a node lie, through the system's own control interface, and stop it.

No outside tool can make a process lie; the system has to carry the lies itself and offer a
switch. A system that does declares it (``SystemInfo.offers["byzantine"]``: the lying modes
it has, e.g. PBFT's ``equivocate``, ``wrong-reply``, ``silence``, ``replay``,
``forge-view-change``), and takes ``{"type": "lie", "mode": MODE}`` and ``{"type": "lie",
"mode": null}`` on its client port (one JSON line each way, as the reference patterns
speak). A suite that asks a system for a mode it does not offer is refused when it is read.

Ops (``f``: value -> completion value):

- ``start-byzantine``: ``{"mode": MODE, "target": T}`` -> ``{"nodes": [...], "mode": MODE,
  "target": T}``. T is ``one`` (a random node), ``primary`` (the node the system reports as
  primary, HasPrimaries; a random node when none is), ``backup`` (a random other node) or
  ``two`` (the primary and a random backup: more than f = 1 of 4, the control that must
  break the system).
- ``stop-byzantine``: None -> ``{"nodes": [...], "mode": None}``: every lying node honest
  again.

The history thus says which node lied, how and when; teardown makes every node honest.
"""

from __future__ import annotations

import json
import random
import socket
from dataclasses import dataclass
from typing import Any

from clusters.base import Cluster, Node, SetupError
from harness.history import Op
from harness.registry import FaultInfo, option
from nemesis._common import describe_errors, node_names, on_nodes
from workloads.system import HasPorts, HasPrimaries

__all__ = ["BYZANTINE", "MODES", "TARGETS", "ByzantineNemesis", "ByzantineOptions"]

#: every lying mode a system may offer (PBFT offers them all)
MODES = ("equivocate", "wrong-reply", "silence", "replay", "forge-view-change")
#: whom a lie hits
TARGETS = ("one", "primary", "backup", "two")


@dataclass(frozen=True)
class ByzantineOptions:
    modes: tuple[str, ...] = option(
        MODES, "the lying modes, taken in turn (each must be one the system offers)", choices=MODES
    )
    targets: tuple[str, ...] = option(
        ("one",),
        "whom each lie hits, taken in turn: one, primary, backup, or two (primary and a "
        "backup: more than f, the control)",
        choices=TARGETS,
    )


def _pick(
    options: ByzantineOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    if not options.modes or not options.targets:
        raise ValueError("the byzantine fault needs at least one mode and one target")
    mode = options.modes[turn % len(options.modes)]
    target = options.targets[turn % len(options.targets)]
    return "start-byzantine", {"mode": mode, "target": target}


def _check_offer(options: ByzantineOptions, offered: tuple[str, ...]) -> str | None:
    missing = [m for m in options.modes if m not in offered]
    if not missing:
        return None
    return (
        f"the system has no lying mode {', '.join(map(repr, missing))}; "
        f"it offers: {', '.join(offered) or 'none'}"
    )


def _make(options: ByzantineOptions, rng: random.Random, system: Any) -> ByzantineNemesis:
    return ByzantineNemesis(rng, system)


BYZANTINE = FaultInfo(
    name="byzantine",
    description="switch a node into a lying mode (equivocate, wrong-reply, silence, replay, "
    "forge-view-change) through the system's control interface, and back at the heal",
    make=_make,
    starts=("start-byzantine",),
    heal="stop-byzantine",
    pick=_pick,
    options=ByzantineOptions,
    color="rgba(150,60,200,.3)",
    heal_rank=10,
    needs="byzantine",
    check_offer=_check_offer,
)


class ByzantineNemesis:
    """``start-byzantine`` / ``stop-byzantine`` through the nodes' ``lie`` requests."""

    fs = frozenset({"start-byzantine", "stop-byzantine"})

    def __init__(self, rng: random.Random, system: Any, *, timeout: float = 2.0) -> None:
        if not isinstance(system, HasPorts):
            raise SetupError(
                f"the byzantine fault talks to each node's control port (HasPorts); "
                f"{type(system).__name__} has none"
            )
        self.rng = rng
        self.system = system
        self.timeout = timeout
        self.nodes: list[Node] = []
        #: names of the nodes lying now
        self.lying: set[str] = set()

    def setup(self, cluster: Cluster) -> None:
        self.nodes = list(cluster.nodes)

    def invoke(self, op: Op) -> Op:
        if op.f == "start-byzantine":
            return self._start(op)
        if op.f == "stop-byzantine":
            return self._stop(op)
        return op.complete("info", op.value, error=f"ByzantineNemesis does not handle {op.f!r}")

    def teardown(self) -> None:
        targets = [n for n in self.nodes if n.name in self.lying]
        errors = on_nodes(targets, lambda n: self._lie(n, None))
        self.lying -= {n.name for n in targets}
        if errors:
            raise RuntimeError(f"could not make honest again: {describe_errors(errors)}")

    def _start(self, op: Op) -> Op:
        value = op.value if isinstance(op.value, dict) else {}
        mode, target = value.get("mode"), value.get("target", "one")
        if mode not in MODES:
            return op.complete("info", op.value, error=f"unknown lying mode {mode!r}")
        try:
            targets = self.choose(target)
        except ValueError as e:
            return op.complete("info", op.value, error=str(e))
        errors = on_nodes(targets, lambda n: self._lie(n, mode))
        done = [n for n in targets if n.name not in errors]
        self.lying |= set(node_names(done))
        error = describe_errors(errors)
        result = {"nodes": node_names(done), "mode": mode, "target": target}
        return op.complete("info" if error else "ok", result, error=error)

    def _stop(self, op: Op) -> Op:
        targets = [n for n in self.nodes if n.name in self.lying]
        errors = on_nodes(targets, lambda n: self._lie(n, None))
        # a node that did not answer is down: it restarts honest (the mode is not durable)
        self.lying.clear()
        error = describe_errors(errors)
        result = {"nodes": node_names(targets), "mode": None}
        return op.complete("info" if error else "ok", result, error=error)

    def choose(self, target: Any) -> list[Node]:
        """The nodes ``target`` names (see the module docstring)."""
        if not self.nodes:
            raise ValueError("no nodes to lie")
        primaries = self._primaries()
        primary = primaries[0] if primaries else self.rng.choice(self.nodes)
        backups = [n for n in self.nodes if n is not primary]
        if target == "one":
            chosen = [self.rng.choice(self.nodes)]
        elif target == "primary":
            chosen = [primary]
        elif target == "backup":
            chosen = [self.rng.choice(backups or self.nodes)]
        elif target == "two":
            chosen = [primary, *([self.rng.choice(backups)] if backups else [])]
        else:
            raise ValueError(f"expected one of {', '.join(TARGETS)}, got {target!r}")
        return [n for n in self.nodes if any(n is c for c in chosen)]

    def _primaries(self) -> list[Node]:
        if not isinstance(self.system, HasPrimaries):
            return []
        return list(self.system.primaries(self.nodes))

    def _lie(self, node: Node, mode: str | None) -> None:
        """Send ``{"type": "lie", "mode": mode}`` to ``node``; raises unless it says ok."""
        address = (node.address, self.system.port_of(node))
        with socket.create_connection(address, timeout=self.timeout) as s:
            s.settimeout(self.timeout)
            s.sendall(json.dumps({"id": 1, "type": "lie", "mode": mode}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError(f"{node.name} closed the connection")
                buf += chunk
        reply = json.loads(buf)
        if not isinstance(reply, dict) or not reply.get("ok"):
            raise RuntimeError(f"{node.name} refused to lie: {reply!r}")
