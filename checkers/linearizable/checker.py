"""The linearizability checker: history in, verdict and explained anomalies out."""

from __future__ import annotations

import copy
import json
import multiprocessing
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

from ..base import Anomaly, Result
from . import _native
from ._prepare import Partition, Prepared, _key, _keyed, prepare
from ._search import STRATEGIES, Outcome, search
from .explain import explain
from .models import MODELS, SEMANTICS, Model
from .visualize import write_page

__all__ = ["CHECKER", "LinearizableChecker", "LinearizableOptions"]


@dataclass(frozen=True)
class LinearizableOptions:
    """The linearizability checker's options (``checkers: [{name: linearizable, model:
    mutex}]``; ``splitbrain check --model``, ``--initial``, ``--semantics``, ``--time-budget``)."""

    model: str = option("cas-register", "the sequential model", choices=tuple(sorted(MODELS)))
    initial: str | None = option(
        None, "the model's first state, as JSON (0, {\"x\": 0}); none: the model's own (nil)"
    )
    time_budget_s: float = option(120.0, "seconds of search before 'unknown'", minimum=0.001)
    semantics: str = option(
        "splitbrain",
        "how op values are read: splitbrain (a nil read found nil) or knossos (Jepsen's)",
        choices=tuple(SEMANTICS),
    )
    exhaustive: bool = option(
        False,
        "search every key to the end, not only up to the first invalid one: every invalid key "
        "reported, and so the earliest evidence (keys are tried smallest first, which is not "
        "oldest first); the rest of the time budget may go to keys that explode",
    )
    earliest: bool = option(
        True,
        "once a key is invalid, also search the keys left undecided that could show an earlier "
        "anomaly (those with an op completed before its evidence), so that the first evidence "
        "reported is the run's earliest; false: stop at the first invalid key, as Porcupine does",
    )


def _make(options: LinearizableOptions) -> LinearizableChecker:
    initial: Any = None
    if options.initial is not None:
        try:
            initial = json.loads(options.initial)
        except json.JSONDecodeError:  # a bare word: the text itself, as --initial always took
            initial = options.initial
    return LinearizableChecker(
        options.model,
        initial,
        options.time_budget_s,
        semantics=options.semantics,
        exhaustive=options.exhaustive,
        earliest=options.earliest,
    )


CHECKER = CheckerInfo(
    "linearizable",
    "Wing & Gong / Lowe search, per key, against a model",
    _make,
    LinearizableOptions,
)

_FIRST_ROUND_STEPS = 4096
_ABANDONED = "another partition is invalid"
_GROWTH = 8
_POOL_MIN_OPS = 2000  # below this, forking costs more than it saves


