"""The causality checker: session guarantees, PRAM, causal and sequential consistency.

    checker = CausalChecker(consistency_models=["causal"], time_budget_s=60)
    result = checker.check(history, ctx={})      # Result(valid, anomalies, details)
    checker.write_artifacts(result, run_dir)     # causal-anomalies.html, each case drawn

Histories: list-append or rw-register transactions, or register / key-value operations
(``[key, v]`` values), as ``_prepare`` reads them. Models, weakest first, and what each one
implies (Bailis et al., "Highly Available Transactions"; Elle's model lattice):
read-your-writes, monotonic-reads, monotonic-writes, writes-follow-reads;
PRAM = the first three; causal = PRAM + writes-follow-reads; sequential = causal + one total
order. The verdict is false when a checked model is violated, "unknown" when a check ran out
of time (and nothing was violated), else true. ``details["not"]`` names the models the
anomalies found rule out.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.history import Op
from harness.registry import CheckerInfo, lookup, option, parse_options

from ..base import Anomaly, Result
from ..txn.visualize import write_page
from ._prepare import Prepared, PrepareError, prepare
from ._versions import Versions
from .causal import CausalTimeout, check_causal, read_sources
from .explain import causal_anomaly, sequential_anomaly
from .sequential import check_sequential, model_for
from .session import SESSION_GUARANTEES, check_sessions

__all__ = ["CHECKER", "MODELS", "CausalChecker", "CausalOptions", "implied_models"]

#: model -> the weaker models it implies
_IMPLIES: dict[str, tuple[str, ...]] = {
    "sequential": ("causal",),
    "causal": ("PRAM", "writes-follow-reads"),
    "PRAM": ("read-your-writes", "monotonic-reads", "monotonic-writes"),
}
#: every model the checker checks
MODELS: tuple[str, ...] = (*SESSION_GUARANTEES, "PRAM", "causal", "sequential")
#: anomaly -> the model that forbids it directly
_FORBIDDEN_BY = {
    **{g: g for g in SESSION_GUARANTEES},
    "PRAM": "PRAM",
    "causal": "causal",
    "causal-cycle": "causal",
    "sequential": "sequential",
}


def implied_models(models: list[str]) -> set[str]:
    """The models and every weaker model they imply."""
    out, stack = set(models), list(models)
    while stack:
        for w in _IMPLIES.get(stack.pop(), ()):
            if w not in out:
                out.add(w)
                stack.append(w)
    return out


class CausalChecker:
    """Checks ``consistency_models`` (names from ``MODELS``; default causal) on a history.
    ``time_budget_s``: past it, what is left unchecked makes the verdict "unknown".
    ``max_cases``: cases explained per anomaly kind."""

    name = "causal"

    def __init__(
        self,
        consistency_models: Any = ("causal",),
        time_budget_s: float = 60.0,
        *,
        max_cases: int = 10,
    ) -> None:
        if isinstance(consistency_models, str):
            consistency_models = consistency_models.split(",")
        names = [str(x).strip() for x in consistency_models or () if str(x).strip()]
        for m in names:
            if m not in MODELS:
                raise ValueError(
                    f"unknown consistency model {m!r} for the causal checker in "
                    f"'consistency_models'; allowed: {', '.join(MODELS)}"
                )
        if not names:
            raise ValueError(
                "'consistency_models' is empty; name at least one of: " + ", ".join(MODELS)
            )
        if time_budget_s <= 0:
            raise ValueError(f"'time_budget_s' must be > 0, got {time_budget_s!r}")
        self.consistency_models = names
        self.checked = implied_models(names)
        self.time_budget_s = float(time_budget_s)
        self.max_cases = max_cases

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Check ``history``; from ``ctx``, only the run's time zero (``time_zero_ms``), for the
        wall clock in the explanations."""
        started = time.monotonic()
        # The check makes a few small objects per operation (tuples, lists, dicts), none in a
        # cycle; the cyclic collector would scan them (and the history) again and again, a
        # fifth of the CPU time of a million-op history. Reference counting frees them.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._check(history, started, ctx)
        except PrepareError as e:
            return self._result(False, "unknown", {}, [], started, reason=str(e))
        finally:
            if collecting:
                gc.enable()

    def write_artifacts(self, result: Result, directory: Path) -> list[Path]:
        """Write ``causal-anomalies.html`` (each anomaly in words, each drawn) when there is an
        anomaly to show."""
        if not result.anomalies:
            return []
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        word = (
            "valid" if result.valid is True else "INVALID" if result.valid is False else "unknown"
        )
        return [
            write_page(
                result,
                directory / "causal-anomalies.html",
                f"splitbrain causal ({', '.join(self.consistency_models)}): {word}",
            )
        ]

    # -- internals -------------------------------------------------------------------------------

    def _check(self, history: list[Op], started: float, ctx: dict[str, Any]) -> Result:
        deadline = started + self.time_budget_s
        prep = prepare(history)
        checked = self.checked
        versions = Versions(prep, session_write_order="monotonic-writes" in checked)
        cases, counts = check_sessions(
            prep, versions, checked & set(SESSION_GUARANTEES), self.max_cases
        )
        reported = {(c["txn"], c["key"]) for cs in cases.values() for c in cs}
        # Reads-from edges: only PRAM and causal need them (the sweep, and each case's path).
        sources = read_sources(prep, versions) if checked & {"PRAM", "causal"} else []
        unknown: list[str] = []
        for model, transitive in (("PRAM", False), ("causal", True)):
            if model not in checked:
                continue
            try:
                more, n = check_causal(
                    prep,
                    versions,
                    transitive=transitive,
                    max_cases=self.max_cases,
                    deadline=deadline,
                    reported=reported,
                    sources=sources,
                )
            except CausalTimeout:
                unknown.append(f"the {model} check ran out of time")
                continue
            for k, v in more.items():
                cases.setdefault(k, []).extend(v)
                reported |= {(c["txn"], c["key"]) for c in v if "txn" in c}
            for k, c in n.items():
                counts[k] = counts.get(k, 0) + c
        anomalies = [
            causal_anomaly(prep, c, _path(prep, sources, c), ctx)
            for cs in cases.values()
            for c in cs
        ]
        if "sequential" in checked:
            anomalies += self._sequential(history, prep, deadline, counts, unknown, ctx)
        bad = any(_FORBIDDEN_BY.get(a.name, "") in checked for a in anomalies)
        valid: Any = False if bad else ("unknown" if unknown else True)
        return self._result(
            True,
            valid,
            counts,
            anomalies,
            started,
            prep=prep,
            reason="; ".join(unknown) if valid == "unknown" else None,
        )

    def _sequential(
        self,
        history: list[Op],
        prep: Prepared,
        deadline: float,
        counts: dict[str, int],
        unknown: list[str],
        ctx: dict[str, Any],
    ) -> list[Anomaly]:
        if any(op.f == "txn" for op in prep.ops):
            # For transactions, one total order respecting each process's order is
            # strong session serializability: Elle's cycle search with process edges, by the
            # list-append or rw-register checker, found by name (the txn checkers use this
            # one for their causal models: neither imports the other)
            # (a history of register transactions is prepared as kind "register")
            name = "list-append" if prep.kind == "list-append" else "rw-register"
            info = lookup(CheckerInfo, name, "checker")
            options = parse_options(
                info.options,
                {
                    "consistency_models": ["strong-session-serializable"],
                    "time_budget_s": max(deadline - time.monotonic(), 0.01),
                    "max_cases": self.max_cases,
                },
                f"the {name} checker",
            )
            r = info.make(options).check(history, {"time_zero_ms": ctx.get("time_zero_ms")})
            if r.valid == "unknown":
                unknown.append(f"sequential: {r.details.get('reason')}")
            out = []
            for a in r.anomalies:
                if r.valid is False:
                    counts["sequential"] = counts.get("sequential", 0) + 1
                    out.append(
                        Anomaly(
                            "sequential",
                            "No single order of the transactions respects every process's "
                            f"order: with process order, they form a {a.name} cycle. "
                            + a.explanation,
                            a.ops,
                            {**a.data, "elle-anomaly": a.name},
                        )
                    )
            return out
        model = model_for(history)
        out = []
        for o in check_sequential(history, model, deadline):
            if o.valid is False:
                counts["sequential"] = counts.get("sequential", 0) + 1
                if len(out) < self.max_cases:
                    out.append(sequential_anomaly(o, model, ctx))
            elif o.valid == "unknown":
                unknown.append(f"sequential, key {o.key!r}: {o.reason}")
        return out

    def _result(
        self,
        ok: bool,
        valid: Any,
        counts: dict[str, int],
        anomalies: list[Anomaly],
        started: float,
        *,
        prep: Prepared | None = None,
        reason: str | None = None,
    ) -> Result:
        found = {a.name for a in anomalies}
        ruled_out = {_FORBIDDEN_BY[a] for a in found if a in _FORBIDDEN_BY}
        stronger = {m for m in MODELS if implied_models([m]) & ruled_out}
        details: dict[str, Any] = {
            "checker": "causal",
            "consistency-models": self.consistency_models,
            "checked": [m for m in MODELS if m in self.checked],
            "anomaly-types": sorted(found),
            "found": dict(sorted(counts.items())),
            "not": sorted(
                ruled_out - {m for m in ruled_out if implied_models([m]) - {m} & ruled_out}
            ),
            "also-not": sorted(stronger - ruled_out)
            + sorted(m for m in ruled_out if implied_models([m]) - {m} & ruled_out),
            "elapsed-s": round(time.monotonic() - started, 4),
        }
        if prep is not None:
            details["history"] = prep.kind
            details["counts"] = prep.counts
        if reason:
            details["reason"] = reason
        return Result(valid, anomalies, details)


