"""What the node image's builders share (``build``: the node layers and the Debian base;
``packages``: a base with a system's Debian packages): the error they raise, the images' names
and labels, the digest of their inputs, image lookups and pruning, the build lock and the work
directories of builds.

A build works in a directory ``splitbrain-rootfs-*`` under ``clusters.paths.build_dir()``
(``/var/tmp``), with its pid in ``.owner``; ``clean_build_leftovers`` removes those whose
build was killed. One build runs at a time on a machine (``build_lock``, on
``<run dir>/image.lock``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clusters.base import SetupError
from clusters.paths import build_dir, run_dir

__all__ = [
    "BASE_REPO",
    "IMAGE_LABEL",
    "IMAGE_REPO",
    "INPUTS_LABEL",
    "PACKAGES_LABEL",
    "ROOTFS_PREFIX",
    "ImageError",
    "Progress",
    "build_lock",
    "clean_build_leftovers",
    "digest",
    "image_id",
    "lock_file",
    "new_work_dir",
    "prune",
    "remove_container",
    "remove_work_dir",
]

IMAGE_REPO = "splitbrain-node"
BASE_REPO = "splitbrain-base"
IMAGE_LABEL = "splitbrain.image"
INPUTS_LABEL = "splitbrain.inputs"
PACKAGES_LABEL = "splitbrain.packages"
ROOTFS_PREFIX = "splitbrain-rootfs-"

#: what a build says as it goes (one line, no newline)
Progress = Callable[[str], None]


class ImageError(SetupError):
    """The node image could not be built (exit code 4 when it happens during a run)."""


def lock_file() -> Path:
    """The lock one image build (or lookup) at a time holds."""
    return run_dir() / "image.lock"


@contextmanager
def build_lock(say: Progress) -> Iterator[None]:
    """One build (or lookup) at a time on this machine, across threads and processes: a second
    controller says whom it waits for, waits, then finds the image cached."""
    path = lock_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another splitbrain"
            say(f"waiting for {holder} to finish with the node image (lock {path})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} ({' '.join(sys.argv[:3])})\n")
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def digest(parts: Iterable[bytes]) -> str:
    """The sha256 (hex) of ``parts``, each length-prefixed so that no two lists collide."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


# -- images and containers ----------------------------------------------------------------------


def image_id(client: Any, ref: str) -> str | None:
    """The id of image ``ref``, None when it is not on this machine."""
    import docker.errors

    try:
        return str(client.api.inspect_image(ref)["Id"])
    except docker.errors.ImageNotFound:
        return None


def prune(
    client: Any, kind: str, *, keep: str, packages: str | None = None, min_age: float = 3600.0
) -> None:
    """Remove images of ``kind`` (and of the package list ``packages``) other than ``keep``
    that nothing uses (best effort). Images younger than ``min_age`` seconds stay: another
    controller may be about to start one."""
    import docker.errors

    keep_id = image_id(client, keep)
    wanted = [f"{IMAGE_LABEL}={kind}"]
    if packages is not None:
        wanted.append(f"{PACKAGES_LABEL}={packages}")
    for img in client.api.images(filters={"label": wanted}):
        if img["Id"] == keep_id or time.time() - img.get("Created", 0) < min_age:
            continue
        for ref in img.get("RepoTags") or [img["Id"]]:
            try:
                client.api.remove_image(ref, force=False, noprune=False)
            except docker.errors.APIError:
                break  # in use by a container or a child image: it stays


def remove_container(client: Any, name: str) -> None:
    """Remove container ``name`` (forcibly), if there is one."""
    import docker.errors

    try:
        client.api.remove_container(name, force=True)
    except docker.errors.NotFound:
        pass


# -- work directories ---------------------------------------------------------------------------


def new_work_dir() -> Path:
    """A fresh work directory for a build, marked with this process's pid."""
    parent = build_dir()
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=ROOTFS_PREFIX, dir=parent))
    (work / ".owner").write_text(f"{os.getpid()}\n")
    return work


def remove_work_dir(path: Path) -> None:
    """Remove a build's work directory (or a directory in it), first unmounting anything a
    killed debootstrap left mounted inside it (/proc, /sys): removing through a live mount
    would delete the host's files. Refuses a path that is not in a work directory."""
    path = path.resolve()
    if not str(path).startswith(str(build_dir().resolve() / ROOTFS_PREFIX)):
        raise ValueError(f"refusing to remove {path}: not a build directory")
    mounts = []
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target == str(path) or target.startswith(str(path) + "/"):
                mounts.append(target)
    except OSError:
        pass
    for target in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
    still = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(path) + "/")
    ]
    if still:
        raise ImageError(f"cannot remove {path}: still mounted: {', '.join(still)}")
    shutil.rmtree(path, ignore_errors=True)


def clean_build_leftovers() -> list[str]:
    """Remove the work directories of builds whose process is gone (a killed build); returns
    a line per directory removed."""
    removed = []
    for d in sorted(build_dir().glob(ROOTFS_PREFIX + "*")):
        try:
            pid = int((d / ".owner").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = 0
        if pid and Path(f"/proc/{pid}").exists():
            continue
        remove_work_dir(d)
        removed.append(f"build directory {d}")
    return removed
