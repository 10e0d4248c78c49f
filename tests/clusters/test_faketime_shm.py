"""libfaketime's per-process shared memory is removed once its process is gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clusters.clock import remove_dead_shm


def test_only_the_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = int(dead.stdout)
    alive = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        names = [
            f"faketime_shm_{gone}",
            f"sem.faketime_sem_{gone}",
            f"faketime_shm_{alive.pid}",
            f"sem.faketime_sem_{alive.pid}",
            "other_shm_1",
        ]
        for name in names:
            (tmp_path / name).write_bytes(b"")
        removed = remove_dead_shm(str(tmp_path))
        assert sorted(Path(r).name for r in removed) == sorted(names[:2])
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
    finally:
        alive.communicate(b"")
