"""The reference Raft key/value store (``patterns/raft``) as a System, and its Client.

``RaftSystem`` installs ``patterns/`` on each node and runs ``python3 -m patterns.raft``
there. It needs every node's address for ``--peers``: pass ``nodes=`` to the constructor
(as the registry does) or call ``configure(nodes)`` before the first ``setup``.

``RaftClient`` speaks the client protocol documented in ``patterns/raft/__init__.py`` over
one persistent connection, mapping history ops (Jepsen's independent-key values) to
requests::

    read   [k, None]      -> {"type": "read", "key": k}             ok [k, v]
    write  [k, v]         -> {"type": "write", "key": k, "value": v}  ok [k, v]
    cas    [k, [a, b]]    -> {"type": "cas", "key": k, "from": a, "to": b}
                                                                  ok [k, [a, b]] or fail
    status None           -> {"type": "status"}                   ok {the node's status}

An error reply with ``definite: true`` completes as ``fail``, otherwise as ``info``; either
way ``error`` holds its code (``not-leader``, ``cas-mismatch``, ``timeout``, ...).
"""

from __future__ import annotations

import json
import logging
import select
import signal
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clusters.base import Node, SetupError
from harness.history import Op

__all__ = ["DAEMON", "RaftClient", "RaftSystem", "node_status"]

log = logging.getLogger(__name__)

#: the daemon's name on a node: its log is ``<workdir>/raft.log``
DAEMON = "raft"
DEFAULT_PORT = 7000
#: the directory holding ``_runtime/`` and ``raft/``, copied to ``<workdir>/code/patterns``
PATTERNS_DIR = Path(__file__).resolve().parents[1] / "patterns"

# (node name, address) -> port, filled by RaftSystem.configure, so that a RaftClient made
# without a port (as the registry makes them) finds the port of its node
_PORTS: dict[tuple[str, str], int] = {}


