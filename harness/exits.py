"""The exit codes of ``splitbrain``, defined once: the run, ``check`` and the pytest plugin
all use these."""

from __future__ import annotations

from typing import Any

__all__ = ["BAD_INPUT", "INVALID", "SETUP_FAILED", "UNKNOWN", "VALID", "of"]

VALID = 0
INVALID = 1
#: the checkers could not decide, the run was interrupted, or the harness failed
UNKNOWN = 2
#: a suite, a flag or a file given is wrong; nothing was made
BAD_INPUT = 3
#: the cluster, the system or the nemesis could not be set up
SETUP_FAILED = 4


def of(valid: Any) -> int:
    """The exit code of a verdict: True, False or "unknown"."""
    return {True: VALID, False: INVALID}.get(valid, UNKNOWN)