def _path(prep: Prepared, sources: list[list[int]], case: dict[str, Any]) -> list[list[Any]] | None:
    """For PRAM and causal cases: a shortest chain of session-order and reads-from steps from
    the witness to the txn (backwards breadth-first search), as [from, to, rel]."""
    if case["type"] not in ("PRAM", "causal"):
        return None
    target, start = case["witness"], case["txn"]
    seqs = prep.seqs
    parent: dict[int, tuple[int, str]] = {start: (start, "")}
    queue = deque([start])
    while queue:
        x = queue.popleft()
        if x == target:
            steps = []
            while x != start:
                nxt, rel = parent[x]
                steps.append([x, nxt, rel])
                x = nxt
            return steps
        preds: list[tuple[int, str]] = [(s, "wr") for s in sources[x]]
        if seqs[x]:
            preds.append((prep.sessions[prep.procs[x]][seqs[x] - 1], "process"))
        for p, rel in preds:
            if p not in parent:
                parent[p] = (x, rel)
                queue.append(p)
    return None


@dataclass(frozen=True)
class CausalOptions:
    """The causality checker's options (``splitbrain check --consistency-models``,
    ``--time-budget``); the models are checked when the checker is made."""

    consistency_models: tuple[str, ...] = option(
        ("causal",), f"models to check, of: {', '.join(MODELS)}"
    )
    time_budget_s: float = option(60.0, "seconds before 'unknown'", minimum=0.001)
    max_cases: int = option(10, "cases explained per anomaly kind", minimum=0)


CHECKER = CheckerInfo(
    "causal",
    "session guarantees (read-your-writes, monotonic-reads, monotonic-writes, "
    "writes-follow-reads), PRAM, causal and sequential consistency (default causal)",
    lambda o: CausalChecker(o.consistency_models, o.time_budget_s, max_cases=o.max_cases),
    CausalOptions,
)
