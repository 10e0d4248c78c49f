"""Checkers: each turns a history into a verdict, true, false or "unknown" (``checkers.base``).

A checker is a class with ``name`` and ``check(history, ctx) -> Result``; the run and
``splitbrain check`` call it through ``checkers.base.check_safely``, so a crash is "unknown",
never a verdict. Each registers one ``harness.registry.CheckerInfo`` (its name, a line of
description, ``make(options) -> Checker`` and a frozen dataclass of typed options) under the
entry point group ``splitbrain.checkers``; a plugin's checker registers the same way:

    @dataclass(frozen=True)
    class MyOptions:
        limit: int = option(3, "how many", minimum=1)

    CHECKER = CheckerInfo("mine", "what it checks", lambda o: MyChecker(o.limit), MyOptions)

Checkers import only the base layer (``harness.history``, ``harness.registry``, ...) and
other checkers.
"""

from __future__ import annotations

from checkers.base import Anomaly, Checker, Result, Validity, WritesArtifacts, check_safely

# the contract only: each checker is imported from its own module (``checkers.lock``, ...)
__all__ = ["Anomaly", "Checker", "Result", "Validity", "WritesArtifacts", "check_safely"]