class LinearizableChecker:
    """Checks that a history is linearizable with respect to a model.

    ``model``: a name from ``MODELS`` or a ``Model``. ``initial``: the model's first state
    (for a register, the value before any write; None is nil). ``time_budget_s``: past it the
    verdict is "unknown" with the reason. ``max_nodes``: the memory bound, in search nodes
    memoised per partition (100 to 300 bytes each, more with large states). ``independent``:
    split ``[key, v]`` values per key (True / False; None detects). ``exhaustive``: search
    every partition to the end even when one is already invalid (otherwise the rest are left
    undecided, to save time). ``earliest``: once a partition is invalid, search the undecided
    ones that could still show an anomaly whose evidence (the completion of the last op it
    names) is earlier than the earliest found, since the order partitions are decided in is
    by size, not age: the anomalies are reported earliest first, so the first evidence of a
    run is its earliest. It costs only invalid histories, and only their older keys.
    ``semantics``: how op values are read (``models.SEMANTICS``): ``splitbrain``, the
    project's own (a nil read found nil), or ``knossos``, Knossos' (a nil read is a read whose
    value is not known), for Jepsen and Knossos histories.
    ``workers``: processes searching partitions at once (forked; 1, the default, searches in
    this process: on 2 cores a pool gains a fifth to a half on large multi-key histories, see
    bench/README.md, and forking a process that runs threads is best avoided; the Python
    engine only).
    ``engine``: ``auto`` (the compiled engine, ``_native``, when it is built and implements
    the model, else Python; the environment variable ``SPLITBRAIN_LINEARIZABLE_ENGINE``
    overrides it), ``native`` (the same, but an error when it is not built) or ``python``.
    The verdicts, counts and search statistics are the same with either engine.
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
        earliest: bool = True,
        workers: int = 1,
        semantics: str = "splitbrain",
        engine: str = "auto",
    ) -> None:
        self._native = _native.native_name(model)
        if isinstance(model, str):
            if model not in MODELS:
                raise ValueError(
                    f"unknown model {model!r} for 'model'; allowed: {', '.join(sorted(MODELS))}"
                )
            model = MODELS[model]
        self.semantics = semantics
        self.model = model.under(semantics).with_initial(initial)
        self.time_budget_s = time_budget_s
        self.max_nodes = max_nodes
        self.independent = independent
        self.exhaustive = exhaustive
        self.earliest = earliest
        self.workers = workers
        self.engine = engine
        # Decided once (an unknown engine, or "native" when it is not built, raises here):
        # a loop over many small histories pays nothing per history for the choice.
        self._use_native = _native.wanted(engine) and self._native is not None
        self._first_state = self.model.init(None)
        self._budget_reason = f"time budget of {time_budget_s:g} s exhausted"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Check ``history``; from ``ctx``, only the run's time zero (``time_zero_ms``), for the
        wall clock in the explanations."""
        started = time.monotonic()
        result = self._check(history, started, ctx)
        if result.valid is False and self.earliest and not self.exhaustive:
            result = self._earlier(history, result, started, ctx)
        return result

    def write_artifacts(self, result: Result, directory: Path) -> list[Path]:
        """Write ``linearizable.html`` when some partition is not linearizable."""
        drawable = [a for a in result.anomalies if a.data.get("timeline") is not None]
        if not drawable:
            return []
        directory.mkdir(parents=True, exist_ok=True)
        title = f"splitbrain: linearizability ({self.model.name})"
        return [write_page(drawable, directory / "linearizable.html", title)]

    # -- internals -------------------------------------------------------------------------------

    def _check(
        self, history: list[Op], started: float, ctx: dict[str, Any] | None = None
    ) -> Result:
        # Stop searching a little early: freeing a large memo takes a moment too.
        deadline = started + self.time_budget_s - min(0.1 * self.time_budget_s, 0.25)
        if self._use_native:
            done = self._check_native(history, started, deadline, ctx)
            if done is not None:
                return done
        prepared = prepare(history, self.model, self.independent)
        outcomes = self._search_all(prepared.partitions, deadline)
        anomalies: list[Anomaly] = []
        for part in prepared.partitions:
            out = outcomes[id(part)]
            if out.valid is False:
                anomalies.append(_Unexplained(self.model, partial(_searched, part, out), ctx))
        valids = [outcomes[id(p)].valid for p in prepared.partitions]
        valid: Any = False if False in valids else "unknown" if "unknown" in valids else True
        details = self._details(prepared, outcomes, started)
        if valid == "unknown":
            details["reason"] = _unknown_reason(prepared.partitions, outcomes)
        return Result(valid, anomalies, details)

    def _check_native(
        self, history: list[Op], started: float, deadline: float, ctx: dict[str, Any] | None
    ) -> Result | None:
        """``_check`` by the compiled engine; None when it declines the history."""
        done = _native.run(
            history,
            self._native or "",
            self.semantics,
            self._first_state,
            self.independent,
            self.max_nodes,
            deadline - time.monotonic(),
            self.exhaustive,
            _FIRST_ROUND_STEPS,
            _GROWTH,
            self._budget_reason,
        )
        if done is None:
            return None
        independent, numbers, rows = done
        anomalies: list[Anomaly] = []
        per_key: dict[str, dict[str, Any]] = {}
        reasons: list[str] = []
        for key, ops, valid, steps, nodes, reason, strategy in rows:
            row: dict[str, Any] = {"ops": ops, "valid": valid}
            if steps is not None:
                row["steps"], row["nodes"] = steps, nodes
            if valid == "unknown":
                row["reason"] = reason
                reasons.append(reason)
            elif valid is False:
                again = partial(
                    _search_again, self.model, history, independent, key, strategy, self.max_nodes
                )
                anomalies.append(_Unexplained(self.model, again, ctx))
            per_key["all" if key is None and len(rows) == 1 else str(key)] = row
        verdicts = [r[2] for r in rows]
        valid_all: Any = (
            False if False in verdicts else "unknown" if "unknown" in verdicts else True
        )
        names = ("ops", "ignored", "failed", "unknown-reads", "indeterminate", "orphan-completions")
        details: dict[str, Any] = {
            "model": self.model.name,
            "semantics": self.semantics,
            "independent": independent,
            "partitions": len(rows),
            "counts": dict(zip(names, numbers, strict=True)),
            "keys": per_key,
            "invalid-keys": [k for k, r in per_key.items() if r["valid"] is False],
            "elapsed-s": round(time.monotonic() - started, 4),
        }
        if valid_all == "unknown":
            n = len(reasons)
            details["reason"] = (
                reasons[0] if n == 1 else f"{n} partitions undecided; the first: {reasons[0]}"
            )
        return Result(valid_all, anomalies, details)

    def _search_all(self, parts: list[Partition], deadline: float) -> dict[int, Outcome]:
        """Search every partition, in rounds of growing step limits, each round trying every
        search strategy in turn on the undecided partitions: a partition that is quick to
        decide (by any strategy) is decided before one whose search explodes, and no single
        ordering heuristic sets the worst case. Once one partition is invalid the rest are
        abandoned, unless ``exhaustive``; once the time budget is spent, all undecided are."""
        outcomes: dict[int, Outcome] = {}
        ordered = sorted(parts, key=lambda p: len(p.entries))
        undecided = list(range(len(ordered)))  # indices into ``ordered``
        limit = _FIRST_ROUND_STEPS
        with _runner(self, ordered, deadline) as run:
            while undecided:
                last_round = limit >= self.max_nodes  # steps never outnumber memoised nodes
                for strategy in range(len(STRATEGIES)):
                    todo = [
                        n
                        for n in undecided
                        if id(ordered[n]) not in outcomes or outcomes[id(ordered[n])].limited
                    ]
                    for n, out in run(todo, strategy, None if last_round else limit):
                        outcomes[id(ordered[n])] = out
                        if out.valid is False and not self.exhaustive:
                            return self._abandon(parts, outcomes, _ABANDONED)
                        if out.valid == "unknown" and time.monotonic() > deadline:
                            reason = f"time budget of {self.time_budget_s:g} s exhausted"
                            return self._abandon(parts, outcomes, reason)
                undecided = [n for n in undecided if outcomes[id(ordered[n])].limited]
                limit *= _GROWTH
        return outcomes

    def _earlier(
        self, history: list[Op], result: Result, started: float, ctx: dict[str, Any] | None
    ) -> Result:
        """``result`` with the anomalies of the undecided keys that could have shown one
        earlier than those found (an anomaly needs an ok op of its key: a key whose first ok
        completion comes after the earliest evidence found cannot), searched to the end in the
        time left; every anomaly sorted by its evidence, earliest first."""
        keys: dict[str, dict[str, Any]] = result.details.get("keys", {})
        abandoned = {k for k, r in keys.items() if str(r.get("reason", "")).endswith(_ABANDONED)}
        if not result.details.get("independent") or not abandoned:
            return result
        found = min((_evidence_ns(a) for a in result.anomalies), default=None)
        if found is None:
            return result
        # each client op with the key of its invocation (a completion pairs with its
        # process's invocation), and each key's first ok completion
        keyed: list[tuple[Op, str | None]] = []
        first_ok: dict[str, int] = {}
        pending: dict[Any, str | None] = {}
        for op in history:
            if op.process == NEMESIS:
                continue
            if op.type == "invoke":
                k = pending[op.process] = str(_key(op.value)) if _keyed(op, None) else None
            else:
                k = pending.pop(op.process, None)
                if op.type == "ok" and k is not None:
                    first_ok.setdefault(k, op.time)
            keyed.append((op, k))
        older = {k for k in abandoned if first_ok.get(k, found) < found}
        if not older:
            return result
        sub_history = [op for op, k in keyed if k in older]
        sub = copy.copy(self)
        sub.exhaustive, sub.earliest, sub.independent = True, False, True
        more = sub._check(sub_history, started, ctx)
        details = dict(result.details)
        details["keys"] = {**keys, **more.details.get("keys", {})}
        details["invalid-keys"] = [k for k, r in details["keys"].items() if r["valid"] is False]
        details["earlier-keys-searched"] = len(older)
        details["elapsed-s"] = round(time.monotonic() - started, 4)
        anomalies = sorted([*result.anomalies, *more.anomalies], key=_evidence_ns)
        return Result(False, anomalies, details)

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
            "semantics": self.semantics,
            "independent": prepared.independent,
            "partitions": len(prepared.partitions),
            "counts": prepared.counts,
            "keys": per_key,
            "invalid-keys": [k for k, r in per_key.items() if r["valid"] is False],
            "elapsed-s": round(time.monotonic() - started, 4),
        }


