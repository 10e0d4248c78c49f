"""The history checkers ``splitbrain check --checker NAME`` offers, by name.

    from checkers.history_checks import HISTORY_CHECKERS
    entry = HISTORY_CHECKERS["list-append"]
    entry.description                              # one line, for --help and `splitbrain list`
    checker = entry(consistency_models=["serializable"], anomalies=None, time_budget_s=60)
    result = checker.check(history, {"source": path})

Every constructor takes the keyword options ``consistency_models`` (list of names; None means
strict-serializable, as in elle-cli, and an empty list none),
``anomalies`` (list or None) and ``time_budget_s``; those a checker has no use for must be
None or empty (a model named for the bank checker is a mistake worth an error). Some take
more, listed in ``entry.options`` (``negative_balances`` for bank, ``group_size`` for
long-fork, ``model`` and ``jar`` for elle-cli, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import Checker

__all__ = ["HISTORY_CHECKERS", "HistoryChecker", "describe"]


@dataclass(frozen=True)
class HistoryChecker:
    """A named checker constructor: call it with keyword options to get a Checker."""

    name: str
    description: str
    make: Callable[..., Checker]
    #: the options it takes besides consistency_models / anomalies / time_budget_s
    options: dict[str, str] = field(default_factory=dict)
    #: whether it takes consistency_models and anomalies
    takes_models: bool = False

    def __call__(
        self,
        *,
        consistency_models: list[str] | None = None,
        anomalies: list[str] | None = None,
        time_budget_s: float = 60.0,
        **options: Any,
    ) -> Checker:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"checker {self.name!r} has no option {unknown[0]!r}; its options: "
                             f"{allowed}")  # fmt: skip
        if not self.takes_models:
            for what, v in (("consistency_models", consistency_models), ("anomalies", anomalies)):
                if v:
                    raise ValueError(f"checker {self.name!r} does not take {what!r} (got "
                                     f"{list(v)!r}); only list-append, rw-register and elle-cli "
                                     "do")  # fmt: skip
            return self.make(time_budget_s=time_budget_s, **options)
        return self.make(consistency_models=consistency_models, anomalies=anomalies,
                         time_budget_s=time_budget_s, **options)  # fmt: skip


def _list_append(*, consistency_models: Any, anomalies: Any, time_budget_s: float,
                 **kw: Any) -> Checker:  # fmt: skip
    from .txn import ListAppendChecker

    return ListAppendChecker(_models(consistency_models, anomalies), anomalies or (),
                             time_budget_s, **kw)  # fmt: skip


def _rw_register(*, consistency_models: Any, anomalies: Any, time_budget_s: float,
                 **kw: Any) -> Checker:  # fmt: skip
    from .txn import RwRegisterChecker

    return RwRegisterChecker(_models(consistency_models, anomalies), anomalies or (),
                             time_budget_s, **kw)  # fmt: skip


def _elle_cli(*, consistency_models: Any, anomalies: Any, time_budget_s: float,
              **kw: Any) -> Checker:  # fmt: skip
    from .elle_cli import CHECKABLE_MODELS, ElleCliChecker
    from .txn.models import is_checkable, validate_models

    models = _models(consistency_models, anomalies)
    if kw.get("model", "list-append") in ("list-append", "rw-register"):
        # Elle's lattice is ours, but Elle checks fewer of its models than the native
        # checkers (no session guarantees, PRAM, causal, sequential): its own table.
        names = _names(models)
        native = [m for m in names if is_checkable(m) and not is_checkable(m, CHECKABLE_MODELS)]
        hint = (f" (splitbrain's own list-append and rw-register checkers check "
                f"{', '.join(map(repr, dict.fromkeys(native)))})") if native else ""  # fmt: skip
        validate_models(names, CHECKABLE_MODELS, finder="Elle", hint=hint)
    return ElleCliChecker(consistency_models=models, anomalies=anomalies or (),
                          time_budget_s=time_budget_s, **kw)  # fmt: skip


def _causal(*, consistency_models: Any, anomalies: Any, time_budget_s: float,
            **kw: Any) -> Checker:  # fmt: skip
    from .causal import CausalChecker

    if anomalies:
        raise ValueError(f"checker 'causal' does not take 'anomalies' (got {list(anomalies)!r}); "
                         "name the models to check in 'consistency_models'")  # fmt: skip
    return CausalChecker(("causal",) if consistency_models is None else consistency_models,
                         time_budget_s, **kw)  # fmt: skip


def _models(models: Any, anomalies: Any) -> Any:
    # As elle-cli: models not given (None) means strict serializable, whatever the anomalies;
    # an empty list means none, so that only the anomalies named are looked for.
    return ("strict-serializable",) if models is None else models


def _names(models: Any) -> list[str]:
    # As the checkers read it: a comma-separated string or a list of names.
    if isinstance(models, str):
        return [x.strip() for x in models.split(",") if x.strip()]
    return [str(x) for x in models or ()]


def _plain(cls_path: str) -> Callable[..., Checker]:
    def make(*, time_budget_s: float, **kw: Any) -> Checker:
        from . import jepsen

        return getattr(jepsen, cls_path)(**kw)

    return make


HISTORY_CHECKERS: dict[str, HistoryChecker] = {
    c.name: c
    for c in (
        HistoryChecker(
            "list-append",
            "Elle-style isolation check of append/read list transactions: G0 .. G2-item, "
            "internal, dirty update, lost update, and (checkers.causal) session guarantees, "
            "PRAM, causal, sequential; which models the history rules out",
            _list_append, {"max_cases": "cases explained per anomaly type (10)"}, True),
        HistoryChecker(
            "rw-register",
            "Elle-style isolation check of write/read register transactions (unique writes)",
            _rw_register, {"max_cases": "cases explained per anomaly type (10)",
                           "wfr_keys": "assume writes follow reads in a txn (false)"}, True),
        HistoryChecker(
            "causal",
            "session guarantees (read-your-writes, monotonic-reads, monotonic-writes, "
            "writes-follow-reads), PRAM, causal and sequential consistency (default causal)",
            _causal, {"max_cases": "cases explained per anomaly type (10)"}, True),
        HistoryChecker(
            "bank",
            "transfers preserve the total of every read; no negative balance unless allowed",
            _plain("BankChecker"), {"negative_balances": "allow negative balances (false)",
                                    "total_amount": "the total (default: first read's sum)",
                                    "accounts": "the accounts (default: first read's)"}),
        HistoryChecker(
            "counter", "every counter read lies between the acknowledged and attempted adds",
            _plain("CounterChecker")),
        HistoryChecker(
            "set", "the final read holds every acknowledged add and nothing never attempted",
            _plain("SetChecker")),
        HistoryChecker(
            "set-full", "every element followed through every read: none lost once known",
            _plain("SetFullChecker"), {"linearizable": "stale reads are errors too (false)"}),
        HistoryChecker(
            "long-fork", "no two reads saw inserts in incompatible orders (long fork)",
            _plain("LongForkChecker"), {"group_size": "keys each read reads (0: any)"}),
        HistoryChecker(
            "unique-ids", "every generated id is distinct", _plain("UniqueIdsChecker")),
        HistoryChecker(
            "elle-cli",
            "Elle itself via elle-cli (java -jar $SPLITBRAIN_ELLE_CLI_JAR); unknown when not "
            "configured",
            _elle_cli, {"model": "list-append, rw-register, bank, ... (list-append)",
                        "jar": "the elle-cli jar (default $SPLITBRAIN_ELLE_CLI_JAR)",
                        "java": "the java program (java)", "format": "edn or json (edn)",
                        "extra_args": "more elle-cli arguments"}, True),
    )
}  # fmt: skip


def describe() -> str:
    """One line per checker: its name and what it checks."""
    width = max(len(n) for n in HISTORY_CHECKERS)
    return "\n".join(f"{n:<{width}}  {c.description}" for n, c in HISTORY_CHECKERS.items())
