"""One CASPaxos node: an acceptor for every key, and a proposer that runs rounds for clients.

Concurrency: the acceptor's state sits behind one lock (``mu``); a promise or an accept is
recorded under it and made durable (fsync, shared between concurrent callers) outside it,
before the reply goes out. The proposer runs one round at a time per key on this node (a
per-key lock), sends each phase to every acceptor at once from a thread pool, and waits for a
majority; its own acceptor is called directly.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._runtime import (
    BAD_REQUEST,
    REGISTER_OPS,
    TIMEOUT,
    UNAVAILABLE,
    ConnectFailed,
    Node,
    NodeConfig,
    RecordLog,
    RpcError,
    error_reply,
    forward,
    home_of,
    ok_reply,
    register_problem,
    request_deadline,
    same_value,
)

__all__ = ["BUGS", "PaxosNode"]

log = logging.getLogger("paxos")

BUGS: dict[str, str] = {
    "forget-promise": "acceptors keep promises in memory only; after a restart they promise "
    "any ballot, even one below a ballot they have already accepted",
    "local-read": "a read is answered from the local acceptor's accepted value, without a round",
}

#: a ballot: (counter, node id); compared as a tuple, so node ids break ties
Ballot = tuple[int, str]
ZERO: Ballot = (0, "")
#: a proposer stops waiting for a home that did not answer, for this long (seconds)
SUSPECT_FOR = 1.0


class PaxosNode(Node):
    """An acceptor and a proposer serving the register client protocol on one port."""

    log_name = "paxos"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        request_timeout: float = 1.0,
        rpc_timeout: float = 0.5,
        forward: bool = True,
    ) -> None:
        super().__init__(cfg)
        self.request_timeout = request_timeout
        self.rpc_timeout = rpc_timeout
        self.forward = forward
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=min(0.3, rpc_timeout))
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="send")

        # -- acceptor state: key -> [promised, accepted, value] -------------------------
        os.makedirs(cfg.data, exist_ok=True)
        self.wal = RecordLog(os.path.join(cfg.data, "acceptor.log"))
        self.mu = threading.Lock()
        self.slots: dict[Any, list[Any]] = {}
        for key, promised, accepted, value in self.wal.records:
            self.slots[key] = [_ballot(promised), _ballot(accepted), value]
        self.wal.records = []
        if "forget-promise" in self.bugs:
            # the bug: the promise was never written down, so a restarted acceptor starts
            # from "promised nothing" while it still holds what it accepted
            for slot in self.slots.values():
                slot[0] = ZERO

        # -- proposer state ------------------------------------------------------------
        self.known: dict[Any, int] = {}  # key -> highest ballot counter seen (memory only)
        self.key_locks: dict[Any, threading.Lock] = {}
        self.suspect_until: dict[str, float] = {}
        self.pmu = threading.Lock()

        self.handlers.update(
            prepare=self._on_prepare,
            accept=self._on_accept,
            **dict.fromkeys(REGISTER_OPS, self._on_client),
        )
        log.info(
            "recovered %d keys (%d torn bytes dropped); bugs: %s",
            len(self.slots),
            self.wal.torn_bytes,
            ", ".join(sorted(self.bugs)) or "none",
        )

    def close(self) -> None:
        with self.mu:
            self.wal.close()

    def status(self) -> dict[str, Any]:
        with self.mu:
            keys = len(self.slots)
        return {"id": self.id, "role": "proposer", "keys": keys, "bugs": sorted(self.bugs)}

    # -- acceptor ----------------------------------------------------------------------

    def _on_prepare(self, msg: dict[str, Any]) -> dict[str, Any]:
        key, ballot = msg["key"], _ballot(msg["ballot"])
        with self.mu:
            slot = self.slots.setdefault(key, [ZERO, ZERO, None])
            promised, accepted, value = slot
            # only the promise is compared: a correct acceptor's promise is never below what
            # it accepted (accepting raises it), so that check covers both
            if ballot <= promised:
                return {"ok": True, "promised": False, "ballot": list(promised), "from": self.id}
            slot[0] = ballot
            n = 0 if "forget-promise" in self.bugs else self._record(key, slot)
        if n:
            self.wal.sync_upto(n)  # durable before the promise leaves this node
        return {
            "ok": True,
            "promised": True,
            "accepted": list(accepted),
            "value": value,
            "from": self.id,
        }

    def _on_accept(self, msg: dict[str, Any]) -> dict[str, Any]:
        key, ballot = msg["key"], _ballot(msg["ballot"])
        with self.mu:
            slot = self.slots.setdefault(key, [ZERO, ZERO, None])
            if ballot < slot[0]:
                return {"ok": True, "accepted": False, "ballot": list(slot[0])}
            slot[0] = slot[1] = ballot
            slot[2] = msg.get("value")
            n = self._record(key, slot)
        self.wal.sync_upto(n)
        return {"ok": True, "accepted": True}

    def _record(self, key: Any, slot: list[Any]) -> int:
        return self.wal.append([key, list(slot[0]), list(slot[1]), slot[2]])

    # -- client requests ---------------------------------------------------------------

    def _on_client(self, msg: dict[str, Any]) -> dict[str, Any]:
        t = msg["type"]
        problem = register_problem(t, msg)
        if problem:
            return error_reply(BAD_REQUEST, problem)
        key = msg["key"]
        deadline = request_deadline(msg, self.request_timeout)
        if t == "read" and "local-read" in self.bugs:
            with self.mu:
                slot = self.slots.get(key)
            return ok_reply(slot[2] if slot else None)
        home = self.home(key)
        if self.forward and home != self.id and not msg.get("forwarded"):
            if time.monotonic() >= self.suspect_until.get(home, 0.0):
                reply = self._forward(home, msg, deadline, read=t == "read")
                if reply is not None:
                    return reply
        return self.propose(key, _change(t, msg), deadline)

    def home(self, key: Any) -> str:
        """The node that proposes for ``key`` while it is reachable (others forward to it,
        so rounds on one key rarely compete); the same on every node."""
        return home_of(key, self.members)

    def _forward(
        self, home: str, msg: dict[str, Any], deadline: float, *, read: bool
    ) -> dict[str, Any] | None:
        """The home's reply; None when it could not be reached (nothing was sent: propose
        here instead)."""
        try:
            return forward(self.rpcs[home], msg, self.id, deadline)
        except ConnectFailed:
            self.suspect_until[home] = time.monotonic() + SUSPECT_FOR
            return None
        except RpcError as e:
            self.suspect_until[home] = time.monotonic() + SUSPECT_FOR
            # a read changes nothing a client can tell apart, so a failed read is definite
            return e.reply(definite=True if read else e.definite)

    # -- proposer ----------------------------------------------------------------------

    def propose(self, key: Any, change: _Change, deadline: float) -> dict[str, Any]:
        """Run rounds until one succeeds or ``deadline``: prepare, then accept ``change``
        applied to the highest accepted value a majority reported."""
        with self.pmu:
            lock = self.key_locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return error_reply(
                TIMEOUT, f"another round on key {key!r} held this node", definite=True
            )
        try:
            return self._rounds(key, change, deadline)
        finally:
            lock.release()

    def _rounds(self, key: Any, change: _Change, deadline: float) -> dict[str, Any]:
        why = "no round was tried"
        while time.monotonic() < deadline:
            with self.pmu:
                counter = self.known.get(key, 0) + 1
                self.known[key] = counter
            ballot: Ballot = (counter, self.id)

            # phase 1: prepare
            promises, rejects = self._broadcast(
                {"type": "prepare", "key": key, "ballot": list(ballot)},
                "promised",
                deadline,
                self.members,
            )
            self._learn(key, rejects)
            if len(promises) < self.majority:
                why = (
                    f"prepare of ballot {list(ballot)} promised by {len(promises)} of "
                    f"{len(self.members)} (rejected by {len(rejects)})"
                )
                self._backoff(deadline)
                continue  # nothing was accepted with this ballot: safe to try again
            quorum = promises[: self.majority]
            best = max(quorum, key=lambda r: _ballot(r["accepted"]))
            new, result, changes = change(best.get("value"))

            # phase 2: accept, sent to the acceptors whose promises we used (as in "Paxos
            # Made Simple"); the others keep what they had, which a later round outranks
            accepts, rejects = self._broadcast(
                {"type": "accept", "key": key, "ballot": list(ballot), "value": new},
                "accepted",
                deadline,
                [str(r.get("from")) for r in quorum],
            )
            self._learn(key, rejects)
            if len(accepts) >= self.majority:
                return result
            why = (
                f"accept of ballot {list(ballot)} accepted by {len(accepts)} of "
                f"{len(self.members)} (rejected by {len(rejects)})"
            )
            if changes and len(rejects) < len(quorum):
                # an acceptor holds our value, or may (its reply was still on its way when
                # the first rejection ended the wait, or it never came): a later round may
                # choose it, so another round of ours could apply the change twice
                return error_reply(TIMEOUT, f"{why}: the value may still be chosen", definite=False)
            # every acceptor asked refused our value, or it was the value already there (a
            # read, a cas that found another value): trying again cannot do the operation twice
            self._backoff(deadline)
        return error_reply(UNAVAILABLE, f"no round succeeded in time: {why}", definite=True)

    def _broadcast(
        self, msg: dict[str, Any], flag: str, deadline: float, to: list[str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Send ``msg`` to the acceptors ``to``; return (yes replies, no replies) once a
        majority of all members said yes, or can no longer, or ``deadline`` passed."""
        cond = threading.Condition()
        yes: list[dict[str, Any]] = []
        no: list[dict[str, Any]] = []
        failed = [0]
        n = len(to)

        def done(reply: dict[str, Any] | None) -> None:
            with cond:
                if reply is None or not reply.get("ok"):
                    failed[0] += 1
                elif reply.get(flag):
                    yes.append(reply)
                else:
                    no.append(reply)
                cond.notify_all()

        def send(peer: str) -> None:
            timeout = max(0.01, min(self.rpc_timeout, deadline - time.monotonic()))
            try:
                done(self.rpcs[peer].call(msg, timeout=timeout))
            except RpcError:
                done(None)
            except Exception:  # noqa: BLE001 - a thread must always report
                log.exception("sending %s to %s", msg.get("type"), peer)
                done(None)

        for p in to:
            if p != self.id:
                self.pool.submit(send, p)
        if self.id in to:
            try:
                done(self.handle(msg))
            except Exception:  # noqa: BLE001
                log.exception("local %s", msg.get("type"))
                done(None)
        with cond:
            while len(yes) < self.majority and len(no) + failed[0] <= n - self.majority:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                cond.wait(remaining)
            return list(yes), list(no)

    def _learn(self, key: Any, rejects: list[dict[str, Any]]) -> None:
        """Raise the ballot counter past every ballot a rejection named."""
        top = max((_ballot(r.get("ballot"))[0] for r in rejects), default=0)
        if top:
            with self.pmu:
                self.known[key] = max(self.known.get(key, 0), top)

    @staticmethod
    def _backoff(deadline: float) -> None:
        time.sleep(min(random.uniform(0.002, 0.02), max(0.0, deadline - time.monotonic())))


#: current value -> (value to accept, reply to the client, whether the value changes)
_Change = Callable[[Any], tuple[Any, dict[str, Any], bool]]


def _change(t: str, msg: dict[str, Any]) -> _Change:
    """What a request does to the register: the value to accept and the reply to give."""
    if t == "read":
        return lambda cur: (cur, ok_reply(cur), False)
    if t == "write":
        value = msg["value"]
        return lambda cur: (value, ok_reply(None), True)
    expected, new = msg["from"], msg["to"]

    def cas(cur: Any) -> tuple[Any, dict[str, Any], bool]:
        if same_value(cur, expected):
            return new, ok_reply(None), True
        mismatch = f"expected {expected!r}, found {cur!r}"
        return cur, error_reply("cas-mismatch", mismatch, definite=True), False

    return cas


def _ballot(v: Any) -> Ballot:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return int(v[0]), str(v[1])
    return ZERO
