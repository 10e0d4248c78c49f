"""One PBFT replica as a node: the state machine (``replica.py``) behind authenticated
messages, a durable log of its inputs, clients waiting for their requests, timers for view
changes, state transfer, and the lie layer (``lies.py``).

Concurrency: one lock (``mu``, with the condition ``executed``) guards the replica. Every
input is appended to the log and handled under it; what the replica sends goes to one
outbox per peer, whose sender thread makes the log durable (group commit) before sending,
so nothing is promised to a peer that a restart would forget. Peers' messages travel in
batches (``{"type": "pbft", "msgs": [...]}``); each is checked on arrival: ``to`` is this
node and its MAC is right under the key of the pair (``from``, this node).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Any

from .._runtime import (
    BAD_REQUEST,
    TIMEOUT,
    Node,
    NodeConfig,
    RecordLog,
    RpcError,
    error_reply,
    ok_reply,
    register_problem,
    request_deadline,
)
from .auth import digest, pair_key, sign, verify
from .lies import MODES, Liar
from .replica import Replica

__all__ = ["BUGS", "PbftNode"]

log = logging.getLogger("pbft")

BUGS: dict[str, str] = {
    "quorum-2f": "quorums of 2f replicas instead of 2f+1 (prepared, committed, stable "
    "checkpoint, view change): two quorums need not share a correct replica",
    "view-change-drops-prepared": "a new view re-proposes nothing: every number above the "
    "checkpoint gets a null request, prepared (even committed) requests included",
    "no-mac-check": "messages are accepted without checking their MAC: a lying replica can "
    "speak in the other replicas' names",
    "first-reply": "(the client's bug: the harness's client accepts the first reply instead of "
    "f+1 matching ones; a replica takes the flag and does nothing with it)",
}

#: the most messages one outbox holds (the oldest go first, as a congested link drops)
OUTBOX_LIMIT = 5000


class PbftNode(Node):
    """A PBFT replica (see the package docstring)."""

    log_name = "pbft"
    tick_every = 0.05

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        secret: str = "splitbrain",
        request_timeout: float = 1.5,
        view_timeout: float = 1.0,
        rpc_timeout: float = 0.5,
        checkpoint_every: int = 16,
        window: int = 256,
    ) -> None:
        super().__init__(cfg)
        self.secret = secret
        self.request_timeout = request_timeout
        self.view_timeout = view_timeout
        self.keys = {p: pair_key(secret, self.id, p) for p in self.members}
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=rpc_timeout)
        self.mu = threading.Lock()
        self.executed = threading.Condition(self.mu)
        self.replica = Replica(
            self.id,
            self.members,
            checkpoint_every=checkpoint_every,
            window=window,
            bugs=self.bugs,
        )
        os.makedirs(cfg.data, exist_ok=True)
        self.log = RecordLog(os.path.join(cfg.data, "inputs.log"))
        for record in self.log.records:  # the same inputs make the same state
            self.replica.handle(record)
        replayed = len(self.log.records)
        self.log.records = []
        self.liar = Liar(self.id, self.members, self._lie_state)
        #: (client, rid) -> [request, monotonic time it waits since, view it was sent in]
        self.pending: dict[tuple[str, int], list[Any]] = {}
        self._view_since = time.monotonic()
        self._view_seen = (self.replica.view, self.replica.changing)
        self._backoff = 1
        self._vc_sent = 0.0
        self._fetching = False
        self.outboxes: dict[str, deque[dict[str, Any]]] = {p: deque() for p in self.others}
        self.wake = {p: threading.Event() for p in self.others}
        self.handlers.update(
            {
                "pbft": self._peer_batch,
                "pbft-state": self._state_request,
                "request": lambda m: self._client(m, forward=True),
                "await": lambda m: self._client(m, forward=False),
                "lie": self._lie,
                "log": self._report,
            }
        )
        log.info(
            "replica of %d (f=%d), view %d, %d inputs replayed, executed to %d; bugs: %s",
            self.replica.n,
            self.replica.f,
            self.replica.view,
            replayed,
            self.replica.last_exec,
            ", ".join(sorted(self.bugs)) or "none",
        )

    def start(self) -> None:
        super().start()
        for peer in self.others:
            threading.Thread(
                target=self._sender, args=(peer,), name=f"to-{peer}", daemon=True
            ).start()

    def close(self) -> None:
        self.log.close()

    def status(self) -> dict[str, Any]:
        with self.mu:
            r = self.replica
            return {
                "id": self.id,
                "role": "primary" if r.is_primary else ("view-change" if r.changing else "backup"),
                "view": r.view,
                "primary": r.primary(),
                "low": r.low,
                "last_exec": r.last_exec,
                "lying": self.liar.mode,
                "bugs": sorted(self.bugs),
            }

    # -- inputs --------------------------------------------------------------------------

    def _input(self, event: dict[str, Any]) -> None:
        """Log ``event``, hand it to the replica, queue what it sends (mu held)."""
        self.log.append(event)
        for dest, msg in self.replica.handle(event):
            self._send(dest, msg)
        self.executed.notify_all()

    def _send(self, dest: str, msg: dict[str, Any]) -> None:
        """Queue ``msg`` for ``dest`` through the lie layer, signed (mu held)."""
        for to, m, claimed in self.liar.outgoing(dest, msg):
            self._queue(to, m, claimed)

    def _queue(self, to: str, msg: dict[str, Any], claimed: str | None = None) -> None:
        box = self.outboxes.get(to)
        if box is None:
            return
        # a forgery claims another sender but can only be signed with this node's own key
        signed = sign(self.keys[to], {**msg, "from": claimed or self.id, "to": to})
        box.append(signed)
        if len(box) > OUTBOX_LIMIT:
            box.popleft()
        self.wake[to].set()

    def _authentic(self, msg: Any) -> bool:
        if not isinstance(msg, dict) or msg.get("to") != self.id:
            return False
        sender = msg.get("from")
        if sender not in self.keys or sender == self.id:
            return False
        return "no-mac-check" in self.bugs or verify(self.keys[sender], msg)

    def _peer_batch(self, msg: dict[str, Any]) -> dict[str, Any]:
        msgs = msg.get("msgs")
        if not isinstance(msgs, list):
            return error_reply(BAD_REQUEST, "a pbft batch needs 'msgs'")
        rejected = 0
        with self.mu:
            for m in msgs:
                if not self._authentic(m):
                    rejected += 1
                    continue
                body = {k: v for k, v in m.items() if k not in ("mac", "to")}
                self._input(body)
                for to, out, claimed in self.liar.incoming(body):
                    self._queue(to, out, claimed)
        if rejected:
            log.debug("dropped %d message(s) that failed authentication", rejected)
        return ok_reply({"rejected": rejected})

    def _sender(self, peer: str) -> None:
        box, wake, rpc = self.outboxes[peer], self.wake[peer], self.rpcs[peer]
        while not self.stopping.is_set():
            wake.wait(0.5)
            wake.clear()
            batch: list[dict[str, Any]] = []
            while box and len(batch) < 500:
                batch.append(box.popleft())
            if not batch:
                continue
            self.log.sync()  # what it promises is durable before anyone hears it
            try:
                rpc.call({"type": "pbft", "msgs": batch})
            except RpcError as e:  # lost, as a network loses messages
                log.debug("%d message(s) to %s lost: %s", len(batch), peer, e)

    # -- clients -------------------------------------------------------------------------

    def _client(self, msg: dict[str, Any], *, forward: bool) -> dict[str, Any]:
        """A client's request (``request``: order it; ``await``: only wait for it): the
        reply comes once this replica executed it, or a timeout."""
        client, rid, op = msg.get("client"), msg.get("rid"), msg.get("op")
        if not isinstance(client, str) or isinstance(rid, bool) or not isinstance(rid, int):
            return error_reply(BAD_REQUEST, "a request needs 'client' (a string) and 'rid'")
        f = op.get("f") if isinstance(op, dict) else None
        if f not in ("read", "write", "cas"):
            return error_reply(BAD_REQUEST, f"'op' must be a read, write or cas, got {op!r}")
        assert isinstance(op, dict)
        problem = register_problem(f, op)
        if problem is not None:
            return error_reply(BAD_REQUEST, problem)
        req = {"client": client, "rid": rid, "op": op}
        deadline = request_deadline(msg, self.request_timeout)
        with self.mu:
            lie = self.liar.reply(req)
            if lie is not None:
                return ok_reply(self._answer(rid, lie))
            done, result = self.replica.executed(client, rid)
            if not done and forward:
                if self.replica.is_primary:
                    self._input({"kind": "order", "request": req})
                else:
                    self._forward(req)
            while not done:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.stopping.is_set():
                    return error_reply(TIMEOUT, f"request {rid} of {client} not executed in time")
                self.executed.wait(remaining)
                done, result = self.replica.executed(client, rid)
            return ok_reply(self._answer(rid, result))

    def _answer(self, rid: int, result: Any) -> dict[str, Any]:
        return {"result": result, "rid": rid, "view": self.replica.view, "replica": self.id}

    def _forward(self, req: dict[str, Any]) -> None:
        """A backup sends a client's request to the primary and waits for it (mu held): not
        executed within the view timeout, it starts a view change."""
        who = (req["client"], req["rid"])
        if self.replica.is_primary:  # it became the primary: it orders what it waited for
            self.pending.pop(who, None)
            self._input({"kind": "order", "request": req})
            return
        if who not in self.pending:
            self.pending[who] = [req, time.monotonic(), None]
        entry = self.pending[who]
        if entry[2] != self.replica.view and not self.replica.changing:
            entry[2] = self.replica.view
            self._send(self.replica.primary(), {"kind": "request", "request": req})

    # -- timers --------------------------------------------------------------------------

    def tick(self) -> None:
        now = time.monotonic()
        with self.mu:
            r = self.replica
            if (r.view, r.changing) != self._view_seen:
                log.info(
                    "view %d: %s (primary %s)",
                    r.view,
                    "view change" if r.changing else "installed",
                    r.primary(),
                )
                self._view_seen, self._view_since = (r.view, r.changing), now
                if not r.changing:  # a new view: every request waits for it afresh
                    self._backoff = 1
                    for entry in self.pending.values():
                        entry[1] = now
            for who in [w for w in self.pending if r.executed(*w)[0]]:
                del self.pending[who]
            if r.changing:
                # a view change that 2f+1 replicas joined and that does not end moves on to
                # the next view, waiting longer each time; one that too few joined waits for
                # them (Castro and Liskov: a lone replica must not run ahead to later views)
                if r.undecided is not None and r.undecided[0] == r.view:
                    log.info("view %d: the view changes of %s decide nothing yet", *r.undecided)
                    r.undecided = None
                if r.my_view_change is not None and now - self._vc_sent > self.view_timeout / 2:
                    self._vc_sent = now  # again: one lost in a partition stalls the change
                    for peer in self.others:
                        self._send(peer, r.my_view_change)
                if len(r.view_changes.get(r.view, {})) < r.quorum:
                    self._view_since = now
                elif now - self._view_since > self.view_timeout * 2 * self._backoff:
                    self._backoff = min(self._backoff * 2, 8)
                    self._input({"kind": "timeout", "view": r.view})
            else:
                for entry in list(self.pending.values()):
                    self._forward(entry[0])  # again, to a new primary
                oldest = min((e[1] for e in self.pending.values()), default=now)
                if now - oldest > self.view_timeout:
                    for entry in self.pending.values():
                        entry[1] = now
                    self._input({"kind": "timeout", "view": r.view})
            for to, m, claimed in self.liar.tick():
                self._queue(to, m, claimed)
            fetch = r.fetch if not self._fetching else None
            if fetch is not None:
                self._fetching = True
        if fetch is not None:
            threading.Thread(target=self._fetch, args=fetch, name="fetch", daemon=True).start()

    # -- state transfer ------------------------------------------------------------------

    def _fetch(self, seq: int, want: str) -> None:
        """Get the state at stable checkpoint ``seq`` from a peer; it must have digest
        ``want`` (what 2f+1 checkpoints vouched for), whoever sends it."""
        try:
            for peer in self.others:
                got = self.ask(peer, {"type": "pbft-state", "seq": seq})
                if got is None or digest(got.get("snapshot")) != want:
                    continue
                with self.mu:
                    self._input(
                        {"kind": "install", "seq": seq, "digest": want, "snapshot": got["snapshot"]}
                    )
                log.info("installed the state at checkpoint %d from %s", seq, peer)
                return
        finally:
            with self.mu:
                self._fetching = False

    def _state_request(self, msg: dict[str, Any]) -> dict[str, Any]:
        seq = msg.get("seq")
        with self.mu:
            snap = self.replica.snapshot_at(seq) if isinstance(seq, int) else None
        if snap is None:
            return error_reply("no-state", f"no checkpoint {seq!r} here", definite=True)
        return ok_reply({"seq": seq, "digest": snap[0], "snapshot": snap[1]})

    # -- control and reports -------------------------------------------------------------

    def _lie(self, msg: dict[str, Any]) -> dict[str, Any]:
        mode = msg.get("mode")
        if mode is not None and mode not in MODES:
            return error_reply(
                BAD_REQUEST, f"unknown lying mode {mode!r}; modes: {', '.join(MODES)} or null"
            )
        with self.mu:
            before, self.liar.mode = self.liar.mode, mode
        log.warning("lying mode %s (was %s)", mode, before)
        return ok_reply({"id": self.id, "mode": mode, "was": before})

    def _lie_state(self) -> dict[str, Any]:
        r = self.replica
        return {
            "view": r.view,
            "primary": r.primary(),
            "low": r.low,
            "last_exec": r.last_exec,
            "checkpoints": {str(s): d for s, (d, _) in r.snapshots.items() if s >= r.low},
        }

    def _report(self, _msg: dict[str, Any]) -> dict[str, Any]:
        """What this replica committed and executed, for the checker."""
        with self.mu:
            r = self.replica
            return ok_reply(
                {
                    "id": self.id,
                    "view": r.view,
                    "changing": r.changing,
                    "low": r.low,
                    "last_exec": r.last_exec,
                    "committed": list(r.committed_log),
                    "executed": list(r.executed_log),
                    "installs": list(r.installs),
                }
            )
