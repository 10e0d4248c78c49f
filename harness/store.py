"""The results directory of a run: ``results/<test>/<UTC start>/`` and ``results/latest``.

Every file the harness writes whole (spec.yaml, results.json) is written to a ``.tmp`` beside
it and renamed, so a reader never sees half a file; when the write fails (a full disk, a
read-only file system) the ``.tmp`` is removed and a StorageError names the file and why.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "RunDir",
    "StorageError",
    "code_version",
    "is_storage_error",
    "remove_partial",
    "spec_to_dict",
    "write_atomic",
]

#: errors that say the results cannot be stored, whatever the harness does
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
_WHY = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EFBIG: "the file is larger than the file system allows",
}


class StorageError(Exception):
    """A file of the results could not be written. ``path`` is the file, ``cause`` the OSError;
    the message says what failed, why, and what to do."""

    def __init__(self, what: str, path: Path, cause: OSError) -> None:
        why = _WHY.get(cause.errno or 0, cause.strerror or str(cause))
        super().__init__(
            f"cannot {what} {path}: {why} ({cause.strerror or cause}); free some space or "
            f"choose another --results directory"
        )
        self.path = path
        self.cause = cause


def is_storage_error(e: BaseException) -> bool:
    """True for a StorageError, or an OSError that says the disk is full or read-only."""
    return isinstance(e, StorageError) or (isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS)


class RunDir:
    """One run's directory. Files: spec.yaml, history.jsonl, results.json, harness.log,
    nodes/<node>/ (logs and data), and whatever the checkers draw."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, root: Path, test: str) -> RunDir:
        """Make ``root/<test>/<UTC start>`` and point ``root/latest`` at it; raises
        StorageError when the directory cannot be made. Two runs of one test that start in
        the same second (``--jobs``, pytest-xdist, two CI jobs on one results folder) get
        ``<stamp>``, ``<stamp>-2``, ...: the name is taken by ``mkdir`` itself, which fails
        for all but one taker, so no two runs ever share a directory."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        base = root / _safe(test)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError("create the run directory", base / stamp, e) from e
        n = 1
        while True:
            path = base / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
            except OSError as e:
                raise StorageError("create the run directory", path, e) from e
        _point_latest(root, path)
        return cls(path)

    @property
    def history(self) -> Path:
        return self.path / "history.jsonl"

    @property
    def results(self) -> Path:
        return self.path / "results.json"

    @property
    def nodes(self) -> Path:
        return self.path / "nodes"

    def write_spec(self, spec: Any, extra: dict[str, Any]) -> None:
        """spec.yaml, whole or not at all; raises StorageError."""
        data = {**spec_to_dict(spec), **extra}
        write_atomic(self.path / "spec.yaml", yaml.safe_dump(data, sort_keys=False))

    def write_results(self, results: dict[str, Any]) -> None:
        """results.json, whole or not at all; raises StorageError."""
        write_atomic(self.results, json.dumps(results, indent=2, default=str))


def _point_latest(root: Path, path: Path) -> None:
    """Point ``root/latest`` at ``path`` through a new link renamed over the old one, so that
    runs that start together never see it missing nor fail on each other's link."""
    latest = root / "latest"
    tmp = root / f".latest.{os.getpid()}.{time.monotonic_ns()}"
    try:
        tmp.symlink_to(path.relative_to(root))
        os.replace(tmp, latest)
    except OSError:  # a filesystem without symlinks (or without room for one): a convenience
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through ``path.tmp`` and a rename. On failure removes the
    ``.tmp`` (a previous ``path`` stays as it was) and raises StorageError."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise StorageError("write", path, e) from e


def remove_partial(directory: Path) -> list[Path]:
    """Remove the half-written temporary files (``*.tmp``, ``*.tmp.<pid>``) under
    ``directory``, as a failed write leaves them; returns those removed. Call it only when
    nothing writes there any more (after teardown)."""
    removed: list[Path] = []
    try:
        candidates = [
            p for p in directory.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name
        ]
    except OSError:
        return removed
    for p in candidates:
        try:
            if p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
        except OSError:
            pass
    return removed


@functools.lru_cache(maxsize=16)
def code_version(where: str = ".") -> dict[str, Any] | None:
    """The code a run ran: ``{"commit": <git HEAD>, "dirty": bool, "diff": <hash>}`` of the
    git tree holding ``where`` (a suite file or a directory), or None outside git. ``diff``
    hashes the uncommitted changes to tracked files, so two runs of a dirty tree are known to
    have run the same code only when their hashes agree: a verdict that flips between runs
    with the same commit and diff is flaky, not a change (``splitbrain history``)."""
    d = Path(where)
    d = d if d.is_dir() else d.parent
    d = d if str(d) else Path(".")

    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(
                ["git", "-C", str(d), *args], capture_output=True, timeout=20, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.decode("utf-8", "replace") if p.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    diff = git("diff", "HEAD", "--no-ext-diff", "--no-color") or ""
    return {
        "commit": commit.strip(),
        "dirty": bool(diff),
        "diff": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else None,
    }


def spec_to_dict(spec: Any) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    out = plain(spec)
    assert isinstance(out, dict)
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "test"
