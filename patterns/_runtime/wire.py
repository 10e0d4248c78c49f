"""Newline-delimited JSON over TCP: a threaded server and an RPC client with a small pool.

Every message is one JSON object on one line (UTF-8, ``\\n``-terminated). A request carries
an ``id``; its reply carries the same ``id``. One connection carries one request at a time:
a client that wants concurrency opens more connections (``RpcClient`` does so by itself).

The same port serves a node's peers and its clients; the ``type`` field tells them apart.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import select
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import BAD_REQUEST, ConnectFailed, ConnectionLost, RpcTimeout, error_reply

__all__ = ["MAX_LINE", "Handler", "RpcClient", "Server", "decode", "encode", "parse_address"]

#: the longest line either side accepts (a Raft batch of entries stays far below it)
MAX_LINE = 16 << 20

#: a request in, its reply out (without ``id``: the server copies the request's)
Handler = Callable[[dict[str, Any]], dict[str, Any]]

log = logging.getLogger("wire")


def encode(msg: dict[str, Any]) -> bytes:
    """One message as a line of compact JSON."""
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One line as a message; raises ValueError if it is not a JSON object."""
    msg = json.loads(line)
    if not isinstance(msg, dict):
        raise ValueError(f"expected a JSON object, got {type(msg).__name__}")
    return msg


