"""Per-process clock offsets on a node, through libfaketime.

A system that wants its clock skewable starts its daemons with ``faketime_env(node)`` in their
environment. libfaketime, preloaded, then reads ``<workdir>/faketime.rc`` on every time call
(no cache) and adds the offset written there, so ``set_offset`` moves the clock of running
processes without a restart. The file holds a relative offset in seconds, such as
``+3600.500000`` or ``-0.250000``: libfaketime 0.9.10 accepts fractional seconds; an empty or
missing file means no offset.

By default only the wall clock moves (``FAKETIME_DONT_FAKE_MONOTONIC=1``), as when a real
clock is stepped: CLOCK_MONOTONIC, and so timeouts, stay true. ``fake_monotonic=True`` moves
the monotonic clock too, but with libfaketime 0.9.10 it is rough: a faked CLOCK_MONOTONIC
reads as the faked *wall* clock (about 1.7e9 s), and glibc hands the monotonic deadlines of
lock and condition waits (``sem_clockwait``) straight to the kernel, so a Python
``Event.wait(0.1)`` or ``Lock.acquire(timeout=...)`` in such a process never times out. Use it
only for programs that do not wait with timeouts that way.

libfaketime 0.9.10 (Debian 12) breaks ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``
when the monotonic clock is not faked (libfaketime issue #426): it passes the kernel a negative
deadline, and Python 3.11's ``time.sleep`` fails with EINVAL. ``faketime_env`` therefore puts
a tiny shim before libfaketime in ``LD_PRELOAD`` that sends monotonic sleeps straight to the
kernel; it is compiled once with the controller's C compiler and copied to each node that
does not share the controller's filesystem, unless the node names a copy of its own in a
``sleep_shim`` attribute (the Docker node image has one built in).

Rates (``set_rate``, the drift fault): the file may also hold a rate, ``+1.500000 x1.050000``:
the clock then runs 5% fast. libfaketime 0.9.10 reads the file on every time call
(``FAKETIME_NO_CACHE=1``; with the cache, every ``FAKETIME_CACHE_DURATION`` s, 10 by default),
and computes the time as ``S + (t - S) * rate + offset``, ``t`` the true time and ``S`` the
moment the process's libfaketime started: the rate counts from the process's start, not from
the change, so a rate written as it is would jump the clock by ``(rate - 1) * (t - S)``
(measured: +0.30 s, three seconds after the start, at x1.1). ``set_rate`` therefore writes the
offset that keeps the clock where it is: it reads ``S`` of every process using the file (its
start in ``/proc/<pid>/stat``, on the node's own clock) and writes ``offset - (rate - 1) * (now
- S)``. The start in ``/proc`` is the process's creation; libfaketime starts a little later (at
its first time call: measured 70 to 160 ms for Python on a busy machine), so the clock may step
by ``|rate - 1|`` times that when a rate begins (16 ms at x1.1), and back by as much when it
ends; offsets alone never step. One file serves every process of a node: with several processes
started at different moments, only the newest is exact. libfaketime keeps the last rate it read
until another is written, so every rate is ended by writing ``x1`` explicitly (``set_rate(node,
1.0)``); ``set_offset`` writes one only where the file held a rate (``+2.000000 x1.000000``: a
bump or a reset ends a drift), and the bare offset it always wrote otherwise.
``FAKETIME_XRESET`` (libfaketime's own smoothing) is not used: with it an offset written after
a rate is ignored. The rate is read with ``atof``, in the process's locale: a daemon that sets
``LC_NUMERIC`` to a comma locale would misread it.

Only programs that read the time through libc are affected. Go programs (etcd, Consul, ...)
read the clock through the vDSO and raw syscalls, bypassing libc, so libfaketime does not
change their time: clock faults do not reach them, and a test must not claim they did.
Statically linked programs are not affected either.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clusters.base import Node, SetupError

__all__ = [
    "OFFSET_FILE",
    "remove_dead_shm",
    "RateChange",
    "build_shim",
    "faketime_env",
    "find_libfaketime",
    "format_clock",
    "format_offset",
    "offset_file",
    "reset",
    "set_offset",
    "set_rate",
    "shim_cache",
    "shim_on",
]

OFFSET_FILE = "faketime.rc"
SHIM_STEM = "libsplitbrain-sleepfix"

#: where distributions put libfaketime (multiarch first)
LIBFAKETIME_GLOBS = (
    "/usr/lib/*/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/lib64/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)

# The same globs, expanded by the node's own shell: the library may live elsewhere on a node
# than on the controller. A fixed script, arguments none: nothing is pasted into it.
_PROBE = (
    "for f in " + " ".join(LIBFAKETIME_GLOBS) + "; do "
    'if [ -e "$f" ]; then echo "$f"; exit 0; fi; done; exit 1'
)

# Writes "$1" into "$2" through a temporary file and a rename, so that a process reading the
# offset file (on every time call) sees either the old offset or the new one, never a torn one.
# A file that held a rate gets " x1.000000" after the offset: libfaketime keeps the last rate
# it read, so an offset alone would leave a drift running from the wrong base.
_WRITE = (
    'case "$(cat "$2" 2>/dev/null)" in *" x"*) r=" x1.000000";; *) r="";; esac; '
    'printf "%s%s" "$1" "$r" > "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"'
)

# Sets the clock of the processes using the file "$1" to run at rate "$2" from now on,
# starting from the offset "$3" (empty: the offset in force now, so the clock does not step):
# reads the file's offset and rate, the start of every process whose environment names the
# file (/proc/<pid>/stat, field 22, in clock ticks since boot), and writes the offset that
# makes S + (t - S) * rate + offset continue from there for the newest of them. Prints
# "offset_before offset_after processes written".
_RATE = r"""
f="$1"; rate="$2"; goal="$3"
cur=$(cat "$f" 2>/dev/null)
hz=$(getconf CLK_TCK 2>/dev/null) || hz=100
newest=""
for e in $(grep -lsxzF "FAKETIME_TIMESTAMP_FILE=$f" /proc/[0-9]*/environ); do
  p=${e#/proc/}; p=${p%/environ}
  t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f20)
  case "$t" in ''|*[!0-9]*) continue;; esac
  n=$((${n:-0} + 1))
  if [ -z "$newest" ] || [ "$t" -gt "$newest" ]; then newest=$t; fi
