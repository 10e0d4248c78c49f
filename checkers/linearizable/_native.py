"""The compiled engine (``native/``, Rust): the pairing, partitioning and search of this
package for the models register, cas-register and kv, in one call, when it is built.

The pure-Python engine (``_prepare``, ``_search``) is the reference and the fallback: the
compiled one is a port of it, node for node (the same steps and nodes are counted, and the
tests compare them on the corpus and on generated histories). It is used only for the
built-in models above, under either semantics, and declines a history whose values it does
not handle (anything but None, bool, int and str; a cas whose value is not a pair) or a
partition that needs more than 128 slots (ops pending at once, plus every op that never
completed): the Python engine then checks it. It keeps no paths: when an invalid
partition's explanation is read, the Python engine searches that partition again, with the
strategy that decided it. ``./setup`` builds it when ``cargo`` is installed.
"""

from __future__ import annotations

import os
from typing import Any

from .models import MODELS, Model

__all__ = ["ENGINE_ENV", "available", "native_name", "run", "wanted", "why_not"]

ENGINE_ENV = "SPLITBRAIN_LINEARIZABLE_ENGINE"
"""``python`` forces the Python engine; ``native`` makes ``auto`` fail when it is not built."""

_SUPPORTED = ("register", "cas-register", "kv")

try:
    import splitbrain_native as _module  # type: ignore[import-not-found, unused-ignore]
except ImportError as e:  # not built: no cargo, or the build failed (./setup says so)
    _module = None
    _missing = f"the native module is not built ({e}); ./setup builds it when cargo is installed"
else:
    _missing = ""


def available() -> bool:
    """Whether the compiled engine is importable."""
    return _module is not None


def why_not() -> str:
    """Why the compiled engine is not available ("" when it is)."""
    return _missing


def native_name(model: Model | str) -> str | None:
    """The compiled engine's name for ``model`` (one of the built-in models it implements,
    given by name or as that very object), or None: that model is checked in Python."""
    if isinstance(model, str):
        return model if model in _SUPPORTED else None
    for name in _SUPPORTED:
        if MODELS.get(name) is model:
            return name
    return None


def wanted(engine: str) -> bool:
    """Whether ``engine`` ("auto", "native", "python"; the environment variable
    ``SPLITBRAIN_LINEARIZABLE_ENGINE`` overrides "auto") asks for the compiled engine.
    "native" when it is not built raises RuntimeError."""
    if engine == "auto":
        engine = os.environ.get(ENGINE_ENV, "auto") or "auto"
    if engine not in ("auto", "native", "python"):
        raise ValueError(f"unknown engine {engine!r}; allowed: auto, native, python")
    if engine == "native" and _module is None:
        raise RuntimeError(_missing)
    return engine != "python" and _module is not None


def run(
    history: list[Any],
    name: str,
    semantics: str,
    initial: Any,
    independent: bool | None,
    max_nodes: int,
    seconds: float,
    exhaustive: bool,
    first_steps: int,
    growth: int,
    budget_reason: str,
) -> tuple[bool, list[int], list[tuple[Any, ...]]] | None:
    """The compiled ``check`` (see native/src/lib.rs), or None when it declines."""
    assert _module is not None
    out: tuple[bool, list[int], list[tuple[Any, ...]]] | None = _module.check(
        history if type(history) is list else list(history),
        name,
        semantics,
        initial,
        independent,
        max_nodes,
        seconds,
        exhaustive,
        first_steps,
        growth,
        budget_reason,
    )
    return out
