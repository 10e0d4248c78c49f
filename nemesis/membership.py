"""Membership changes while clients run: remove a member, add it back empty, replace one.

Only for systems that offer it (``SystemInfo.offers["membership"]``) and implement
``workloads.system.Reconfigurable``: the change goes through the system's own
reconfiguration (etcd: ``member remove`` / ``member add`` through its API, the new member
started with ``--initial-cluster-state existing`` on empty data), never by editing files
under it. A suite asking it of another system is refused when it is read.

Ops (``f``: value -> completion value):

- ``remove-member``: a target (``one``, ``minority``, ``primaries``, node names; default from
  the fault's options) -> the names removed. Nodes are removed one at a time, so the system's
  own check (a removal that would lose the quorum is refused) sees each; a refusal is tried
  again for up to ``retry_s`` seconds (the system may only be waiting for its members to be
  connected long enough), then it is an ``info`` naming the reason, the rest stay removed.
- ``replace-member``: a target -> the names replaced: each removed, then added back with
  empty data at once (a disk replaced: same name and address, nothing on it).
- ``add-member`` (the heal): ignored -> the names added back: every node still removed.

The history's nemesis ops are the record of who was a member when, for the checkers and the
report. Teardown adds back whatever is still removed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Cluster, Node, SetupError
from harness.history import Op
from harness.registry import FaultInfo, option
from nemesis._common import TARGETS, describe_errors, node_names, nodes_of, pick_nodes, pin_nodes
from workloads.system import Reconfigurable

__all__ = ["MEMBERSHIP", "MODES", "MembershipNemesis", "MembershipOptions"]

MODES = ("remove", "replace")


@dataclass(frozen=True)
class MembershipOptions:
    targets: tuple[str, ...] = option(
        ("one",), "which nodes each change hits, taken in turn", choices=TARGETS
    )
    modes: tuple[str, ...] = option(
        MODES,
        "what each change is, taken in turn: remove (added back at the heal) or replace "
        "(removed and added back empty at once)",
        choices=MODES,
    )
    retry_s: float = option(
        6.0,
        "a change the system refuses is tried again for up to this long (etcd refuses any "
        "while a member has been connected for less than 5 s, as after a start or a heal)",
        minimum=0,
    )


def _pick(
    options: MembershipOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    if not options.targets or not options.modes:
        raise ValueError("the membership fault has no targets or modes to take")
    mode = options.modes[turn % len(options.modes)]
    return f"{mode}-member", options.targets[turn % len(options.targets)]


def _check_offer(options: MembershipOptions, offered: tuple[str, ...]) -> str | None:
    missing = [m for m in options.modes if m not in offered]
    if missing:
        return f"mode {missing[0]!r} is not offered; it offers: {', '.join(offered)}"
    return None


def _make(options: MembershipOptions, rng: random.Random, system: Any) -> MembershipNemesis:
    return MembershipNemesis(rng, system, retry_s=options.retry_s)


MEMBERSHIP = FaultInfo(
    name="membership",
    description="remove a member through the system's own reconfiguration and add it back "
    "with empty data at the heal, or replace one (removed and added back empty at once)",
    make=_make,
    starts=("remove-member", "replace-member"),
    heal="add-member",
    pick=_pick,
    options=MembershipOptions,
    color="rgba(120,144,156,.4)",
    heal_rank=25,
    needs="membership",
    check_offer=_check_offer,
    pin=pin_nodes,
)


class MembershipNemesis:
    """Membership changes through ``system`` (Reconfigurable); see the module docstring."""

    fs = frozenset({"remove-member", "replace-member", "add-member"})

    def __init__(
        self,
        rng: random.Random,
        system: Any,
        nodes: Sequence[Node] | None = None,
        *,
        retry_s: float = 0.0,
    ) -> None:
        if not isinstance(system, Reconfigurable):
            raise SetupError(
                "the membership fault needs a system that can remove and add members "
                f"(Reconfigurable); {type(system).__name__} is not"
            )
        self.rng, self.system, self.retry_s = rng, system, retry_s
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = []
        #: names of the nodes removed and not added back
        self.removed: set[str] = set()

    def setup(self, cluster: Cluster) -> None:
        self.nodes = nodes_of(cluster, self._given)

    def invoke(self, op: Op) -> Op:
        try:
            if op.f in ("remove-member", "replace-member"):
                return self._change(op, replace=op.f == "replace-member")
            if op.f == "add-member":
                return self._add_back(op)
        except ValueError as e:
            return op.complete("info", op.value, error=str(e))
        return op.complete("info", op.value, error=f"membership does not handle {op.f!r}")

    def teardown(self) -> None:
        errors = self._add(n for n in self.nodes if n.name in self.removed)
        if errors:
            raise RuntimeError(f"could not add back: {describe_errors(errors)}")

    def _change(self, op: Op, *, replace: bool) -> Op:
        members = [n for n in self.nodes if n.name not in self.removed]
        targets = pick_nodes(op.value, members, self.rng, system=self.system)
        if not targets:
            return op.complete("info", [], error=f"target {op.value!r} names no member")
        done: list[Node] = []
        errors: dict[str, BaseException] = {}
        for node in targets:  # one at a time: the system judges each removal
            try:
                self._retrying(self.system.remove_member, node)
            except Exception as e:  # noqa: BLE001 - the system's refusal, reported
                errors[node.name] = e
                continue
            self.removed.add(node.name)
            done.append(node)
        if replace:
            errors.update(self._add(done))
        error = describe_errors(errors)
        return op.complete("info" if error else "ok", node_names(done), error=error)

    def _add_back(self, op: Op) -> Op:
        back = [n for n in self.nodes if n.name in self.removed]
        errors = self._add(back)
        done = [n.name for n in back if n.name not in errors]
        error = describe_errors(errors)
        return op.complete("info" if error else "ok", done, error=error)

    def _add(self, nodes: Any) -> dict[str, BaseException]:
        errors: dict[str, BaseException] = {}
        for node in list(nodes):  # one at a time: a new member must catch up before the next
            try:
                self._retrying(self.system.add_member, node)
            except Exception as e:  # noqa: BLE001
                errors[node.name] = e
                continue
            self.removed.discard(node.name)
        return errors

    def _retrying(self, change: Any, node: Node) -> None:
        """``change(node)``, tried again on a refusal for up to ``retry_s`` seconds."""
        deadline = time.monotonic() + self.retry_s
        while True:
            try:
                change(node)
                return
            except RuntimeError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)
