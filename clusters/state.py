"""State files: what a backend records about the cluster it made, written so that a reader
never sees half of one.

Every backend keeps ``<workroot>/cluster.json`` (``STATE_FILE``): what it made, for a person
looking and for ``splitbrain clean``; ``destroy()`` adds when it was destroyed and what it
removed. Pid files and the ssh backend's run records are written the same way: to a
temporary file beside the target, then renamed over it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["STATE_FILE", "mark_destroyed", "now", "read_state", "write_atomic", "write_state"]

STATE_FILE = "cluster.json"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (its directory made if missing) through a temporary file and
    a rename: a reader sees the old content or the new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; empty when it is missing or not JSON."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def write_state(path: Path, state: Mapping[str, Any], *, indent: int | None = 2) -> None:
    """Write ``state`` as JSON to ``path``, atomically."""
    write_atomic(path, json.dumps(state, indent=indent) + "\n")


def mark_destroyed(path: Path, removed: list[str]) -> None:
    """Add ``destroyed_at`` (now) and ``removed`` to the state in ``path``, if there is one."""
    if path.exists():
        state = read_state(path)
        state["destroyed_at"] = now()
        state["removed"] = removed
        write_state(path, state)


def now() -> str:
    """The time now, UTC, to the second (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
