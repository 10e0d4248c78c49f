"""The linearizability checker: history in, verdict and explained anomalies out."""

from __future__ import annotations

import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from harness.history import Op

from ..base import Anomaly, Result
from ._prepare import Partition, Prepared, prepare
from ._search import STRATEGIES, Outcome, search
from .explain import explain
from .models import MODELS, Model
from .visualize import write_page

__all__ = ["LinearizableChecker"]

_FIRST_ROUND_STEPS = 4096
_GROWTH = 8


class LinearizableChecker:
    """Checks that a history is linearizable with respect to a model.

    ``model``: a name from ``MODELS`` or a ``Model``. ``initial``: the model's first state
    (for a register, the value before any write; None is nil). ``time_budget_s``: past it the
    verdict is "unknown" with the reason. ``max_nodes``: the memory bound, in search nodes
    memoised per partition (about 150 bytes each). ``independent``: split ``[key, v]`` values
    per key (True / False; None detects). ``exhaustive``: search every partition to the end
    even when one is already invalid (otherwise the rest are left undecided, to save time).
    """

    name = "linearizable"

    def __init__(
        self,
        model: str | Model = "cas-register",
        initial: Any = None,
        time_budget_s: float = 60.0,
        *,
        max_nodes: int = 1_000_000,
        independent: bool | None = None,
        exhaustive: bool = False,
    ) -> None:
        if isinstance(model, str):
            if model not in MODELS:
                raise ValueError(
                    f"unknown model {model!r} for 'model'; allowed: {', '.join(sorted(MODELS))}"
                )
            model = MODELS[model]
        self.model = model.with_initial(initial)
        self.time_budget_s = time_budget_s
        self.max_nodes = max_nodes
        self.independent = independent
        self.exhaustive = exhaustive

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Check ``history``. ``ctx`` is not needed; it is accepted for the Checker contract."""
        started = time.monotonic()
        try:
            return self._check(history, started)
        except Exception as e:  # a crash is "unknown", never a verdict
            return Result("unknown", [], {"model": self.model.name,
                                          "reason": f"the checker failed: {type(e).__name__}: {e}"})  # fmt: skip

    def write_artifacts(self, result: Result, directory: Path) -> list[Path]:
        """Write ``linearizable.html`` when some partition is not linearizable."""
        drawable = [a for a in result.anomalies if a.data.get("timeline") is not None]
        if not drawable:
            return []
        directory.mkdir(parents=True, exist_ok=True)
        title = f"splitbrain: linearizability ({self.model.name})"
        return [write_page(drawable, directory / "linearizable.html", title)]

    # -- internals -------------------------------------------------------------------------------

    def _check(self, history: list[Op], started: float) -> Result:
        deadline = started + self.time_budget_s
        prepared = prepare(history, self.model, self.independent)
        outcomes = self._search_all(prepared.partitions, deadline)
        anomalies: list[Anomaly] = []
        for part in prepared.partitions:
            out = outcomes[id(part)]
            if out.valid is False:
                anomalies.append(explain(self.model, part.key, part.entries, out,
                                         deadline=deadline))  # fmt: skip
        valids = [outcomes[id(p)].valid for p in prepared.partitions]
        valid: Any = (False if False in valids
                      else "unknown" if "unknown" in valids else True)  # fmt: skip
        details = self._details(prepared, outcomes, started)
        if valid == "unknown":
            details["reason"] = _unknown_reason(prepared.partitions, outcomes)
        return Result(valid, anomalies, details)

    def _search_all(self, parts: list[Partition], deadline: float) -> dict[int, Outcome]:
        """Search every partition, in rounds of growing step limits, each round trying every
        search strategy in turn on the undecided partitions: a partition that is quick to
        decide (by any strategy) is decided before one whose search explodes, and no single
        ordering heuristic sets the worst case. Once one partition is invalid the rest are
        abandoned, unless ``exhaustive``; once the time budget is spent, all undecided are."""
        outcomes: dict[int, Outcome] = {}
        undecided = sorted(parts, key=lambda p: len(p.entries))
        limit = _FIRST_ROUND_STEPS
        while undecided:
            last_round = limit >= self.max_nodes  # steps never outnumber memoised nodes
            for strategy in range(len(STRATEGIES)):
                for part in undecided:
                    if id(part) in outcomes and not outcomes[id(part)].limited:
                        continue
                    # With paths: they cost little, and explain an invalid result.
                    out = search(self.model, part.entries, deadline=deadline, paths=True,
                                 max_nodes=self.max_nodes, strategy=strategy,
                                 max_steps=None if last_round else limit)  # fmt: skip
                    outcomes[id(part)] = out
                    if out.valid is False and not self.exhaustive:
                        return self._abandon(parts, outcomes, "another partition is invalid")
                    if out.valid == "unknown" and time.monotonic() > deadline:
                        return self._abandon(parts, outcomes, out.reason)
            undecided = [p for p in undecided if outcomes[id(p)].limited]
            limit *= _GROWTH
        return outcomes

    @staticmethod
    def _abandon(
        parts: list[Partition], outcomes: dict[int, Outcome], reason: str
    ) -> dict[int, Outcome]:
        """Mark every partition not decided yet as abandoned, for ``reason``."""
        for part in parts:
            out = outcomes.get(id(part))
            if out is None or out.limited:
                outcomes[id(part)] = _abandoned(reason)
        return outcomes

    def _details(
        self, prepared: Prepared, outcomes: dict[int, Outcome], started: float
    ) -> dict[str, Any]:
        per_key: dict[str, dict[str, Any]] = {}
        for part in prepared.partitions:
            out = outcomes[id(part)]
            row: dict[str, Any] = {"ops": len(part.entries), "valid": out.valid, **out.stats}
            if out.valid == "unknown":
                row["reason"] = out.reason
            per_key[_key_name(part.key, prepared)] = row
        return {
            "model": self.model.name,
            "independent": prepared.independent,
            "partitions": len(prepared.partitions),
            "counts": prepared.counts,
            "keys": per_key,
            "invalid-keys": [k for k, r in per_key.items() if r["valid"] is False],
            "elapsed-s": round(time.monotonic() - started, 4),
        }


def _abandoned(reason: str) -> Outcome:
    return Outcome("unknown", reason=f"not searched to the end: {reason}")


def _unknown_reason(parts: list[Partition], outcomes: dict[int, Outcome]) -> str:
    reasons = [outcomes[id(p)].reason for p in parts if outcomes[id(p)].valid == "unknown"]
    first = reasons[0] if reasons else "unknown"
    n = len(reasons)
    return first if n == 1 else f"{n} partitions undecided; the first: {first}"


def _key_name(key: Hashable, prepared: Prepared) -> str:
    if key is None and len(prepared.partitions) == 1:
        return "all"
    return str(key)
