"""One emergent-leader node: SWIM-style probing over the membership table, and the client
requests (``view``, ``act``).

Threads: the prober (``tick``: expire suspicions, probe one member, directly then through
``k`` others), the rejoiner (one ping per period to a configured peer that is not a live
member: how a healed partition, a restarted node or a wrongly buried one is found again),
the connection threads of the server, and a small pool for the calls made in parallel
(indirect probes, the confirmation round of ``act``). One lock (``mu``) guards the table; no
call to a peer is made while holding it.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._runtime import (
    BAD_REQUEST,
    NOT_LEADER,
    Node,
    NodeConfig,
    atomic_write_json,
    error_reply,
    ok_reply,
    read_json,
)
from .membership import Membership

__all__ = ["BUGS", "NOT_CONFIRMED", "EmergentNode"]

log = logging.getLogger("emergent")

#: the leader's view was not confirmed by the members it can reach (definite: nothing done)
NOT_CONFIRMED = "not-confirmed"

BUGS: dict[str, str] = {
    "no-incarnation": "suspicion without incarnation numbers: an accused node cannot refute; "
    "it flaps between suspect and alive, and once declared dead it never comes back",
    "never-remove": "a suspicion never times out: dead members are never removed, and a dead "
    "leader stays leader",
    "lead-alone": "a node acts as the leader on its own view, without asking the members it "
    "can reach whether they agree",
}


class EmergentNode(Node):
    """Membership by gossip with failure detection; the oldest live member leads (see the
    package docstring)."""

    log_name = "emergent"
    tick_name = "prober"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        period: float = 0.2,
        ping_timeout: float = 0.1,
        indirect: int = 2,
        suspect_timeout: float = 1.0,
        rpc_timeout: float = 0.25,
    ) -> None:
        super().__init__(cfg)
        self.tick_every = period
        self.ping_timeout = ping_timeout
        self.indirect = max(0, indirect)
        self.suspect_timeout = suspect_timeout
        self.rpc_timeout = rpc_timeout
        self.rpcs = self.peer_clients(timeout=max(rpc_timeout, 2 * ping_timeout),
                                      connect_timeout=ping_timeout)  # fmt: skip
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="calls")
        self.mu = threading.Lock()
        self.rng = random.Random()
        os.makedirs(cfg.data, exist_ok=True)
        self.state_path = os.path.join(cfg.data, "emergent.json")
        incarnations = "no-incarnation" not in self.bugs
        # durable: a restarted node comes back with a higher incarnation than any entry of
        # its previous life (without incarnations, the bug, it is 0 again)
        inc = int(read_json(self.state_path, {}).get("inc", 0)) + 1 if incarnations else 0
        self.membership = Membership(
            self.id,
            inc,
            int(time.time() * 1000),
            time.monotonic(),
            incarnations=incarnations,
            remove_dead="never-remove" not in self.bugs,
        )
        self._saved_inc = -1
        self._persist()
        self._order: list[str] = []  # the probe order: the live members, shuffled, in turn
        self.handlers.update(
            ping=self._ping, **{"ping-req": self._ping_req}, who=self._who,
            view=self._view, act=self._act,
        )  # fmt: skip
        self.every("rejoiner", period, self._rejoin)
        log.info("incarnation %d; bugs: %s", inc, ", ".join(sorted(self.bugs)) or "none")

    def start(self) -> None:
        super().start()
        for peer in self.others:  # join: tell every configured peer at once
            self.pool.submit(self._exchange, peer, self.ping_timeout * 2)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def status(self) -> dict[str, Any]:
        with self.mu:
            leader = self.membership.leader()
            return {
                "id": self.id,
                "role": "leader" if leader == self.id else "member",
                "inc": self.membership.inc,
                "leader": leader,
                "members": self.membership.live(),
                "bugs": sorted(self.bugs),
            }

    # -- gossip ----------------------------------------------------------------------------

    def digest(self) -> dict[str, Any]:
        with self.mu:
            return self.membership.digest()

    def take(self, digest: Any, sender: str | None = None) -> None:
        """Merge a peer's table (and, for the ``no-incarnation`` bug, that it answered)."""
        now = time.monotonic()
        with self.mu:
            changes = self.membership.merge(digest, now)
            if sender is not None and sender in self.membership.table:
                changes += self.membership.heard_from(sender, now)
            self._persist()
        for c in changes:
            log.info("%s", c)

    def _exchange(self, peer: str, timeout: float) -> bool:
        """Ping ``peer`` with our table and merge its answer; whether it answered."""
        value = self._call(peer, {"type": "ping", "from": self.id, "table": self.digest()}, timeout)
        if value is None:
            return False
        self.take(value.get("table"), peer)
        return True

    def _call(self, peer: str, msg: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        rpc = self.rpcs.get(peer)
        if rpc is None:
            return None
        try:
            reply = rpc.call(msg, timeout=timeout)
        except Exception as e:  # noqa: BLE001 - any failure is "no answer"
            log.debug("%s to %s: %s", msg["type"], peer, e)
            return None
        value = reply.get("value")
        return value if reply.get("ok") and isinstance(value, dict) else None

    def tick(self) -> None:
        """One protocol period: expire suspicions, probe the next member in turn."""
        now = time.monotonic()
        with self.mu:
            for c in self.membership.expire(now, self.suspect_timeout):
                log.info("%s", c)
            live = [n for n in self.membership.live() if n != self.id]
        self._order = [n for n in self._order if n in live]
        if not self._order:
            self._order = self.rng.sample(live, len(live))
        if not self._order:
            return
        target = self._order.pop()
        if self._exchange(target, self.ping_timeout):
            return
        helpers = [n for n in live if n != target]
        helpers = self.rng.sample(helpers, min(self.indirect, len(helpers)))
        req = {"type": "ping-req", "from": self.id, "target": target, "table": self.digest()}
        futures = [self.pool.submit(self._call, h, req, 3 * self.ping_timeout) for h in helpers]
        acked = False
        for h, f in zip(helpers, futures, strict=True):
            value = f.result()
            if value is not None:
                self.take(value.get("table"), h)
                acked = acked or value.get("ack") is True
        if not acked:
            with self.mu:
                changes = self.membership.suspect(target, time.monotonic())
            for c in changes:
                log.info("%s", c)

    def _rejoin(self) -> None:
        """Ping one configured peer that is not a live member (dead or never heard of)."""
        with self.mu:
            live = set(self.membership.live())
        away = [p for p in self.others if p not in live]
        if away:
            self._exchange(self.rng.choice(away), self.ping_timeout * 2)

    def _ping(self, msg: dict[str, Any]) -> dict[str, Any]:
        sender = msg.get("from")
        self.take(msg.get("table"), sender if isinstance(sender, str) else None)
        return ok_reply({"table": self.digest()})

    def _ping_req(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Probe ``target`` for the sender, which could not reach it itself."""
        sender, target = msg.get("from"), msg.get("target")
        if not isinstance(target, str) or target not in self.rpcs:
            return error_reply(BAD_REQUEST, f"'target' must name another member, got {target!r}")
        self.take(msg.get("table"), sender if isinstance(sender, str) else None)
        ack = self._exchange(target, self.ping_timeout)
        return ok_reply({"ack": ack, "table": self.digest()})

    def _who(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Who leads, in this node's view (the confirmation round of an ``act`` asks)."""
        sender = msg.get("from")
        self.take(msg.get("table"), sender if isinstance(sender, str) else None)
        with self.mu:
            return ok_reply(
                {
                    "leader": self.membership.leader(),
                    "members": self.membership.live(),
                    "table": self.membership.digest(),
                }
            )

    # -- client requests -------------------------------------------------------------------

    def _view(self, _msg: dict[str, Any]) -> dict[str, Any]:
        with self.mu:
            m = self.membership
            live = m.live()
            return ok_reply(
                {
                    "node": self.id,
                    "inc": m.inc,
                    "leader": m.leader(),
                    "members": live,
                    "incarnations": {n: m.table[n].inc for n in live},
                }
            )

    def _act(self, _msg: dict[str, Any]) -> dict[str, Any]:
        """Act as the leader: only if this node's view says it is the oldest live member, and
        (but with ``lead-alone``) every member it can reach names it too, and those make a
        majority of its live members."""
        with self.mu:
            leader, live, inc = (
                self.membership.leader(),
                self.membership.live(),
                self.membership.inc,
            )
        if leader != self.id:
            return error_reply(NOT_LEADER, f"{self.id} does not lead; {leader} does", leader=leader)
        agreed = [self.id]
        if "lead-alone" not in self.bugs:
            req = {"type": "who", "from": self.id, "table": self.digest()}
            futures = {
                p: self.pool.submit(self._call, p, req, self.rpc_timeout) for p in self.others
            }
            vetoes: dict[str, Any] = {}
            for p, f in futures.items():
                value = f.result()
                if value is None:
                    continue  # not reachable: no veto, no vote
                self.take(value.get("table"), p)
                if value.get("leader") != self.id:
                    vetoes[p] = value.get("leader")
                elif p in live:
                    agreed.append(p)
            need = len(live) // 2 + 1
            with self.mu:
                still = self.membership.leader() == self.id and self.membership.inc == inc
            if vetoes or len(agreed) < need or not still:
                why = (
                    f"{', '.join(f'{p} names {v}' for p, v in sorted(vetoes.items()))}"
                    if vetoes
                    else f"{len(agreed)} of {len(live)} live members agree, {need} needed"
                    if len(agreed) < need
                    else "its view changed during the round"
                )
                return error_reply(NOT_CONFIRMED, f"{self.id} not confirmed: {why}",
                                   definite=True, leader=self.id)  # fmt: skip
        return ok_reply({"leader": self.id, "inc": inc, "members": live, "agreed": sorted(agreed)})

    # -- durable state ---------------------------------------------------------------------

    def _persist(self) -> None:
        """Write the incarnation when it changed (mu held, or before serving)."""
        inc = self.membership.inc
        if inc != self._saved_inc and "no-incarnation" not in self.bugs:
            atomic_write_json(self.state_path, {"inc": inc})
            self._saved_inc = inc
