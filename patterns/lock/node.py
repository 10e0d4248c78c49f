"""A lock node: a Raft member whose state machine is a table of leased locks with fencing
tokens, and the protected storage's share of keys kept on this node.

The lock table is replicated by the Raft node of ``patterns.raft`` (this class extends it):
``acquire`` and ``release`` are log entries, applied in order on every node, so the
generation of a lock (its fencing token) is the same everywhere and only grows. Expiry needs
time, which a state machine must not read: the *leader* decides that a lease has run out, by
its own monotonic clock, and logs an ``acquire`` that expects the generation it saw
(``expect``); applying it grants the lock only if no other grant came in between. A leader
starts counting a lease when it applied the grant, or when it became leader for leases it
inherited: never earlier than the grant itself, so a lease never ends early.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from typing import Any

from .._runtime import (
    BAD_REQUEST,
    NodeConfig,
    RecordLog,
    RpcError,
    error_reply,
    home_of,
    ok_reply,
)
from ..raft import LEADER, RaftNode

__all__ = ["BUGS", "LockNode", "ProtectedStorage", "home_of"]

log = logging.getLogger("lock")

BUGS: dict[str, str] = {
    "no-fencing": "the protected storage accepts every write, whatever its token",
    "early-grant": "the leader grants a lock once the grant is in its own log, before a "
    "majority has it",
    "term-token": "the fencing token is the leader's term (its generation), not the lock's",
}

#: a lock or storage request that is refused for good (nothing was done)
LOCKED = "locked"
NOT_HOLDER = "not-holder"
STALE_TOKEN = "stale-token"


class ProtectedStorage:
    """A durable store of per-key write lists that rejects writes with an older token.

    Each key keeps every write it accepted, in order, as ``[token, value]``: a reader sees
    not only the last value but the order the storage accepted them in, so a stale write
    that got in leaves evidence. ``write`` is durable (fsync) before it returns.
    """

    def __init__(self, path: str, *, fencing: bool = True) -> None:
        self.fencing = fencing
        self._log = RecordLog(path)
        self._mu = threading.Lock()
        self.entries: dict[str, list[list[Any]]] = {}
        self.highest: dict[str, int] = {}
        for key, token, value in self._log.records:
            self._add(key, token, value)
        self._log.records = []

    def write(self, key: Any, token: int, value: Any) -> dict[str, Any]:
        k = _key(key)
        with self._mu:
            highest = self.highest.get(k)
            if self.fencing and highest is not None and token < highest:
                return error_reply(
                    STALE_TOKEN,
                    f"token {token} is older than {highest}, the highest this "
                    f"storage accepted for {key!r}",
                    definite=True,
                    highest=highest,
                )
            # the bug "no-fencing" skips the comparison above: any holder may write
            n = self._log.append([k, token, value])
            self._add(k, token, value)
        self._log.sync_upto(n)
        return ok_reply(None)

    def read(self, key: Any) -> list[list[Any]]:
        with self._mu:
            return [list(e) for e in self.entries.get(_key(key), [])]

    def close(self) -> None:
        self._log.close()

    def _add(self, k: str, token: int, value: Any) -> None:
        self.entries.setdefault(k, []).append([token, value])
        self.highest[k] = max(token, self.highest.get(k, token))


class LockNode(RaftNode):
    """A Raft node serving locks (``acquire`` / ``release``) and the protected storage
    (``write`` / ``read``, kept on the key's home node and forwarded there)."""

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        ttl: float = 1.5,
        heartbeat: float = 0.05,
        election: tuple[float, float] = (0.3, 0.6),
        request_timeout: float = 1.0,
        storage_timeout: float = 1.0,
    ) -> None:
        self.lock_bugs = cfg.bugs
        # the Raft layer runs correct, except that early-grant is Raft's early
        # acknowledgment: an entry counts as committed once in the leader's own log
        raft_bugs = frozenset({"early-ack"} if "early-grant" in cfg.bugs else ())
        super().__init__(
            dataclasses.replace(cfg, bugs=raft_bugs),
            heartbeat=heartbeat,
            election=election,
            request_timeout=request_timeout,
        )
        self.ttl = ttl
        #: key (as JSON) -> {"gen", "token", "owner", "held"}; changed only by applying entries
        self.locks: dict[str, dict[str, Any]] = {}
        #: key (as JSON) -> when this node started counting the lease (monotonic)
        self.lease_start: dict[str, float] = {}
        self.storage_timeout = storage_timeout
        self.store = ProtectedStorage(
            os.path.join(cfg.data, "storage.bin"), fencing="no-fencing" not in cfg.bugs
        )
        self.store_rpcs = self.peer_clients(timeout=storage_timeout, connect_timeout=0.5)
        self.handlers.update(
            acquire=self._on_lock,
            release=self._on_lock,
            write=self._on_storage,
            read=self._on_storage,
            storage_write=self._storage_write,
            storage_read=lambda msg: ok_reply(self.store.read(msg.get("key"))),
            **dict.fromkeys(("read_kv", "write_kv", "cas"), _no_kv),
        )
        log.info(
            "lock ttl %.0f ms; lock bugs: %s", ttl * 1000, ", ".join(sorted(cfg.bugs)) or "none"
        )

    def close(self) -> None:
        super().close()
        self.store.close()

    def status(self) -> dict[str, Any]:
        st = super().status()
        with self.mu:
            st["locks_held"] = sum(1 for v in self.locks.values() if v["held"])
        st["bugs"] = sorted(self.lock_bugs)
        return st

    # -- locks ---------------------------------------------------------------------------

    def _on_lock(self, msg: dict[str, Any]) -> dict[str, Any]:
        t = msg["type"]
        problem = _validate_lock(t, msg)
        if problem:
            return error_reply(BAD_REQUEST, problem)
        return self.route(msg, lambda deadline: self._lead_lock(t, msg, deadline))

    def _lead_lock(self, t: str, msg: dict[str, Any], deadline: float) -> dict[str, Any]:
        if t == "release":
            cmd = {"op": "release", "key": msg["key"], "token": msg["token"]}
            return self.lead_write(cmd, deadline)
        k = _key(msg["key"])
        with self.mu:
            if self.role != LEADER:
                return self.not_leader(self.leader)
            st = self.locks.get(k)
            if st is not None and st["held"]:
                left = self.lease_start.get(k, time.monotonic()) + self.ttl - time.monotonic()
                if left > 0:
                    return error_reply(
                        LOCKED,
                        f"{msg['key']!r} is held (token {st['token']}) for up to "
                        f"{left * 1000:.0f} ms more",
                        definite=True,
                    )
            cmd = {
                "op": "acquire",
                "key": msg["key"],
                "owner": msg.get("owner"),
                "expect": st["gen"] if st is not None else 0,
                "term": self.term,
            }
        return self.lead_write(cmd, deadline)

    def execute(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd.get("op")
        if op == "acquire":
            k = _key(cmd["key"])
            st = self.locks.get(k) or {"gen": 0, "token": 0, "owner": None, "held": False}
            if st["gen"] != cmd["expect"]:
                return error_reply(
                    LOCKED,
                    f"{cmd['key']!r} was granted to another first (token {st['token']})",
                    definite=True,
                )
            gen = st["gen"] + 1
            # the bug "term-token": the leader's generation (its term) stands for the lock's
            token = int(cmd["term"]) if "term-token" in self.lock_bugs else gen
            self.locks[k] = {"gen": gen, "token": token, "owner": cmd.get("owner"), "held": True}
            self.lease_start[k] = time.monotonic()
            return ok_reply({"token": token, "ttl_ms": int(self.ttl * 1000)})
        if op == "release":
            k = _key(cmd["key"])
            held = self.locks.get(k)
            if held is None or not held["held"] or held["token"] != cmd["token"]:
                current = "free" if held is None or not held["held"] else f"token {held['token']}"
                return error_reply(
                    NOT_HOLDER,
                    f"token {cmd['token']} does not hold {cmd['key']!r} ({current})",
                    definite=True,
                )
            held["held"] = False
            return ok_reply(None)
        return super().execute(cmd)

    def on_leading(self) -> None:
        # leases granted under an earlier leader: count them from now, never from earlier
        now = time.monotonic()
        for k, st in self.locks.items():
            if st["held"]:
                self.lease_start[k] = now

    # -- protected storage ---------------------------------------------------------------

    def _on_storage(self, msg: dict[str, Any]) -> dict[str, Any]:
        t = msg["type"]
        key = msg.get("key")
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            return error_reply(BAD_REQUEST, f"'key' must be a string or an integer, got {key!r}")
        if t == "write" and not _is_int(msg.get("token")):
            return error_reply(
                BAD_REQUEST, f"a write needs an integer 'token', got {msg.get('token')!r}"
            )
        home = home_of(key, self.members)
        if home == self.id:
            if t == "write":
                return self.store.write(key, msg["token"], msg.get("value"))
            return ok_reply(self.store.read(key))
        # this node is the holder's application server: the storage of the key lives on
        # another node, reached over the network (where a pause or a partition delays it)
        fwd: dict[str, Any] = {"type": f"storage_{t}", "key": key}
        if t == "write":
            fwd.update(token=msg["token"], value=msg.get("value"))
        try:
            reply = self.store_rpcs[home].call(fwd)
        except RpcError as e:
            return e.reply(definite=True if t == "read" else e.definite, home=home)
        reply.pop("id", None)
        return reply

    def _storage_write(self, msg: dict[str, Any]) -> dict[str, Any]:
        if not _is_int(msg.get("token")):
            return error_reply(BAD_REQUEST, "a write needs an integer 'token'")
        return self.store.write(msg.get("key"), msg["token"], msg.get("value"))


def _no_kv(msg: dict[str, Any]) -> dict[str, Any]:
    return error_reply(BAD_REQUEST, "the lock service has no key/value store")


def _validate_lock(t: str, msg: dict[str, Any]) -> str | None:
    key = msg.get("key")
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        return f"'key' must be a string or an integer, got {key!r}"
    if t == "release" and not _is_int(msg.get("token")):
        return f"a release needs the integer 'token' of the grant, got {msg.get('token')!r}"
    return None


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _key(key: Any) -> str:
    return json.dumps(key)
