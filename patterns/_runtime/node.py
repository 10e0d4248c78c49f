"""The base of every pattern node: a handler table and the lifecycle (start, tick, stop).

A node is built in three steps, all in its ``__init__``: ``super().__init__(cfg)``, then its
durable state recovered (a node persists what it must keep across a kill -9 in ``persist``,
before any answer depends on it), then its request kinds added to ``self.handlers``::

    class EchoNode(Node):
        log_name = "echo"

        def __init__(self, cfg: NodeConfig) -> None:
            super().__init__(cfg)
            self.handlers["echo"] = lambda msg: ok_reply(msg.get("value"))

``start`` serves the node's port and starts its ticker (``tick`` every ``tick_interval()``
seconds, when ``tick_every`` is set) and the loops added with ``every``; ``stop`` stops
serving and calls ``close`` (flush and close durable state). ``status`` is every node's
answer to ``{"type": "status"}``, which the harness polls to know a node is up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from .cli import NodeConfig
from .errors import BAD_REQUEST, RpcError, error_reply, ok_reply
from .wire import Handler, RpcClient, Server

__all__ = ["Node"]


class Node:
    """Dispatch by request ``type`` through ``handlers``, and the node's lifecycle.

    Attributes every node has: ``cfg``, ``id``, ``bugs`` (the seeded bugs turned on),
    ``members`` (every member's id, sorted, this node included), ``others`` (the same without
    this node), ``majority`` (of ``members``), ``logger`` (the pattern's), ``rpcs`` (set it
    with ``peer_clients``), ``stopping`` (set by ``stop``: loops end, waits give up).
    """

    #: the logger of the lifecycle lines ("serving on ..."): the pattern's own
    log_name: ClassVar[str] = "node"
    #: seconds between two calls of ``tick`` (see ``tick_interval``); None: no ticker
    tick_every: float | None = None
    #: the ticker thread's name, also in the line logged when a tick raises
    tick_name: str = "ticker"

    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.bugs = cfg.bugs
        self.members = sorted(cfg.peers)
        self.others = [p for p in self.members if p != self.id]
        self.majority = len(self.members) // 2 + 1
        self.logger = logging.getLogger(self.log_name)
        self.stopping = threading.Event()
        #: request type -> handler (request in, reply out); unknown types get bad-request
        self.handlers: dict[str, Handler] = {"status": lambda _msg: ok_reply(self.status())}
        #: a client per other member, for ``ask`` (see ``peer_clients``)
        self.rpcs: dict[str, RpcClient] = {}
        self.server: Server | None = None
        self._loops: list[tuple[str, Callable[[], float], Callable[[], None]]] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Serve ``cfg.listen`` (binding it now), start the ticker and every loop."""
        self.server = Server(self.cfg.listen, self.handle)
        self.server.start()
        if self.tick_every is not None:
            self._start_loop(self.tick_name, self.tick_interval, self.tick)
        for loop in self._loops:
            self._start_loop(*loop)
        self.logger.info("serving on %s:%d", *self.server.address)

    def tick(self) -> None:
        """What the node does every ``tick_interval()`` seconds (election timeouts,
        heartbeats, renewals, recovery rounds); runs on the ticker thread."""

    def tick_interval(self) -> float:
        """Seconds until the next ``tick``: ``tick_every``, unless the node adds jitter."""
        return float(self.tick_every or 0.0)

    def every(self, name: str, interval: float, step: Callable[[], None]) -> None:
        """Run ``step`` every ``interval`` seconds on a thread named ``name``, from ``start``
        until ``stop`` (a step that raises is logged, and the loop goes on)."""
        self._loops.append((name, lambda: interval, step))
        if self.server is not None:  # already started
            self._start_loop(*self._loops[-1])

    def persist(self) -> None:
        """Make the node's state durable (a pattern calls it before answering anything that
        depends on that state; nothing by default)."""

    def stop(self) -> None:
        """Stop the loops and serving, then ``close``: a clean shutdown flushes everything."""
        self.stopping.set()
        if self.server is not None:
            self.server.stop()
        self.close()

    def close(self) -> None:
        """Flush and close durable state (nothing by default)."""

    # -- requests ----------------------------------------------------------------------

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One request in, its reply out (the server adds the ``id``)."""
        t = msg.get("type")
        handler = self.handlers.get(t) if isinstance(t, str) else None
        if handler is None:
            return error_reply(BAD_REQUEST, f"unknown request type {t!r}")
        return handler(msg)

    def status(self) -> dict[str, Any]:
        """The ``status`` reply's value: at least the node's id and its seeded bugs."""
        return {"id": self.id, "bugs": sorted(self.bugs)}

    # -- calls to peers ----------------------------------------------------------------

    def peer_clients(
        self,
        *,
        timeout: float,
        connect_timeout: float = 0.5,
        pool_size: int = 8,
        bind_source: bool = True,
    ) -> dict[str, RpcClient]:
        """An ``RpcClient`` for every other member. With ``bind_source``, a node listening
        on a specific address calls from it too: per-node firewall rules (and partitions
        emulated on one host with several loopback addresses) then work."""
        host = self.cfg.listen[0]
        source = None if not bind_source or host in ("", "0.0.0.0", "::") else host
        return {
            p: RpcClient(
                a,
                connect_timeout=connect_timeout,
                timeout=timeout,
                pool_size=pool_size,
                source_host=source,
            )
            for p, a in self.cfg.others.items()
        }

    def ask(self, peer: str, msg: dict[str, Any]) -> Any:
        """``peer``'s reply value to ``msg`` (through ``self.rpcs``) when it is a successful
        reply carrying a JSON object, else None (no answer in time or an error reply)."""
        try:
            reply = self.rpcs[peer].call(msg)
        except RpcError as e:
            self.logger.debug("%s to %s: %s", msg["type"], peer, e)
            return None
        value = reply.get("value")
        return value if reply.get("ok") and isinstance(value, dict) else None

    # -- helpers -----------------------------------------------------------------------

    def _start_loop(
        self, name: str, interval: Callable[[], float], step: Callable[[], None]
    ) -> None:
        def run() -> None:
            while not self.stopping.is_set():
                # a plain sleep, as each pattern's loop always had: under libfaketime the
                # sleeps are what clusters/clock.py's shim is known to keep true
                time.sleep(interval())
                try:
                    step()
                except Exception:
                    self.logger.exception("%s round failed", name)

        threading.Thread(target=run, name=name, daemon=True).start()
