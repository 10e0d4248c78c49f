"""The ``promises`` note: what the system under test promises, next to the verdict, and
whether the consistency models it claims held.

A system's clients answer the final ``status`` op with a value carrying ``system``,
``promise`` (in words) and, where the system names them, ``models``: the consistency models
it promises these operations, by the ``causal`` checker's names (ZooKeeper: sequential and
read-your-writes for a session; etcd: sequential; Redis' replica reads: none). This checker
collects them, so that results.json says whether an invalid verdict is a broken promise or the
test asking for more than the system promises, and checks the models claimed with the causal
checker, one model at a time, so that it says which of them held (``details.held``).

Its verdict is about the promises only: false when a claimed model is broken (a bug report),
"unknown" when a claimed model could not be decided in time, true otherwise, also when
nothing is claimed (then it is a note, and never changes the test's verdict).
"""

from __future__ import annotations

from typing import Any

from checkers.base import Anomaly, Result
from checkers.causal import MODELS, CausalChecker
from harness.history import Op
from harness.registry import CheckerInfo, NoOptions

__all__ = ["CHECKER", "TIME_BUDGET_S", "PromisesChecker", "claims"]

#: seconds the check of each claimed model may take before it is "unknown"
TIME_BUDGET_S = 60.0


def claims(history: list[Op]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """What the ``ok`` status ops of ``history`` say: system -> promise (the first one each
    system gave), and system -> the models it claims (the first list each gave; a system
    that gave none is absent)."""
    notes: dict[str, str] = {}
    models: dict[str, list[str]] = {}
    for op in history:
        if op.f != "status" or op.type != "ok" or not isinstance(op.value, dict):
            continue
        system = str(op.value.get("system", "system"))
        p = op.value.get("promise")
        if p:
            notes.setdefault(system, str(p))
        ms = op.value.get("models")
        if isinstance(ms, list | tuple) and system not in models:
            models[system] = [str(m) for m in ms]
    return notes, models


class PromisesChecker:
    """The ``promise`` of every system whose ``status`` ops said one (``details.promises``:
    system -> promise), the models each claims (``details.models``) and, for each model
    claimed, whether it held on this history (``details.held``: model -> true, false or
    "unknown"; ``details.broken``: the models that did not; ``details.found``: anomalies by
    kind, counted in full, where the result explains a few of each). With no status,
    ``details.promise`` says none reported."""

    name = "promises"

    def __init__(self, time_budget_s: float = TIME_BUDGET_S) -> None:
        self.time_budget_s = time_budget_s

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        notes, models = claims(history)
        if not notes and not models:
            return Result(True, [], {"promise": "no node reported what its system promises"})
        details: dict[str, Any] = {"promises": notes}
        if models:
            details["models"] = models
        claimed = [m for m in MODELS if any(m in ms for ms in models.values())]
        unknown_names = sorted({m for ms in models.values() for m in ms} - set(MODELS))
        if unknown_names:
            details["not-checked"] = (
                f"{', '.join(unknown_names)}: not a model the causal checker knows "
                f"({', '.join(MODELS)})"
            )
        if not claimed:
            return Result(True, [], details)
        held: dict[str, Any] = {}
        anomalies: list[Anomaly] = []
        reasons: list[str] = []
        found: dict[str, int] = {}
        for model in claimed:
            r = CausalChecker([model], self.time_budget_s).check(history, ctx)
            held[model] = r.valid
            for kind, n in (r.details.get("found") or {}).items():
                found[kind] = max(found.get(kind, 0), n)
            if r.valid is False:
                seen = {(a.name, a.explanation) for a in anomalies}
                anomalies += [a for a in r.anomalies if (a.name, a.explanation) not in seen]
            elif r.valid == "unknown":
                reasons.append(f"{model}: {r.details.get('reason', 'not decided')}")
        details["held"] = held
        details["broken"] = [m for m, v in held.items() if v is False]
        # counted in full (the checks explain a few per kind); a kind's count is the largest
        # of the claimed models' checks, each of which counts the weaker models' kinds too
        details["found"] = dict(sorted(found.items()))
        if reasons:
            details["reason"] = "; ".join(reasons)
        verdicts = list(held.values())
        valid: Any = False if False in verdicts else ("unknown" if "unknown" in verdicts else True)
        return Result(valid, anomalies, details)


def _make(options: NoOptions) -> PromisesChecker:
    return PromisesChecker()


CHECKER = CheckerInfo(
    "promises",
    "what the system under test promises (from its status), so an invalid result reads as a "
    "broken promise or as a test asking for more; the consistency models it claims are "
    "checked (causal checker), and its verdict says which held",
    _make,
)