done
up=$(cut -d' ' -f1 /proc/uptime)
now=$(date +%s.%N)
out=$(awk -v cur="$cur" -v rate="$rate" -v goal="$goal" -v now="$now" -v up="$up" \
          -v hz="$hz" -v start="$newest" 'BEGIN {
  o = 0; r = 1; n = split(cur, w, " ")
  for (i = 1; i <= n; i++) {
    if (substr(w[i], 1, 1) == "x") r = substr(w[i], 2) + 0
    else if (i == 1) o = w[i] + 0
  }
  s = (start == "") ? now : now - up + start / hz
  before = o + (r - 1) * (now - s)
  after = (goal == "") ? before : goal + 0
  printf "%.6f %.6f %+.6f x%.6f\n", before, after, after - (rate - 1) * (now - s), rate
}') || exit 1
set -- $out
printf "%s %s" "$3" "$4" > "$f.tmp.$$" && mv -f "$f.tmp.$$" "$f" || exit 1
echo "$1 $2 ${n:-0} $3 $4"
"""

_SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Monotonic sleeps go straight to the kernel; the rest to libfaketime (next in LD_PRELOAD). */
typedef int (*cns_fn)(clockid_t, int, const struct timespec *, struct timespec *);

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *req,
                    struct timespec *rem) {
    if (clock_id == CLOCK_MONOTONIC || clock_id == CLOCK_BOOTTIME) {
        long r = syscall(SYS_clock_nanosleep, clock_id, flags, req, rem);
        return r == -1 ? errno : 0;
    }
    static cns_fn next;
    if (!next) next = (cns_fn)dlsym(RTLD_NEXT, "clock_nanosleep");
    if (!next) return ENOSYS;
    return next(clock_id, flags, req, rem);
}
"""

_lib_cache: dict[tuple[str, str, str], str] = {}


