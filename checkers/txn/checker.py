"""The transactional checkers: list-append and read-write register histories in, verdict out.

    checker = ListAppendChecker(consistency_models=["serializable"], time_budget_s=60)
    result = checker.check(history, ctx={})   # Result(valid, anomalies, details)
    checker.write_artifacts(result, run_dir)  # list-append-anomalies.html, a picture per cycle

The verdict follows Elle's: ``false`` when an anomaly the models (or ``anomalies``) forbid is
present; ``"unknown"`` when nothing forbidden was found but the check could not look
(no dependency could be inferred at all, or the cycle search ran out of time); else ``true``.
``details["not"]`` names the weakest models the history rules out, ``details["also-not"]``
the stronger ones, from every anomaly found (forbidden or not).

The session guarantees, PRAM, causal and sequential (asked for, or implied by a stronger
model) are checked by ``checkers.causal``: its anomalies (``read-your-writes``, ``PRAM``,
``causal``, ``causal-cycle``, ...) join the cycle search's, under their own names, weighed by
the same lattice (``models.causal_models_to_check`` says what it is asked to check);
``details["causal"]`` holds its figures. A case a cycle already shown explains (the same ops)
is not listed again.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.history import Op
from harness.registry import CheckerInfo, option

from ..base import Anomaly, Result
from . import list_append, rw_register
from ._cycles import CYCLE_EXISTS, find_cycles
from ._graph import PROCESS, REALTIME
from ._prepare import PrepareError, Txns, prepare, process_edges, realtime_edges
from .explain import to_anomaly
from .list_append import AnalysisError
from .models import (
    CAUSAL_ANOMALIES,
    CAUSAL_MODELS,
    CYCLE_TYPES,
    UNKNOWN_ANOMALIES,
    boundary,
    canonical_model,
    causal_models_to_check,
    friendly_model,
    implied_models,
    impossible_models,
    prohibited_anomalies,
    validate_anomalies,
    validate_models,
)
from .visualize import write_page

__all__ = [
    "LIST_APPEND",
    "RW_REGISTER",
    "ListAppendChecker",
    "ListAppendOptions",
    "RwRegisterChecker",
    "RwRegisterOptions",
]


@dataclass(frozen=True)
class ListAppendOptions:
    """The list-append checker's options (``splitbrain check --consistency-models``,
    ``--anomalies``, ``--time-budget``). The models are checked when the checker is made:
    one it cannot check is refused, with those it can."""

    consistency_models: tuple[str, ...] = option(
        ("strict-serializable",),
        "consistency models to check (an empty list: only the anomalies named)",
    )
    anomalies: tuple[str, ...] = option((), "anomalies to look for besides those the models forbid")
    time_budget_s: float = option(60.0, "seconds before 'unknown'", minimum=0.001)
    max_cases: int = option(10, "cases explained per anomaly type", minimum=0)


@dataclass(frozen=True)
class RwRegisterOptions(ListAppendOptions):
    """The rw-register checker's options: list-append's, and ``wfr_keys``."""

    wfr_keys: bool = option(False, "assume writes follow reads within a transaction")


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
        # Session guarantees, PRAM, causal and sequential forbid no cycle Elle names: the
        # causality checker (checkers.causal) finds their anomalies, and its verdict is merged
        # here as the lattice says.
        self.causal_models = causal_models_to_check(self.consistency_models, self.anomalies)
        # Strict serializable implies them all. For list-append, each violation the causal
        # sweep can find is a cycle of process (or wr) edges and one rw or ww edge, inferred
        # from the same longest reads: a process-order search that forbids every cycle and
        # ran to the end has found it already, and the sweep would only double the time
        # (huge-scc.edn, 10k txns: 0.15 s more on 0.14 s). Not so for rw-register, where the
        # sweep orders a process's own writes and the search does not, nor when the search
        # ran out of time, nor when a causal model or anomaly is asked for by name.
        asked = {friendly_model(m) for m in self.consistency_models} | set(self.anomalies)
        self.causal_covered = (
            self.workload == "list-append"
            and "strong-session-serializable" in implied_models(self.consistency_models)
            and not asked & (set(CAUSAL_MODELS) | CAUSAL_ANOMALIES)
        )
        # The cycle search is skipped when nothing it finds is forbidden (read-your-writes
        # alone): it could only add "empty-transaction-graph", an unknown, and its cost.
        self.search = not (self.prohibited and self.prohibited <= CAUSAL_ANOMALIES)
        reportable = self.prohibited | UNKNOWN_ANOMALIES
        # As Elle: a realtime graph when a realtime anomaly is forbidden (it orders each
        # process's transactions too), else a process graph when a process anomaly is.
        self.order = (
            "realtime"
            if reportable & _REALTIME_TYPES
            else "process"
            if reportable & _PROCESS_TYPES
            else None
        )

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Check ``history``; from ``ctx``, only the run's time zero (``time_zero_ms``), for
        the wall clock in the explanations."""
        started = time.monotonic()
        # The analysis makes millions of small objects and no reference cycles: the cyclic
        # garbage collector would rescan the (large) heap again and again, doubling the time.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._check(history, started, ctx)
        except (PrepareError, AnalysisError) as e:
            return self._unknown(str(e), started)
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
        return Result(
            "unknown",
            [],
            {
                "workload": self.workload,
                "reason": reason,
                "consistency-models": self.consistency_models,
                "anomalies": self.anomalies,
                "anomaly-types": [],
                "not": [],
                "also-not": [],
                "elapsed-s": round(time.monotonic() - started, 4),
            },
        )

    def _check(
        self, history: list[Op], started: float, ctx: dict[str, Any] | None = None
    ) -> Result:
        deadline = started + self.time_budget_s
        an: Any = None
        cases: dict[str, list[dict[str, Any]]] = {}
        stats: dict[str, Any] = {"cycle-search": False}
        if self.search:
            an, cases, stats = self._search(history, started, deadline)
        causal = None
        if self.causal_models:
            if self.causal_covered and not cases.keys() & UNKNOWN_ANOMALIES:
                stats["causal"] = {
                    "skipped": "the cycle search, with process order, covers "
                    "every causal violation of a list-append history"
                }
            else:
                causal = self._causal(history, started)
        return self._result(an, cases, stats, started, causal, ctx)

    def _search(
        self, history: list[Op], started: float, deadline: float
    ) -> tuple[Any, dict[str, list[dict[str, Any]]], dict[str, Any]]:
        """Infer the dependency graph and search it for cycles: (the analysis, the cases of
        each anomaly found, figures)."""
        txns = prepare(history)
        an = self._analyse(txns)
        n = len(txns)
        out = an.out
        if self.order == "realtime":
            realtime_edges(txns, out, REALTIME)
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
        return (
            an,
            cases,
            {
                "txns": n,
                "failed-txns": len(txns.failed),
                "edges": edges,
                "order": self.order,
                "cycle-search": True,
                **stats,
                "inference-s": round(inferred - started, 4),
            },
        )

    def _causal(self, history: list[Op], started: float) -> Result:
        """The causality checker's result on ``self.causal_models``, in the time left (at
        least a tenth of the budget: a cycle search that spent it all must not leave the
        linear sweep none)."""
        from ..causal import CausalChecker

        left = self.time_budget_s - (time.monotonic() - started)
        budget = max(left, self.time_budget_s / 10)
        return CausalChecker(self.causal_models, budget, max_cases=self.max_cases).check(
            history, {}
        )

    def _result(
        self,
        an: Any,
        cases: dict[str, list[dict[str, Any]]],
        stats: dict[str, Any],
        started: float,
        causal: Result | None = None,
        ctx: dict[str, Any] | None = None,
    ) -> Result:
        found = set(cases)
        by_kind: dict[str, list[Anomaly]] = {}  # the causality checker's, by name
        if causal is not None:
            for a in causal.anomalies:
                by_kind.setdefault(a.name, []).append(a)
            counts = causal.details.get("found", {})
            found |= {k for k in (*by_kind, *counts) if k in CAUSAL_ANOMALIES}
        bad = found & self.prohibited
        reportable = {t for t in found if t in self.prohibited or t in UNKNOWN_ANOMALIES}
        reportable = _without_redundant_cycle_exists(reportable)
        anomalies: list[Anomaly] = []
        explained: list[set[Any]] = []  # the ops of each forbidden anomaly the search explained
        for kind in sorted(reportable & set(cases)):
            for case in cases[kind][: self.max_cases]:
                anomalies.append(a := to_anomaly(an, kind, case, ctx))
                if kind in bad:
                    explained.append(_ops(a))
        shown = set(reportable & set(cases))
        for kind in sorted(reportable & set(by_kind)):
            # Only what the cycle search missed: a violation between ops that a cycle already
            # shown connects is that cycle again (a read that missed its own process's write
            # is a G-single-item-process cycle), and the verdict is already false.
            new = [a for a in by_kind[kind] if not any(_ops(a) <= ops for ops in explained)]
            anomalies += new
            if new:
                shown.add(kind)
        anomalies.sort(key=lambda a: a.name)  # stable: each kind's cases keep their order
        unknown = sorted(reportable & UNKNOWN_ANOMALIES)
        causal_unknown = causal is not None and causal.valid == "unknown"
        valid: Any = False if bad else ("unknown" if unknown or causal_unknown else True)
        details: dict[str, Any] = {
            "workload": self.workload,
            "consistency-models": self.consistency_models,
            "anomalies": self.anomalies,
            "anomaly-types": sorted(shown),
            **boundary(found),
            "found": dict(
                sorted(
                    {
                        **{k: len(v) for k, v in cases.items()},
                        **(causal.details.get("found", {}) if causal else {}),
                    }.items()
                )
            ),
            **stats,
        }
        if causal is not None:
            details["causal"] = {
                k: v
                for k, v in causal.details.items()
                if k not in ("anomaly-types", "not", "also-not")
            }
        details["elapsed-s"] = round(time.monotonic() - started, 4)
        if valid == "unknown":
            why = [_unknown_reason(reportable, cases)] if unknown else []
            if causal is not None and causal_unknown:
                why.append(f"the causality checker: {causal.details.get('reason')}")
            details["reason"] = "; ".join(why)
        return Result(valid, anomalies, details)


