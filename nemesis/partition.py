"""Network partitions and packet loss, made with iptables inside each node.

A partition is a *grudge*: ``{node: [nodes it cannot hear]}``. On node A, for every peer P
that A cannot hear, a rule in our own chain ``SPLITBRAIN`` (hooked from INPUT and OUTPUT)
drops what comes from P: ``-A SPLITBRAIN -s P -j DROP``. Healing flushes the chain; teardown
also unhooks and deletes it. Nothing is ever added outside the nodes.

Why only the receiver drops, by default: a grudge may be one-way (the majorities ring of an
even window is), and dropping at the receiver is exactly "A cannot hear P". The standard shapes
are symmetric, so both directions are cut anyway. ``drop_output=True`` also drops at the
sender (``-d A -j DROP`` in P's OUTPUT): a process then sees its own sends fail at once (UDP
sendto gets EPERM) instead of vanishing, as they do on a real broken link, so it is off by
default.

Packet loss is a fault of its own (LossNemesis) with a chain of its own, ``SPLITBRAIN-LOSS``,
hooked from INPUT, with ``-m statistic --mode random --probability p`` and DROP, or with
``REJECT --reject-with tcp-reset`` for TCP (mode "reset"). It applies to traffic between
nodes, not to the clients' traffic from the controller, like the partitions. The two are
independent: each heals only its own chain. (Histories written before they were split heal
loss with ``stop-partition``; the report still reads them so.)

Ops (``f``: value -> completion value):

- ``start-partition``: a shape name or a grudge -> ``{"shape": ..., "grudge": {...}}``. Shapes:
  "one" (a random node isolated), "halves" (first half of the nodes / the rest),
  "random-halves", "majorities-ring" (each node sees a majority, no two the same),
  "bridge" (two halves, one node of the second sees both), "primaries"/"leader" (each node
  the system reports as primary isolated; the value adds ``"primaries"``). A new partition
  replaces the one in force.
- ``stop-partition``: ignored -> ``"healed"``.
- ``start-loss``: ``None`` or ``{"probability": p, "nodes": target, "mode": "drop"|"reset"}``
  -> ``{"nodes": [...], "probability": p, "mode": ...}``; ``nodes`` as for the process
  nemeses (default "all").
- ``stop-loss``: ignored -> ``"healed"``.

A completion is ``ok`` when every node took its rules, ``info`` with ``error`` naming the nodes
that did not (or why nothing was done).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Cluster, NetworkControl, Node
from harness.history import Op
from harness.registry import FaultInfo, option
from nemesis._common import describe_errors, node_names, nodes_of, on_nodes, pick_nodes, pin_nodes

__all__ = [
    "CHAIN",
    "LOSS",
    "LOSS_CHAIN",
    "PARTITION",
    "SHAPES",
    "Grudge",
    "LossNemesis",
    "LossOptions",
    "PartitionNemesis",
    "PartitionOptions",
    "bridge",
    "complete_grudge",
    "grudge_for",
    "halves",
    "isolate",
    "isolate_one",
    "majorities_ring",
    "random_halves",
    "validate_grudge",
]

CHAIN = "SPLITBRAIN"
LOSS_CHAIN = "SPLITBRAIN-LOSS"
#: every shape ``start-partition`` takes by name
SHAPES = ("one", "halves", "random-halves", "majorities-ring", "bridge", "primaries", "leader")

Grudge = dict[str, list[str]]


# -- the fault kinds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionOptions:
    shapes: tuple[str, ...] = option(
        ("one", "halves", "majorities-ring", "bridge", "leader"),
        "the partition shapes, taken in turn (put the one a bug needs first)",
        choices=SHAPES,
    )


@dataclass(frozen=True)
class LossOptions:
    probability: float = option(
        0.2, "the probability a packet between nodes is dropped", minimum=0.001, maximum=1
    )


def _make_partition(options: PartitionOptions, rng: random.Random, system: object) -> Any:
    return PartitionNemesis(rng, system=system)


def _pick_partition(
    options: PartitionOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    if not options.shapes:
        raise ValueError("the partition fault has no shapes to take (shapes is empty)")
    return "start-partition", options.shapes[turn % len(options.shapes)]


def _make_loss(options: LossOptions, rng: random.Random, system: object) -> Any:
    return LossNemesis(rng, system=system, loss=options.probability)


def _pick_loss(
    options: LossOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    return "start-loss", {"probability": options.probability}


def _pin_partition(invoked: Any, done: Any) -> Any:
    """The grudge the partition made (a shape drawn at random, or the primaries' isolation,
    made again exactly by giving it)."""
    if isinstance(done, dict) and isinstance(done.get("grudge"), dict):
        return done["grudge"]
    return invoked


PARTITION = FaultInfo(
    name="partition",
    description="cut the network between nodes into a shape (one node alone, halves, a "
    "majorities ring, a bridge, the leader alone), with iptables in each node",
    make=_make_partition,
    starts=("start-partition",),
    heal="stop-partition",
    pick=_pick_partition,
    options=PartitionOptions,
    color="rgba(142,92,214,.35)",
    heal_rank=10,
    pin=_pin_partition,
)
LOSS = FaultInfo(
    name="loss",
    description="drop a random share of the packets between nodes (not the clients')",
    make=_make_loss,
    starts=("start-loss",),
    heal="stop-loss",
    pick=_pick_loss,
    options=LossOptions,
    color="rgba(230,100,170,.3)",
    heal_rank=10,
    pin=pin_nodes,
)


# -- the nemeses ----------------------------------------------------------------------------------

# Fixed shell scripts; chain names and addresses arrive as positional arguments ("$1"...),
# never pasted into the text. One script is one round trip to the node.
_INSTALL = """
c="$1"; shift
iptables -w 5 -N "$c" 2>/dev/null || iptables -w 5 -F "$c" || exit 1
for h in "$@"; do
  iptables -w 5 -C "$h" -j "$c" 2>/dev/null || iptables -w 5 -I "$h" 1 -j "$c" || exit 1
