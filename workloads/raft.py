"""The reference Raft key/value store (``patterns/raft``) as a System, and its Client.

``RaftSystem`` is ``workloads.daemon.PatternSystem`` running ``python3 -m patterns.raft``
on each node.

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
import socket
import time
from collections.abc import Sequence
from typing import Any

from clusters.base import Node
from harness.history import Op
from workloads.daemon import DEFAULT_PORT, PatternSystem, node_status, port_of_node

__all__ = ["DAEMON", "DEFAULT_PORT", "RaftClient", "RaftSystem", "node_status"]

log = logging.getLogger(__name__)

#: the daemon's name on a node: its log is ``<workdir>/raft.log``
DAEMON = "raft"


class RaftSystem(PatternSystem):
    """System + Killable + Pausable + HasPrimaries for ``patterns/raft``: ``PatternSystem``
    with the module ``raft``. ``bugs`` are seeded bug names passed on as ``--bug``;
    ``extra_args`` are appended to the daemon's command line (``["--election-ms",
    "150-300"]``)."""

    def __init__(
        self,
        bugs: Sequence[str] = (),
        port: int = DEFAULT_PORT,
        *,
        nodes: Sequence[Node] | None = None,
        ready_timeout: float = 20.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(
            DAEMON, bugs, port, nodes=nodes, ready_timeout=ready_timeout, extra_args=extra_args
        )


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
        port = self.port or port_of_node(node)
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
