"""One request to every member at once, waiting for a majority's answer.

A host claims an actor and writes each message's state this way. Its own acceptor is
called directly, the others through a thread pool; the call returns as soon as a majority
granted, or can no longer, or the deadline passed. Calls still in flight then finish on
their own (a write that lands late is harmless: the acceptors order writes by ballot).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .._runtime import RpcClient, RpcError

__all__ = ["Quorum", "Tally"]

log = logging.getLogger("actor")


@dataclass
class Tally:
    """The answers to one broadcast: who granted, the highest promise a refusal named, and
    how many could not be asked or did not answer."""

    granted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    silent: int = 0

    @property
    def newer(self) -> int:
        """The highest epoch a refusal named (0: no refusal)."""
        return max((int(r.get("promised") or 0) for r in self.refused), default=0)


class Quorum:
    """Broadcasts to ``rpcs`` (every other member) and ``local`` (this node's acceptor)."""

    def __init__(
        self,
        rpcs: dict[str, RpcClient],
        local: Callable[[dict[str, Any]], dict[str, Any]],
        majority: int,
        rpc_timeout: float,
    ) -> None:
        self.rpcs = rpcs
        self.local = local
        self.majority = majority
        self.rpc_timeout = rpc_timeout
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="quorum")

    def ask(self, msg: dict[str, Any], deadline: float, *, wait_all: bool = False) -> Tally:
        """Send ``msg`` to every member; return once a majority granted (or, with
        ``wait_all``, every member answered) or can no longer grant, or at ``deadline``."""
        cond = threading.Condition()
        tally = Tally()
        total = len(self.rpcs) + 1

        def done(reply: dict[str, Any] | None) -> None:
            with cond:
                if reply is None or not reply.get("ok"):
                    tally.silent += 1
                elif reply.get("granted"):
                    tally.granted.append(reply)
                else:
                    tally.refused.append(reply)
                cond.notify_all()

        def send(peer: str) -> None:
            timeout = max(0.01, min(self.rpc_timeout, deadline - time.monotonic()))
            try:
                done(self.rpcs[peer].call(msg, timeout=timeout))
            except RpcError:
                done(None)
            except Exception:  # noqa: BLE001 - a sender must always report
                log.exception("sending %s to %s", msg.get("type"), peer)
                done(None)

        for peer in self.rpcs:
            self.pool.submit(send, peer)
        try:
            done(self.local(msg))
        except Exception:  # noqa: BLE001
            log.exception("local %s", msg.get("type"))
            done(None)
        with cond:
            while True:
                answered = len(tally.granted) + len(tally.refused) + tally.silent
                if answered == total:
                    break
                if not wait_all and len(tally.granted) >= self.majority:
                    break
                if total - len(tally.refused) - tally.silent < self.majority:
                    break  # a majority can no longer grant
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                cond.wait(remaining)
            return Tally(list(tally.granted), list(tally.refused), tally.silent)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
