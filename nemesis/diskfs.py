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
(the local backend) or a Docker container given the device (the docker backend, when a test
names a disk fault: ``FaultInfo.node_needs`` = ``fuse``, see ``clusters.docker``). On a node
that does not share this machine's files (``shares_filesystem`` False) everything goes
through the node: the helper, built here with libfuse3 linked statically (``libfuse3.a``, from
``libfuse3-dev``; so the node needs only a C library, no FUSE package, not even
``fusermount3``: it runs as root with CAP_SYS_ADMIN and mounts with mount(2)), is copied in
with ``node.put``, started with ``node.spawn`` (daemon ``splitbrain-lazyfs``, its log and pid
in the node's work directory), watched through ``/proc/self/mountinfo`` read with
``node.exec``, and told what to do by a ``python3 -c`` on the node that writes the command to
the control file and reads the state back on the same descriptor. SSH hosts are refused (see
``unavailable``).

What is left after a run: nothing. The helper removes its synced copies when it is unmounted;
``unmount`` is called by the run's teardown, and ``splitbrain clean`` unmounts what a killed
controller left (``clusters.local``: a mount of type ``fuse.splitbrain-lazyfs`` whose source is
a node's namespace name; a container's mount goes with the container, which ``clean``
removes).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import posixpath
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from glob import glob
from pathlib import Path
from typing import Any, Protocol

from clusters.base import SetupError
from clusters.clock import shim_cache

__all__ = [
    "CTL",
    "FSTYPE",
    "SOURCE",
    "DAEMON",
    "NODE_HELPER",
    "build",
    "control",
    "is_mounted",
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
#: where a node that does not share this machine's files gets the helper, and its daemon name
NODE_HELPER = "/usr/local/lib/splitbrain/lazyfs"
DAEMON = "splitbrain-lazyfs"
#: the backends whose nodes can have it (see ``unavailable``)
BACKENDS = ("local", "docker")


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
    if backend == "ssh":
        return (
            "an SSH host is a machine of the user's own, which this project does not change: "
            "it would need /dev/fuse, root's right to mount there and a helper built for that "
            "host, mounted over the node's work directory (the local and docker backends have "
            "it: a container is given /dev/fuse and CAP_SYS_ADMIN for the test)"
        )
    if backend not in BACKENDS:
        return (
            f"only the {' and '.join(BACKENDS)} backends mount it (the {backend} backend "
            "gives its nodes no /dev/fuse)"
        )
    if not os.path.exists("/dev/fuse"):
        return "this machine has no /dev/fuse (load the fuse module: modprobe fuse)"
    if _compiler() is None:
        return "no C compiler to build the FUSE helper (apt-get install gcc; ./setup does)"
    if not os.path.exists(HEADERS):
        return f"no libfuse3 headers ({HEADERS}; apt-get install libfuse3-dev; ./setup does)"
    if backend == "docker" and _static_lib() is None:
        return (
            "no static libfuse3 (libfuse3.a, from libfuse3-dev) to build the helper that runs "
            "in the containers"
        )
    return None


def build(static: bool = False) -> Path:
    """The helper compiled once into the user's cache (``clusters.clock.shim_cache``), named by
    the hash of its source; SetupError when it cannot be built. ``static``: libfuse3 linked
    in (``libfuse3.a``), for a node (a container) that has no libfuse3 of its own."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    cache = shim_cache()
    name = f"lazyfs-static-{digest}" if static else f"lazyfs-{digest}"
    out = cache / name
    if out.exists():
        return out
    cc = _compiler()
    if cc is None or not os.path.exists(HEADERS):
        raise SetupError(f"cannot build the lazy file system: {unavailable('local')}")
    lib = ["-lfuse3"]
    if static:
        if _static_lib() is None:
            raise SetupError(f"cannot build the lazy file system: {unavailable('docker')}")
        lib = ["-Wl,-Bstatic", "-lfuse3", "-Wl,-Bdynamic", "-ldl"]
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with _build_lock, open(cache / f".{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if out.exists():
                return out
            with tempfile.TemporaryDirectory(prefix=".lazyfs-", dir=cache) as work:
                tmp = Path(work) / "lazyfs"
                argv = [cc, "-O2", "-Wall", "-I/usr/include/fuse3", "-o", str(tmp), str(SOURCE),
                        *lib, "-lpthread"]  # fmt: skip
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
    shared = getattr(node, "shares_filesystem", False)
    path = os.path if shared else posixpath  # a node's own paths are POSIX paths
    workdir = path.abspath(node.workdir)
    lazy = path.relpath(path.abspath(data_dir), workdir)
    if lazy == "." or lazy.startswith(".."):
        raise SetupError(
            f"the data directory {data_dir} of {node.name} is not inside its work directory "
            f"{workdir}: the lazy file system cannot be put under it"
        )
    if not shared:
        _mount_on_node(node, workdir, lazy, timeout)
        return
    if mounted(workdir):
        return
    helper = build()
    os.makedirs(workdir, exist_ok=True)
    source = getattr(node, "namespace", None) or f"splitbrain-{node.name}"
    argv = [str(helper), lazy, _shadow(workdir), workdir, "-f", "-o", _options(source)]
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


def _options(source: str) -> str:
    return f"allow_other,default_permissions,fsname={source},subtype={FSTYPE.split('.', 1)[1]}"


def _mount_on_node(node: Any, workdir: str, lazy: str, timeout: float) -> None:
    """``mount`` on a node reached through ``exec``: the helper (libfuse3 linked in) copied
    to ``NODE_HELPER`` and started as the node's daemon ``DAEMON``, from ``/`` (a daemon whose
    working directory is in the mount would keep it busy)."""
    if _node_mounted(node, workdir):
        return
    helper = build(static=True)
    node.put(helper, NODE_HELPER)
    node.exec(["mkdir", "-p", workdir])
    source = getattr(node, "container", None) or f"splitbrain-{node.name}"
    argv = [NODE_HELPER, lazy, _shadow(workdir), workdir, "-f", "-o", _options(source)]
    node.spawn(DAEMON, argv, cwd="/")
    deadline = time.monotonic() + timeout
    while not _node_mounted(node, workdir):
        if not node.alive(DAEMON) or time.monotonic() > deadline:
            node.signal(DAEMON, signal.SIGKILL)
            log = posixpath.join(workdir, f"{DAEMON}.log")
            tail = node.exec(["tail", "-c", "800", log], check=False).stdout
            raise SetupError(
                f"the lazy file system did not mount on {node.name}:{workdir}: {tail.strip()}"
            )
        time.sleep(0.1)


def unmount(node: Where, timeout: float = 10.0) -> None:
    """Unmount the lazy file system of ``node`` (lazily if something still holds a file) and
    wait for its helper to exit; nothing when it is not mounted."""
    if not getattr(node, "shares_filesystem", False):
        _unmount_on_node(node, posixpath.abspath(node.workdir), timeout)
        return
    unmount_path(os.path.abspath(node.workdir), timeout)


def _unmount_on_node(node: Any, workdir: str, timeout: float) -> None:
    """``unmount`` on a node reached through ``exec``: umount there, stop the helper (SIGTERM,
    SIGKILL after ``timeout``), remove what a killed helper left of its synced copies."""
    if _node_mounted(node, workdir):
        r = node.exec(["umount", workdir], check=False)
        if r.returncode != 0 and _node_mounted(node, workdir):
            node.exec(["umount", "-l", workdir], check=False)
    if node.signal(DAEMON, signal.SIGTERM):
        deadline = time.monotonic() + timeout
        while node.alive(DAEMON):
            if time.monotonic() > deadline:
                node.signal(DAEMON, signal.SIGKILL)
                break
            time.sleep(0.1)
    node.exec(["rm", "-rf", _shadow(workdir)], check=False)
    if _node_mounted(node, workdir):
        raise RuntimeError(f"{node.name}:{workdir} is still mounted")


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
    if not getattr(node, "shares_filesystem", False):
        return _control_on_node(node, command)
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


# Runs on the node: argv[1] the control file, argv[2] the command. Exit 3: there is no such
# file, so nothing is mounted there (the control file exists only in the lazy file system, and
# it is opened without O_CREAT).
_CONTROL_SCRIPT = """
import os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDWR)
except FileNotFoundError:
    sys.exit(3)
