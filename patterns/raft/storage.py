"""A Raft node's persistent state: (term, voted_for, led_terms) and the log.

Files in the data directory:

- ``state.json``: ``{"term": 5, "voted_for": "n2", "led_terms": [2, 5]}``, replaced
  atomically (temp file + fsync + rename + fsync of the directory).
- ``log.bin``: a ``RecordLog``; record i is log entry i, ``[term, command]``.
- ``join`` (``JOIN_FILE``), empty, put there before the first start of a node that is to be
  added to a running cluster: with no configuration entry in its log yet, the node is in no
  configuration (it waits to be added and never campaigns) rather than in that of ``--peers``.

With ``fsync=False`` (the ``no-fsync`` seeded bug) the state goes to ``state.log``, a
``RecordLog`` whose last record wins, and both logs write straight to the kernel and never
fsync: a kill -9 loses nothing (the kernel keeps what was written), a power cut loses
everything since the kernel last wrote its cache back (the ``lose-unfsynced`` fault).
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Any

from .._runtime import RecordLog, atomic_write_json, read_json

__all__ = ["JOIN_FILE", "Storage"]

#: the file whose presence in the data directory marks a node started to join a cluster
JOIN_FILE = "join"


class Storage:
    """Durable state and log of one node; ``entries`` is the log as recovered on open."""

    def __init__(self, data_dir: str, *, fsync: bool = True, lock_timeout: float = 5.0) -> None:
        os.makedirs(data_dir, exist_ok=True)
        self._lock_fd = _lock_dir(data_dir, lock_timeout)
        self.fsync = fsync
        self._state_path = os.path.join(data_dir, "state.json")
        self._state_log = (
            None
            if fsync
            else RecordLog(os.path.join(data_dir, "state.log"), sync=False, buffer_size=0)
        )
        self._log = RecordLog(os.path.join(data_dir, "log.bin"), sync=fsync, buffer_size=0)
        self.entries: list[tuple[int, Any]] = [(int(t), c) for t, c in self._log.records]
        self._log.records = []
        self.torn_bytes = self._log.torn_bytes
        #: the data directory was prepared for a node that joins a running cluster
        self.joining = os.path.exists(os.path.join(data_dir, JOIN_FILE))

    def load_state(self) -> dict[str, Any]:
        """The saved ``{"term", "voted_for", "led_terms"}``, or the initial state."""
        state: Any = None
        if self._state_log is not None:
            state = self._state_log.records[-1] if self._state_log.records else None
        else:
            state = read_json(self._state_path)
        if not isinstance(state, dict):
            state = {}
        return {
            "term": int(state.get("term", 0)),
            "voted_for": state.get("voted_for"),
            "led_terms": [int(t) for t in state.get("led_terms", [])],
        }

    def save_state(self, term: int, voted_for: str | None, led_terms: list[int]) -> None:
        """Persist the state; durable on return unless ``fsync=False``."""
        state = {"term": term, "voted_for": voted_for, "led_terms": led_terms}
        if self._state_log is not None:
            self._state_log.append(state)
        else:
            atomic_write_json(self._state_path, state)

    def append(self, entries: list[tuple[int, Any]]) -> int:
        """Write entries at the end of the log (not yet durable); returns the last index."""
        return self._log.append(*([t, c] for t, c in entries))

    def sync(self, upto: int | None = None) -> None:
        """Make entries 1..upto (all, if None) durable; concurrent callers share fsyncs."""
        self._log.sync_upto(upto)

    @property
    def synced(self) -> int:
        """The index of the last entry known to be durable."""
        return self._log.synced

    def truncate(self, keep: int) -> None:
        """Drop entries after index ``keep``; durable on return (unless ``fsync=False``)."""
        self._log.truncate(keep)

    def close(self) -> None:
        self._log.close()
        if self._state_log is not None:
            self._state_log.close()


def _lock_dir(data_dir: str, timeout: float) -> int:
    """Hold an exclusive lock on ``data_dir`` for the life of the process, so that two
    processes never write one log (the kernel drops it when a killed process is gone;
    until then, wait)."""
    fd = os.open(os.path.join(data_dir, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise RuntimeError(
                    f"data directory {data_dir} is in use by another process"
                ) from None
            time.sleep(0.05)
