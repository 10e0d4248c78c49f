"""The transactional checkers: list-append and read-write register histories in, verdict out.

    checker = ListAppendChecker(consistency_models=["serializable"], time_budget_s=60)
    result = checker.check(history, ctx={})   # Result(valid, anomalies, details)
    checker.write_artifacts(result, run_dir)  # list-append-anomalies.html, a picture per cycle

The verdict follows Elle's: ``false`` when an anomaly the models (or ``anomalies``) forbid is
present; ``"unknown"`` when nothing forbidden was found but the check could not look
(no dependency could be inferred at all, or the cycle search ran out of time); else ``true``.
``details["not"]`` names the weakest models the history rules out, ``details["also-not"]``
the stronger ones, from every anomaly found (forbidden or not).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from harness.history import Op

from ..base import Anomaly, Result
from . import list_append, rw_register
from ._cycles import CYCLE_EXISTS, find_cycles
from ._graph import PROCESS, REALTIME
from ._prepare import PrepareError, Txns, prepare, process_edges, realtime_edges
from .explain import to_anomaly
from .list_append import AnalysisError
from .models import (
    CYCLE_TYPES,
    UNKNOWN_ANOMALIES,
    boundary,
    canonical_model,
    impossible_models,
    prohibited_anomalies,
    validate_anomalies,
    validate_models,
)
from .visualize import write_page

__all__ = ["ListAppendChecker", "RwRegisterChecker"]

_SHIFT = 5
_REALTIME_TYPES = frozenset(t for t in CYCLE_TYPES if t.endswith("-realtime"))
_PROCESS_TYPES = frozenset(t for t in CYCLE_TYPES if t.endswith("-process"))


class _TxnChecker:
    """What list-append and rw-register share; ``_analyse`` is the workload's inference."""

    name = "list-append"
    workload = "list-append"

    def __init__(
        self,
        consistency_models: Any = ("strict-serializable",),
        anomalies: Any = (),
        time_budget_s: float = 60.0,
        *,
        max_cases: int = 10,
    ) -> None:
        self.consistency_models = validate_models(_names(consistency_models))
        self.anomalies = validate_anomalies(_names(anomalies))
        if time_budget_s <= 0:
            raise ValueError(f"'time_budget_s' must be > 0, got {time_budget_s!r}")
        self.time_budget_s = float(time_budget_s)
        self.max_cases = max_cases
        self.prohibited = prohibited_anomalies(self.consistency_models, self.anomalies)
        reportable = self.prohibited | UNKNOWN_ANOMALIES
        # As Elle: a realtime graph when a realtime anomaly is forbidden (it orders each
        # process's transactions too), else a process graph when a process anomaly is.
        self.order = ("realtime" if reportable & _REALTIME_TYPES
                      else "process" if reportable & _PROCESS_TYPES else None)  # fmt: skip

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Check ``history``; ``ctx`` is accepted for the Checker contract and not needed."""
        started = time.monotonic()
        # The analysis makes millions of small objects and no reference cycles: the cyclic
        # garbage collector would rescan the (large) heap again and again, doubling the time.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._check(history, started)
        except (PrepareError, AnalysisError) as e:
            return self._unknown(str(e), started)
        except Exception as e:  # a crash is "unknown", never a verdict
            return self._unknown(f"the checker failed: {type(e).__name__}: {e}", started)
        finally:
            if gc_was_enabled:
                gc.enable()

    def write_artifacts(self, result: Result, directory: Path) -> list[Path]:
        """Write ``<name>-anomalies.html`` (each anomaly in words, each cycle drawn) when there
        is an anomaly to show."""
        if not result.anomalies:
            return []
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}-anomalies.html"
        title = f"splitbrain {self.name}: {_verdict_word(result.valid)}"
        return [write_page(result, path, title)]

    # -- internals -------------------------------------------------------------------------------

    def _analyse(self, txns: Txns) -> Any:
        return list_append.analyse(txns)

    def _unknown(self, reason: str, started: float) -> Result:
        return Result("unknown", [], {
            "workload": self.workload, "reason": reason,
            "consistency-models": self.consistency_models, "anomalies": self.anomalies,
            "anomaly-types": [], "not": [], "also-not": [],
            "elapsed-s": round(time.monotonic() - started, 4),
        })  # fmt: skip

    def _check(self, history: list[Op], started: float) -> Result:
        deadline = started + self.time_budget_s
        txns = prepare(history)
        an = self._analyse(txns)
        n = len(txns)
        out = an.out
        if self.order == "realtime":
            for a, b in realtime_edges(txns):
                out[a].append((b << _SHIFT) | REALTIME)
        elif self.order == "process":
            for a, b in process_edges(txns):
                out[a].append((b << _SHIFT) | PROCESS)
        edges = sum(len(x) for x in out)
        inferred = time.monotonic()
        cases: dict[str, list[dict[str, Any]]] = dict(an.cases)
        cycle_cases, stats = find_cycles(n, out, deadline)
        for k, v in cycle_cases.items():
            cases.setdefault(k, []).extend(v)
        if edges == 0:
            cases["empty-transaction-graph"] = [{"txns": n}]
        return self._result(an, cases, {
            "txns": n, "failed-txns": len(txns.failed), "edges": edges,
            "order": self.order, **stats,
            "inference-s": round(inferred - started, 4),
        }, started)  # fmt: skip

    def _result(
        self, an: Any, cases: dict[str, list[dict[str, Any]]], stats: dict[str, Any],
        started: float,
    ) -> Result:  # fmt: skip
        found = set(cases)
        bad = found & self.prohibited
        reportable = {t for t in found if t in self.prohibited or t in UNKNOWN_ANOMALIES}
        reportable = _without_redundant_cycle_exists(reportable)
        valid: Any = False if bad else ("unknown" if reportable else True)
        anomalies: list[Anomaly] = []
        for kind in sorted(reportable):
            for case in cases[kind][: self.max_cases]:
                anomalies.append(to_anomaly(an, kind, case))
        details: dict[str, Any] = {
            "workload": self.workload,
            "consistency-models": self.consistency_models,
            "anomalies": self.anomalies,
            "anomaly-types": sorted(reportable),
            **boundary(found),
            "found": {k: len(v) for k, v in sorted(cases.items())},
            **stats,
            "elapsed-s": round(time.monotonic() - started, 4),
        }
        if valid == "unknown":
            details["reason"] = _unknown_reason(reportable, cases)
        return Result(valid, anomalies, details)


class ListAppendChecker(_TxnChecker):
    """Elle's list-append checker: transactions of ``["append", k, v]`` and
    ``["r", k, [v ...]]`` micro-ops, every appended value unique per key.

    ``consistency_models``: the models the history must satisfy (``read-uncommitted`` ..
    ``strict-serializable``; see ``checkers.txn.models.ALL_MODELS``). ``anomalies``: more
    anomalies to forbid (``G0``, ``G1``, ``G-single``, ``G2``, ``internal``, ...), with
    every anomaly that implies one of them. ``time_budget_s``: past it, the cycle search
    stops and what it could not search makes the verdict "unknown" (unless something
    found already makes it false). ``max_cases``: how many cases of each anomaly to explain.
    """

    name = "list-append"
    workload = "list-append"


class RwRegisterChecker(_TxnChecker):
    """Elle's read-write register checker: transactions of ``["w", k, v]`` and
    ``["r", k, v]`` micro-ops, every written value unique per key. Options as for
    ``ListAppendChecker``, plus ``wfr_keys``: assume writes follow reads within a
    transaction, which orders more versions."""

    name = "rw-register"
    workload = "rw-register"

    def __init__(
        self,
        consistency_models: Any = ("strict-serializable",),
        anomalies: Any = (),
        time_budget_s: float = 60.0,
        *,
        max_cases: int = 10,
        wfr_keys: bool = False,
    ) -> None:
        super().__init__(consistency_models, anomalies, time_budget_s, max_cases=max_cases)
        self.wfr_keys = wfr_keys

    def _analyse(self, txns: Txns) -> Any:
        return rw_register.analyse(txns, wfr_keys=self.wfr_keys)


def _names(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return [str(x) for x in v]


def _without_redundant_cycle_exists(types: set[str]) -> set[str]:
    """Drop "<model>-cycle-exists" when a named anomaly already rules that model out."""
    named = [t for t in types if not t.endswith("-cycle-exists")]
    impossible = impossible_models(named)
    drop = {f"{m}-cycle-exists" for m, _, _ in CYCLE_EXISTS if canonical_model(m) in impossible}
    return types - drop


def _unknown_reason(reportable: set[str], cases: dict[str, list[dict[str, Any]]]) -> str:
    if "cycle-search-timeout" in reportable:
        c = cases["cycle-search-timeout"][0]
        return (f"the cycle search ran out of time (searching for {c['anomaly-spec-type']} in "
                f"a component of {c['scc-size']} transactions)")  # fmt: skip
    if "empty-transaction-graph" in reportable:
        return ("no dependency between any two transactions could be inferred "
                "(empty-transaction-graph): nothing could be checked")  # fmt: skip
    return ", ".join(sorted(reportable))


def _verdict_word(v: Any) -> str:
    return {True: "valid", False: "INVALID"}.get(v, "unknown")
