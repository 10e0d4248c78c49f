"""The connection every reference pattern's client shares: one persistent NDJSON connection to
one pattern node (``patterns/_runtime``'s protocol: a JSON request per line with an ``id``, the
reply with the same ``id``).

A client of a pattern subclasses ``PatternClient`` and writes ``invoke``. Two ways to send:

- ``request(op, req)``: the reply, or the completion of ``op`` when no reply can be had: a
  refused connection, before anything was sent, is ``fail``; a timeout or a broken
  connection after sending is ``info``. Then ``failed(op, reply)`` completes an error reply
  (``fail`` when the reply says ``definite``, else ``info``).
- ``ensure_connected()`` then ``call(req)``, which raises on a timeout or a broken
  connection (the runner records ``info``), for a client that wants exceptions.

Either way the socket is dropped on any exception, so a late reply never answers a later
request. The client learns its node's port from the System it was made with
(``system.port_of(node)``), or is given one (``port=``, for a test against a scripted server).
"""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from typing import Any

from clusters.base import Node
from harness.history import Op
from workloads.system import HasPorts

__all__ = ["PatternClient"]

log = logging.getLogger(__name__)


class PatternClient:
    """One persistent connection to the pattern node it is opened on.

    ``system``: where ports come from (``port_of(node)``); ``port``: a fixed port instead.
    ``timeout`` bounds connecting and each request (seconds). ``invoke`` is the subclass's.
    """

    def __init__(
        self, system: HasPorts | None = None, *, timeout: float = 2.0, port: int | None = None
    ) -> None:
        if system is None and port is None:
            raise ValueError(f"{type(self).__name__} needs the system it talks to, or a port")
        self.system = system
        self.timeout = timeout
        self.port = port
        self.address: tuple[str, int] | None = None
        self._sock: socket.socket | None = None
        self._buf = b""
        self._next_id = 0

    def open(self, node: Node) -> None:
        """Connect to ``node`` (its port from the system); a node that is down now is no
        error: each request connects again."""
        if self.port is not None:
            port = self.port
        else:
            assert self.system is not None
            port = self.system.port_of(node)
        self.address = (node.address, port)
        try:
            self.connect()
        except OSError as e:  # the node may be down now; invoke connects again
            log.debug("%s: cannot connect to %s: %s", type(self).__name__, self.address, e)

    def close(self) -> None:
        self.drop()

    def invoke(self, op: Op) -> Op:
        raise NotImplementedError(f"{type(self).__name__} does not implement invoke")

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """Connecting and the reply may each take ``timeout``."""
        return 2 * timeout

    # -- requests ---------------------------------------------------------------------------

    def request(self, op: Op, req: dict[str, Any], value: Any = None) -> dict[str, Any] | Op:
        """The reply to ``req``; or the completion of ``op`` (with ``value``, default the
        invocation's) when nothing could be sent (``fail``), or when the request was sent
        and no reply came in time or the connection broke (``info``)."""
        value = op.value if value is None else value
        try:
            self.ensure_connected()
        except ConnectionRefusedError:
            return op.complete("fail", value, error="connection-refused")
        except OSError as e:  # nothing was sent: the op certainly did not happen
            return op.complete("fail", value, error=f"connect-failed: {e}")
        try:
            return self.call(req)
        except (OSError, ValueError) as e:  # TimeoutError is an OSError; bad JSON a ValueError
            return op.complete("info", value, error=f"{type(e).__name__}: {e}")

    @staticmethod
    def failed(op: Op, reply: dict[str, Any], value: Any = None) -> Op:
        """The completion of an error reply: ``fail`` when definite, else ``info``; ``error``
        holds the reply's code (``not-leader``, ``timeout``, ...)."""
        error = str(reply.get("error") or "unknown-error")
        kind = "fail" if reply.get("definite") is True else "info"
        return op.complete(kind, op.value if value is None else value, error)

    # -- the connection ---------------------------------------------------------------------

    def ensure_connected(self) -> None:
        """Connect unless connected; a connection the server closed meanwhile (a restart) is
        replaced first. Raises OSError (ConnectionRefusedError when refused): nothing was
        sent."""
        if self._sock is not None and not self._healthy(self._sock):
            self.drop()  # the server closed it (restarted): nothing was sent on it yet
        if self._sock is None:
            self.connect()

    def connect(self) -> None:
        if self.address is None:
            raise RuntimeError(f"{type(self).__name__} used before open")
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._buf = sock, b""

    def call(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send ``req`` (it gets the next ``id``) and return the reply with that id. Raises
        TimeoutError after ``timeout`` s, ConnectionError if the connection breaks, and drops
        the socket on any exception."""
        if self._sock is None:
            raise RuntimeError(f"{type(self).__name__}.call before ensure_connected")
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
            self.drop()  # a late reply must never answer a later request
            raise

    def drop(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock, self._buf = None, b""

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