try:
    os.write(fd, sys.argv[2].encode())
    sys.stdout.write(os.pread(fd, 4096, 0).decode())
finally:
    os.close(fd)
"""


def _control_on_node(node: Any, command: str) -> dict[str, Any]:
    """``control`` on a node reached through ``exec``: a ``python3 -c`` there."""
    workdir = posixpath.abspath(node.workdir)
    python = getattr(node, "python", None) or "python3"
    r = node.exec(
        [python, "-c", _CONTROL_SCRIPT, posixpath.join(workdir, CTL), command],
        timeout=30,
        check=False,
    )
    if r.returncode == 3:
        raise RuntimeError(f"no lazy file system is mounted on {node.name} ({workdir})")
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise RuntimeError(f"the lazy file system of {node.name} refused {command!r}: {why}")
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def is_mounted(node: Where) -> bool:
    """Whether a lazy file system is mounted on ``node``'s work directory (asked on the node
    when it does not share this machine's files)."""
    if not getattr(node, "shares_filesystem", False):
        return _node_mounted(node, posixpath.abspath(node.workdir))
    return mounted(os.path.abspath(node.workdir))


def _node_mounted(node: Any, workdir: str) -> bool:
    r = node.exec(["cat", "/proc/self/mountinfo"], timeout=15)
    return any(where == workdir for _, where in _parse_mountinfo(r.stdout))


def mounted(path: str) -> bool:
    """Whether a lazy file system is mounted on ``path``."""
    return any(where == path for _, where in mounts())


def mounts() -> list[tuple[str, str]]:
    """(source, mount point) of every lazy file system mounted on this machine."""
    try:
        with open("/proc/self/mountinfo") as fh:
            return _parse_mountinfo(fh.read())
    except OSError:
        return []


def _parse_mountinfo(text: str) -> list[tuple[str, str]]:
    found = []
    for line in text.splitlines():
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


def _static_lib() -> str | None:
    """libfuse3's static library (``libfuse3-dev`` has it), or None."""
    for pattern in ("/usr/lib/*/libfuse3.a", "/usr/lib/libfuse3.a", "/usr/local/lib*/libfuse3.a"):
        found = sorted(glob(pattern))
        if found:
            return found[0]
    return None
