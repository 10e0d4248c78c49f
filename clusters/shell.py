"""Daemons on a node reached only through ``exec`` (a container, an SSH host).

``ExecDaemons`` gives such a node ``spawn``, ``signal`` and ``alive`` with the same meaning as
on the local backend, using ``sh``, ``setsid``, ``ps`` and ``kill`` on the node: a daemon runs
in a session and process group of its own (its pid is the group id), its stdout and stderr are
appended to ``<workdir>/<name>.log`` and its pid is kept in ``<workdir>/<name>.pid``. Every
script is fixed text; names, paths and the command arrive as positional arguments.
"""

from __future__ import annotations

import re
import shlex
import signal as _signal
from collections.abc import Sequence
from datetime import UTC, datetime

from clusters.base import CommandFailed, Completed

__all__ = ["DAEMON_RE", "ExecDaemons", "check_argv", "check_daemon_name", "env_argv"]

#: what a daemon's name may hold: it names the daemon's log and pid files
DAEMON_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The group of the pid in "$1" has a live member (a stopped one counts, a zombie does not).
_ALIVE = r"""
pg=$(cat "$1" 2>/dev/null) || exit 3
case "$pg" in ''|*[!0-9]*) exit 3;; esac
ps -A -o pgid=,stat= | grep -Eq "^ *$pg +[^Z]" || exit 3
"""

# kill only queues SIGSTOP: wait (up to 5 s) until no thread of the group runs any more
_WAIT_STOPPED = r"""
[ "$2" = STOP ] || exit 0
i=0
while ps -A -L -o pgid=,stat= 2>/dev/null | grep -Eq "^ *$pg +[^TtZ]"; do
  i=$((i+1)); [ "$i" -gt 500 ] && exit 0; sleep 0.01
done
"""


class ExecDaemons:
    """Mixin: spawn / signal / alive for a node that has ``exec`` and ``workdir``."""

    name: str
    workdir: str

    def exec(
        self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True
    ) -> Completed:  # pragma: no cover - provided by the node class
        raise NotImplementedError

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> int:
        """Start daemon ``name`` in a session and process group of its own, stdout and stderr
        appended to ``<workdir>/<name>.log``, with ``env`` added to the node's environment and
        ``cwd`` (default: the workdir). Returns its pid, which is also its group id."""
        check_daemon_name(name)
        args = env_argv(env) + check_argv(argv, "argv")
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        header = f"--- {stamp} spawn {shlex.join(check_argv(argv, 'argv'))}".replace("\n", "\\n")
        r = self.exec(
            [
                "sh",
                "-c",
                _SPAWN_SCRIPT,
                "sh",
                self.workdir,
                name,
                cwd or self.workdir,
                header,
                *args,
            ],
            timeout=30,
            check=False,
        )
        if r.returncode == 17:
            raise RuntimeError(f"daemon {name!r} is already running on {self.name}")
        if r.returncode != 0:
            raise CommandFailed(self.name, r)
        try:
            return int(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise CommandFailed(self.name, r) from None

    def signal(self, name: str, sig: _signal.Signals) -> bool:
        """Send ``sig`` to the process group of daemon ``name``; False if none of it runs."""
        r = self.exec(
            [
                "sh",
                "-c",
                _ALIVE + 'kill -s "$2" -- "-$pg" || exit $?\n' + _WAIT_STOPPED,
                "sh",
                self._pidfile(name),
                _signal.Signals(sig).name.removeprefix("SIG"),
            ],
            timeout=15,
            check=False,
        )
        if r.returncode == 0:
            return True
        if r.returncode == 3 or "No such process" in r.stderr:
            return False
        raise CommandFailed(self.name, r)

    def alive(self, name: str) -> bool:
        """Whether a process of daemon ``name``'s group still runs (stopped counts, zombies
        do not)."""
        r = self.exec(["sh", "-c", _ALIVE, "sh", self._pidfile(name)], timeout=15, check=False)
        if r.returncode in (0, 3):
            return r.returncode == 0
        raise CommandFailed(self.name, r)

    def _pidfile(self, name: str) -> str:
        check_daemon_name(name)
        return f"{self.workdir.rstrip('/')}/{name}.pid"


# $1 workdir, $2 name, $3 cwd, $4 the log header, then the command. A background job of a
# non-interactive sh is not a group leader, so setsid does not fork: $! is the daemon's pid,
# and the group and session it leads. Exit 17: the daemon already runs.
_SPAWN_SCRIPT = r"""
wd=$1; name=$2; cwd=$3; header=$4; shift 4
mkdir -p "$wd" || exit 1
pg=$(cat "$wd/$name.pid" 2>/dev/null)
case "$pg" in
  ''|*[!0-9]*) ;;
  *) if ps -A -o pgid=,stat= | grep -Eq "^ *$pg +[^Z]"; then
       echo "daemon $name is already running (group $pg)" >&2; exit 17
     fi;;
esac
printf '%s\n' "$header" >> "$wd/$name.log" || exit 1
cd "$cwd" || exit 1
setsid "$@" >> "$wd/$name.log" 2>&1 < /dev/null &
pid=$!
# wait (up to 2 s) until the child has its own session: until then it is in this shell's
# group, and an ssh or exec session that ends with this shell may take it down with it
i=0
while [ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" != "$pid" ] && [ $i -lt 200 ]; do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.01; i=$((i+1))
done
printf '%s\n' "$pid" > "$wd/$name.pid.tmp" && mv -f "$wd/$name.pid.tmp" "$wd/$name.pid" || exit 1
echo "$pid"
"""


def env_argv(env: dict[str, str] | None) -> list[str]:
    """``["env", "K=V", ...]`` for ``env`` (nothing when empty); raises ValueError for a key
    that is not a variable name."""
    if not env:
        return []
    out = ["env"]
    for k, v in env.items():
        if not _ENV_KEY_RE.match(k) or not isinstance(v, str):
            raise ValueError(f"environment {k!r}={v!r}: a name of letters, digits, '_', and a str")
        out.append(f"{k}={v}")
    return out


def check_daemon_name(name: str) -> str:
    """``name``, or ValueError when it is not a daemon name (letters, digits, '.', '_', '-')."""
    if not isinstance(name, str) or not DAEMON_RE.match(name):
        raise ValueError(f"daemon name {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def check_argv(argv: Sequence[str], what: str) -> list[str]:
    """``argv`` as a list; TypeError when it is not a list of strings, ValueError when it is
    empty. ``what`` names it in the message."""
    if isinstance(argv, (str, bytes)) or not all(isinstance(a, str) for a in argv):
        raise TypeError(f"expected a list of strings for {what!r}, got {argv!r}")
    if not argv:
        raise ValueError(f"expected a non-empty command for {what!r}")
    return list(argv)
