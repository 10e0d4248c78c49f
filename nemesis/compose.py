"""Several nemeses as one, each op routed by its ``f``; the nemesis of a test, one part per
fault kind; and the nemesis that does nothing."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from clusters.base import Cluster
from harness.history import Op
from harness.registry import FaultInfo, parse_options
from nemesis.base import Nemesis
from nemesis.schedule import fault_infos

__all__ = ["ComposedNemesis", "NoopNemesis", "compose", "for_test"]


def for_test(
    fault_options: Mapping[str, Any],
    rng: random.Random,
    system: object,
    infos: Mapping[str, FaultInfo] | None = None,
) -> ComposedNemesis:
    """The nemesis of a test: for each fault kind in ``fault_options`` (name -> its options
    instance, None for the defaults), the kind's ``make(options, rng, system)``, composed. The
    kinds come from the registry, or from ``infos`` (a kind no entry point registers). Every
    part shares ``rng``, the nemesis thread's seeded random. Raises ValueError when two kinds
    claim the same op, SetupError when the system cannot take a fault (kill needs Killable)."""
    parts = []
    for name, info in fault_infos(fault_options, infos).items():
        options: Any = parse_options(info.options, fault_options[name], f"the {name} fault")
        parts.append(info.make(options, rng, system))
    return compose(parts)


def compose(nemeses: Sequence[Nemesis]) -> ComposedNemesis:
    """One nemesis that sends each op to the part whose ``fs`` holds its ``f``. Raises
    ValueError when two parts claim the same ``f``."""
    return ComposedNemesis(nemeses)


class ComposedNemesis:
    def __init__(self, nemeses: Sequence[Nemesis]) -> None:
        self.parts = list(nemeses)
        self._route: dict[str, Nemesis] = {}
        for part in self.parts:
            for f in part.fs:
                other = self._route.get(f)
                if other is not None:
                    raise ValueError(
                        f"both {type(other).__name__} and {type(part).__name__} handle {f!r}"
                    )
                self._route[f] = part
        self.fs = frozenset(self._route)

    def setup(self, cluster: Cluster) -> None:
        for part in self.parts:
            part.setup(cluster)

    def invoke(self, op: Op) -> Op:
        part = self._route.get(op.f)
        if part is None:
            handled = ", ".join(sorted(self.fs)) or "none"
            error = f"no nemesis handles {op.f!r}; handled: {handled}"
            return op.complete("info", op.value, error=error)
        return part.invoke(op)

    def teardown(self) -> None:
        """Tear every part down, even when one fails; then raise naming those that failed."""
        failures: list[tuple[str, Exception]] = []
        for part in self.parts:
            try:
                part.teardown()
            except Exception as e:
                failures.append((type(part).__name__, e))
        if failures:
            raise RuntimeError(
                "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in failures)
            ) from failures[0][1]


class NoopNemesis:
    """Injects nothing: every op completes ``info`` saying so. A start for a new test."""

    fs: frozenset[str] = frozenset()

    def setup(self, cluster: Cluster) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        return op.complete("info", op.value, error=f"noop nemesis: {op.f!r} not applied")

    def teardown(self) -> None:
        pass
