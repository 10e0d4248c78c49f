"""The Nemesis contract: it injects and heals faults, and its ops are part of the history."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from clusters.base import Cluster
from harness.history import Op

__all__ = ["Nemesis"]


@runtime_checkable
class Nemesis(Protocol):
    #: the ``f``s this nemesis handles, e.g. {"start-partition", "stop-partition"}
    fs: frozenset[str]

    def setup(self, cluster: Cluster) -> None: ...

    def invoke(self, op: Op) -> Op:
        """Apply the fault ``op`` asks for; return its completion, whose value says exactly
        what was done (which nodes, which grudge, which offsets)."""
        ...

    def teardown(self) -> None:
        """Heal everything this nemesis did. Must be safe to call at any time, twice."""
        ...
