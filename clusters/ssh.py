"""The SSH backend: every node is a real host, reached with paramiko.

Hosts come from the suite (``cluster.hosts``) or an inventory file (``cluster.inventory``),
each with ``address`` and optionally ``name``, ``user`` (root), ``port`` (22), ``key`` (a
private key file; without it the SSH agent and ``~/.ssh/id_*`` are tried) and ``workdir``.
An inventory is YAML::

    user: root                      # defaults for every host (optional)
    port: 22
    key: ~/.ssh/id_ed25519
    known_hosts: ./known_hosts      # more known_hosts files, besides ~/.ssh/known_hosts
    accept_unknown_host_keys: false
    hosts:
      - {name: n1, address: 10.0.0.11}
      - {name: n2, address: 10.0.0.12, port: 2222}
      - root@10.0.0.13:22           # the short form

Relative paths in an inventory are relative to the inventory file.

- Host keys are checked against ``~/.ssh/known_hosts`` and the ``known_hosts`` files given;
  an unknown host is refused (paramiko's RejectPolicy) unless ``accept_unknown_host_keys``
  is set, and a host whose key changed is always refused.
- A user other than root runs every command through ``sudo -n`` (passwordless sudo needed);
  the workdir is made theirs so that files can move by SFTP.
- Files move by SFTP as one tar archive each way, unpacked by ``tar`` on the other side.
- A connection that drops is opened again with exponential backoff (0.2 s doubling to 5 s)
  for ``reconnect_for`` seconds; each attempt is logged, and when the host stays down the
  call raises ``HostDown`` naming it. A command the connection dropped under is not re-run
  (it may have happened): it completes with exit code 255, as with the ssh command.

Daemons, their logs and pid files live in the workdir (``/var/tmp/splitbrain/<prefix>/<node>``
by default, or under ``$SPLITBRAIN_SSH_WORKDIR``; removed by ``destroy()`` once the harness has
collected the logs), as on the other backends (``clusters.shell``). The run's hosts are
recorded in ``<run dir>/<prefix>.ssh.json`` (``clusters.paths.run_dir``: ``/run/splitbrain``)
while it lives, so that ``clean()`` can reach them after a controller was killed: it kills the
run's daemons and removes the project's iptables chains (``SPLITBRAIN*``), leaving the workdirs
(with their logs) in place.

``BACKEND`` registers it as the ``ssh`` backend (``harness.registry``).

``LocalSshHosts`` stands up such hosts on this machine for trying the backend and for the
tests: network namespaces (the local backend) each running its own ``sshd`` with a generated
host key, a generated client key, and an inventory and known_hosts to match. From a shell::

    python3 -m clusters.ssh sandbox 5 /tmp/sb-hosts     # Ctrl-C removes them
"""

from __future__ import annotations

import fnmatch
import io
import json
import logging
import os
import posixpath
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clusters.base import CommandFailed, Completed, Node, SetupError
from clusters.local import LocalCluster
from clusters.paths import run_dir, ssh_workdir
from clusters.prefix import PrefixLock, check_prefix, forget, is_live, new_prefix
from clusters.shell import ExecDaemons, check_argv
from clusters.state import STATE_FILE, write_state
from harness.registry import BackendInfo
from harness.spec import ClusterSpec

__all__ = [
    "BACKEND",
    "STATE_SUFFIX",
    "Host",
    "HostDown",
    "LocalSshHosts",
    "SshCluster",
    "SshNode",
    "check_spec",
    "clean",
    "load_inventory",
    "make_cluster",
    "parse_hosts",
    "run_record",
]

log = logging.getLogger(__name__)
# paramiko logs every SFTP session at INFO and a traceback per failed connection attempt; the
# harness log wants our own lines (which name the host and the reason once), not those
logging.getLogger("paramiko").setLevel(logging.CRITICAL)

HOST_KEYS = ("name", "address", "user", "port", "key", "workdir")
INVENTORY_KEYS = (
    "hosts",
    "user",
    "port",
    "key",
    "known_hosts",
    "accept_unknown_host_keys",
    "workdir",
)
REQUIRED_TOOLS = ("sh", "python3", "iptables", "setsid", "ps", "kill", "tar", "timeout")
#: a live run's record in the run dir: ``<prefix>.ssh.json``
STATE_SUFFIX = ".ssh.json"
_SHORT_HOST_RE = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<address>[^:@\s]+)(?::(?P<port>\d+))?$")


