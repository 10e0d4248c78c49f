"""Helpers shared by the nemeses: which nodes a target names, and doing a thing on many nodes."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clusters.base import Cluster, Node
from harness.history import Op
from workloads.system import HasPrimaries

__all__ = [
    "TARGETS",
    "ApplyAndUndo",
    "describe_errors",
    "node_names",
    "nodes_of",
    "on_nodes",
    "pick_nodes",
    "pin_nodes",
]

#: the words a target may be, besides a list of node names
TARGETS = ("one", "minority", "majority", "all", "primaries", "leader")


def pick_nodes(
    target: Any,
    nodes: Sequence[Node],
    rng: random.Random,
    *,
    system: object | None = None,
) -> list[Node]:
    """The nodes ``target`` names, in cluster order: ``None`` or "one" (a random node),
    "minority" (a random (n-1)//2 of them), "majority" (a random n//2+1), "all",
    "primaries"/"leader" (those the system reports, through HasPrimaries), a node name, or a
    list of node names. Raises ValueError naming what is wrong."""
    nodes = list(nodes)
    n = len(nodes)
    if target is None or target == "one":
        chosen = [rng.choice(nodes)] if nodes else []
    elif target == "minority":
        chosen = rng.sample(nodes, (n - 1) // 2)
    elif target == "majority":
        chosen = rng.sample(nodes, n // 2 + 1) if nodes else []
    elif target == "all":
        chosen = nodes
    elif target in ("primaries", "leader"):
        if not isinstance(system, HasPrimaries):
            raise ValueError(
                f"target {target!r} needs a system that reports its primaries (HasPrimaries); "
                f"{type(system).__name__} does not"
            )
        chosen = list(system.primaries(nodes))
    elif isinstance(target, str) and target in node_names(nodes):
        chosen = [n_ for n_ in nodes if n_.name == target]
    elif isinstance(target, (list, tuple)) and all(isinstance(t, str) for t in target):
        unknown = [t for t in target if t not in node_names(nodes)]
        if unknown:
            raise ValueError(
                f"unknown node(s) {', '.join(map(repr, unknown))}; "
                f"nodes: {', '.join(node_names(nodes))}"
            )
        chosen = [n_ for n_ in nodes if n_.name in target]
    else:
        raise ValueError(
            f"expected one of {', '.join(TARGETS)} or a list of node names, got {target!r}"
        )
    order = {id(n_): i for i, n_ in enumerate(nodes)}
    return sorted(chosen, key=lambda n_: order.get(id(n_), n))


def on_nodes(nodes: Sequence[Node], f: Callable[[Node], object]) -> dict[str, BaseException]:
    """Call ``f(node)`` on every node at once; returns the errors by node name."""
    nodes = list(nodes)
    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(nodes), 32)) as pool:
        futures = {node.name: pool.submit(f, node) for node in nodes}
    return {name: e for name, fu in futures.items() if (e := fu.exception()) is not None}


def describe_errors(errors: dict[str, BaseException]) -> str | None:
    """One line for a completion's ``error``: ``n2: CommandFailed: ...; n3: ...``."""
    if not errors:
        return None
    return "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in sorted(errors.items()))


def node_names(nodes: Sequence[Node]) -> list[str]:
    return [n.name for n in nodes]


def nodes_of(cluster: Cluster, given: Sequence[Node] | None) -> list[Node]:
    """The nodes a nemesis works on: those it was given, else the cluster's."""
    return list(given) if given is not None else list(cluster.nodes)


def pin_nodes(invoked: Any, done: Any) -> Any:
    """``FaultInfo.pin`` for the kinds whose start names its nodes by a target: the start op
    that does again what this one did, to the nodes it did it to. ``done`` is the completion's
    value: a list of node names (kill, pause), a mapping with ``nodes`` (strobe-clock, loss,
    delay), or a mapping from each node touched to what was done there (bump-clock, drift); the
    other parameters come from the invocation."""
    if isinstance(done, list) and all(isinstance(n, str) for n in done):
        return list(done)
    if not isinstance(done, dict):
        return invoked
    params = dict(invoked) if isinstance(invoked, dict) else {}
    if isinstance(done.get("nodes"), list):
        return {**params, "nodes": list(done["nodes"])}
    if params and "nodes" in params:  # {node: what was done there}
        return {**params, "nodes": sorted(done)}
    return invoked


class ApplyAndUndo:
    """A fault made on some nodes by one op (``apply_f``) and healed by another (``undo_f``):
    the nodes it may strike (the cluster's, or those given) and the dispatch of an op to
    ``_apply`` or ``_undo``; a bad value (ValueError) completes the op ``info`` with the
    reason, never a crash of the nemesis. Subclasses set ``_given`` in ``__init__``."""

    apply_f: str
    undo_f: str
    _given: list[Node] | None
    nodes: list[Node]

    def setup(self, cluster: Cluster) -> None:
        self.nodes = nodes_of(cluster, self._given)

    def invoke(self, op: Op) -> Op:
        try:
            if op.f == self.apply_f:
                return self._apply(op)
            if op.f == self.undo_f:
                return self._undo(op)
        except ValueError as e:
            return op.complete("info", op.value, error=str(e))
        error = f"{type(self).__name__} does not handle {op.f!r}"
        return op.complete("info", op.value, error=error)

    def _apply(self, op: Op) -> Op:
        raise NotImplementedError

    def _undo(self, op: Op) -> Op:
        raise NotImplementedError
