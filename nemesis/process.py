"""Process faults: kill and restart (KillNemesis), pause and resume (PauseNemesis).

Both act through the system (``Killable.kill`` / ``start``, ``Pausable.pause`` / ``resume``),
which signals its daemon's process group on the node (SIGKILL, SIGSTOP, SIGCONT).

Ops (``f``: value -> completion value):

- ``kill``: a target -> the names of the nodes killed. A target is "one" (the default),
  "minority" (a random (n-1)//2), "majority" (a random n//2+1), "all", "primaries" / "leader"
  (what the system reports, HasPrimaries), a node name or a list of node names.
- ``start``: ``None`` or "all" (every node this nemesis killed) or a target -> the names
  restarted; only nodes this nemesis killed are started.
- ``pause``: a target -> the names paused; ``resume``: like ``start``, for paused nodes.

A completion is ``ok`` when it was done on every node, ``info`` with ``error`` naming the
nodes where it failed. Teardown restarts every node still killed, resumes every node still
paused.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node, SetupError
from harness.history import Op
from harness.registry import FaultInfo, option
from nemesis._common import (
    TARGETS,
    ApplyAndUndo,
    describe_errors,
    node_names,
    on_nodes,
    pick_nodes,
    pin_nodes,
)
from workloads.system import Killable, Pausable

__all__ = [
    "KILL",
    "PAUSE",
    "TARGETS",
    "KillNemesis",
    "KillOptions",
    "PauseNemesis",
    "PauseOptions",
]


# -- the fault kinds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KillOptions:
    targets: tuple[str, ...] = option(
        ("one", "majority", "primaries"),
        "which nodes each kill hits, taken in turn",
        choices=TARGETS,
    )


@dataclass(frozen=True)
class PauseOptions:
    targets: tuple[str, ...] = option(
        ("one", "primaries"), "which nodes each pause hits, taken in turn", choices=TARGETS
    )


def _nth_target(f: str, targets: tuple[str, ...], turn: int) -> tuple[str, Any]:
    if not targets:
        raise ValueError(f"the {f} fault has no targets to take (targets is empty)")
    return f, targets[turn % len(targets)]


def _pick_kill(
    options: KillOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    return _nth_target("kill", options.targets, turn)


def _pick_pause(
    options: PauseOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    return _nth_target("pause", options.targets, turn)


def _make_kill(options: KillOptions, rng: random.Random, system: Any) -> KillNemesis:
    return KillNemesis(rng, system)


def _make_pause(options: PauseOptions, rng: random.Random, system: Any) -> PauseNemesis:
    return PauseNemesis(rng, system)


KILL = FaultInfo(
    name="kill",
    description="kill the system's process on some nodes (SIGKILL), start it again at the heal",
    make=_make_kill,
    starts=("kill",),
    heal="start",
    pick=_pick_kill,
    options=KillOptions,
    color="rgba(214,64,64,.3)",
    heal_rank=20,
    pin=pin_nodes,
)
PAUSE = FaultInfo(
    name="pause",
    description="pause the system's process on some nodes (SIGSTOP), resume it at the heal",
    make=_make_pause,
    starts=("pause",),
    heal="resume",
    pick=_pick_pause,
    options=PauseOptions,
    color="rgba(60,120,216,.3)",
    heal_rank=0,
    pin=pin_nodes,
)


# -- the nemeses ----------------------------------------------------------------------------------


class _Faults(ApplyAndUndo):
    """A fault that is applied to some nodes and undone later (kill/start, pause/resume)."""

    fs: frozenset[str]
    apply_f: str
    undo_f: str

    def __init__(
        self,
        rng: random.Random,
        system: Any,
        nodes: Sequence[Node] | None,
        apply: Callable[[Node], object],
        undo: Callable[[Node], object],
    ) -> None:
        self.rng = rng
        self.system = system
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = list(nodes) if nodes is not None else []
        self._apply_one = apply
        self._undo_one = undo
        #: names of the nodes the fault is in force on, to undo at teardown
        self.affected: set[str] = set()

    def teardown(self) -> None:
        targets = [n for n in self.nodes if n.name in self.affected]
        errors = on_nodes(targets, self._undo_one)
        self.affected -= {n.name for n in targets} - set(errors)
        if errors:
            raise RuntimeError(f"could not {self.undo_f} on: {describe_errors(errors)}")

    def _apply(self, op: Op) -> Op:
        targets = pick_nodes(op.value, self.nodes, self.rng, system=self.system)
        errors = on_nodes(targets, self._apply_one)
        done = [n for n in targets if n.name not in errors]
        self.affected |= set(node_names(done))
        error = describe_errors(errors)
        if not targets:
            error = f"target {op.value!r} names no node"
        return op.complete("info" if error else "ok", node_names(done), error=error)

    def _undo(self, op: Op) -> Op:
        if op.value is None or op.value == "all":
            targets = [n for n in self.nodes if n.name in self.affected]
        else:
            chosen = pick_nodes(op.value, self.nodes, self.rng, system=self.system)
            targets = [n for n in chosen if n.name in self.affected]
        errors = on_nodes(targets, self._undo_one)
        done = [n for n in targets if n.name not in errors]
        self.affected -= set(node_names(done))
        error = describe_errors(errors)
        return op.complete("info" if error else "ok", node_names(done), error=error)


class KillNemesis(_Faults):
    """``kill`` (SIGKILL, through ``system.kill``) and ``start`` (``system.start``)."""

    fs = frozenset({"kill", "start"})
    apply_f, undo_f = "kill", "start"

    def __init__(
        self, rng: random.Random, system: Any, nodes: Sequence[Node] | None = None
    ) -> None:
        if not isinstance(system, Killable):
            raise SetupError(
                f"the kill fault needs a system that can be killed and started (Killable: "
                f"kill(node), start(node)); {type(system).__name__} is not"
            )
        super().__init__(rng, system, nodes, system.kill, system.start)


class PauseNemesis(_Faults):
    """``pause`` (SIGSTOP, through ``system.pause``) and ``resume`` (``system.resume``)."""

    fs = frozenset({"pause", "resume"})
    apply_f, undo_f = "pause", "resume"

    def __init__(
        self, rng: random.Random, system: Any, nodes: Sequence[Node] | None = None
    ) -> None:
        if not isinstance(system, Pausable):
            raise SetupError(
                f"the pause fault needs a system that can be paused and resumed (Pausable: "
                f"pause(node), resume(node)); {type(system).__name__} is not"
            )
        super().__init__(rng, system, nodes, system.pause, system.resume)