def make_cluster(
    spec: ClusterSpec,
    workroot: str | Path,
    node_packages: Sequence[str] = (),
    node_needs: Sequence[str] = (),
) -> SshCluster:
    """The ssh cluster a suite's ``cluster`` section describes (its first ``nodes`` hosts of
    ``hosts`` and ``inventory``); connects to nothing until ``create()``. Raises ValueError for
    a bad host list or inventory, or too few hosts. The hosts must have the system's Debian
    ``node_packages`` already; they are given nothing, so ``node_needs`` is refused (SetupError:
    the fault kinds that need something check the backend first)."""
    if node_needs:
        raise SetupError(f"SSH hosts are given nothing a fault needs ({', '.join(node_needs)})")
    return SshCluster.from_spec(spec, workroot=workroot, n=spec.nodes)


def check_spec(spec: ClusterSpec) -> None:
    """Raises ValueError when ``spec``'s host list or inventory is bad or has too few hosts
    (reads the inventory file; connects to nothing, writes nothing)."""
    SshCluster.from_spec(spec, workroot=".", n=spec.nodes)


def run_record(prefix: str) -> Path:
    """Where a live ssh run of ``prefix`` records its hosts, for ``clean()``."""
    return run_dir() / f"{prefix}{STATE_SUFFIX}"


class HostDown(ConnectionError):
    """A host could not be reached again within the reconnect window."""


@dataclass(frozen=True)
class Host:
    """One SSH host: where it is and how to log in."""

    address: str
    name: str = ""
    user: str = "root"
    port: int = 22
    key: str | None = None
    workdir: str | None = None


# -- hosts and inventories ------------------------------------------------------------------------