def parse_address(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (or ``"[v6]:PORT"``) as ``(host, port)``; raises ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class Server:
    """A threaded TCP server: one thread per connection, requests handled in order.

    ``handler(request) -> reply`` runs on the connection's thread; it may block (a Raft
    write waits for its commit) without holding up other connections. A handler that raises
    gets an ``internal`` (indefinite) error reply and a log line; a line that is not JSON
    gets a ``bad-request`` reply. Both keep the connection open.
    """

    def __init__(
        self, listen: tuple[str, int], handler: Handler, *, bind_timeout: float = 5.0
    ) -> None:
        """Bind ``listen`` now (retrying for ``bind_timeout`` seconds while the address is
        in use, as it is for a moment after a kill -9 of the previous process); serve on
        ``start``."""
        self._handler = handler
        outer = self

        class _Conn(socketserver.StreamRequestHandler):
            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle(self) -> None:
                outer._serve(self.rfile, self.wfile)

        class _TCP(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            block_on_close = False
            request_queue_size = 128

            def handle_error(self, request: Any, client_address: Any) -> None:
                log.debug("connection from %s ended: error", client_address, exc_info=True)

        deadline = time.monotonic() + bind_timeout
        while True:
            try:
                self._tcp = _TCP(listen, _Conn)
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port): with port 0 in ``listen``, the port the kernel chose."""
        host, port = self._tcp.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self._tcp.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="accept",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close the listening socket (open connections are left)."""
        self._tcp.shutdown()
        self._tcp.server_close()

    def _serve(self, rfile: Any, wfile: Any) -> None:
        while True:
            try:
                line = rfile.readline(MAX_LINE)
            except OSError:
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                msg = decode(line)
            except ValueError as e:
                reply: dict[str, Any] = {"id": None, **error_reply(BAD_REQUEST, str(e))}
            else:
                reply = self._call(msg)
            try:
                wfile.write(encode(reply))
                wfile.flush()
            except OSError:
                return

    def _call(self, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = self._handler(msg)
        except Exception as e:  # noqa: BLE001 - a bug must not kill the connection thread
            log.exception("handler failed on %s", _short(msg))
            reply = error_reply("internal", f"{type(e).__name__}: {e}")
        reply["id"] = msg.get("id")
        return reply


class RpcClient:
    """Calls one address with request ids, deadlines and a small pool of connections.

    ``call`` takes an idle connection (or opens one), sends, and waits for the reply with the
    same ``id``. Failures say whether the request was sent:

    - ``ConnectFailed`` (definite): the connection could not be opened; nothing was sent.
    - ``RpcTimeout`` / ``ConnectionLost`` (indefinite): sent, and no reply came.

    A connection is returned to the pool only after a clean reply; one that failed is closed,
    so a late reply can never be taken for the answer to a later request. Thread safe.

    ``source_host`` binds outgoing connections to that local address (a node listening on
    a specific address calls from it too, so firewall rules can tell nodes apart by source).
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        address: tuple[str, int],
        *,
        connect_timeout: float = 0.5,
        timeout: float = 2.0,
        pool_size: int = 8,
        source_host: str | None = None,
    ) -> None:
        self.address = address
        self.source_host = source_host
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.pool_size = pool_size
        self._idle: list[_Conn] = []
        self._lock = threading.Lock()
        self._closed = False

    def call(self, msg: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Send ``msg`` (an ``id`` is set on a copy) and return the reply.

        ``timeout`` bounds the whole call, opening the connection included (default
        ``self.timeout``; opening one also stops at ``connect_timeout``). Raises
        ``ConnectFailed``, ``RpcTimeout`` or ``ConnectionLost``.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        conn = self._take(deadline)
        req_id = next(self._ids)
        request = dict(msg, id=req_id)
        try:
            reply = conn.request(request, req_id, deadline)
        except BaseException:
            conn.close()
            raise
        self._give_back(conn)
        return reply

    def close(self) -> None:
        """Close the idle connections; calls in flight finish on their own."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    def _take(self, deadline: float) -> _Conn:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                limit = max(0.001, min(self.connect_timeout, deadline - time.monotonic()))
                return _Conn.open(self.address, limit, self.source_host)
            if conn.healthy():
                return conn
            conn.close()

    def _give_back(self, conn: _Conn) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.pool_size:
                self._idle.append(conn)
                return
        conn.close()


class _Conn:
    """One client connection with its own read buffer."""

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self.sock = sock
        self.address = address
        self.buf = b""

    @classmethod
    def open(cls, address: tuple[str, int], timeout: float, source: str | None) -> _Conn:
        try:
            src = (source, 0) if source else None
            sock = socket.create_connection(address, timeout=timeout, source_address=src)
        except OSError as e:
            raise ConnectFailed(f"cannot connect to {_addr(address)}: {_reason(e)}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, address)

    def healthy(self) -> bool:
        """An idle connection is readable only if the peer closed it (or sent junk)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def request(self, msg: dict[str, Any], req_id: int, deadline: float) -> dict[str, Any]:
        where = _addr(self.address)
        try:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            self.sock.sendall(encode(msg))
        except TimeoutError:
            raise RpcTimeout(f"sending to {where} timed out") from None
        except OSError as e:
            raise ConnectionLost(f"sending to {where} failed: {_reason(e)}") from None
        while True:
            line = self._readline(deadline, where)
            try:
                reply = decode(line)
            except ValueError as e:
                raise ConnectionLost(f"{where} sent a line that is not JSON: {e}") from None
            if reply.get("id") == req_id:
                return reply
            # a reply to something else (cannot happen on a connection used one request at
            # a time, unless the server misbehaves): skip it and keep waiting for ours

    def _readline(self, deadline: float, where: str) -> bytes:
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1 :]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RpcTimeout(f"no reply from {where} in time")
            try:
                self.sock.settimeout(remaining)
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                raise RpcTimeout(f"no reply from {where} in time") from None
            except OSError as e:
                raise ConnectionLost(f"connection to {where} broke: {_reason(e)}") from None
            if not chunk:
                raise ConnectionLost(f"{where} closed the connection before replying")
            self.buf += chunk
            if len(self.buf) > MAX_LINE:
                raise ConnectionLost(f"{where} sent a line longer than {MAX_LINE} bytes")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _addr(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _short(msg: dict[str, Any]) -> str:
    text = json.dumps(msg, separators=(",", ":"), default=str)
    return text if len(text) < 300 else text[:300] + "..."