done
"""
_PARTITION = """
iptables -w 5 -F "$1" || exit 1
if [ -n "$2" ]; then iptables -w 5 -A "$1" -s "$2" -j DROP || exit 1; fi
if [ -n "$3" ]; then iptables -w 5 -A "$1" -d "$3" -j DROP || exit 1; fi
"""
_LOSS = """
iptables -w 5 -F "$1" || exit 1
if [ "$4" = reset ]; then
  iptables -w 5 -A "$1" -p tcp -s "$2" -m statistic --mode random --probability "$3" \
    -j REJECT --reject-with tcp-reset || exit 1
else
  iptables -w 5 -A "$1" -s "$2" -m statistic --mode random --probability "$3" -j DROP || exit 1
fi
"""
_HEAL = """
iptables -w 5 -F "$1"
"""
_REMOVE = """
for h in INPUT OUTPUT; do
  while iptables -w 5 -D "$h" -j "$1" 2>/dev/null; do :; done
done
iptables -w 5 -F "$1" 2>/dev/null; iptables -w 5 -X "$1" 2>/dev/null
exit 0
"""


class _Chain:
    """One iptables chain of ours on every node, hooked from ``hooks``: installed when first
    needed, flushed to heal, unhooked and deleted at teardown."""

    def __init__(self, name: str, hooks: tuple[str, ...]) -> None:
        self.name = name
        self.hooks = hooks
        self.nodes: list[Node] = []
        self.installed = False

    def ensure(self) -> None:
        if self.installed:
            return
        errors = on_nodes(self.nodes, lambda n: _sh(n, _INSTALL, self.name, *self.hooks))
        self.installed = True  # even in part: teardown removes what is there
        if errors:
            raise RuntimeError(f"could not set up iptables chains: {describe_errors(errors)}")

    def flush(self) -> dict[str, BaseException]:
        if not self.installed:
            return {}
        return on_nodes(self.nodes, lambda n: _sh(n, _HEAL, self.name))

    def remove(self) -> dict[str, BaseException]:
        if not self.installed:
            return {}
        errors = on_nodes(self.nodes, lambda n: _sh(n, _REMOVE, self.name))
        if not errors:
            self.installed = False
        return errors


class PartitionNemesis:
    """Partitions between nodes. ``rng`` draws the random shapes; ``nodes`` defaults to the
    cluster's; ``system`` answers "primaries"/"leader" (HasPrimaries). If the cluster has a
    NetworkControl of its own, partitions go through it."""

    fs = frozenset({"start-partition", "stop-partition"})

    def __init__(
        self,
        rng: random.Random,
        nodes: Sequence[Node] | None = None,
        *,
        system: object | None = None,
        drop_output: bool = False,
    ) -> None:
        self.rng = rng
        self.system = system
        self.drop_output = drop_output
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = []
        self._net: NetworkControl | None = None
        self._chain = _Chain(CHAIN, ("INPUT", "OUTPUT"))

    def setup(self, cluster: Cluster) -> None:
        """Hook our chain into every node (empty: nothing is cut yet)."""
        self.nodes = self._chain.nodes = nodes_of(cluster, self._given)
        self._net = cluster if isinstance(cluster, NetworkControl) else None
        if self._net is None:
            self._chain.ensure()

    def invoke(self, op: Op) -> Op:
        try:
            if op.f == "start-partition":
                return self._start_partition(op)
            if op.f == "stop-partition":
                error = self._heal()
                return op.complete("info" if error else "ok", "healed", error=error)
        except ValueError as e:
            return op.complete("info", op.value, error=str(e))
        return op.complete("info", op.value, error=f"partition nemesis does not handle {op.f!r}")

    def teardown(self) -> None:
        """Heal, then unhook and delete our chain on every node."""
        errors: dict[str, BaseException] = {}
        if self._net is not None:
            try:
                self._net.heal()
            except Exception as e:
                errors["network"] = e
        errors.update(self._chain.remove())
        if errors:
            raise RuntimeError(f"could not heal the network: {describe_errors(errors)}")

    def _start_partition(self, op: Op) -> Op:
        names = node_names(self.nodes)
        value: dict[str, Any]
        if op.value in ("primaries", "leader"):
            primaries = pick_nodes("primaries", self.nodes, self.rng, system=self.system)
            grudge = isolate(names, [p.name for p in primaries])
            value = {"shape": op.value, "grudge": grudge, "primaries": node_names(primaries)}
            if not primaries:
                error = self._apply({}) or "the system reports no primaries: nothing is cut"
                return op.complete("info", value, error=error)
        else:
            shape = op.value if isinstance(op.value, str) else "grudge"
            grudge = grudge_for(op.value, names, self.rng)
            value = {"shape": shape, "grudge": grudge}
        failed = self._apply(grudge)
        return op.complete("info" if failed else "ok", value, error=failed)

    def _apply(self, grudge: Grudge) -> str | None:
        """Replace the partition in force on every node by ``grudge``; the error line, if any."""
        by_name = {n.name: n for n in self.nodes}
        if self._net is not None:
            try:
                self._net.heal()
                for dst, srcs in grudge.items():
                    for src in srcs:
                        self._net.drop(by_name[src], by_name[dst])
            except Exception as e:
                return f"network control: {type(e).__name__}: {e}"
            return None
        self._chain.ensure()
        heard_by: dict[str, list[str]] = {n: [] for n in by_name}  # sender -> who drops it
        for dst, srcs in grudge.items():
            for src in srcs:
                heard_by[src].append(dst)

        def apply(node: Node) -> None:
            srcs = ",".join(by_name[s].address for s in grudge.get(node.name, []))
            dsts = ",".join(by_name[d].address for d in heard_by[node.name])
            _sh(node, _PARTITION, CHAIN, srcs, dsts if self.drop_output else "")

        return describe_errors(on_nodes(self.nodes, apply))

    def _heal(self) -> str | None:
        errors: dict[str, BaseException] = {}
        if self._net is not None:
            try:
                self._net.heal()
            except Exception as e:
                errors["network"] = e
        errors.update(self._chain.flush())
        return describe_errors(errors)


class LossNemesis:
    """Random packet loss between nodes, always with iptables in the nodes (a NetworkControl
    cuts links, it does not drop a share). ``loss`` is the probability when ``start-loss``
    gives none; ``nodes`` and ``system`` as for PartitionNemesis."""

    fs = frozenset({"start-loss", "stop-loss"})

    def __init__(
        self,
        rng: random.Random,
        nodes: Sequence[Node] | None = None,
        *,
        system: object | None = None,
        loss: float = 0.2,
    ) -> None:
        self.rng = rng
        self.system = system
        self.loss = loss
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = []
        self._chain = _Chain(LOSS_CHAIN, ("INPUT",))

    def setup(self, cluster: Cluster) -> None:
        """Hook our chain into every node (empty: nothing is dropped yet)."""
        self.nodes = self._chain.nodes = nodes_of(cluster, self._given)
        self._chain.ensure()

    def invoke(self, op: Op) -> Op:
        try:
            if op.f == "start-loss":
                return self._start_loss(op)
            if op.f == "stop-loss":
                error = describe_errors(self._chain.flush())
                return op.complete("info" if error else "ok", "healed", error=error)
        except ValueError as e:
            return op.complete("info", op.value, error=str(e))
        return op.complete("info", op.value, error=f"loss nemesis does not handle {op.f!r}")

    def teardown(self) -> None:
        """Unhook and delete our chain on every node."""
        errors = self._chain.remove()
        if errors:
            raise RuntimeError(f"could not heal the network: {describe_errors(errors)}")

    def _start_loss(self, op: Op) -> Op:
        v = op.value if op.value is not None else {}
        if not isinstance(v, Mapping):
            raise ValueError(
                f"expected {{probability, nodes, mode}} or null for start-loss, got {v!r}"
            )
        unknown = set(v) - {"probability", "nodes", "mode"}
        if unknown:
            raise ValueError(
                f"unknown start-loss key(s) {sorted(unknown)}; allowed: probability, nodes, mode"
            )
        p = v.get("probability", self.loss)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise ValueError(f"expected a probability in (0, 1] for 'probability', got {p!r}")
        mode = v.get("mode", "drop")
        if mode not in ("drop", "reset"):
            raise ValueError(f"expected 'drop' or 'reset' for 'mode', got {mode!r}")
        targets = pick_nodes(v.get("nodes", "all"), self.nodes, self.rng, system=self.system)
        self._chain.ensure()

        def apply(node: Node) -> None:
            peers = ",".join(n.address for n in self.nodes if n is not node)
            if peers:
                _sh(node, _LOSS, LOSS_CHAIN, peers, f"{float(p):.6f}", mode)

        error = describe_errors(on_nodes(targets, apply))
        value = {"nodes": node_names(targets), "probability": float(p), "mode": mode}
        return op.complete("info" if error else "ok", value, error=error)


# -- grudges: pure functions of node names (and a seeded random source) -------------------------


def grudge_for(value: Any, names: Sequence[str], rng: random.Random) -> Grudge:
    """The grudge a ``start-partition`` value asks for: a shape name (but not "primaries",
    which needs the system) or an explicit grudge. Raises ValueError."""
    if isinstance(value, Mapping):
        return validate_grudge(value, names)
    if value == "one":
        return isolate_one(names, rng)
    if value == "halves":
        return halves(names)
    if value == "random-halves":
        return random_halves(names, rng)
    if value == "majorities-ring":
        return majorities_ring(names, rng)
    if value == "bridge":
        return bridge(names, rng)
    raise ValueError(
        f"expected a partition shape ({', '.join(SHAPES)}) or a grudge "
        f"{{node: [nodes it cannot hear]}}, got {value!r}"
    )


def complete_grudge(components: Sequence[Sequence[str]]) -> Grudge:
    """Every node cannot hear the nodes outside its own component."""
    everyone = [n for c in components for n in c]
    grudge: Grudge = {}
    for component in components:
        inside = set(component)
        for node in component:
            others = [n for n in everyone if n not in inside]
            if others:
                grudge[node] = others
    return _normal(grudge, everyone)


def isolate_one(names: Sequence[str], rng: random.Random) -> Grudge:
    """One random node cut off from all the others."""
    if not names:
        return {}
    alone = rng.choice(list(names))
    return isolate(names, [alone])


def isolate(names: Sequence[str], isolated: Sequence[str]) -> Grudge:
    """Each of ``isolated`` alone, the other nodes together."""
    rest = [n for n in names if n not in isolated]
    components = [[n] for n in names if n in isolated] + ([rest] if rest else [])
    return _normal(complete_grudge(components), names)


def halves(names: Sequence[str]) -> Grudge:
    """The first ``n // 2`` nodes (the smaller half) cut from the rest."""
    names = list(names)
    k = len(names) // 2
    return _normal(complete_grudge([names[:k], names[k:]]), names)