def parse_hosts(
    items: Sequence[Any],
    *,
    defaults: Mapping[str, Any] | None = None,
    where: str = "hosts",
    base_dir: Path | None = None,
) -> list[Host]:
    """Hosts from a list of mappings (keys ``HOST_KEYS``) or ``user@address:port`` strings,
    with ``defaults`` for user, port, key and workdir; unnamed hosts are named n1, n2.. in
    order. Raises ValueError naming the entry and the key at fault."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise ValueError(f"{where}: expected a list of hosts, got {type(items).__name__}")
    d = dict(defaults or {})
    hosts: list[Host] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if isinstance(item, str):
            m = _SHORT_HOST_RE.match(item.strip())
            if not m:
                raise ValueError(f"{at}: expected user@address:port or a mapping, got {item!r}")
            item = {k: v for k, v in m.groupdict().items() if v is not None}
            if "port" in item:
                item["port"] = int(item["port"])
        if not isinstance(item, Mapping):
            raise ValueError(f"{at}: expected a mapping of {', '.join(HOST_KEYS)}, got {item!r}")
        unknown = sorted(set(item) - set(HOST_KEYS))
        if unknown:
            raise ValueError(
                f"{at}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(HOST_KEYS)}"
            )
        merged = {k: d[k] for k in ("user", "port", "key", "workdir") if d.get(k) is not None}
        merged.update({k: v for k, v in item.items() if v is not None})
        if not isinstance(merged.get("address"), str) or not merged["address"]:
            raise ValueError(
                f"{at}.address: expected a host name or address, got {merged.get('address')!r}"
            )
        port = merged.get("port", 22)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"{at}.port: expected a port number, got {port!r}")
        for k in ("name", "user", "key", "workdir"):
            if k in merged and not isinstance(merged[k], str):
                raise ValueError(f"{at}.{k}: expected a string, got {merged[k]!r}")
        key = merged.get("key")
        if key is not None:
            key = os.path.expanduser(key)
            if base_dir is not None and not os.path.isabs(key):
                key = str(base_dir / key)
        hosts.append(
            Host(
                address=merged["address"],
                name=merged.get("name") or f"n{i + 1}",
                user=merged.get("user", "root"),
                port=port,
                key=key,
                workdir=merged.get("workdir"),
            )
        )
    names = [h.name for h in hosts]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{where}: host names must be unique; {', '.join(dup)} used twice")
    return hosts


def load_inventory(path: str | Path) -> dict[str, Any]:
    """An inventory file as ``{"hosts": [Host, ...], "known_hosts": [...],
    "accept_unknown_host_keys": bool}``; raises ValueError naming the file and the key."""
    import yaml

    p = Path(path).expanduser()
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as e:
        raise ValueError(f"inventory {p}: cannot read it: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"inventory {p}: not valid YAML: {e}") from None
    if isinstance(data, list):
        data = {"hosts": data}
    if not isinstance(data, dict) or "hosts" not in data:
        raise ValueError(f"inventory {p}: expected a mapping with 'hosts' (a list of hosts)")
    unknown = sorted(set(data) - set(INVENTORY_KEYS))
    if unknown:
        raise ValueError(
            f"inventory {p}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(INVENTORY_KEYS)}"
        )
    known = data.get("known_hosts") or []
    known = [known] if isinstance(known, str) else known
    if not isinstance(known, list) or not all(isinstance(k, str) for k in known):
        raise ValueError(f"inventory {p}: 'known_hosts' must be a path or a list of paths")
    accept = data.get("accept_unknown_host_keys", False)
    if not isinstance(accept, bool):
        raise ValueError(f"inventory {p}: 'accept_unknown_host_keys' must be true or false")
    base = p.resolve().parent
    return {
        "hosts": parse_hosts(
            data["hosts"], defaults=data, where=f"inventory {p}: hosts", base_dir=base
        ),
        "known_hosts": [str(base / os.path.expanduser(k)) for k in known],
        "accept_unknown_host_keys": accept,
    }


# -- the node -------------------------------------------------------------------------------------


class SshNode(ExecDaemons):
    """A node reached over SSH. Connects lazily, on the first command."""

    def __init__(
        self,
        host: Host,
        workdir: str,
        *,
        known_hosts: Sequence[str] = (),
        accept_unknown_host_keys: bool = False,
        connect_timeout: float = 10.0,
        reconnect_for: float = 30.0,
    ) -> None:
        self.host = host
        self.name = host.name
        self.address = host.address
        self.workdir = workdir.rstrip("/")
        self.python = "python3"
        self.shares_filesystem = False
        self.known_hosts = list(known_hosts)
        self.accept_unknown_host_keys = accept_unknown_host_keys
        self.connect_timeout = connect_timeout
        self.reconnect_for = reconnect_for
        #: how many times a dropped connection was opened again
        self.reconnects = 0
        self._client: Any = None
        self._sftp: Any = None
        self._lock = threading.RLock()
        self._sftp_lock = threading.Lock()
        self._connected_once = False

    def __repr__(self) -> str:
        h = self.host
        return f"SshNode({self.name!r}, {h.user}@{h.address}:{h.port})"

    # -- commands ---------------------------------------------------------------------------

    def exec(self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True) -> Completed:
        """Run ``argv`` on the host (through ``sudo -n`` unless the user is root, and
        ``timeout``: a command outliving ``timeout`` seconds is killed and exits 124). Raises
        CommandFailed on a non-zero exit when ``check``; HostDown when the host cannot be
        reached within the reconnect window."""
        args = check_argv(argv, "argv")
        command = shlex.join(self.wrap(["timeout", "-k", "2", f"{max(timeout, 0.1):g}", *args]))
        chan = self._channel()
        try:
            chan.settimeout(timeout + 15)
            chan.exec_command(command)
            code, out, err = _collect(chan, deadline=time.monotonic() + timeout + 15)
        except Exception as e:  # the connection went away under the command
            self._drop()
            result = Completed(
                tuple(args),
                255,
                "",
                f"ssh to {self.address}: connection lost "
                f"during the command ({type(e).__name__}: {e})",
            )
        else:
            result = Completed(tuple(args), code, out, err)
            if code == 124:
                result = Completed(result.argv, 124, out, err + f"\ntimed out after {timeout}s")
        finally:
            chan.close()
        if check and result.returncode != 0:
            raise CommandFailed(self.name, result)
        return result

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` as run for this host's user: through ``sudo -n`` unless root."""
        return argv if self.host.user == "root" else ["sudo", "-n", "--", *argv]

    def put(self, local: str | Path, remote: str) -> None:
        """Copy a file or a directory tree to ``remote`` (relative: under the workdir): one
        tar archive over SFTP, unpacked on the host (a directory merges into one there)."""
        src = Path(local)
        if not src.exists():
            raise FileNotFoundError(f"put: {src} does not exist")
        dest = self._path(remote).rstrip("/")
        parent, base = posixpath.split(dest)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(src), arcname=base, recursive=True, filter=_as_root)
        staged = f"{self.workdir}/.sb-put-{os.urandom(6).hex()}.tar"
        self._upload(buf.getvalue(), staged)
        self.exec(
            [
                "sh",
                "-c",
                'mkdir -p "$2" && tar -xf "$1" --no-same-owner -C "$2"; r=$?; rm -f "$1"; exit $r',
                "sh",
                staged,
                parent or "/",
            ]
        )

    def get(self, remote: str, local: str | Path) -> None:
        """Copy a file or a directory tree from ``remote`` (relative: under the workdir)."""
        src = self._path(remote).rstrip("/")
        parent, base = posixpath.split(src)
        dest = Path(local)
        staged = f"{self.workdir}/.sb-get-{os.urandom(6).hex()}.tar"
        script = 'tar -cf "$1" -C "$2" "$3" && chown "$4" "$1"'
        try:
            self.exec(["sh", "-c", script, "sh", staged, parent or "/", base, self.host.user])
            data = self._download(staged)
        finally:
            self.exec(["rm", "-f", staged], check=False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".sb-get-", dir=dest.parent) as tmp:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
                tar.extractall(tmp, filter="data")
            got = Path(tmp) / base
            if got.is_dir():
                shutil.copytree(got, dest, dirs_exist_ok=True)
            else:
                shutil.move(str(got), dest)

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- connection -------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now (it is otherwise opened by the first command); raises
        SetupError for a host key or login that is refused, HostDown if unreachable."""
        self._channel().close()

    def _channel(self) -> Any:
        """A new session channel, opening the connection again (with backoff) if it dropped."""
        import paramiko

        deadline = time.monotonic() + self.reconnect_for
        delay, attempts = 0.2, 0
        while True:
            attempts += 1
            try:
                with self._lock:
                    client = self._ensure_client()
                    transport = client.get_transport()
                    if transport is None or not transport.is_active():
                        raise paramiko.SSHException("the connection is closed")
                    return transport.open_session(timeout=self.connect_timeout)
            except (paramiko.BadHostKeyException, paramiko.AuthenticationException) as e:
                self._drop()
                raise SetupError(self._refused(e)) from e
            except paramiko.SSHException as e:
                self._drop()
                if "not found in known_hosts" in str(e):
                    raise SetupError(self._refused(e)) from e
                err: Exception = e
            except (OSError, EOFError) as e:
                self._drop()
                err = e
            if time.monotonic() + delay > deadline:
                log.error(
                    "ssh %s (%s:%d): down for %.0fs after %d attempts: %s",
                    self.name,
                    self.address,
                    self.host.port,
                    self.reconnect_for,
                    attempts,
                    err,
                )
                raise HostDown(
                    f"{self.name}: cannot reach {self.host.user}@{self.address}:{self.host.port} "
                    f"after {attempts} attempts in {self.reconnect_for:g}s: "
                    f"{type(err).__name__}: {err}"
                ) from err
            log.warning(
                "ssh %s (%s:%d): %s: %s; trying again in %.1fs",
                self.name,
                self.address,
                self.host.port,
                "connection lost" if self._connected_once else "cannot connect",
                err,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _ensure_client(self) -> Any:
        import paramiko

        if self._client is not None:
            return self._client
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        for path in self.known_hosts:
            if os.path.exists(path):
                client.get_host_keys().load(path)
            else:
                log.warning("known_hosts file %s does not exist", path)
        if self.accept_unknown_host_keys:
            client.set_missing_host_key_policy(_AcceptAndWarn())
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        key = self.host.key
        sock = socket.create_connection(
            (self.address, self.host.port), timeout=self.connect_timeout
        )
        # Without it, each small request waits for the peer's delayed ACK (40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            client.connect(
                self.address,
                port=self.host.port,
                username=self.host.user,
                key_filename=key,
                look_for_keys=key is None,
                allow_agent=key is None,
                sock=sock,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
            )
        except BaseException:
            sock.close()
            client.close()
            raise
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(5)
        if self._connected_once:
            self.reconnects += 1
            log.warning("ssh %s: connected again (%d reconnects)", self.name, self.reconnects)
        self._connected_once = True
        self._client = client
        return client

    def _drop(self) -> None:
        with self._lock:
            for thing in (self._sftp, self._client):
                if thing is not None:
                    try:
                        thing.close()
                    except Exception:  # noqa: BLE001 - closing a dead connection
                        pass
            self._sftp = self._client = None

    def _refused(self, e: Exception) -> str:
        h = self.host
        where = f"{h.address}:{h.port}"
        import paramiko

        if isinstance(e, paramiko.BadHostKeyException):
            return (
                f"{self.name}: the host key of {where} does not match known_hosts: refusing "
                f"to connect (if the host was reinstalled, fix its known_hosts line)"
            )
        if isinstance(e, paramiko.AuthenticationException):
            return f"{self.name}: login as {h.user} at {where} refused: {e}"
        files = ", ".join(["~/.ssh/known_hosts", *self.known_hosts])
        keyscan = (
            f"ssh-keyscan -p {h.port} {h.address}" if h.port != 22 else f"ssh-keyscan {h.address}"
        )
        return (
            f"{self.name}: the host key of {where} is not in known_hosts ({files}); add it "
            f"(`{keyscan} >> ~/.ssh/known_hosts`, after checking it) or set "
            f"accept_unknown_host_keys: true"
        )

    # -- files ------------------------------------------------------------------------------

    def _sftp_client(self) -> Any:
        if self._sftp is None:
            self._channel().close()  # connects, with the reconnect logic
            with self._lock:
                assert self._client is not None
                self._sftp = self._client.open_sftp()
        return self._sftp

    def _upload(self, data: bytes, remote: str) -> None:
        for attempt in (1, 2):
            try:
                with self._sftp_lock:
                    self._sftp_client().putfo(io.BytesIO(data), remote)
                return
            except (OSError, EOFError) as e:
                if isinstance(e, (FileNotFoundError, PermissionError)) or attempt == 2:
                    raise
                self._drop()

    def _download(self, remote: str) -> bytes:
        for attempt in (1, 2):
            try:
                buf = io.BytesIO()
                with self._sftp_lock:
                    self._sftp_client().getfo(remote, buf)
                return buf.getvalue()
            except (OSError, EOFError) as e:
                if isinstance(e, (FileNotFoundError, PermissionError)) or attempt == 2:
                    raise
                self._drop()
        raise AssertionError("unreachable")

    def _path(self, remote: str) -> str:
        return remote if remote.startswith("/") else posixpath.join(self.workdir, remote)


# -- the cluster ----------------------------------------------------------------------------------


class SshCluster:
    """Nodes that are SSH hosts. ``hosts``: Host values or mappings (see ``parse_hosts``).

    ``create()`` connects to every host (checking its key), checks the tools the nodes need
    (``REQUIRED_TOOLS``) and makes the workdirs; ``destroy()`` kills the daemons it started,
    unless already stopped, and closes the connections. ``workdir`` is the root of the
    default workdirs (``<workdir>/<prefix>/<node>``; default ``clusters.paths.ssh_workdir()``);
    a host's own ``workdir`` wins.
    """

    def __init__(
        self,
        hosts: Sequence[Host | Mapping[str, Any]],
        *,
        workroot: str | Path,
        prefix: str | None = None,
        known_hosts: Sequence[str] = (),
        accept_unknown_host_keys: bool = False,
        workdir: str | None = None,
        connect_timeout: float = 10.0,
        reconnect_for: float = 30.0,
    ) -> None:
        parsed = [h for h in hosts if isinstance(h, Host)]
        if len(parsed) != len(hosts):
            parsed = parse_hosts([asdict(h) if isinstance(h, Host) else h for h in hosts])
        if not parsed:
            raise ValueError("the ssh backend needs at least one host")
        self.hosts = parsed
        self.prefix = check_prefix(prefix if prefix is not None else new_prefix())
        self._prefix_lock = PrefixLock(self.prefix)
        self.workroot = Path(workroot)
        self.known_hosts = [os.path.expanduser(k) for k in known_hosts]
        self.accept_unknown_host_keys = accept_unknown_host_keys
        self.workdir = workdir or ssh_workdir()
        self.connect_timeout = connect_timeout
        self.reconnect_for = reconnect_for
        self.nodes: list[Node] = []
        self._owner = False

    @classmethod
    def from_spec(cls, spec: Any, *, workroot: str | Path, n: int | None = None) -> SshCluster:
        """The cluster a suite's ``cluster`` section describes (``hosts`` and / or
        ``inventory``, ``known_hosts``, ``accept_unknown_host_keys``), using its first
        ``n`` hosts. Raises ValueError for a bad host list or too few hosts."""
        hosts: list[Host] = []
        known: list[str] = []
        accept = bool(getattr(spec, "accept_unknown_host_keys", False))
        inventory = getattr(spec, "inventory", None)
        if inventory:
            inv = load_inventory(inventory)
            hosts += inv["hosts"]
            known += inv["known_hosts"]
            accept = accept or inv["accept_unknown_host_keys"]
        if getattr(spec, "hosts", ()):
            hosts += parse_hosts(list(spec.hosts), where="cluster.hosts")
        if getattr(spec, "known_hosts", None):
            known.append(spec.known_hosts)
        if not hosts:
            raise ValueError(
                "the ssh backend needs hosts: list them under cluster.hosts or "
                "give an inventory file (cluster.inventory, or --inventory)"
            )
        n = n if n is not None else len(hosts)
        if n > len(hosts):
            raise ValueError(
                f"cluster.nodes is {n} but only {len(hosts)} ssh host(s) are "
                f"listed ({', '.join(h.name for h in hosts)})"
            )
        return cls(hosts[:n], workroot=workroot, known_hosts=known, accept_unknown_host_keys=accept)

    @property
    def state_file(self) -> Path:
        return self.workroot / STATE_FILE

    def create(self) -> None:
        """Connect to every host, check its tools, make its workdir. On failure, closes
        what it opened and raises SetupError (HostDown included) naming the host."""
        if self.nodes:
            raise SetupError(f"cluster {self.prefix} is already created")
        self.workroot.mkdir(parents=True, exist_ok=True)
        try:
            self._prefix_lock.hold(f"{self.workroot} ssh")
            self._owner = True
            nodes = [
                SshNode(
                    h,
                    h.workdir or f"{self.workdir}/{self.prefix}/{h.name}",
                    known_hosts=self.known_hosts,
                    accept_unknown_host_keys=self.accept_unknown_host_keys,
                    connect_timeout=self.connect_timeout,
                    reconnect_for=self.reconnect_for,
                )
                for h in self.hosts
            ]
            self.nodes = list(nodes)
            write_state(run_record(self.prefix), self._record(), indent=None)
            self._write_state()
            with ThreadPoolExecutor(max_workers=min(len(nodes), 16)) as pool:
                list(pool.map(_prepare, nodes))
        except BaseException as e:
            try:
                self.destroy()
            except Exception:
                pass
            if isinstance(e, SetupError):
                raise
            if isinstance(e, (HostDown, OSError, RuntimeError)):
                raise SetupError(f"creating ssh cluster {self.prefix}: {e}") from e
            raise

    def destroy(self) -> None:
        """Kill every daemon the run started on the hosts, remove the run's default workdirs
        (``<workdir>/<prefix>/<node>``: the harness has collected the logs by then; a host's
        own ``workdir`` stays) and close the connections. Safe to call twice."""
        if not self._owner:
            self._prefix_lock.release()
            return
        errors = []
        for node in self.nodes:
            if isinstance(node, SshNode):
                try:
                    _stop_daemons(node)
                    run_root = f"{self.workdir.rstrip('/')}/{self.prefix}"
                    if node.workdir == f"{run_root}/{node.name}":
                        script = 'rm -rf "$1"; rmdir "$2" 2>/dev/null; exit 0'
                        node.exec(["sh", "-c", script, "sh", node.workdir, run_root])
                except Exception as e:  # noqa: BLE001 - reported below, the others go on
                    errors.append(f"{node.name}: {e}")
                node.close()
        if not errors:
            run_record(self.prefix).unlink(missing_ok=True)
        self._prefix_lock.release()
        self._owner = False
        if errors:
            raise RuntimeError(
                "could not stop daemons on "
                + "; ".join(errors)
                + " (`splitbrain clean` tries again)"
            )

    def _record(self) -> dict[str, Any]:
        return {
            "backend": "ssh",
            "prefix": self.prefix,
            "controller_pid": os.getpid(),
            "known_hosts": self.known_hosts,
            "accept_unknown_host_keys": self.accept_unknown_host_keys,
            "nodes": [
                {**asdict(n.host), "workdir": n.workdir}
                for n in self.nodes
                if isinstance(n, SshNode)
            ],
        }

    def _write_state(self) -> None:
        write_state(self.state_file, self._record())


def clean(prefix_glob: str = "sb*", *, include_live: bool = False) -> list[str]:
    """For each ssh run whose prefix matches and whose controller is gone: connect to its
    hosts, kill its daemons and remove the project's iptables chains. Returns a line per
    thing removed; a host that cannot be reached is logged as a warning and the run's record
    kept, for the next clean to try again."""

    done: list[str] = []
    for record_path in sorted(run_dir().glob(f"*{STATE_SUFFIX}")):
        prefix = record_path.name[: -len(STATE_SUFFIX)]
        if not fnmatch.fnmatchcase(prefix, prefix_glob):
            continue
        if not include_live and is_live(prefix):
            continue
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record_path.unlink(missing_ok=True)
            continue
        failed = False
        for entry in record.get("nodes", []):
            workdir = entry.pop("workdir")
            node = SshNode(
                Host(**{k: v for k, v in entry.items() if k in HOST_KEYS}),
                workdir,
                known_hosts=record.get("known_hosts", []),
                accept_unknown_host_keys=record.get("accept_unknown_host_keys", False),
                reconnect_for=3.0,
            )
            try:
                killed = _stop_daemons(node)
                chains = _remove_chains(node)
                where = f"on {node.name} ({node.address}) of run {prefix}"
                done += [f"daemon {d} {where}" for d in killed]
                done += [f"iptables chain {c} {where}" for c in chains]
            except (SetupError, HostDown, CommandFailed) as e:
                failed = True
                log.warning(
                    "could not clean %s of run %s (kept for the next clean): %s",
                    node.name,
                    prefix,
                    e,
                )
            finally:
                node.close()
        if not failed:
            record_path.unlink(missing_ok=True)
            forget(prefix)
    return done


def _prepare(node: SshNode) -> None:
    node.connect()
    r = node.exec(
        [
            "sh",
            "-c",
            'for t in "$@"; do command -v "$t" >/dev/null || echo "$t"; done',
            "sh",
            *REQUIRED_TOOLS,
        ],
        timeout=20,
    )
    missing = r.stdout.split()
    if missing:
        raise SetupError(
            f"{node.name} ({node.address}) lacks {', '.join(missing)}: install them "
            f"(Debian: python3 iptables util-linux procps tar coreutils; libfaketime "
            f"for clock faults)"
        )
    node.exec(["mkdir", "-p", node.workdir])
    if node.host.user != "root":
        node.exec(["chown", node.host.user, node.workdir])


# Kills every daemon whose pid file is in the workdir (its whole process group), then reports
# them by name. SIGCONT first: a stopped group must not stay stopped if SIGKILL is refused.
_STOP_DAEMONS = r"""
cd "$1" 2>/dev/null || exit 0
for f in *.pid; do
  [ -e "$f" ] || continue
  pg=$(cat "$f" 2>/dev/null)
  case "$pg" in ''|*[!0-9]*) continue;; esac
  if ps -A -o pgid=,stat= | grep -Eq "^ *$pg +[^Z]"; then
    kill -s CONT -- "-$pg" 2>/dev/null; kill -s KILL -- "-$pg" 2>/dev/null
    echo "${f%.pid} (group $pg)"
  fi
