"""A two-phase commit node: participant for its share of the keys, coordinator for the
transactions its clients send it (see the package docstring for the protocol)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._runtime import (
    BAD_REQUEST,
    Node,
    NodeConfig,
    RecordLog,
    RpcError,
    error_reply,
    home_of,
    ok_reply,
)

__all__ = ["BUGS", "TwoPhaseNode", "home_of"]

log = logging.getLogger("twophase")

BUGS: dict[str, str] = {
    "commit-without-all-votes": "the coordinator commits although a participant that only "
    "takes writes voted no or did not answer, as if it had voted yes",
    "forget-prepared": "a restarted participant drops the transactions it had prepared (and "
    "their locks) instead of keeping them in doubt",
    "no-decision-log": "the coordinator tells participants to commit before it logs the "
    "decision (it logs it once every commit message was sent, acknowledged or not)",
}

ABORTED = "aborted"
WRITE_OPS = ("append", "add")


def _k(key: Any) -> str:
    # keys are JSON values (ints, strings); the store is keyed by their JSON text
    return json.dumps(key, sort_keys=True)


def apply_write(store: dict[str, Any], op: list[Any]) -> None:
    """Apply one write micro-op to ``store`` (used at prepare on a scratch copy, at commit,
    and on replay: the same code everywhere, so replay reproduces the store)."""
    k = _k(op[1])
    if op[0] == "append":
        store[k] = [*(store.get(k) or []), op[2]]
    elif op[0] == "add":
        cur = store.get(k)
        store[k] = (op[3] if cur is None else cur) + op[2]


class TwoPhaseNode(Node):
    """A participant and a coordinator (see the package docstring)."""

    log_name = "twophase"
    tick_name = "recovery"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        lock_wait: float = 1.0,
        prepare_timeout: float = 1.0,
        doubt: float = 1.0,
        retry: float = 0.3,
        commit_gap: float = 0.0,
    ) -> None:
        super().__init__(cfg)
        self.lock_wait = lock_wait
        self.prepare_timeout = prepare_timeout
        self.doubt = doubt
        self.retry = retry
        self.tick_every = retry  # in-doubt queries and commit re-sends
        self.commit_gap = commit_gap
        self.incarnation = uuid.uuid4().hex[:8]
        self._seq = 0
        os.makedirs(cfg.data, exist_ok=True)
        self.peers = self.peer_clients(timeout=prepare_timeout, pool_size=16, bind_source=False)
        # peer -> until when (monotonic) it counts as unreachable, one prepare timeout after
        # it did not answer: prepares and first-round commits to it fail at once instead of
        # each waiting out a timeout while holding locks elsewhere; the background rounds
        # still call it, and an answer clears it
        self.suspected: dict[str, float] = {}
        self.pool = ThreadPoolExecutor(max_workers=64)
        self.mu = threading.Condition()
        # participant state
        self.store: dict[str, Any] = {}
        self.locks: dict[str, str] = {}  # key -> txn holding it
        self.prepared: dict[str, dict[str, Any]] = {}  # txn -> {coord, writes, keys, since}
        self.done: dict[str, str] = {}  # txn -> "commit" / "abort"
        self.plog = RecordLog(os.path.join(cfg.data, "participant.log"))
        # coordinator state
        self.active: dict[str, str] = {}  # txn -> "preparing" / "commit" (in flight)
        self.decided: dict[str, dict[str, Any]] = {}  # committed txn -> {node: writes}
        self.unacked: dict[str, set[str]] = {}  # committed txn -> participants yet to ack
        self.dlog = RecordLog(os.path.join(cfg.data, "decisions.log"))
        self._recover()
        self.handlers.update(
            {
                "txn": lambda req: self.coordinate(req.get("ops")),
                "prepare": lambda req: self.prepare(req["txn"], req["coord"], req["ops"]),
                "commit": lambda req: self.commit(req["txn"], req.get("writes") or []),
                "abort": lambda req: self.abort(req["txn"]),
                "decision": lambda req: ok_reply(self.decision(req["txn"])),
                # for tests: the participant's committed state
                "read-store": lambda _req: ok_reply(self._read_store()),
            }
        )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        super().start()
        log.info(
            "twophase node %s up (incarnation %s), bugs: %s",
            self.id,
            self.incarnation,
            sorted(self.bugs) or "none",
        )

    def _recover(self) -> None:
        prepared: dict[str, dict[str, Any]] = {}
        for rec in self.plog.records:
            t = rec["t"]
            if t == "prepare":
                prepared[rec["txn"]] = rec
            elif t == "commit":
                prepared.pop(rec["txn"], None)
                for op in rec["writes"]:
                    apply_write(self.store, op)
                self.done[rec["txn"]] = "commit"
            elif t == "abort":
                prepared.pop(rec["txn"], None)
                self.done[rec["txn"]] = "abort"
        self.plog.records = []
        if "forget-prepared" in self.bugs and prepared:
            log.warning("forget-prepared: dropping %d prepared transactions", len(prepared))
            prepared = {}
        now = time.monotonic()
        for txn, rec in prepared.items():
            self.prepared[txn] = {
                "coord": rec["coord"],
                "writes": rec["writes"],
                "keys": rec["keys"],
                "since": now,
            }
            for k in rec["keys"]:
                self.locks[k] = txn
        if prepared:
            log.info("recovered %d prepared transactions in doubt", len(prepared))
        for rec in self.dlog.records:
            if rec["t"] == "commit":
                self.decided[rec["txn"]] = rec["parts"]
                self.unacked[rec["txn"]] = set(rec["parts"])
            elif rec["t"] == "end":
                self.unacked.pop(rec["txn"], None)
        self.dlog.records = []
        if self.unacked:
            log.info("re-driving %d logged commits", len(self.unacked))

    # -- requests ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self.mu:
            return {
                "id": self.id,
                "role": "coordinator",
                "active": len(self.active),
                "prepared": len(self.prepared),
                "unacked": len(self.unacked),
                "keys": len(self.store),
            }

    def _read_store(self) -> dict[str, Any]:
        with self.mu:
            return {k: v for k, v in self.store.items()}

    # -- coordinator -------------------------------------------------------------------

    def coordinate(self, ops: Any) -> dict[str, Any]:
        """Run one transaction through both phases; the reply holds the ops with reads."""
        if not isinstance(ops, list) or not ops:
            return error_reply(BAD_REQUEST, f"expected a non-empty list of micro-ops, got {ops!r}")
        parts: dict[str, list[list[Any]]] = {}
        for i, op in enumerate(ops):
            if not isinstance(op, list) or len(op) < 2 or op[0] not in ("r", *WRITE_OPS):
                return error_reply(BAD_REQUEST, f"bad micro-op {op!r}")
            parts.setdefault(home_of(op[1], self.members), []).append([i, op])
        with self.mu:
            self._seq += 1
            txn = f"{self.id}.{self.incarnation}.{self._seq}"
            self.active[txn] = "preparing"
        try:
            # Participants are asked one at a time, in one global order, and each takes all
            # its locks at once: no two transactions can wait for each other in a cycle, so
            # a lock wait ends when the holder finishes, not by timing out a deadlock.
            votes: dict[str, dict[str, Any]] = {}
            missing: list[str] = []
            for n in sorted(parts):
                votes[n] = self._send_prepare(n, txn, parts[n])
                if votes[n].get("vote") == "yes":
                    continue
                if "commit-without-all-votes" in self.bugs and not any(
                    op[0] == "r" for _, op in parts[n]
                ):
                    continue  # the bug: a participant with no read to return counts as yes
                missing.append(n)
                break
            if missing:
                reasons = {n: votes[n].get("reason") for n in missing}
                with self.mu:
                    self.active.pop(txn, None)
                for n in parts:
                    self.pool.submit(
                        self._send, n, {"type": "abort", "txn": txn}, self.prepare_timeout
                    )
                return error_reply(ABORTED, f"{txn} aborted: {reasons}", definite=True)
            writes = {n: [op for _, op in p if op[0] in WRITE_OPS] for n, p in parts.items()}
            self._decide_commit(txn, writes)
        finally:
            with self.mu:
                self.active.pop(txn, None)
        result = list(ops)
        for v in votes.values():
            for i, value in (v.get("reads") or {}).items():
                op = ops[int(i)]
                result[int(i)] = [op[0], op[1], value]
        return ok_reply(result)

    def _decide_commit(self, txn: str, writes: dict[str, list[list[Any]]]) -> None:
        rec = {"t": "commit", "txn": txn, "parts": writes}
        log_first = "no-decision-log" not in self.bugs
        if log_first:
            n = self.dlog.append(rec)
            self.dlog.sync_upto(n)
        with self.mu:
            self.decided[txn] = writes
        # each participant in turn; what is left unacknowledged goes to the background
        # re-sends only after this first round (they must not overtake it)
        left: set[str] = set()
        for j, node in enumerate(sorted(writes)):
            if j and self.commit_gap:
                time.sleep(self.commit_gap)
            if not self._send_commit(txn, node, writes[node]):
                left.add(node)
        if not log_first:
            n = self.dlog.append(rec)
            self.dlog.sync_upto(n)
        with self.mu:
            if left:
                self.unacked[txn] = left
            else:
                self.dlog.append({"t": "end", "txn": txn})

    def decision(self, txn: str) -> str:
        """What this coordinator decided for ``txn``: commit, pending, or (presumed) abort."""
        with self.mu:
            if txn in self.decided:
                return "commit"
            if self.active.get(txn) == "preparing":
                return "pending"
            return "abort"

    def _send_prepare(self, node: str, txn: str, ops: list[list[Any]]) -> dict[str, Any]:
        reply = self._send(
            node,
            {"type": "prepare", "txn": txn, "coord": self.id, "ops": ops},
            self.prepare_timeout,
        )
        if reply is None:
            return {"vote": "no", "reason": "no answer"}
        return reply.get("value") or {"vote": "no", "reason": reply.get("message")}

    def _send_commit(
        self, txn: str, node: str, writes: list[list[Any]], *, probe: bool = False
    ) -> bool:
        reply = self._send(
            node,
            {"type": "commit", "txn": txn, "writes": writes},
            self.prepare_timeout,
            probe=probe,
        )
        return reply is not None and reply.get("ok") is True

    def _send(
        self, node: str, msg: dict[str, Any], timeout: float, *, probe: bool = False
    ) -> dict[str, Any] | None:
        """``msg``'s reply from ``node`` (this node: a direct call), or None on no answer.
        A node that did not answer lately gets nothing and counts as not answering, unless
        ``probe`` (the background rounds, which find out when it is back)."""
        if node == self.id:
            return self.handle(msg)
        if not probe and self.suspected.get(node, 0.0) > time.monotonic():
            return None
        try:
            reply = self.peers[node].call(msg, timeout=timeout)
        except RpcError as e:
            log.debug("%s to %s: %s", msg["type"], node, e)
            self.suspected[node] = time.monotonic() + self.prepare_timeout
            return None
        self.suspected.pop(node, None)
        return reply

    # -- participant -------------------------------------------------------------------

    def prepare(self, txn: str, coord: str, ops: list[list[Any]]) -> dict[str, Any]:
        keys = sorted({_k(op[1]) for _, op in ops})
        deadline = time.monotonic() + self.lock_wait
        with self.mu:
            if txn in self.done or txn in self.prepared:
                return ok_reply({"vote": "no", "reason": f"already {self.done.get(txn)}"})
            while any(self.locks.get(k, txn) != txn for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    return ok_reply({"vote": "no", "reason": "lock conflict"})
                self.mu.wait(left)
            if txn in self.done:  # aborted while we waited
                return ok_reply({"vote": "no", "reason": "aborted"})
            scratch = {k: self.store.get(k) for k in keys}
            reads: dict[str, Any] = {}
            writes: list[list[Any]] = []
            for i, op in ops:
                if op[0] == "r":
                    v = scratch.get(_k(op[1]))
                    reads[str(i)] = list(v) if isinstance(v, list) else v
                    continue
                apply_write(scratch, op)
                if (
                    op[0] == "add"
                    and len(op) > 4
                    and op[4] is not None
                    and scratch[_k(op[1])] < op[4]
                ):
                    return ok_reply({"vote": "no", "reason": "below floor"})
                writes.append(op)
            for k in keys:
                self.locks[k] = txn
            self.prepared[txn] = {
                "coord": coord,
                "writes": writes,
                "keys": keys,
                "since": time.monotonic(),
            }
            n = self.plog.append(
                {"t": "prepare", "txn": txn, "coord": coord, "writes": writes, "keys": keys}
            )
        self.plog.sync_upto(n)  # durable before the vote: a yes is a promise
        return ok_reply({"vote": "yes", "reads": reads})

    def commit(self, txn: str, writes: list[list[Any]]) -> dict[str, Any]:
        with self.mu:
            if self.done.get(txn) == "commit":
                return ok_reply("already")
            p = self.prepared.pop(txn, None)
            if p is None:
                # never prepared here (only reachable through a seeded bug): a commit is
                # final, so apply what the message carries
                log.warning("commit of %s, which this participant has not prepared", txn)
            else:
                writes = p["writes"]
                for k in p["keys"]:
                    if self.locks.get(k) == txn:
                        del self.locks[k]
            for op in writes:
                apply_write(self.store, op)
            self.done[txn] = "commit"
            n = self.plog.append({"t": "commit", "txn": txn, "writes": writes})
            self.mu.notify_all()
        self.plog.sync_upto(n)
        return ok_reply("committed")

    def abort(self, txn: str) -> dict[str, Any]:
        with self.mu:
            if self.done.get(txn) == "commit":
                return error_reply("already-committed", txn, definite=True)
            self.done[txn] = "abort"
            p = self.prepared.pop(txn, None)
            if p is not None:
                for k in p["keys"]:
                    if self.locks.get(k) == txn:
                        del self.locks[k]
                # presumed abort: no sync needed, a lost abort record is asked about again
                self.plog.append({"t": "abort", "txn": txn})
                self.mu.notify_all()
        return ok_reply("aborted")

    # -- background: in-doubt queries, commit re-sends -----------------------------------

    def tick(self) -> None:
        """Ask about transactions in doubt, re-send unacknowledged commits."""
        self._resolve_in_doubt()
        self._redrive()

    def _resolve_in_doubt(self) -> None:
        now = time.monotonic()
        with self.mu:
            doubtful = [
                (t, p["coord"]) for t, p in self.prepared.items() if now - p["since"] > self.doubt
            ]
        silent: set[str] = set()  # asked this round and did not answer: not again this round
        for txn, coord in doubtful:
            answer: str | None
            if coord == self.id:
                answer = self.decision(txn)
            elif coord in silent:
                continue
            else:
                reply = self._send(
                    coord, {"type": "decision", "txn": txn}, self.prepare_timeout, probe=True
                )
                answer = reply.get("value") if reply and reply.get("ok") else None
                if reply is None:
                    silent.add(coord)
            if answer == "commit":
                log.info("in-doubt %s: %s says commit", txn, coord)
                self.commit(txn, [])
            elif answer == "abort":
                log.info("in-doubt %s: %s says abort", txn, coord)
                self.abort(txn)

    def _redrive(self) -> None:
        with self.mu:
            todo = [(t, sorted(ns)) for t, ns in self.unacked.items() if ns]
        silent: set[str] = set()
        for txn, nodes in todo:
            for n in nodes:
                if n in silent:
                    continue
                if self._send_commit(txn, n, self.decided[txn][n], probe=True):
                    with self.mu:
                        self.unacked.get(txn, set()).discard(n)
                else:
                    silent.add(n)
            with self.mu:
                if txn in self.unacked and not self.unacked[txn]:
                    del self.unacked[txn]
                    self.dlog.append({"t": "end", "txn": txn})
