"""The Checker contract, its three-valued result, and the one guard against a checker's crash
(``check_safely``, Jepsen's ``check-safe``): the run and ``splitbrain check`` both call it, so
no checker wraps its own ``check`` in a try/except."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from harness.history import Op

__all__ = [
    "Anomaly",
    "Checker",
    "Result",
    "Validity",
    "WritesArtifacts",
    "check_safely",
    "crashed",
    "merge_valid",
    "unknown",
    "when",
    "wall_clock",
]

Validity = bool | Literal["unknown"]

log = logging.getLogger(__name__)


@dataclass
class Anomaly:
    """A named, explained violation. ``ops`` are the history ops involved, ``explanation`` is
    for a person, ``data`` is for tools (and the report)."""

    name: str
    explanation: str
    ops: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "explanation": self.explanation,
            "ops": self.ops,
            "data": self.data,
        }


@dataclass
class Result:
    valid: Validity
    anomalies: list[Anomaly] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "anomalies": [a.to_dict() for a in self.anomalies],
            "details": self.details,
        }


def when(ns: int, ctx: Mapping[str, Any] | None = None) -> str:
    """ "21.417 s (16:43:23.430Z)": a history time (ns since the history's time zero), and the
    wall clock it was, to find in the nodes' logs, when ``ctx`` has the run's time zero
    (``time_zero_ms``, epoch ms, as the run passes it); the relative time alone without."""
    zero = (ctx or {}).get("time_zero_ms")
    rel = f"{ns / 1e9:.3f} s"
    return f"{rel} ({wall_clock(zero, ns)})" if isinstance(zero, int | float) else rel


def wall_clock(time_zero_ms: float, ns: int) -> str:
    """ "16:43:23.430Z": the UTC time of day, to the millisecond, ``ns`` after time zero."""
    ms = round(time_zero_ms + ns / 1e6)
    return time.strftime("%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def unknown(reason: str, **details: Any) -> Result:
    return Result("unknown", [], {"reason": reason, **details})


def crashed(e: Exception) -> Result:
    """The result of a checker that raised ``e`` (or could not be made): "unknown", never a
    verdict."""
    return unknown(f"the checker failed: {type(e).__name__}: {e}")


def check_safely(checker: Checker, history: list[Op], ctx: dict[str, Any]) -> Result:
    """``checker.check(history, ctx)``; when it raises, "unknown" with the exception as the
    reason (its traceback logged), never a pass: a checker's bug is not a verdict."""
    try:
        return checker.check(history, ctx)
    except Exception as e:
        log.exception("checker %s crashed", getattr(checker, "name", type(checker).__name__))
        return crashed(e)


def merge_valid(values: list[Validity]) -> Validity:
    """false beats "unknown" beats true; no values at all is true."""
    if any(v is False for v in values):
        return False
    if any(v == "unknown" for v in values):
        return "unknown"
    return True


@runtime_checkable
class Checker(Protocol):
    name: str

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """``ctx`` carries test facts a checker may need (nodes, time limit, model options).
        A checker that crashes or runs out of time gives "unknown", never true."""
        ...


@runtime_checkable
class WritesArtifacts(Protocol):
    """A checker that can draw its result (an HTML page, a cycle picture) into the run dir."""

    def write_artifacts(self, result: Result, directory: Path) -> list[Path]:
        """Write files into ``directory``; return their paths."""
        ...