done
exit 0
"""

# The project's chains are named SPLITBRAIN* (nemesis.partition): unhook them from the
# built-in chains, flush and delete them; prints each chain removed.
_REMOVE_CHAINS = r"""
command -v iptables >/dev/null || exit 0
chains=$(iptables -w 5 -S | sed -n 's/^-N \(SPLITBRAIN[A-Za-z0-9_-]*\)$/\1/p')
[ -n "$chains" ] || exit 0
for c in $chains; do
  for h in INPUT OUTPUT FORWARD; do
    while iptables -w 5 -D "$h" -j "$c" 2>/dev/null; do :; done
  done
done
for c in $chains; do iptables -w 5 -F "$c"; done
for c in $chains; do iptables -w 5 -X "$c" && echo "$c"; done
exit 0
"""


def _stop_daemons(node: SshNode) -> list[str]:
    r = node.exec(["sh", "-c", _STOP_DAEMONS, "sh", node.workdir], timeout=30)
    return r.stdout.split("\n")[:-1] if r.stdout else []


def _remove_chains(node: SshNode) -> list[str]:
    return node.exec(["sh", "-c", _REMOVE_CHAINS], timeout=30).stdout.split()


def _collect(chan: Any, *, deadline: float) -> tuple[int, str, str]:
    """Read a command's stdout and stderr (both at once, so neither can fill up and block
    it) until it exits; returns (exit code, stdout, stderr)."""
    out, err = bytearray(), bytearray()
    pause = 0.001
    while True:
        busy = False
        while chan.recv_ready():
            out += chan.recv(65536)
            busy = True
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
            busy = True
        if chan.exit_status_ready() and (chan.eof_received or chan.closed) and not busy:
            if not chan.recv_ready() and not chan.recv_stderr_ready():
                break
        if time.monotonic() > deadline:
            raise TimeoutError("no exit status from the command")
        if busy:
            pause = 0.001
        else:
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
    code = chan.recv_exit_status()
    return (code if code >= 0 else 255), out.decode(errors="replace"), err.decode(errors="replace")


class _AcceptAndWarn:
    """Accept an unknown host key (only with accept_unknown_host_keys), saying so."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        log.warning(
            "accepting the unknown %s host key of %s (fingerprint %s), as "
            "accept_unknown_host_keys allows",
            key.get_name(),
            hostname,
            key.fingerprint if hasattr(key, "fingerprint") else key.get_fingerprint().hex(),
        )
        client.get_host_keys().add(hostname, key.get_name(), key)


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    if "__pycache__" in info.name.split("/"):
        return None  # type: ignore[return-value]
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