class _Unexplained(Anomaly):
    """A ``nonlinearizable`` anomaly whose explanation (``explain``: the orderings tried, the
    linearizations, the timeline) is worked out when first read, not by ``check``: a caller
    that wants the verdict only (a benchmark, a loop over many histories) does not pay for
    it. Pickled, copied or compared, it is explained first, and is then a plain Anomaly."""

    def __init__(
        self,
        model: Model,
        searched: Callable[[], tuple[Partition, Outcome]],
        ctx: dict[str, Any] | None,
    ) -> None:
        self.name = "nonlinearizable"
        self._pending = (model, searched, ctx)

    def __getattr__(self, attr: str) -> Any:
        # Only reached for what is not set yet: explanation, ops, data.
        if attr.startswith("__") or attr == "_pending":
            raise AttributeError(attr)
        self._explain()
        return object.__getattribute__(self, attr)

    def _explain(self) -> None:
        model, searched, ctx = self._pending
        part, outcome = searched()
        done = explain(model, part.key, part.entries, outcome, ctx=ctx)
        self.explanation, self.ops, self.data = done.explanation, done.ops, done.data

    def __reduce__(self) -> tuple[Any, ...]:
        return (Anomaly, (self.name, self.explanation, self.ops, self.data))


_Run = Callable[[list[int], int, "int | None"], Iterator[tuple[int, Outcome]]]
_FORKED: tuple[Model, list[Partition], float, int] | None = None  # what pool workers search


