"""The lock that marks a cluster prefix as owned by a live controller.

Every backend names what it makes after a prefix (``sb<hex>``) and holds an exclusive
``flock`` on ``/run/splitbrain/<prefix>.lock`` from before it makes anything until it has
removed everything. ``splitbrain clean`` removes only what belongs to prefixes whose lock no
live process holds (``is_live``), so it never takes a running test's nodes away.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from clusters.base import SetupError

__all__ = ["LOCK_DIR", "PrefixLock", "is_live"]

LOCK_DIR = Path("/run/splitbrain")


class PrefixLock:
    """The lock of one prefix; ``hold`` raises SetupError when another controller holds it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.path = LOCK_DIR / f"{prefix}.lock"
        self._fh: IO[str] | None = None

    def hold(self, note: str) -> None:
        """Take the lock and write ``<pid> <note>`` into it (for a person looking)."""
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise SetupError(f"prefix {self.prefix!r} is in use by a live cluster") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {note}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Remove the lock file and let go (nothing if it is not held)."""
        if self._fh is not None:
            self.path.unlink(missing_ok=True)
            self._fh.close()
            self._fh = None


def is_live(prefix: str) -> bool:
    """Whether a live process holds ``prefix``'s lock."""
    try:
        fh = open(LOCK_DIR / f"{prefix}.lock")
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False
