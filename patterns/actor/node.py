"""One actor-model node: a router for client messages, a host for the actors it has
activated, and an acceptor of the replicated directory (``directory.py``).

Concurrency: each actor has a lock on its host, held while one message is processed from
the de-duplication check to the reply: an actor processes one message at a time. The
directory has its own lock (``Directory.mu``); the activations, hints and locks tables share
``mu``. Calls to peers go through ``Quorum`` (claims, writes, fences) or one ``RpcClient``
call (forwarding).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .._runtime import (
    BAD_REQUEST,
    TIMEOUT,
    UNAVAILABLE,
    ConnectFailed,
    Node,
    NodeConfig,
    RpcError,
    error_reply,
    home_of,
    ok_reply,
    request_deadline,
)
from .behaviour import OPS, apply, initial
from .directory import Directory, position
from .quorum import Quorum

__all__ = ["BUGS", "MOVED", "ActorNode", "host_of"]

log = logging.getLogger("actor")

BUGS: dict[str, str] = {
    "stale-directory": "a host trusts its cached directory entry: it answers once its own "
    "acceptor has the new state (the others are written in the background) and reads from "
    "memory, so a host cut off from the majority goes on serving while the actor is "
    "activated elsewhere",
    "no-dedup": "a host applies every copy of a message it receives: a message redelivered "
    "after a timeout is applied twice",
    "persist-after-reply": "a host answers a message at once and writes the actor's state "
    "to the acceptors later (every --flush-ms): a host killed or cut off in between loses "
    "acknowledged messages",
}

#: the actor lives at another node (``epoch`` and ``host`` name it), or this host lost it
MOVED = "moved"
#: an older message from a sender than one already applied: never applied
STALE_MESSAGE = "stale-message"
#: the actor's lock was not free in time: nothing was done
BUSY = "busy"


def host_of(epoch: int, members: list[str]) -> str:
    """The node an activation epoch belongs to: each node claims only its own epochs."""
    return members[epoch % len(members)]


@dataclass
class Activation:
    """An actor activated on this node: its epoch, its message count and state, and the
    de-duplication table (sender -> [seq, result, n]); ``dirty``: not yet written (only
    with persist-after-reply)."""

    actor: str
    epoch: int
    n: int
    state: dict[str, Any]
    dedup: dict[str, list[Any]] = field(default_factory=dict)
    dirty: bool = False

    def record(self) -> dict[str, Any]:
        return {"e": self.epoch, "n": self.n, "state": self.state, "dedup": self.dedup}


class ActorNode(Node):
    """Routes, hosts and stores virtual actors (see the package docstring)."""

    log_name = "actor"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        request_timeout: float = 1.2,
        forward_timeout: float = 0.5,
        rpc_timeout: float = 0.3,
        flush: float = 0.25,
    ) -> None:
        super().__init__(cfg)
        self.request_timeout = request_timeout
        self.forward_timeout = forward_timeout
        self.rpc_timeout = rpc_timeout
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=min(0.2, rpc_timeout))
        self.dir = Directory(cfg.data)
        self.quorum = Quorum(self.rpcs, self.handle, self.majority, rpc_timeout)
        self.mu = threading.Lock()
        self.active: dict[str, Activation] = {}
        #: actor -> the highest epoch this node has heard of (memory only: a cache)
        self.hints: dict[str, int] = {}
        #: actor -> the epoch whose host this node found unreachable (it takes over)
        self.unreachable: dict[str, int] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.handlers.update(
            send=self._on_send, claim=self._on_claim, accept=self._on_accept, fence=self._on_fence
        )
        if "persist-after-reply" in self.bugs:
            self.every("flush", flush, self._flush_all)
        log.info(
            "recovered %d actors (%d torn bytes dropped); bugs: %s",
            self.dir.actors(),
            self.dir.torn_bytes,
            ", ".join(sorted(self.bugs)) or "none",
        )

    def status(self) -> dict[str, Any]:
        with self.mu:
            active = {a: act.epoch for a, act in self.active.items()}
        return {
            "id": self.id,
            "active": active,
            "actors": self.dir.actors(),
            "bugs": sorted(self.bugs),
        }

    def close(self) -> None:
        self.quorum.close()
        self.dir.close()

    # -- the acceptor ------------------------------------------------------------------

    def _on_claim(self, msg: dict[str, Any]) -> dict[str, Any]:
        actor, epoch = str(msg["actor"]), int(msg["epoch"])
        reply = self.dir.claim(actor, epoch)
        self._learn(actor, int(reply["promised"]))
        return reply

    def _on_accept(self, msg: dict[str, Any]) -> dict[str, Any]:
        actor = str(msg["actor"])
        reply = self.dir.accept(actor, msg["record"])
        self._learn(actor, int(reply["promised"]))
        return reply

    def _on_fence(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Whether epoch ``epoch`` is still the newest claim here (a read's check that its
        host still holds the actor)."""
        actor, epoch = str(msg["actor"]), int(msg["epoch"])
        promised = self.dir.promised(actor)
        return {"ok": True, "granted": epoch >= promised, "promised": promised}

    def _learn(self, actor: str, epoch: int) -> None:
        """Remember the newest epoch heard of; an activation of this node that it outranks
        is over (unless the host trusts its cache: the stale-directory bug)."""
        with self.mu:
            if epoch <= self.hints.get(actor, 0):
                return
            self.hints[actor] = epoch
            act = self.active.get(actor)
            if act is not None and act.epoch < epoch and "stale-directory" not in self.bugs:
                del self.active[actor]
                log.info(
                    "%s: epoch %d outranks this activation (%d): deactivated",
                    actor,
                    epoch,
                    act.epoch,
                )

    # -- routing (the node a client asked) ---------------------------------------------

    def _on_send(self, msg: dict[str, Any]) -> dict[str, Any]:
        problem = _send_problem(msg)
        if problem:
            return error_reply(BAD_REQUEST, problem)
        deadline = request_deadline(msg, self.request_timeout)
        if msg.get("forwarded"):
            return self._serve(msg, deadline)
        return self._route(msg, deadline)

    def _route(self, msg: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Deliver ``msg`` to its actor's host (this node or another), again after a timeout
        (at-least-once: the host de-duplicates), to the newer host after a ``moved``, and to
        this node itself (taking the actor over) when the host cannot be reached."""
        actor = msg["actor"]
        maybe = False  # some attempt may have been applied
        why = "no attempt in time"
        for _ in range(8):
            remaining = deadline - time.monotonic()
            if remaining <= 0.01:
                break
            epoch, host = self._host_for(actor)
            if host == self.id:
                reply = self._serve(dict(msg, epoch_known=epoch), deadline)
            else:
                attempt = min(remaining, self.forward_timeout)
                fwd = {k: v for k, v in msg.items() if k != "id"}
                fwd.update(forwarded=self.id, epoch_known=epoch, timeout_ms=int(attempt * 1000))
                try:
                    reply = self.rpcs[host].call(fwd, timeout=attempt + 0.1)
                except ConnectFailed as e:
                    log.info(
                        "%s: host %s (epoch %d) unreachable: taking over (%s)",
                        actor,
                        host,
                        epoch,
                        e,
                    )
                    with self.mu:
                        self.unreachable[actor] = epoch
                    why = f"{host} unreachable"
                    continue
                except RpcError as e:
                    maybe = True  # sent: the host may have applied it; send it again
                    why = f"{host}: {e}"
                    continue
                reply.pop("id", None)
            if reply.get("ok"):
                reply["value"]["via"] = self.id
                return reply
            if reply.get("definite") is not True:
                maybe = True
            if reply.get("error") != MOVED:
                return dict(reply, definite=not maybe)
            why = str(reply.get("message"))
            newer = reply.get("epoch")
            if isinstance(newer, int):
                self._learn(actor, newer)
        if maybe:
            return error_reply(TIMEOUT, f"{actor}: no answer in time ({why})", definite=False)
        return error_reply(UNAVAILABLE, f"{actor}: not delivered ({why})", definite=True)

    def _host_for(self, actor: str) -> tuple[int, str]:
        """The newest epoch this node knows for ``actor`` and the node to deliver to: the
        host of that epoch; this node when it hosts the actor, when that host was found
        unreachable, or (no epoch yet) when it is the actor's home."""
        with self.mu:
            act = self.active.get(actor)
            if act is not None:
                return act.epoch, self.id
            epoch = max(self.dir.promised(actor), self.hints.get(actor, 0))
            if epoch == 0:
                return 0, home_of(actor, self.members)
            if self.unreachable.get(actor) == epoch:
                return epoch, self.id
            return epoch, host_of(epoch, self.members)

    # -- hosting -----------------------------------------------------------------------

    def _serve(self, msg: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Process ``msg`` here, activating the actor first if needed; one message at a time
        per actor."""
        actor = msg["actor"]
        with self.mu:
            lock = self.locks.setdefault(actor, threading.Lock())
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return error_reply(
                BUSY, f"{actor} was busy on {self.id} until the deadline", definite=True
            )
        try:
            with self.mu:
                act = self.active.get(actor)
            if act is None:
                known = max(
                    self.dir.promised(actor),
                    self.hints.get(actor, 0),
                    int(msg.get("epoch_known") or 0),
                )
                sender = msg.get("forwarded")
                if (
                    sender
                    and known
                    and host_of(known, self.members) not in (self.id, sender)
                    and self.unreachable.get(actor) != known
                ):
                    return self._moved(actor, known, "lives elsewhere", definite=True)
                found = self._activate(actor, known, deadline)
                if isinstance(found, dict):
                    return found
                act = found
            return self._process(act, msg, deadline)
        finally:
            lock.release()

    def _activate(self, actor: str, known: int, deadline: float) -> Activation | dict[str, Any]:
        """Claim ``actor`` with this node's next epoch above ``known`` at a majority, and
        start from the newest state among the majority's answers; or the error reply."""
        n_members = len(self.members)
        idx = self.members.index(self.id)
        epoch = (known // n_members) * n_members + idx
        if epoch <= known:
            epoch += n_members
        tally = self.quorum.ask({"type": "claim", "actor": actor, "epoch": epoch}, deadline)
        if len(tally.granted) < self.majority:
            if tally.newer > epoch:
                self._learn(actor, tally.newer)
                return self._moved(actor, tally.newer, "a newer claim won", definite=True)
            return error_reply(
                UNAVAILABLE,
                f"claim of {actor} at epoch {epoch}: {len(tally.granted)} of "
                f"{len(self.members)} granted",
                definite=True,
            )
        best = max((r.get("accepted") for r in tally.granted), key=position)
        rec = best or {"n": 0, "state": initial(), "dedup": {}}
        act = Activation(actor, epoch, int(rec["n"]), rec["state"], dict(rec.get("dedup") or {}))
        with self.mu:
            self.active[actor] = act
            self.unreachable.pop(actor, None)
        log.info("%s: activated at epoch %d (n=%d)", actor, epoch, act.n)
        return act

    def _process(self, act: Activation, msg: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Apply one message and make it durable at a majority before the reply (the
        seeded bugs aside)."""
        op, sender, seq = msg["op"], msg["sender"], msg["seq"]
        if op == "read":
            return self._read(act, msg, deadline)
        last = act.dedup.get(sender)
        if last is not None and "no-dedup" not in self.bugs:
            if seq == last[0]:  # a copy of the last message: its first result again, from
                # this activation (the one the message now stands in: one whose write reached
                # only a minority may have been adopted here after its own epoch was over)
                return ok_reply(self._reply(act, msg, last[1], last[2], dup=True))
            if seq < last[0]:
                return error_reply(
                    STALE_MESSAGE,
                    f"{sender} already sent message {last[0]} to {act.actor}; {seq} is older",
                    definite=True,
                )
        state, result = apply(act.state, op, msg.get("arg"))
        n = act.n + 1
        dedup = {**act.dedup, sender: [seq, result, n]}
        record = {"e": act.epoch, "n": n, "state": state, "dedup": dedup}
        if "persist-after-reply" in self.bugs:  # the bug: written by the flusher, later
            act.n, act.state, act.dedup, act.dirty = n, state, dedup, True
            return ok_reply(self._reply(act, msg, result, n))
        if "stale-directory" in self.bugs:
            return self._write_trusting_cache(act, msg, record, result)
        tally = self.quorum.ask({"type": "accept", "actor": act.actor, "record": record}, deadline)
        if len(tally.granted) >= self.majority:
            act.n, act.state, act.dedup = n, state, dedup
            return ok_reply(self._reply(act, msg, result, n))
        self._deactivate(act, tally.newer)
        definite = not tally.granted and not tally.silent
        if tally.newer > act.epoch:
            return self._moved(act.actor, tally.newer, "a newer claim won", definite=definite)
        return error_reply(
            TIMEOUT,
            f"{act.actor}: write {n} at epoch {act.epoch} granted by {len(tally.granted)} of "
            f"{len(self.members)}",
            definite=definite,
        )

    def _read(self, act: Activation, msg: dict[str, Any], deadline: float) -> dict[str, Any]:
        """A read changes nothing: it is answered once a majority confirms that no newer
        claim exists (no write, no de-duplication: a second copy is harmless)."""
        result = apply(act.state, "read", None)[1]
        if self.bugs & {"stale-directory", "persist-after-reply"}:
            return ok_reply(self._reply(act, msg, result, act.n))  # the cache is trusted
        tally = self.quorum.ask({"type": "fence", "actor": act.actor, "epoch": act.epoch}, deadline)
        if len(tally.granted) >= self.majority:
            return ok_reply(self._reply(act, msg, result, act.n))
        self._deactivate(act, tally.newer)
        if tally.newer > act.epoch:
            return self._moved(act.actor, tally.newer, "a newer claim won", definite=True)
        return error_reply(TIMEOUT, f"{act.actor}: read not confirmed by a majority", definite=True)

    def _write_trusting_cache(
        self, act: Activation, msg: dict[str, Any], record: dict[str, Any], result: Any
    ) -> dict[str, Any]:
        """The stale-directory bug: durable here, then answered; the majority is written in
        the background and only a refusal it brings back ends the activation."""
        reply = self.dir.accept(act.actor, record)
        if not reply["granted"]:
            self._deactivate(act, int(reply["promised"]))
            return self._moved(
                act.actor, int(reply["promised"]), "a newer claim won", definite=True
            )
        act.n, act.state, act.dedup = record["n"], record["state"], record["dedup"]

        def rest() -> None:
            tally = self.quorum.ask(
                {"type": "accept", "actor": act.actor, "record": record},
                time.monotonic() + self.rpc_timeout,
                wait_all=True,
            )
            if tally.newer > act.epoch:
                self._deactivate(act, tally.newer)

        threading.Thread(target=rest, name="background-write", daemon=True).start()
        return ok_reply(self._reply(act, msg, result, act.n))

    def _flush_all(self) -> None:
        """The persist-after-reply bug's write-behind: every active actor with unwritten
        messages is written to a majority; one that cannot be is deactivated."""
        with self.mu:
            dirty = [a for a in self.active.values() if a.dirty]
        for act in dirty:
            with self.mu:
                lock = self.locks.setdefault(act.actor, threading.Lock())
            with lock:
                if not act.dirty:
                    continue
                record = act.record()
                deadline = time.monotonic() + 2 * self.rpc_timeout
                tally = self.quorum.ask(
                    {"type": "accept", "actor": act.actor, "record": record}, deadline
                )
                if len(tally.granted) >= self.majority:
                    if act.n == record["n"]:
                        act.dirty = False
                else:
                    self._deactivate(act, tally.newer)

    def _deactivate(self, act: Activation, newer: int) -> None:
        with self.mu:
            if self.active.get(act.actor) is act:
                del self.active[act.actor]
                log.info(
                    "%s: activation at epoch %d ended (newer epoch: %d)",
                    act.actor,
                    act.epoch,
                    newer,
                )
        if newer:
            self._learn(act.actor, newer)

    def _moved(self, actor: str, epoch: int, why: str, *, definite: bool) -> dict[str, Any]:
        host = host_of(epoch, self.members)
        return error_reply(
            MOVED,
            f"{actor} is not active on {self.id}: {why} (epoch {epoch}, host {host})",
            definite=definite,
            epoch=epoch,
            host=host,
        )

    def _reply(
        self, act: Activation, msg: dict[str, Any], result: Any, n: int, *, dup: bool = False
    ) -> dict[str, Any]:
        """The reply's value: the result, and the activation that answers."""
        return {
            "actor": act.actor,
            "op": msg["op"],
            "result": result,
            "epoch": act.epoch,
            "host": self.id,
            "n": n,
            "sender": msg["sender"],
            "seq": msg["seq"],
            "dup": dup,
        }


def _send_problem(msg: dict[str, Any]) -> str | None:
    """What is wrong with a ``send`` request, or None."""
    if not isinstance(msg.get("actor"), str) or not msg["actor"]:
        return f"'actor' must be a non-empty string, got {msg.get('actor')!r}"
    if msg.get("op") not in OPS:
        return f"'op' must be one of {', '.join(OPS)}, got {msg.get('op')!r}"
    if not isinstance(msg.get("sender"), str):
        return f"'sender' must be a string, got {msg.get('sender')!r}"
    seq = msg.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return f"'seq' must be an integer >= 1, got {seq!r}"
    return None