def faketime_env(node: Node, *, fake_monotonic: bool = False) -> dict[str, str]:
    """The environment that makes a daemon on ``node`` follow the node's offset file:
    ``LD_PRELOAD`` (the sleep shim, then libfaketime as found on the node),
    ``FAKETIME_TIMESTAMP_FILE``, ``FAKETIME_NO_CACHE=1`` and, unless ``fake_monotonic``,
    ``FAKETIME_DONT_FAKE_MONOTONIC=1`` and ``FAKETIME_FORCE_MONOTONIC_FIX=0``. Raises
    SetupError when the node has no libfaketime."""
    preload = [_libfaketime_on(node)]
    if not fake_monotonic:
        shim = shim_on(node)
        if shim is not None:
            preload.insert(0, shim)
    env = {
        "LD_PRELOAD": ":".join(preload),
        "FAKETIME_TIMESTAMP_FILE": offset_file(node),
        "FAKETIME_NO_CACHE": "1",
    }
    if not fake_monotonic:
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        # libfaketime 0.9.10 wraps pthread_cond_timedwait on the monotonic clock ("monotonic
        # fix"); CPython hands the GIL over through exactly such waits, so every thread switch
        # costs ~1.5 ms (Raft drops from ~2000 to ~45 writes/s). With the monotonic clock not
        # faked the fix has nothing to do.
        env["FAKETIME_FORCE_MONOTONIC_FIX"] = "0"
    return env


def set_offset(node: Node, seconds: float) -> None:
    """Set the clock offset of every libfaketime'd process on ``node`` to ``seconds`` (from
    the true time, not cumulative), atomically, through the node itself. A rate in force
    (``set_rate``) ends: the clock runs at the true rate from the new offset."""
    node.exec(["sh", "-c", _WRITE, "sh", format_offset(seconds), offset_file(node)], timeout=10)


@dataclass(frozen=True)
class RateChange:
    """What ``set_rate`` did on one node: the clock's offset (seconds) just before and just
    after (equal unless an offset was given), the rate now, how many processes read the
    file, and the file's new content."""

    before: float
    after: float
    rate: float
    processes: int
    written: str


def set_rate(node: Node, rate: float, offset: float | None = None) -> RateChange:
    """Make the clock of ``node``'s libfaketime'd processes run at ``rate`` (1.05: 5% fast)
    from now on, from ``offset`` seconds off the true time, or, when None, from wherever it is
    now (no step). ``set_rate(node, 1.0)`` ends a drift and keeps the offset it reached;
    ``set_rate(node, 1.0, 0.0)`` also steps the clock back to the true time. Raises
    ValueError for a rate that is not a positive number."""
    if not (isinstance(rate, int | float) and 0 < rate < 1000):
        raise ValueError(f"expected a rate above 0 (1.0: the true rate), got {rate!r}")
    goal = "" if offset is None else f"{float(offset):.6f}"
    r = node.exec(
        ["sh", "-c", _RATE, "sh", offset_file(node), f"{float(rate):.6f}", goal], timeout=10
    )
    before, after, processes, *written = r.stdout.split()
    return RateChange(float(before), float(after), float(rate), int(processes), " ".join(written))


def format_clock(offset: float, rate: float) -> str:
    """The offset file's content for an offset and a rate: ``+1.500000 x1.050000``."""
    return f"{format_offset(offset)} x{float(rate):.6f}"


def reset(node: Node) -> None:
    """Put the clock of ``node``'s processes back to the true time."""
    set_offset(node, 0.0)


def offset_file(node: Node) -> str:
    return f"{node.workdir.rstrip('/')}/{OFFSET_FILE}"


def format_offset(seconds: float) -> str:
    """The offset as libfaketime reads it: a sign, seconds, six decimals (``+1.500000``)."""
    return f"{float(seconds):+.6f}"


def find_libfaketime() -> str | None:
    """libfaketime.so.1 on this machine, or None."""
    for pattern in LIBFAKETIME_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


# -- helpers ----------------------------------------------------------------------------------


def _libfaketime_on(node: Node) -> str:
    key = (node.name, node.address, node.workdir)
    if key not in _lib_cache:
        r = node.exec(["sh", "-c", _PROBE], check=False, timeout=10)
        path = r.stdout.strip()
        if r.returncode != 0 or not path:
            raise SetupError(
                f"libfaketime not found on {node.name} (looked in {', '.join(LIBFAKETIME_GLOBS)});"
                f" install it (Debian/Ubuntu: apt-get install libfaketime)"
            )
        _lib_cache[key] = path
    return _lib_cache[key]