# -- local hosts to try the backend on ---------------------------------------------------------


@dataclass
class LocalSshHosts:
    """``n`` SSH hosts on this machine: network namespaces of a LocalCluster, each running
    ``sshd`` on port 22 of its address with a host key generated here, logging root in with a
    client key generated here. ``directory`` receives the keys, the sshd configs,
    ``known_hosts`` and ``inventory.yaml``. Needs root and openssh-server."""

    n: int
    directory: Path
    prefix: str | None = None
    cluster: Any = field(default=None, init=False)

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yaml"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.directory / "id_ed25519"

    def start(self) -> LocalSshHosts:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.path.exists(sshd) or shutil.which("ssh-keygen") is None:
            raise SetupError("sshd / ssh-keygen not found: apt-get install openssh-server")
        self.directory = Path(self.directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        if not self.client_key.exists():
            _keygen(self.client_key, "splitbrain-controller")
        shutil.copy(f"{self.client_key}.pub", self.directory / "authorized_keys")
        self.cluster = LocalCluster(self.n, prefix=self.prefix, workroot=self.directory / "netns")
        self.cluster.create()
        try:
            lines, hosts = [], []
            for node in self.cluster.nodes:
                d = self.directory / node.name
                d.mkdir(exist_ok=True)
                key = d / "ssh_host_ed25519_key"
                if not key.exists():
                    _keygen(key, f"splitbrain-{node.name}")
                config = d / "sshd_config"
                config.write_text(
                    _SSHD_CONFIG.format(
                        address=node.address,
                        key=key,
                        pid=d / "sshd.pid",
                        authorized=self.directory / "authorized_keys",
                    )
                )
                node.spawn("sshd", [sshd, "-D", "-e", "-f", str(config)])
                kind, blob = Path(f"{key}.pub").read_text().split()[:2]
                lines.append(f"{node.address} {kind} {blob}")
                hosts.append({"name": node.name, "address": node.address})
            self.known_hosts.write_text("\n".join(lines) + "\n")
            import yaml

            self.inventory.write_text(
                yaml.safe_dump(
                    {
                        "user": "root",
                        "port": 22,
                        "key": str(self.client_key),
                        "known_hosts": str(self.known_hosts),
                        "hosts": hosts,
                    },
                    sort_keys=False,
                )
            )
            for node in self.cluster.nodes:
                _wait_port(node.address, 22, timeout=15)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Remove the namespaces (their sshd and every process in them die with them)."""
        if self.cluster is not None:
            self.cluster.destroy()

    def restart_sshd(self, name: str) -> None:
        """Start the sshd of node ``name`` again (after a test killed it)."""
        node = next(n for n in self.cluster.nodes if n.name == name)
        config = self.directory / name / "sshd_config"
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        node.spawn("sshd", [sshd, "-D", "-e", "-f", str(config)])
        _wait_port(node.address, 22, timeout=15)

    def __enter__(self) -> LocalSshHosts:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey {key}
PidFile {pid}
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
Subsystem sftp internal-sftp
# bash sources ~/.bashrc for commands sshd runs unless SHLVL says it is nested: the host's
# root may have a slow one (pyenv init), which would cost every command a few hundred ms.
SetEnv SHLVL=1
"""


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _wait_port(address: str, port: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SetupError(f"sshd on {address}:{port} does not answer")
        time.sleep(0.1)


def _main(argv: list[str]) -> int:
    import argparse
    import signal

    p = argparse.ArgumentParser(
        prog="python3 -m clusters.ssh",
        description="SSH hosts on this machine, to try the ssh backend",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sandbox", help="start N sshd hosts in namespaces until interrupted")
    s.add_argument("n", type=int)
    s.add_argument("directory")
    args = p.parse_args(argv)
    hosts = LocalSshHosts(args.n, Path(args.directory)).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(
        f"{args.n} ssh hosts up; inventory: {hosts.inventory}\n"
        f"  splitbrain run suites/smoke.yaml --cluster ssh --inventory {hosts.inventory}\n"
        f"Ctrl-C (or SIGTERM) removes them.",
        flush=True,
    )
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        hosts.stop()
    return 0


BACKEND = BackendInfo(
    name="ssh",
    description="real hosts reached over SSH, listed under cluster.hosts or in an inventory file",
    make=make_cluster,
    clean=clean,
    max_nodes=None,
    check=check_spec,
)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
