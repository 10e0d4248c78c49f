"""The ``nats-pause-leader`` fault: pause (SIGSTOP) the server that leads the bucket's stream,
or the JetStream meta leader, as the cluster itself reports it; resume it at the heal.

Ops (``f``: value -> completion value):

- ``pause-nats-leader``: ``"stream"`` or ``"meta"`` -> ``{"of": ..., "leader": name}``, the node
  paused. Every node's monitoring endpoint is asked who leads (``/jsz``); the name most of
  those that answer give is paused. ``info`` with an error when none names a leader.
- ``resume-nats-leader``: ignored -> the names of the nodes resumed.

Teardown resumes every node still paused.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from clusters.base import Cluster, Node, SetupError
from harness.history import Op
from harness.registry import option

from splitbrain_nats.system import NatsSystem, jsz, stream_leader

__all__ = ["PauseLeaderNemesis", "PauseLeaderOptions", "make", "pick"]

LEADERS = ("stream", "meta")


@dataclass(frozen=True)
class PauseLeaderOptions:
    """The options of ``nats-pause-leader`` (``{name: nats-pause-leader, of: [meta]}``)."""

    of: tuple[str, ...] = option(
        ("stream", "meta"), "whose leader to pause, taken in turn", choices=LEADERS
    )


def make(options: PauseLeaderOptions, rng: random.Random, system: Any) -> PauseLeaderNemesis:
    """``FaultInfo.make``: one nemesis per test, acting through the test's NatsSystem."""
    if not isinstance(system, NatsSystem):
        raise SetupError(f"nats-pause-leader needs the nats system, not {type(system).__name__}")
    return PauseLeaderNemesis(system)


def pick(
    options: PauseLeaderOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    """``FaultInfo.pick``: the ``turn``-th start op pauses the leader of ``of[turn]``."""
    if not options.of:
        raise ValueError("nats-pause-leader has nothing to pause (of is empty)")
    return "pause-nats-leader", options.of[turn % len(options.of)]


class PauseLeaderNemesis:
    """Nemesis: ``pause-nats-leader`` and ``resume-nats-leader`` (see the module docstring)."""

    fs = frozenset({"pause-nats-leader", "resume-nats-leader"})

    def __init__(self, system: NatsSystem) -> None:
        self.system = system
        self.nodes: list[Node] = []
        self.paused: dict[str, Node] = {}

    def setup(self, cluster: Cluster) -> None:
        self.nodes = list(cluster.nodes)

    def invoke(self, op: Op) -> Op:
        if op.f == "pause-nats-leader":
            return self._pause(op)
        if op.f == "resume-nats-leader":
            resumed = self.resume_all()
            return op.complete("ok", resumed)
        return op.complete("info", op.value, error=f"nats-pause-leader does not handle {op.f!r}")

    def teardown(self) -> None:
        self.resume_all()

    def resume_all(self) -> list[str]:
        """Resume every node this nemesis paused; their names."""
        names = sorted(self.paused)
        for name in names:
            self.system.resume(self.paused[name])  # raises: it stays owed, for teardown
            del self.paused[name]
        return names

    def _pause(self, op: Op) -> Op:
        of = op.value if op.value in LEADERS else "stream"
        leader = self.leader(of)
        node = next((n for n in self.nodes if n.name == leader), None)
        if node is None:
            error = f"no node names a {of} leader" if leader is None else f"unknown {leader!r}"
            return op.complete("info", {"of": of, "leader": leader}, error=error)
        self.paused[node.name] = node  # first: a pause that fails half-way is resumed too
        try:
            self.system.pause(node)
        except (OSError, RuntimeError) as e:
            return op.complete("info", {"of": of, "leader": leader}, error=f"{e}")
        return op.complete("ok", {"of": of, "leader": node.name})

    def leader(self, of: str) -> str | None:
        """The leader most answering nodes name (``of``: the bucket's stream, or meta)."""
        path = "/jsz?accounts=true&streams=true" if of == "stream" else "/jsz"

        def ask(node: Node) -> str | None:
            info = jsz(self.system.monitor_url(node, path), timeout=1.0)
            if of == "stream":
                return stream_leader(info, self.system.stream)
            return ((info or {}).get("meta_cluster") or {}).get("leader") or None

        live = [n for n in self.nodes if n.name not in self.paused]
        with ThreadPoolExecutor(max(1, len(live))) as pool:
            names = [name for name in pool.map(ask, live) if name]
        return Counter(names).most_common(1)[0][0] if names else None
