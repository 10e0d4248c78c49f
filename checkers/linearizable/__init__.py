"""Linearizability checking: Wing & Gong / Lowe search over pure sequential models.

    from checkers.linearizable import LinearizableChecker, MODELS
    checker = LinearizableChecker(model="cas-register", initial=None, time_budget_s=60.0)
    result = checker.check(history, ctx={})        # Result(valid, anomalies, details)
    checker.write_artifacts(result, run_dir)       # linearizable.html when invalid

A model is a few pure functions (``Model``); add one to ``MODELS`` to use it by name.
"""

from __future__ import annotations

from ._prepare import Entry, prepare
from ._search import Outcome, search
from .checker import CHECKER, LinearizableChecker, LinearizableOptions
from .explain import explain
from .models import ILLEGAL, MODELS, UNKNOWN, Branch, Model

__all__ = [
    "CHECKER",
    "ILLEGAL",
    "MODELS",
    "UNKNOWN",
    "Branch",
    "Entry",
    "LinearizableChecker",
    "LinearizableOptions",
    "Model",
    "Outcome",
    "explain",
    "prepare",
    "search",
]
