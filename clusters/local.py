"""The local backend: every node is a Linux network namespace on a bridge of the run's own.

What ``LocalCluster.create()`` makes, every name carrying the run's prefix (``sb`` + 6 hex):

- a bridge ``<prefix>-br`` holding the gateway address of a free /24 (from 10.213.0.0/16,
  checked against every route and address of the host); the controller talks to the nodes
  through it, so ``controller_address`` is that gateway;
- per node a namespace ``<prefix>-n1``.. with ``lo`` up and ``eth0``, the inside end of a veth
  whose host end ``<prefix>-v1``.. is a port of the bridge; no default route, so a node can
  reach its peers and the controller and nothing else;
- one host iptables rule, ``FORWARD -i <bridge> -o <bridge> -j ACCEPT`` with the comment
  ``splitbrain:<prefix>``. With bridge netfilter on (``bridge-nf-call-iptables`` = 1), frames
  between two ports of a bridge traverse the host's FORWARD chain, whose policy Docker sets to
  DROP: without this rule nodes cannot talk to each other. It is plumbing, not a fault; faults
  stay inside the nodes.

Everything is recorded in ``<workroot>/cluster.json`` and is also discoverable by its name, so
``clean()`` removes what a killed controller left without that file. A live cluster holds an
flock on ``<run dir>/<prefix>.lock`` (``clusters.prefix``; ``/run/splitbrain`` unless
``SPLITBRAIN_RUN_DIR`` says otherwise); ``clean()`` leaves alone the prefixes whose lock is
held, so it is safe to run next to live runs.

``BACKEND`` registers it as the ``local`` backend (``harness.registry``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal as _signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from clusters.base import CommandFailed, Completed, Node, SetupError
from clusters.clock import remove_dead_shm
from clusters.host import detached, free_subnet, links, run, used_networks
from clusters.prefix import PrefixLock, check_prefix, create_lock, forget, is_live, new_prefix
from clusters.shell import check_daemon_name
from clusters.state import STATE_FILE, mark_destroyed, now, read_state, write_atomic, write_state
from harness.registry import BackendInfo
from harness.spec import ClusterSpec

__all__ = [
    "BACKEND",
    "MAX_NODES",
    "LocalCluster",
    "LocalNode",
    "clean",
    "group_members",
    "kill_netns_processes",
    "make_cluster",
    "wait_stopped",
]

RULE_COMMENT = "splitbrain:"
SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")
#: the nodes share one /24 with the controller's gateway address
MAX_NODES = 200
IFNAMSIZ = 15  # usable characters of an interface name

#: the type of the disk faults' FUSE mounts over a node's workdir (``nemesis.diskfs``), whose
#: source is the node's namespace name: a killed controller leaves them mounted, and they go
#: with their prefix (``clean``, ``destroy``)
LAZYFS_TYPE = "fuse.splitbrain-lazyfs"

_OBJECT_RE = re.compile(r"^(?P<prefix>[a-z][a-z0-9]*)-(?P<kind>br|n\d+|v\d+)$")
_COMMENT_RE = re.compile(r'--comment "?' + RULE_COMMENT + r'(?P<prefix>[a-z][a-z0-9]*)"?')


def make_cluster(
    spec: ClusterSpec,
    workroot: str | Path,
    node_packages: Sequence[str] = (),
    node_needs: Sequence[str] = (),
) -> LocalCluster:
    """The local cluster a suite's ``cluster`` section describes (``nodes``); makes nothing
    until ``create()``. The nodes share this machine's filesystem and programs, so a system's
    Debian ``node_packages`` are the host's to have, and what ``node_needs`` names (``fuse``)
    is the host's, which the nodes share."""
    return LocalCluster(spec.nodes, workroot=workroot)


