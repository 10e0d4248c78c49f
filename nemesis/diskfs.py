"""The lazy file system the disk faults act through: built from ``nemesis/lazyfs/lazyfs.c``
(libfuse3), mounted over a node's work directory before the system is set up, told what to do
through its control file, unmounted after the system is stopped.

Why over the work directory and not the data directory itself: every System's setup starts
with ``rm -rf`` of its data directory, and a mount point cannot be removed (EBUSY). Mounted
over the work directory, the helper passes every file straight through to the directory
underneath, and only under the data directory (``lazy``) does it keep what was synced apart
from what was written, so that ``lose`` can drop the rest (see the C source's header for the
exact rules). The daemons of the local backend run in network namespaces whose mount
namespace is a slave of the host's (``ip netns exec``), so a mount made on the host path is
what they see.

Where it cannot be made: it needs ``/dev/fuse``, a C compiler and libfuse3's headers
(``./setup`` installs ``libfuse3-dev``), and a node whose work directory is on this machine
(the local backend). A Docker node would need ``--device /dev/fuse --cap-add SYS_ADMIN`` and
the helper built into its image; the docker backend gives neither, so it is refused there.

What is left after a run: nothing. The helper removes its synced copies when it is unmounted;
``unmount`` is called by the run's teardown, and ``splitbrain clean`` unmounts what a killed
controller left (``clusters.local``: a mount of type ``fuse.splitbrain-lazyfs`` whose source is
a node's namespace name).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from clusters.base import SetupError
from clusters.clock import shim_cache

__all__ = [
    "CTL",
    "FSTYPE",
    "SOURCE",
    "build",
    "control",
    "mount",
    "mounted",
    "unavailable",
    "unmount",
]

SOURCE = Path(__file__).resolve().parent / "lazyfs" / "lazyfs.c"
#: the file system type /proc/self/mountinfo shows (``-o subtype=``)
FSTYPE = "fuse.splitbrain-lazyfs"
#: the control file, at the root of the mount (not listed)
CTL = ".lazyfs-ctl"
HEADERS = "/usr/include/fuse3/fuse.h"


class Where(Protocol):
    """What of a node the file system needs: its name and its work directory (a ``Node``)."""

    name: str
    workdir: str


_build_lock = threading.Lock()
_procs: dict[str, subprocess.Popen[bytes]] = {}
_procs_lock = threading.Lock()


def unavailable(backend: str) -> str | None:
    """Why the lazy file system cannot be made for nodes of ``backend`` on this machine, or
    None (``FaultInfo.check``: a suite asking for it is refused, exit 3)."""
    if backend != "local":
        return (
            f"it is mounted on the node's work directory from this machine, which only the local "
            f"backend shares (the {backend} backend does not; a Docker node would need "
            "`--device /dev/fuse --cap-add SYS_ADMIN` and the helper in its image)"
        )
    if not os.path.exists("/dev/fuse"):
        return "this machine has no /dev/fuse (load the fuse module: modprobe fuse)"
    if _compiler() is None:
        return "no C compiler to build the FUSE helper (apt-get install gcc; ./setup does)"
    if not os.path.exists(HEADERS):
        return f"no libfuse3 headers ({HEADERS}; apt-get install libfuse3-dev; ./setup does)"
    return None


def build() -> Path:
    """The helper compiled once into the user's cache (``clusters.clock.shim_cache``), named by
    the hash of its source; SetupError when it cannot be built."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    cache = shim_cache()
    out = cache / f"lazyfs-{digest}"
    if out.exists():
        return out
    cc = _compiler()
    if cc is None or not os.path.exists(HEADERS):
        raise SetupError(f"cannot build the lazy file system: {unavailable('local')}")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with _build_lock, open(cache / f".lazyfs-{digest}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if out.exists():
                return out
            with tempfile.TemporaryDirectory(prefix=".lazyfs-", dir=cache) as work:
                tmp = Path(work) / "lazyfs"
                argv = [cc, "-O2", "-Wall", "-I/usr/include/fuse3", "-o", str(tmp), str(SOURCE),
                        "-lfuse3", "-lpthread"]  # fmt: skip
                r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
                if r.returncode != 0:
                    raise SetupError(f"building {SOURCE.name} failed: {r.stderr.strip()[:800]}")
                os.replace(tmp, out)
    except OSError as e:
        raise SetupError(f"cannot build the lazy file system in {cache}: {e}") from e
    return out


def mount(node: Where, data_dir: str, timeout: float = 20.0) -> None:
    """Mount the lazy file system over ``node``'s work directory, forgetful under
    ``data_dir``; returns once it is mounted. Does nothing when it already is."""
    if not getattr(node, "shares_filesystem", False):
        raise SetupError(f"the disk faults need a node on this machine; {node.name} is not")
    workdir = os.path.abspath(node.workdir)
    lazy = os.path.relpath(os.path.abspath(data_dir), workdir)
    if lazy == "." or lazy.startswith(".."):
        raise SetupError(
            f"the data directory {data_dir} of {node.name} is not inside its work directory "
            f"{workdir}: the lazy file system cannot be put under it"
        )
    if mounted(workdir):
        return
    helper = build()
    os.makedirs(workdir, exist_ok=True)
    source = getattr(node, "namespace", None) or f"splitbrain-{node.name}"
    options = f"allow_other,default_permissions,fsname={source},subtype={FSTYPE.split('.', 1)[1]}"
    argv = [str(helper), lazy, _shadow(workdir), workdir, "-f", "-o", options]
    with open(f"{workdir}.lazyfs.log", "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the controller must not take it down
        )  # fmt: skip
    with _procs_lock:
        _procs[workdir] = proc
    deadline = time.monotonic() + timeout
    while not mounted(workdir):
        if proc.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            tail = Path(f"{workdir}.lazyfs.log").read_text(errors="replace")[-800:]
            raise SetupError(f"the lazy file system did not mount on {workdir}: {tail.strip()}")
        time.sleep(0.02)


def unmount(node: Where, timeout: float = 10.0) -> None:
    """Unmount the lazy file system of ``node`` (lazily if something still holds a file) and
    wait for its helper to exit; nothing when it is not mounted."""
    unmount_path(os.path.abspath(node.workdir), timeout)


def unmount_path(workdir: str, timeout: float = 10.0) -> None:
    """Unmount the lazy file system on ``workdir`` and stop its helper.

    The helper is stopped (SIGTERM: libfuse leaves its loop, the helper removes its synced
    copies) rather than waited for: where ``/`` is a private mount, as here, every
    ``ip netns exec`` copies the host's mount table, so a process of any other run started
    while the file system was mounted holds a copy of it, and that keeps the FUSE connection
    open after the host's unmount."""
    if mounted(workdir):
        r = subprocess.run(["umount", workdir], capture_output=True, text=True)
        if r.returncode != 0 and mounted(workdir):
            subprocess.run(["umount", "-l", workdir], capture_output=True, text=True)
    with _procs_lock:
        proc = _procs.pop(workdir, None)
    if proc is not None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    shutil.rmtree(_shadow(workdir), ignore_errors=True)  # what a killed helper left
    if mounted(workdir):
        raise RuntimeError(f"{workdir} is still mounted")


def control(node: Where, command: str) -> dict[str, Any]:
    """Send ``command`` (``lose``, ``checkpoint``, ``enospc 1``, ``slow 50``) to ``node``'s
    lazy file system; returns its state afterwards (``{"enospc", "slow_ms", "lazy",
    "last_loss"}``). Raises RuntimeError when it is not mounted or refuses the command."""
    workdir = os.path.abspath(node.workdir)
    if not mounted(workdir):
        raise RuntimeError(f"no lazy file system is mounted on {node.name} ({workdir})")
    path = os.path.join(workdir, CTL)
    try:
        fd = os.open(path, os.O_RDWR)
        try:
            os.write(fd, command.encode())
            state = os.pread(fd, 4096, 0)
        finally:
            os.close(fd)
    except OSError as e:
        raise RuntimeError(f"the lazy file system of {node.name} refused {command!r}: {e}") from e
    result: dict[str, Any] = json.loads(state)
    return result


def mounted(path: str) -> bool:
    """Whether a lazy file system is mounted on ``path``."""
    return any(where == path for _, where in mounts())


def mounts() -> list[tuple[str, str]]:
    """(source, mount point) of every lazy file system mounted on this machine."""
    found = []
    try:
        with open("/proc/self/mountinfo") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 2 and tail[0] == FSTYPE:
            found.append((_unescape(tail[1]), _unescape(fields[4])))
    return found


def _shadow(workdir: str) -> str:
    """Where the helper keeps the synced copies: beside the work directory, not in it."""
    return f"{workdir}.lazyfs-synced"


def _unescape(text: str) -> str:
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


def _compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
