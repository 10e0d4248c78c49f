"""Durable state: atomic file replacement and an append-only record log.

What "durable" means here: once ``atomic_write`` returns, or ``RecordLog.sync`` returns
after an ``append``, the data survives a kill -9 of the process and a power loss (as far as
the disk honours fsync). A kill -9 at any other moment leaves either the old or the new
file (``atomic_write``), or the log with its last record torn, which ``RecordLog`` drops
when it is opened again.

Each ``RecordLog`` record is framed as ``length (4 bytes, big endian) | crc32 (4 bytes) |
payload`` with a JSON payload. Only the tail can be torn (records are written in order and
synced before anything depends on them), so recovery keeps every record up to the first
that is short or fails its checksum, and cuts the file there.

``sync=False`` keeps writes in a user-space buffer that is never flushed or fsynced by
the log itself (it reaches the file only when the buffer fills, on ``truncate`` or on
``close``): a kill -9 then loses the tail, as a power loss loses what only sat in the page
cache. It exists so that seeded bugs can skip durability; do not use it otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from typing import Any

__all__ = [
    "RecordLog",
    "atomic_write",
    "atomic_write_json",
    "fsync_dir",
    "read_json",
    "read_records",
]

log = logging.getLogger("durable")

_HEADER = struct.Struct(">II")


def atomic_write(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data``: after a crash the file holds the old or new bytes.

    Writes a temporary file next to it, fsyncs it, renames it over ``path`` and fsyncs
    the directory, so the rename itself is durable when this returns.
    """
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def atomic_write_json(path: str, value: Any) -> None:
    """``atomic_write`` of ``value`` as JSON."""
    atomic_write(path, json.dumps(value, separators=(",", ":")).encode())


def read_json(path: str, default: Any = None) -> Any:
    """The JSON value in ``path``, or ``default`` if the file does not exist."""
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except FileNotFoundError:
        return default


def fsync_dir(path: str) -> None:
    """fsync a directory, making the creation, rename or removal of its entries durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RecordLog:
    """An append-only log of JSON records, numbered from 1, recovered on open.

    ``records`` holds what was recovered when the log was opened (the caller keeps its own
    in-memory copy after that); ``torn_bytes`` how many bytes of a torn tail were dropped.

    ``append`` writes without syncing; ``sync`` / ``sync_upto`` make records durable. With
    ``sync=False`` nothing is ever synced, and writes wait in a user-space buffer of
    ``buffer_size`` bytes (0: each goes to the kernel at once, as a program that never calls
    fsync writes). Many
    threads may call ``sync_upto`` at once: one fsync covers every record written before it
    started (group commit), so concurrent writers share fsyncs. ``truncate`` removes records
    from the end (a Raft follower dropping a conflicting suffix) and is durable on return.
    """

    def __init__(self, path: str, *, sync: bool = True, buffer_size: int = 1 << 20) -> None:
        self.path = path
        self.durable = sync
        existed = os.path.exists(path)
        self.records, self._ends, self.torn_bytes = _scan(path) if existed else ([], [], 0)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if self.torn_bytes:
            log.warning(
                "%s: dropped a torn tail of %d bytes after record %d",
                path,
                self.torn_bytes,
                len(self._ends),
            )
            os.ftruncate(self._fd, self._ends[-1] if self._ends else 0)
        if sync:
            os.fsync(self._fd)
            if not existed:
                fsync_dir(os.path.dirname(os.path.abspath(path)))
        # buffer_size 0 with sync=False: every write reaches the kernel at once, none is synced
        buffered = not sync and buffer_size > 0
        self._fh = os.fdopen(os.dup(self._fd), "ab", buffering=buffer_size) if buffered else None
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._synced = len(self._ends)
        self._generation = 0  # bumped by truncate: a sync started before it proves nothing

    def __len__(self) -> int:
        return len(self._ends)

    @property
    def synced(self) -> int:
        """How many records are known to be durable (all of them when ``sync=False``)."""
        return len(self._ends) if not self.durable else self._synced

    def append(self, *values: Any) -> int:
        """Write ``values`` as records (one write call); returns the new record count."""
        frames = []
        for v in values:
            payload = json.dumps(v, separators=(",", ":")).encode()
            frames.append(_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        data = b"".join(frames)
        with self._lock:
            end = self._ends[-1] if self._ends else 0
            if self._fh is not None:
                self._fh.write(data)
            else:
                _write_all(self._fd, data)
            for f in frames:
                end += len(f)
                self._ends.append(end)
            return len(self._ends)

    def sync(self) -> None:
        """Make every record written so far durable."""
        self.sync_upto(None)

    def sync_upto(self, n: int | None) -> None:
        """Make records 1..n (all, if None) durable; shares an fsync with concurrent callers."""
        if not self.durable:
            return
        with self._sync_lock:
            with self._lock:
                target = len(self._ends) if n is None else n
                if self._synced >= target:
                    return
                count, generation = len(self._ends), self._generation
            os.fsync(self._fd)
            with self._lock:
                if generation == self._generation:
                    self._synced = max(self._synced, count)

    def truncate(self, n: int) -> None:
        """Keep records 1..n, drop the rest; durable on return (when ``sync=True``)."""
        with self._lock:
            if n >= len(self._ends):
                return
            if self._fh is not None:
                self._fh.flush()
            os.ftruncate(self._fd, self._ends[n - 1] if n > 0 else 0)
            del self._ends[n:]
            self._generation += 1
            self._synced = min(self._synced, n)
            if self.durable:
                os.fsync(self._fd)

    def close(self) -> None:
        """Flush (for ``sync=False``, this is the only flush) and close."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            os.close(self._fd)


def read_records(path: str) -> list[Any]:
    """The whole records of a log file, read only (a torn tail is left as it is): for tools
    that look at a node's log after a run, which must not change it as opening would."""
    return _scan(path)[0]


def _scan(path: str) -> tuple[list[Any], list[int], int]:
    """The records of a log file, their end offsets, and the length of a torn tail."""
    with open(path, "rb") as fh:
        data = fh.read()
    records: list[Any] = []
    ends: list[int] = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            records.append(json.loads(payload))
        except ValueError:
            break
        pos = start + length
        ends.append(pos)
    return records, ends, len(data) - pos


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