class LocalNode:
    """A node that is a network namespace on this machine, sharing its filesystem."""

    def __init__(self, name: str, namespace: str, address: str, workdir: str | Path) -> None:
        self.name = name
        self.namespace = namespace
        self.address = address
        # absolute: a daemon runs in its code directory, and a relative workdir (the default
        # results directory is) would point its clock offset file and data elsewhere
        self.workdir = str(Path(workdir).absolute())
        #: the interpreter daemons of this project run with (the filesystem is shared)
        self.python = sys.executable
        #: paths on the node are paths on the controller
        self.shares_filesystem = True
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def __repr__(self) -> str:
        return f"LocalNode({self.name!r}, {self.namespace!r}, {self.address!r})"

    def exec(self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True) -> Completed:
        """Run ``argv`` inside the namespace; raises CommandFailed on a non-zero exit when
        ``check``. A command that outlives ``timeout`` is killed and exits 124."""
        args = _argv(argv, "argv")
        full = ["ip", "netns", "exec", self.namespace, *args]
        try:
            p = detached(full, timeout)
            result = Completed(tuple(args), p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            result = Completed(
                tuple(args), 124, _text(e.stdout), _text(e.stderr) + f"\ntimed out after {timeout}s"
            )
        if check and result.returncode != 0:
            raise CommandFailed(self.name, result)
        return result

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> int:
        """Start daemon ``name`` inside the namespace, in a session and process group of its
        own, stdout and stderr appended to ``<workdir>/<name>.log``. Its environment is the
        controller's with ``env`` laid over it; ``cwd`` defaults to the workdir. Returns the
        pid, which is also the process group id (``ip netns exec`` execs, it does not fork)."""
        check_daemon_name(name)
        args = _argv(argv, "argv")
        if self.alive(name):
            raise RuntimeError(f"daemon {name!r} is already running on {self.name}")
        workdir = Path(self.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, **(env or {})}
        with open(workdir / f"{name}.log", "ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            command = shlex.join(args).replace("\n", "\\n")  # the header stays one line
            log.write(f"--- {stamp} spawn {command}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd or self.workdir,
                start_new_session=True,
            )
        self._procs[name] = proc
        write_atomic(workdir / f"{name}.pid", f"{proc.pid}\n")
        return proc.pid

    def signal(self, name: str, sig: _signal.Signals) -> bool:
        """Send ``sig`` to the process group of daemon ``name``; False if none of it runs."""
        self._reap(name)
        pgid = self._pgid(name)
        if pgid is None or not self._group(name, pgid):
            return False
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        if sig == _signal.SIGSTOP:
            wait_stopped(self._group(name, pgid))
        return True

    def alive(self, name: str) -> bool:
        """Whether a process of daemon ``name``'s group still runs (stopped counts, zombies
        do not) in this node's namespace."""
        self._reap(name)
        pgid = self._pgid(name)
        return pgid is not None and bool(self._group(name, pgid))

    def put(self, local: str | Path, remote: str) -> None:
        """Copy a file or a directory tree to ``remote`` (relative: under the workdir)."""
        _copy(Path(local), self._path(remote))

    def get(self, remote: str, local: str | Path) -> None:
        """Copy a file or a directory tree from ``remote`` (relative: under the workdir)."""
        _copy(self._path(remote), Path(local))

    # -- helpers ----------------------------------------------------------------------------

    def _path(self, remote: str) -> Path:
        p = Path(remote)
        return p if p.is_absolute() else Path(self.workdir) / p

    def _pgid(self, name: str) -> int | None:
        proc = self._procs.get(name)
        if proc is not None:
            return proc.pid
        try:
            return int((Path(self.workdir) / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _group(self, name: str, pgid: int) -> list[int]:
        """Live members of daemon ``name``'s process group ``pgid``.

        While we hold the unreaped child, its pid (the group id) cannot be reused, and its
        members count even before ``ip netns exec`` has entered the namespace. A pgid read
        from a pidfile may be recycled: then only members inside this namespace count."""
        proc = self._procs.get(name)
        if proc is not None and proc.pid == pgid:
            return group_members(pgid)
        try:
            ns_ino = os.stat(f"/run/netns/{self.namespace}").st_ino
        except OSError:
            return []
        return [pid for pid in group_members(pgid) if _netns_ino(pid) == ns_ino]

    def _reap(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is not None:
            self._procs.pop(name, None)

    def _reap_all(self, wait: float = 0.0) -> None:
        deadline = time.monotonic() + wait
        for name, proc in list(self._procs.items()):
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if proc.poll() is not None:
                self._procs.pop(name, None)


class LocalCluster:
    """``n`` nodes, each a network namespace of this machine, on a bridge of their own.

    ``prefix`` names everything made (default: a fresh ``sb`` + 6 hex); ``workroot`` holds
    ``cluster.json`` and the nodes' workdirs (``<workroot>/nodes/n1``..). ``subnet`` (a /24)
    overrides the free one create() otherwise picks from 10.213.0.0/16. Needs root.
    """

    def __init__(
        self,
        n: int,
        *,
        prefix: str | None = None,
        workroot: str | Path,
        subnet: str | None = None,
    ) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_NODES:
            raise ValueError(f"expected a node count from 1 to {MAX_NODES} for 'n', got {n!r}")
        self.prefix = check_prefix(prefix if prefix is not None else new_prefix())
        self._prefix_lock = PrefixLock(self.prefix)
        longest = f"{self.prefix}-v{n}"
        if len(longest) > IFNAMSIZ:
            raise ValueError(
                f"prefix {self.prefix!r} makes interface name {longest!r} longer than "
                f"{IFNAMSIZ} characters; use a shorter prefix"
            )
        self.n = n
        self.workroot = Path(workroot)
        self.bridge = f"{self.prefix}-br"
        self.requested_subnet = subnet
        self.subnet: ipaddress.IPv4Network | None = None
        self.controller_address: str | None = None
        self.nodes: list[Node] = []
        self._owner = False  # set once the prefix is ours: only then may destroy() remove
        self._created: list[str] = []

    @property
    def state_file(self) -> Path:
        return self.workroot / STATE_FILE

    def create(self) -> None:
        """Make the bridge, the namespaces, the veths and the FORWARD rule. On any failure,
        removes what it made and raises SetupError."""
        if self.nodes:
            raise SetupError(f"cluster {self.prefix} is already created")
        if os.geteuid() != 0:
            raise SetupError("the local cluster needs root (network namespaces, iptables)")
        for tool in ("ip", "iptables"):
            if shutil.which(tool) is None:
                raise SetupError(f"`{tool}` not found; install iproute2 and iptables")
        self.workroot.mkdir(parents=True, exist_ok=True)
        try:
            with create_lock():
                self._prefix_lock.hold(f"{self.workroot}")
                self._check_collisions()
                self._owner = True
                self.subnet = self._pick_subnet()
                hosts = list(self.subnet.hosts())
                self.controller_address = str(hosts[0])
                self._write_state()
                self._make_bridge()
            self._add_forward_rule()
            for i in range(1, self.n + 1):
                self._make_node(i, str(hosts[9 + i]))
                self._write_state()
        except BaseException as e:
            try:
                self.destroy()
            except Exception:
                pass
            if isinstance(e, SetupError):
                raise
            if isinstance(e, (subprocess.SubprocessError, OSError, RuntimeError)):
                raise SetupError(f"creating local cluster {self.prefix}: {e}") from e
            raise

    def destroy(self) -> None:
        """Kill every process in the namespaces, delete namespaces, veths, the bridge and the
        FORWARD rule. Safe to call twice and after a partial create(). Removes nothing when
        create() never made the prefix its own (it was in use, or its names existed)."""
        if not self._owner:
            self._prefix_lock.release()
            return
        for node in self.nodes:
            if isinstance(node, LocalNode):
                for name in list(node._procs):
                    node.signal(name, _signal.SIGKILL)
        removed = _remove_prefix(self.prefix)
        for node in self.nodes:
            if isinstance(node, LocalNode):
                node._reap_all(wait=1.0)
        remove_dead_shm()  # libfaketime's, of the processes just killed
        self._prefix_lock.release()
        mark_destroyed(self.state_file, removed)

    # -- create steps -----------------------------------------------------------------------

    def _check_collisions(self) -> None:
        mine = [self.bridge] + [f"{self.prefix}-v{i}" for i in range(1, self.n + 1)]
        taken = sorted(set(mine) & set(links()))
        namespaces = [f"{self.prefix}-n{i}" for i in range(1, self.n + 1)]
        taken += sorted(set(namespaces) & set(_netns()))
        if taken:
            raise SetupError(
                f"names of prefix {self.prefix!r} already exist: {', '.join(taken)}; "
                f"run `splitbrain clean` or choose another prefix"
            )
        if self.prefix in _forward_rules():
            raise SetupError(f"a FORWARD rule for prefix {self.prefix!r} already exists")

    def _pick_subnet(self) -> ipaddress.IPv4Network:
        return free_subnet(SUBNET_POOL, used_networks(), self.requested_subnet)

    def _make_bridge(self) -> None:
        assert self.subnet is not None
        _ip("link", "add", self.bridge, "type", "bridge")
        self._created.append(f"link {self.bridge}")
        _ip("addr", "add", f"{self.controller_address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def _add_forward_rule(self) -> None:
        run(["iptables", "-w", "5", "-I", "FORWARD", "1", *self._rule_spec()])
        self._created.append(f"iptables FORWARD {self.prefix}")

    def _rule_spec(self) -> list[str]:
        return [
            "-i", self.bridge, "-o", self.bridge,
            "-m", "comment", "--comment", RULE_COMMENT + self.prefix,
            "-j", "ACCEPT",
        ]  # fmt: skip

    def _make_node(self, i: int, address: str) -> None:
        ns, veth = f"{self.prefix}-n{i}", f"{self.prefix}-v{i}"
        _ip("netns", "add", ns)
        self._created.append(f"netns {ns}")
        # One command makes both ends and puts the inner one in the namespace: no moment
        # where a stray veth sits in the host under a name of the other end.
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self._created.append(f"link {veth}")
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        # No IPv6 on eth0: partitions are IPv4 rules, so no link-local path may bypass them.
        # Best effort (lo keeps ::1, for systems that bind it).
        sysctl = ["sysctl", "-q", "-w", "net.ipv6.conf.eth0.disable_ipv6=1"]
        run(["ip", "netns", "exec", ns, *sysctl], check=False)
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        workdir = self.workroot / "nodes" / f"n{i}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.nodes.append(LocalNode(f"n{i}", ns, address, workdir))

    # -- state ------------------------------------------------------------------------------

    def _write_state(self) -> None:
        state = {
            "backend": "local",
            "prefix": self.prefix,
            "created_at": read_state(self.state_file).get("created_at", now()),
            "controller_pid": os.getpid(),
            "bridge": self.bridge,
            "subnet": str(self.subnet),
            "controller_address": self.controller_address,
            "forward_rule": ["FORWARD", *self._rule_spec()],
            "nodes": [
                {
                    "name": node.name,
                    "namespace": getattr(node, "namespace", None),
                    "veth": f"{self.prefix}-v{k}",
                    "address": node.address,
                    "workdir": node.workdir,
                }
                for k, node in enumerate(self.nodes, start=1)
            ],
            "created": list(self._created),
        }
        write_state(self.state_file, state)


def clean(prefix_glob: str = "sb*", *, include_live: bool = False) -> list[str]:
    """Remove what runs whose prefix matches ``prefix_glob`` left behind: their namespaces
    (and every process in them), bridges, veths and FORWARD rules. Prefixes whose cluster is
    still alive (its controller holds the prefix lock) are skipped unless ``include_live``.
    Returns a line per thing removed."""
    prefixes: set[str] = set()
    for name in [*_netns(), *links()]:
        m = _OBJECT_RE.match(name)
        if m:
            prefixes.add(m["prefix"])
    prefixes.update(_forward_rules())
    for source, _ in _lazyfs_mounts():
        m = _OBJECT_RE.match(source)
        if m:
            prefixes.add(m["prefix"])
    removed: list[str] = []
    for prefix in sorted(p for p in prefixes if fnmatch.fnmatchcase(p, prefix_glob)):
        if not include_live and is_live(prefix):
            continue
        removed += _remove_prefix(prefix)
        forget(prefix)
    return removed


# -- removal ----------------------------------------------------------------------------------


def _remove_prefix(prefix: str) -> list[str]:
    """Remove every object named with ``prefix``; returns what it removed."""
    removed: list[str] = []
    namespaces = sorted(ns for ns in _netns() if _owned(ns, prefix))
    for ns in namespaces:
        removed += kill_netns_processes(ns)
    removed += _unmount_lazyfs(prefix)
    # Deleting the host end of a veth deletes both ends at once; deleting a namespace only
    # drops a reference, and its devices go away later, asynchronously.
    links = sorted(_links_of(prefix), key=lambda name: name.endswith("-br"))
    for link in links:
        if _ip_ok("link", "del", link):
            removed.append(f"link {link}")
    for ns in namespaces:
        if _ip_ok("netns", "del", ns):
            removed.append(f"netns {ns}")
    for line in _forward_rule_lines(prefix):
        spec = shlex.split(line)[1:]  # drop "-A"
        if run(["iptables", "-w", "5", "-D", *spec], check=False).returncode == 0:
            removed.append(f"iptables {line}")
    return removed


def kill_netns_processes(ns: str, wait: float = 5.0) -> list[str]:
    """SIGKILL every process in network namespace ``ns`` until none is left (or ``wait``
    seconds have passed); returns a line per process killed."""
    killed: list[str] = []
    deadline = time.monotonic() + wait
    while True:
        pids = _netns_pids(ns)
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, _signal.SIGKILL)
                if f"process {pid} in {ns}" not in killed:
                    killed.append(f"process {pid} in {ns}")
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            return killed
        time.sleep(0.02)


def _unmount_lazyfs(prefix: str, wait: float = 5.0) -> list[str]:
    """Unmount the disk faults' file systems of ``prefix``'s nodes (lazily: a process outside
    the namespaces may still hold a file) and stop their helpers (SIGTERM: each removes its
    synced copies; a copy of the mount held by another mount namespace would otherwise keep
    it serving). Returns a line per mount removed."""
    removed = []
    for source, where in _lazyfs_mounts():
        if not _owned(source, prefix):
            continue
        run(["umount", "-l", where], check=False)
        removed.append(f"mount {where}")
        helpers = _lazyfs_helpers(where)
        for sig in (_signal.SIGTERM, _signal.SIGKILL):
            for pid in helpers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while helpers and time.monotonic() < deadline:
                time.sleep(0.02)
                helpers = _lazyfs_helpers(where)
        shutil.rmtree(f"{where}.lazyfs-synced", ignore_errors=True)
    return removed


def _lazyfs_helpers(where: str) -> list[int]:
    """Pids of the helpers serving the file system mounted on ``where``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]).startswith(b"lazyfs-") and where.encode() in argv:
            found.append(int(entry.name))
    return found


# -- discovery --------------------------------------------------------------------------------


def _lazyfs_mounts() -> list[tuple[str, str]]:
    """(source, mount point) of each disk-fault file system mounted on this machine."""
    try:
        with open("/proc/self/mountinfo") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 2 and tail[0] == LAZYFS_TYPE:
            found.append((tail[1], fields[4].replace("\\040", " ")))
    return found


def _owned(name: str, prefix: str) -> bool:
    m = _OBJECT_RE.match(name)
    return m is not None and m["prefix"] == prefix


def _netns() -> list[str]:
    out = run(["ip", "-j", "netns", "list"], check=False).stdout.strip()
    if not out:
        return []
    return [entry["name"] for entry in json.loads(out)]


def _netns_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(tok) for tok in out.split() if tok.isdigit() and int(tok) != os.getpid()]


def _links_of(prefix: str) -> list[str]:
    return [name for name in links() if _owned(name, prefix)]


def _forward_rule_lines(prefix: str | None = None) -> list[str]:
    out = run(["iptables", "-w", "5", "-S", "FORWARD"], check=False).stdout
    lines = []
    for line in out.splitlines():
        m = _COMMENT_RE.search(line)
        if line.startswith("-A ") and m and (prefix is None or m["prefix"] == prefix):
            lines.append(line)
    return lines


def _forward_rules() -> set[str]:
    return {m["prefix"] for line in _forward_rule_lines() if (m := _COMMENT_RE.search(line))}


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``, on this host."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields: state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


def wait_stopped(pids: list[int], timeout: float = 5.0) -> None:
    """Wait until every thread of ``pids`` is stopped: kill() only queues SIGSTOP, and on a
    busy machine a thread may run (and answer a request) for a while after it returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(_all_threads_stopped(p) for p in pids):
        time.sleep(0.002)


def _all_threads_stopped(pid: int) -> bool:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True  # gone: nothing left to run
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("T", "t", "Z", "X"):
            return False
    return True


def _netns_ino(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


# -- small helpers ----------------------------------------------------------------------------


def _ip(*args: str) -> Completed:
    return run(["ip", *args])


def _ip_ok(*args: str) -> bool:
    return run(["ip", *args], check=False).returncode == 0


def _argv(argv: Sequence[str], what: str) -> list[str]:
    if isinstance(argv, (str, bytes)) or not all(isinstance(a, str) for a in argv):
        raise TypeError(f"expected a list of strings for {what!r}, got {argv!r}")
    return list(argv)


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


BACKEND = BackendInfo(
    name="local",
    description="network namespaces on this machine, on a bridge of the run's own (needs root)",
    make=make_cluster,
    clean=clean,
    max_nodes=MAX_NODES,
    needs_root=True,
)