@contextmanager
def _runner(
    checker: LinearizableChecker, parts: list[Partition], deadline: float
) -> Iterator[_Run]:
    """A function searching some of ``parts`` with a strategy and a step limit, yielding
    (index, outcome) as each is done: in this process, or in a pool of forked workers."""

    def here(todo: list[int], strategy: int, limit: int | None) -> Iterator[tuple[int, Outcome]]:
        for n in todo:
            yield (
                n,
                _search_one(checker.model, parts[n], deadline, checker.max_nodes, strategy, limit),
            )

    big = sum(len(p.entries) for p in parts) >= _POOL_MIN_OPS
    if checker.workers <= 1 or len(parts) < 2 or not big:
        yield here
        return
    global _FORKED
    _FORKED = (checker.model, parts, deadline, checker.max_nodes)
    try:
        with multiprocessing.get_context("fork").Pool(checker.workers) as pool:

            def pooled(
                todo: list[int], strategy: int, limit: int | None
            ) -> Iterator[tuple[int, Outcome]]:
                jobs = [(n, strategy, limit) for n in todo]
                yield from pool.imap_unordered(_pool_search, jobs)

            yield pooled
    finally:
        _FORKED = None


def _pool_search(job: tuple[int, int, int | None]) -> tuple[int, Outcome]:
    assert _FORKED is not None
    model, parts, deadline, max_nodes = _FORKED
    n, strategy, limit = job
    return n, _search_one(model, parts[n], deadline, max_nodes, strategy, limit)


def _search_one(
    model: Model,
    part: Partition,
    deadline: float,
    max_nodes: int,
    strategy: int,
    limit: int | None,
) -> Outcome:
    # With paths: they cost little, and explain an invalid result.
    return search(
        model,
        part.entries,
        deadline=deadline,
        paths=True,
        max_nodes=max_nodes,
        strategy=strategy,
        max_steps=limit,
    )


def _searched(part: Partition, outcome: Outcome) -> tuple[Partition, Outcome]:
    return part, outcome


def _search_again(
    model: Model,
    history: list[Op],
    independent: bool,
    key: Hashable,
    strategy: int,
    max_nodes: int,
) -> tuple[Partition, Outcome]:
    """The partition ``key`` that the compiled engine found invalid with ``strategy``,
    searched again by the Python engine, which keeps the paths an explanation shows."""
    part = next(p for p in prepare(history, model, independent).partitions if p.key == key)
    out = _search_one(model, part, float("inf"), max_nodes, strategy, None)
    if out.valid is not False:
        raise RuntimeError(
            f"the engines disagree on key {key!r}: native invalid, Python {out.valid} "
            f"({out.reason}); please report it with the history"
        )
    return part, out


def _abandoned(reason: str) -> Outcome:
    return Outcome("unknown", reason=f"not searched to the end: {reason}")


def _unknown_reason(parts: list[Partition], outcomes: dict[int, Outcome]) -> str:
    reasons = [outcomes[id(p)].reason for p in parts if outcomes[id(p)].valid == "unknown"]
    first = reasons[0] if reasons else "unknown"
    n = len(reasons)
    return first if n == 1 else f"{n} partitions undecided; the first: {first}"


def _evidence_ns(anomaly: Anomaly) -> int:
    """When the last op ``anomaly`` names had completed (history time, ns): before that no
    checker could have seen it."""
    times = [op["time"] for op in anomaly.ops if isinstance(op.get("time"), int)]
    return max(times) if times else 2**63


def _key_name(key: Hashable, prepared: Prepared) -> str:
    if key is None and len(prepared.partitions) == 1:
        return "all"
    return str(key)