class ListAppendChecker(_TxnChecker):
    """Elle's list-append checker: transactions of ``["append", k, v]`` and
    ``["r", k, [v ...]]`` micro-ops, every appended value unique per key.

    ``consistency_models``: the models the history must satisfy (``read-uncommitted`` ..
    ``strict-serializable``, ``read-your-writes`` .. ``sequential``; see
    ``checkers.txn.models.CHECKABLE_MODELS``). ``anomalies``: more
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


def _ops(a: Anomaly) -> set[Any]:
    """The indices of the ops ``a`` names."""
    return {o.get("index") for o in a.ops}


def _without_redundant_cycle_exists(types: set[str]) -> set[str]:
    """Drop "<model>-cycle-exists" when a named anomaly already rules that model out."""
    named = [t for t in types if not t.endswith("-cycle-exists")]
    impossible = impossible_models(named)
    drop = {f"{m}-cycle-exists" for m, _, _ in CYCLE_EXISTS if canonical_model(m) in impossible}
    return types - drop


def _unknown_reason(reportable: set[str], cases: dict[str, list[dict[str, Any]]]) -> str:
    if "cycle-search-timeout" in reportable:
        c = cases["cycle-search-timeout"][0]
        return (
            f"the cycle search ran out of time (searching for {c['anomaly-spec-type']} in "
            f"a component of {c['scc-size']} transactions)"
        )
    if "empty-transaction-graph" in reportable:
        return (
            "no dependency between any two transactions could be inferred "
            "(empty-transaction-graph): nothing could be checked"
        )
    return ", ".join(sorted(reportable))


def _verdict_word(v: Any) -> str:
    return {True: "valid", False: "INVALID"}.get(v, "unknown")


LIST_APPEND = CheckerInfo(
    "list-append",
    "Elle-style isolation check of append/read list transactions: G0 .. G2-item, internal, "
    "dirty update, lost update, and (checkers.causal) session guarantees, PRAM, causal, "
    "sequential; which models the history rules out",
    lambda o: ListAppendChecker(
        o.consistency_models, o.anomalies, o.time_budget_s, max_cases=o.max_cases
    ),
    ListAppendOptions,
)
RW_REGISTER = CheckerInfo(
    "rw-register",
    "Elle-style isolation check of write/read register transactions (unique writes)",
    lambda o: RwRegisterChecker(
        o.consistency_models,
        o.anomalies,
        o.time_budget_s,
        max_cases=o.max_cases,
        wfr_keys=o.wfr_keys,
    ),
    RwRegisterOptions,
)
