"""A replica that converges by exchanging state with every peer each round (CRDTs, the
multi-value store of vector clocks): the round's pool, which peers the last round missed,
each replica's digest, and the wait for agreement that the final reads make.

A subclass sets ``handlers`` for its own requests and gives ``state_digest`` (its whole
replicated state hashed, ``mu`` held); ``tick`` is its round. The lock ``mu`` guards the
state; nothing here holds it while it waits on a peer.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .cli import NodeConfig
from .errors import ok_reply
from .node import Node
from .requests import request_deadline

__all__ = ["ConvergingReplica"]


class ConvergingReplica(Node):
    """A node whose replicas converge by rounds of exchange (see the module docstring)."""

    #: what a round is called in the log ("gossip", "exchange")
    round_name = "exchange"

    def __init__(
        self, cfg: NodeConfig, *, sync_interval: float, rpc_timeout: float, settle_timeout: float
    ) -> None:
        super().__init__(cfg)
        self.tick_every = sync_interval
        self.settle_timeout = settle_timeout
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=rpc_timeout)
        self.pool = ThreadPoolExecutor(
            max_workers=2 * len(self.others) + 2, thread_name_prefix=self.round_name
        )
        self.mu = threading.Lock()
        #: peers the last round did not reach (the first round that reaches one again is the
        #: round "on heal")
        self.unreachable: set[str] = set()
        self.handlers["digest"] = lambda _msg: ok_reply({"digest": self.digest()})

    def state_digest(self) -> str:
        """The digest of this replica's whole replicated state (``mu`` held)."""
        raise NotImplementedError

    def digest(self) -> str:
        with self.mu:
            return self.state_digest()

    @property
    def round_timeout(self) -> float:
        """How long a round waits for its peers' answers."""
        return self.rpcs[self.others[0]].timeout + 0.2 if self.others else 0.0

    def missed(self, peer: str) -> None:
        """The round did not reach ``peer``: logged once, until it is reached again."""
        if peer not in self.unreachable:
            self.logger.info("%s with %s failed: retrying every round", self.round_name, peer)
        self.unreachable.add(peer)

    def reached(self, peer: str, what: str = "") -> None:
        """The round reached ``peer``; logged when it had been missed (``what``: more to say)."""
        if peer in self.unreachable:
            self.unreachable.discard(peer)
            self.logger.info("%s is reachable again%s", peer, f": {what}" if what else "")

    def wait_converged(self, msg: dict[str, Any]) -> dict[str, str | None]:
        """Wait, up to the request's budget (``settle_timeout`` by default), until every peer
        reports this replica's digest; returns the peers' digests last seen. It only waits:
        the rounds make the replicas converge, or fail to."""
        deadline = request_deadline(msg, self.settle_timeout)
        while True:
            mine = self.digest()
            peers = self.peer_digests()
            if all(d == mine for d in peers.values()) or time.monotonic() >= deadline:
                return peers
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def peer_digests(self) -> dict[str, str | None]:
        """Each peer's digest now (None: it did not answer)."""
        futures = {p: self.pool.submit(self.ask, p, {"type": "digest"}) for p in self.others}
        out: dict[str, str | None] = {}
        for p, f in futures.items():
            reply = f.result()
            out[p] = reply.get("digest") if isinstance(reply, dict) else None
        return out