def random_halves(names: Sequence[str], rng: random.Random) -> Grudge:
    """Halves of a random shuffle of the nodes."""
    order = list(names)
    rng.shuffle(order)
    return _normal(halves(order), names)


def majorities_ring(names: Sequence[str], rng: random.Random) -> Grudge:
    """Every node sees a majority, and no two nodes see the same one (Jepsen's majorities
    ring): the nodes are put on a ring in random order; each window of ``n // 2 + 1``
    consecutive nodes is what the node at its middle sees. With an even window the grudge is
    one-way in places, as in Jepsen."""
    order = list(names)
    rng.shuffle(order)
    n = len(order)
    m = n // 2 + 1
    grudge: Grudge = {}
    for i in range(n):
        window = [order[(i + k) % n] for k in range(m)]
        center = window[m // 2]
        unseen = [x for x in order if x not in window]
        if unseen:
            grudge[center] = unseen
    return _normal(grudge, names)


def bridge(names: Sequence[str], rng: random.Random) -> Grudge:
    """Two halves of a random shuffle, cut from each other, except one node of the second
    half which hears, and is heard by, everyone."""
    order = list(names)
    rng.shuffle(order)
    k = len(order) // 2
    if k == 0:
        return {}
    first, second = order[:k], order[k:]
    middle = second[0]
    grudge: Grudge = {}
    for a in first:
        grudge[a] = [b for b in second if b != middle]
    for b in second[1:]:
        grudge[b] = list(first)
    return _normal(grudge, names)


def validate_grudge(value: Mapping[Any, Any], names: Sequence[str]) -> Grudge:
    """An explicit grudge checked against the node names; raises ValueError naming what is
    wrong. A node listed as not hearing itself is an error."""
    known = set(names)
    grudge: Grudge = {}
    for node, unheard in value.items():
        if node not in known:
            raise ValueError(f"grudge names unknown node {node!r}; nodes: {', '.join(names)}")
        if isinstance(unheard, str) or not isinstance(unheard, Sequence):
            raise ValueError(f"expected a list of node names for grudge[{node!r}], got {unheard!r}")
        bad = [u for u in unheard if u not in known]
        if bad:
            raise ValueError(
                f"grudge[{node!r}] names unknown node(s) {', '.join(map(repr, bad))}; "
                f"nodes: {', '.join(names)}"
            )
        if node in unheard:
            raise ValueError(f"grudge[{node!r}] lists {node!r} itself")
        if unheard:
            grudge[node] = list(unheard)
    return _normal(grudge, names)


def _normal(grudge: Grudge, names: Sequence[str]) -> Grudge:
    """Keys and lists in node order, no empty lists, no duplicates: one grudge, one form."""
    pos = {n: i for i, n in enumerate(names)}
    out: Grudge = {}
    for node in sorted(grudge, key=lambda n: pos.get(n, len(pos))):
        unheard = sorted(set(grudge[node]), key=lambda n: pos.get(n, len(pos)))
        if unheard:
            out[node] = unheard
    return out


def _sh(node: Node, script: str, *args: str) -> None:
    node.exec(["sh", "-c", script, "sh", *args], timeout=20)
