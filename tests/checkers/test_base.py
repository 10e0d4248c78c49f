"""The one guard against a checker's crash (``checkers.base.check_safely``, Jepsen's
``check-safe``): a checker that raises gives "unknown" with the reason, never a verdict."""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import Any

import pytest

from checkers.base import Result, check_safely, merge_valid
from harness.history import Op

ROOT = Path(__file__).resolve().parents[2]


class _Boom:
    name = "boom"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        raise KeyError("revision")


class _Fine:
    name = "fine"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        return Result(True, [], {"ops": len(history), "ctx": ctx})


def test_a_checker_that_raises_is_unknown_with_the_reason_and_its_traceback_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="checkers.base"):
        r = check_safely(_Boom(), [], {})
    assert r.valid == "unknown" and r.anomalies == []
    assert r.details["reason"] == "the checker failed: KeyError: 'revision'"
    assert "checker boom crashed" in caplog.text and "Traceback" in caplog.text
    assert merge_valid([True, r.valid]) == "unknown"  # it never passes a run


def test_a_checker_that_returns_gives_its_own_result() -> None:
    op = Op("invoke", "read", None, 0, 1, index=0)
    r = check_safely(_Fine(), [op], {"test": "t"})
    assert r.valid is True and r.details == {"ops": 1, "ctx": {"test": "t"}}


def test_no_checker_guards_its_own_check_with_a_catch_all() -> None:
    """One place, check_safely: a checker's ``check`` has no ``except Exception`` (a handler
    for its own named errors is fine)."""
    found = []
    for path in sorted((ROOT / "checkers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "check":
                for h in ast.walk(node):
                    if isinstance(h, ast.ExceptHandler) and (
                        h.type is None
                        or (isinstance(h.type, ast.Name) and h.type.id == "Exception")
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{h.lineno}")
    assert found == [], found