def shim_on(node: Node) -> str | None:
    """The path of the sleep shim on ``node``, copied into its workdir when the node has no
    copy of its own and does not share this machine's filesystem; None without a compiler."""
    # Looked for on every call, not cached: a workdir may have been wiped since the last
    # daemon. Copied under a temporary name and renamed: overwriting a library in place
    # would crash the processes that have it mapped.
    built_in = getattr(node, "sleep_shim", None)
    if built_in:
        return str(built_in)  # the node image carries the shim (clusters.image)
    local = build_shim()
    if local is None:
        return None
    if getattr(node, "shares_filesystem", False):
        return str(local)  # a local node: the controller's copy will do
    remote = f"{node.workdir.rstrip('/')}/{local.name}"
    if node.exec(["test", "-e", remote], check=False, timeout=10).returncode != 0:
        tmp = f"{remote}.{_unique()}.tmp"
        node.put(local, tmp)
        node.exec(["mv", "-f", tmp, remote], timeout=10)
    return remote


def build_shim() -> Path | None:
    """Compile the sleep shim once into the user's cache (``$XDG_CACHE_HOME/splitbrain``, else
    ``~/.cache/splitbrain``) and return its path; None (with a warning) when there is no C
    compiler, in which case Python 3.11's time.sleep fails under libfaketime 0.9.10. Raises
    SetupError when the cache cannot be written.

    Safe to call from many threads and processes at once, on a fresh machine too (issue #12:
    the five nodes of the smoke cluster, set up in threads, all compiled into one temporary
    name): each build works in a directory of its own and renames its result into place, and
    a lock on the cache makes the others wait for the first and take its library."""
    digest = hashlib.sha256(_SHIM_SOURCE.encode()).hexdigest()[:12]
    cache = shim_cache()
    out = cache / f"{SHIM_STEM}-{digest}.so"
    if out.exists():
        return out
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        warnings.warn(
            "no C compiler: cannot build the clock_nanosleep shim; under libfaketime 0.9.10 "
            "time.sleep in Python 3.11+ then fails with EINVAL",
            stacklevel=3,
        )
        return None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with _thread_lock, _file_lock(cache / f".{SHIM_STEM}-{digest}.lock"):
            if out.exists():
                return out  # another thread or process built it while this one waited
            with tempfile.TemporaryDirectory(prefix=f".{SHIM_STEM}-", dir=cache) as work:
                src = Path(work) / "shim.c"
                tmp = Path(work) / "shim.so"
                src.write_text(_SHIM_SOURCE)
                p = subprocess.run(
                    [cc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(src), "-ldl"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                if p.returncode != 0:
                    warnings.warn(
                        f"building the clock_nanosleep shim failed: {p.stderr[:300]}",
                        stacklevel=3,
                    )
                    return None
                # a rename, never a copy: a process that has the library mapped keeps its own
                os.replace(tmp, out)
    except OSError as e:
        raise SetupError(
            f"cannot build the libfaketime sleep shim in {cache}: {e}; the cache is "
            f"$XDG_CACHE_HOME/splitbrain (XDG_CACHE_HOME={os.environ.get('XDG_CACHE_HOME', '')!r})"
            f" or ~/.cache/splitbrain: make it writable, or point XDG_CACHE_HOME elsewhere"
        ) from e
    return out


def _unique() -> str:
    """A name part no other thread or process uses at the same time: pid, thread, random."""
    return f"{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}"


def shim_cache() -> Path:
    """The directory of the compiled sleep shim: ``$XDG_CACHE_HOME/splitbrain``, or
    ``~/.cache/splitbrain`` when XDG_CACHE_HOME is unset or empty."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "splitbrain"


# One build at a time within this process too: where the cache is on NFS, flock falls back to
# POSIX record locks, which do not keep threads of one process apart.
_thread_lock = threading.Lock()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing; never removed, since a waiter
    may hold it open) for the duration of the block."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_SHM_NAME = re.compile(r"(?:sem\.)?faketime_(?:shm|sem)_(\d+)")


def remove_dead_shm(root: str = "/dev/shm") -> list[str]:
    """Remove the shared memory and semaphore libfaketime 0.9.10 makes for every process it
    is preloaded in (``faketime_shm_<pid>``, ``sem.faketime_sem_<pid>``) and never removes
    when the process is killed: a day of runs left about 10,000 here. Only files whose
    process is gone are removed; returns a line per file."""
    removed = []
    try:
        names = os.listdir(root)
    except OSError:
        return []
    for name in sorted(names):
        m = _SHM_NAME.fullmatch(name)
        if m is None or os.path.exists(f"/proc/{m[1]}"):
            continue
        try:
            os.unlink(os.path.join(root, name))
        except OSError:
            continue
        removed.append(f"{root}/{name}")
    return removed
