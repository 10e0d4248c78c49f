"""A run's prefix, and the lock that marks it as owned by a live controller.

Every backend names what it makes after a prefix (``sb`` and 6 hex digits, ``new_prefix``) and
holds an exclusive ``flock`` on ``<run dir>/<prefix>.lock`` (``clusters.paths.run_dir``:
``/run/splitbrain``) from before it makes anything until it has removed everything.
``splitbrain clean`` removes only what belongs to prefixes whose lock no live process holds
(``is_live``), so it never takes a running test's nodes away. ``create_lock`` serializes the
choice of a subnet and the making of its bridge between controllers.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from clusters.base import SetupError
from clusters.paths import run_dir

__all__ = [
    "PREFIX_RE",
    "PrefixLock",
    "check_prefix",
    "create_lock",
    "forget",
    "is_live",
    "lock_path",
    "new_prefix",
]

#: a prefix someone may choose: 2-12 lowercase letters or digits, a letter first
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,11}$")


def new_prefix() -> str:
    """A fresh run prefix: ``sb`` and 6 random hex digits (names then fit in IFNAMSIZ)."""
    return "sb" + os.urandom(3).hex()


def check_prefix(prefix: str) -> str:
    """``prefix``, or ValueError when it is not 2-12 lowercase letters or digits starting with
    a letter."""
    if not isinstance(prefix, str) or not PREFIX_RE.match(prefix):
        raise ValueError(
            f"expected a prefix of 2-12 lowercase letters or digits starting with a letter "
            f"for 'prefix', got {prefix!r}"
        )
    return prefix


def lock_path(prefix: str) -> Path:
    """The lock file of ``prefix``."""
    return run_dir() / f"{prefix}.lock"


class PrefixLock:
    """The lock of one prefix; ``hold`` raises SetupError when another controller holds it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.path = lock_path(prefix)
        self._fh: IO[str] | None = None

    def hold(self, note: str) -> None:
        """Take the lock and write ``<pid> <note>`` into it (for a person looking)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
        fh = open(lock_path(prefix))
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def forget(prefix: str) -> None:
    """Remove the lock file a dead run of ``prefix`` left (``clean``, after removing the rest)."""
    lock_path(prefix).unlink(missing_ok=True)


@contextmanager
def create_lock() -> Iterator[None]:
    """Serializes the choice of a subnet and the making of its bridge between controllers (on
    this machine, every backend that makes one)."""
    path = run_dir() / "create.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