class RaftSystem:
    """System + Killable + Pausable + HasPrimaries for ``patterns/raft``.

    ``bugs`` are seeded bug names passed on as ``--bug``. Every node listens on ``port``;
    where several nodes share one address (all on one host), node i listens on
    ``port + i`` instead. ``extra_args`` are appended to the daemon's command line
    (``["--election-ms", "150-300"]``). Setup waits up to ``ready_timeout`` seconds for
    the node to answer ``status``.
    """

    def __init__(
        self,
        bugs: Sequence[str] = (),
        port: int = DEFAULT_PORT,
        *,
        nodes: Sequence[Node] | None = None,
        ready_timeout: float = 20.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.bugs = list(bugs)
        self.port = port
        self.ready_timeout = ready_timeout
        self.extra_args = list(extra_args)
        self._nodes: list[Node] = []
        self._ports: dict[str, int] = {}
        if nodes is not None:
            self.configure(list(nodes))

    def configure(self, nodes: list[Node]) -> None:
        """Learn every member of the cluster (their names and addresses make ``--peers``)."""
        names = [n.name for n in nodes]
        if len(set(names)) != len(names):
            raise SetupError(f"node names must be unique, got {names}")
        shared = len({n.address for n in nodes}) < len(nodes)
        self._nodes = list(nodes)
        self._ports = {n.name: self.port + (i if shared else 0) for i, n in enumerate(nodes)}
        for n in nodes:
            _PORTS[(n.name, n.address)] = self._ports[n.name]

    def port_of(self, node: Node) -> int:
        """The port ``node``'s daemon listens on."""
        return self._ports.get(node.name, self.port)

    # -- System ------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Install a fresh copy of ``patterns/`` and an empty data directory, start the
        daemon and wait until it answers ``status``; raises SetupError otherwise."""
        if node.name not in self._ports:
            raise SetupError(
                f"RaftSystem does not know node {node.name!r}: pass nodes= or call "
                f"configure(nodes) with every node before setup (it knows {sorted(self._ports)})"
            )
        code, data = self._code_dir(node), self._data_dir(node)
        self.kill(node)  # a daemon left from an earlier setup must not see its files go
        node.exec(["rm", "-rf", code, data])
        node.exec(["mkdir", "-p", code, data])
        node.put(PATTERNS_DIR, f"{code}/patterns")
        self.start(node)

    def teardown(self, node: Node) -> None:
        """Kill the daemon (its data and log stay on the node for inspection)."""
        self.kill(node)

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.workdir}/{DAEMON}.log"]

    # -- Killable / Pausable ------------------------------------------------------------

    def kill(self, node: Node) -> None:
        """SIGKILL the daemon's process group; returns once it is gone (at most ~5 s)."""
        node.signal(DAEMON, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while node.alive(DAEMON) and time.monotonic() < deadline:
            time.sleep(0.02)

    def start(self, node: Node) -> None:
        """Start the daemon on its existing data and wait until it answers ``status``."""
        node.spawn(DAEMON, self._argv(node), env=self._env(node), cwd=self._code_dir(node))
        self._wait_ready(node)

    def pause(self, node: Node) -> None:
        node.signal(DAEMON, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        node.signal(DAEMON, signal.SIGCONT)

    # -- HasPrimaries -------------------------------------------------------------------

    def primaries(self, nodes: list[Node]) -> list[Node]:
        """The nodes whose status says they lead (a paused or dead node is not counted)."""
        if not nodes:
            return []
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            statuses = list(
                pool.map(lambda n: node_status(n.address, self.port_of(n), timeout=0.5), nodes)
            )
        pairs = zip(nodes, statuses, strict=True)
        return [n for n, st in pairs if st is not None and st.get("role") == "leader"]

    # -- helpers ------------------------------------------------------------------------

    def _argv(self, node: Node) -> list[str]:
        python = getattr(node, "python", "python3")
        peers = ",".join(f"{n.name}={n.address}:{self._ports[n.name]}" for n in self._nodes)
        argv = [
            python, "-m", "patterns.raft",
            "--id", node.name,
            "--listen", f"0.0.0.0:{self._ports[node.name]}",
            "--peers", peers,
            "--data", self._data_dir(node),
        ]  # fmt: skip
        for bug in self.bugs:
            argv += ["--bug", bug]
        return argv + self.extra_args

    def _env(self, node: Node) -> dict[str, str]:
        env = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            from clusters.clock import faketime_env  # written separately; may be absent
        except ImportError:
            return env
        env.update(faketime_env(node))
        return env

    def _wait_ready(self, node: Node) -> None:
        port = self.port_of(node)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if node_status(node.address, port, timeout=0.5) is not None:
                return
            if not node.alive(DAEMON):
                break
            time.sleep(0.1)
        tail = ""
        try:
            tail = node.exec(["tail", "-n", "20", self.log_files(node)[0]], check=False).stdout
        except Exception as e:  # noqa: BLE001 - the log tail only decorates the error
            tail = f"(could not read the log: {e})"
        state = "is running but" if node.alive(DAEMON) else "exited and"
        raise SetupError(
            f"raft on {node.name} {state} did not answer status on {node.address}:{port} "
            f"within {self.ready_timeout:g}s; last lines of its log:\n{tail}"
        )

    @staticmethod
    def _code_dir(node: Node) -> str:
        return f"{node.workdir}/code"

    @staticmethod
    def _data_dir(node: Node) -> str:
        return f"{node.workdir}/raft-data"


def node_status(host: str, port: int, *, timeout: float = 1.0) -> dict[str, Any] | None:
    """A node's ``status`` value, or None if it does not answer in ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b'{"id":1,"type":"status"}\n')
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
        reply = json.loads(buf)
    except (OSError, ValueError):
        return None
    value = reply.get("value") if isinstance(reply, dict) and reply.get("ok") else None
    return value if isinstance(value, dict) else None


class RaftClient:
    """A Client of the Raft store: one persistent connection to its node.

    ``timeout`` bounds each request (seconds). ``port`` defaults to the port the node's
    ``RaftSystem`` gave it (or 7000). A timeout or a broken connection after a request was
    sent raises (the runner records ``info``); a refused connection, before anything was
    sent, completes as ``fail`` with error ``connection-refused`` (any other failure to
    connect: ``connect-failed: ...``).
    """

    def __init__(self, timeout: float = 2.0, port: int | None = None) -> None:
        self.timeout = timeout
        self.port = port
        self.address: tuple[str, int] | None = None
        self._sock: socket.socket | None = None
        self._buf = b""
        self._next_id = 0

    def open(self, node: Node) -> None:
        port = self.port or _PORTS.get((node.name, node.address), DEFAULT_PORT)
        self.address = (node.address, port)
        try:
            self._connect()
        except OSError as e:  # the node may be down now; invoke connects again
            log.debug("raft client: cannot connect to %s: %s", self.address, e)

    def close(self) -> None:
        self._drop()

    def invoke(self, op: Op) -> Op:
        """Perform ``op`` and return its completion (see the module docstring)."""
        try:
            req, key = _request(op)
        except (TypeError, ValueError) as e:
            return op.complete("fail", op.value, error=f"bad-op: {e}")
        try:
            self._ensure_connected()
        except ConnectionRefusedError:
            return op.complete("fail", op.value, error="connection-refused")
        except OSError as e:  # nothing was sent: the op certainly did not happen
            return op.complete("fail", op.value, error=f"connect-failed: {e}")
        reply = self._call(req)
        if reply.get("ok") is True:
            value = reply.get("value")
            if op.f == "read":
                return op.complete("ok", [key, value])
            if op.f == "status":
                return op.complete("ok", value)
            return op.complete("ok", op.value)
        error = str(reply.get("error") or "unknown-error")
        return op.complete("fail" if reply.get("definite") is True else "info", op.value, error)

    # -- connection ---------------------------------------------------------------------

    def _ensure_connected(self) -> None:
        if self._sock is not None and not self._healthy(self._sock):
            self._drop()  # the server closed it (restarted): nothing was sent on it yet
        if self._sock is None:
            self._connect()

    def _connect(self) -> None:
        if self.address is None:
            raise RuntimeError("RaftClient.invoke before open")
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._buf = sock, b""

    def _call(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self._sock is not None
        self._next_id += 1
        req["id"] = self._next_id
        deadline = time.monotonic() + self.timeout
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(json.dumps(req, separators=(",", ":")).encode() + b"\n")
            while True:
                reply = self._readline(deadline)
                if isinstance(reply, dict) and reply.get("id") == req["id"]:
                    return reply
        except BaseException:
            self._drop()  # a late reply must never answer a later request
            raise

    def _readline(self, deadline: float) -> Any:
        assert self._sock is not None
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply from {self.address} in {self.timeout:g}s")
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{self.address} closed the connection")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    @staticmethod
    def _healthy(sock: socket.socket) -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock, self._buf = None, b""


def _request(op: Op) -> tuple[dict[str, Any], Any]:
    """The request for ``op`` and its key; raises ValueError for an op it cannot map."""
    if op.f == "status":
        return {"type": "status"}, None
    if not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
        raise ValueError(f"expected [key, value], got {op.value!r}")
    key, arg = op.value
    if op.f == "read":
        return {"type": "read", "key": key}, key
    if op.f == "write":
        return {"type": "write", "key": key, "value": arg}, key
    if op.f == "cas":
        if not isinstance(arg, (list, tuple)) or len(arg) != 2:
            raise ValueError(f"a cas needs [key, [from, to]], got {op.value!r}")
        return {"type": "cas", "key": key, "from": arg[0], "to": arg[1]}, key
    raise ValueError(f"raft has no op {op.f!r}; it runs read, write, cas, status")
