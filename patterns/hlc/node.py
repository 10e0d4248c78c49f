"""One hybrid-logical-clock node: stamps local events, sends and receives with (l, c), refuses
messages from too far in the future, and keeps a journal of every event it stamped.

Concurrency: one lock (``mu``) guards the clock (``l``, ``c``), the event counter and the
journal. A send stamps its event under the lock, then calls the receiver without it: the
node goes on stamping other events while a message is in flight.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import time
from typing import Any, TypeGuard

from .._runtime import (
    BAD_REQUEST,
    ConnectFailed,
    Node,
    NodeConfig,
    RpcError,
    atomic_write_json,
    error_reply,
    ok_reply,
    read_json,
)

__all__ = ["BUGS", "HlcNode", "OFFSET_EXCEEDED", "now_us"]

log = logging.getLogger("hlc")

BUGS: dict[str, str] = {
    "physical-only": "events are stamped with the physical clock alone (l = pt, c only breaks "
    "ties of one reading): when a clock steps back, or a receiver's clock is behind the "
    "sender's, a later event gets a smaller timestamp",
    "no-c-reset": "c is not reset to 0 when l advances to a new physical reading: it grows "
    "with every event, without bound",
    "no-offset-guard": "no maximum-offset guard: a message stamped further in the future than "
    "max-offset is accepted, so one node whose clock is bumped forward drags every node's l "
    "into the future",
}

#: a receiver refused a message stamped more than ``max-offset`` ahead of its clock
OFFSET_EXCEEDED = "offset-exceeded"
#: the most events the journal keeps (the oldest are dropped beyond it)
JOURNAL_MAX = 500_000
#: how far ahead of l the persisted upper bound is set: one write per this much time
PERSIST_AHEAD_US = 500_000


def now_us() -> int:
    """The physical clock, the wall clock in microseconds (what libfaketime skews)."""
    return time.time_ns() // 1000


class HlcNode(Node):
    """A hybrid logical clock (Kulkarni et al., 2014), with CockroachDB's maximum-offset
    guard on receive, and a journal of its events (see the package docstring)."""

    log_name = "hlc"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        max_offset_ms: int = 500,
        rpc_timeout: float = 0.3,
        seed: int | None = None,
    ) -> None:
        super().__init__(cfg)
        self.max_offset_ms = max_offset_ms
        self.max_offset_us = max_offset_ms * 1000
        self.guard = max_offset_ms > 0 and "no-offset-guard" not in self.bugs
        self.rng = random.Random(seed)
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=rpc_timeout)
        self.mu = threading.Lock()
        #: this process's incarnation: message ids and journal reads carry it
        self.boot = secrets.token_hex(3)
        self.l = 0
        self.c = 0
        self.seq = 0
        self.journal: list[dict[str, Any]] = []
        self.dropped = 0  # events dropped from the journal's head (beyond JOURNAL_MAX)

        # l never goes back across a restart: a bound above every l this node ever stamped
        # is durable before any event above it is answered; a restarted node waits until its
        # clock has passed it (as CockroachDB does with its persisted wall-time upper bound)
        os.makedirs(cfg.data, exist_ok=True)
        self.bound_path = os.path.join(cfg.data, "hlc.json")
        self.bound = int(read_json(self.bound_path, {}).get("l_bound", 0))
        wait = (self.bound - now_us()) / 1e6
        if wait > 0:
            log.info("waiting %.3f s for the clock to pass the persisted bound", wait)
            while now_us() <= self.bound:
                time.sleep(min(0.05, max(0.001, (self.bound - now_us()) / 1e6)))

        self.handlers.update(
            local=lambda _msg: ok_reply(self._local()),
            send=self._send,
            hlc_receive=self._receive,
            events=self._events,
        )
        log.info(
            "boot %s, max offset %d ms (%s), bugs: %s",
            self.boot,
            max_offset_ms,
            "guarded" if self.guard else "not enforced",
            ", ".join(sorted(self.bugs)) or "none",
        )

    def status(self) -> dict[str, Any]:
        with self.mu:
            return {
                "id": self.id,
                "boot": self.boot,
                "l": self.l,
                "c": self.c,
                "pt": now_us(),
                "events": self.seq,
                "max_offset_ms": self.max_offset_ms,
                "bugs": sorted(self.bugs),
            }

    # -- the clock ---------------------------------------------------------------------

    def _tick(self, pt: int) -> tuple[int, int]:
        """(l, c) of a local or send event at physical time ``pt`` (mu held)."""
        if "physical-only" in self.bugs:
            # the bug: the physical reading alone; c only breaks ties of one reading
            return pt, (self.c + 1 if pt == self.l else 0)
        lt = max(self.l, pt)
        if lt == self.l:
            return lt, self.c + 1
        return lt, self._fresh_c()

    def _merge(self, pt: int, ml: int, mc: int) -> tuple[int, int]:
        """(l, c) of receiving a message stamped (ml, mc) at physical time ``pt`` (mu held)."""
        if "physical-only" in self.bugs:
            return pt, (self.c + 1 if pt == self.l else 0)
        lt = max(self.l, ml, pt)
        if lt == self.l and lt == ml:
            return lt, max(self.c, mc) + 1
        if lt == self.l:
            return lt, self.c + 1
        if lt == ml:
            return lt, mc + 1
        return lt, self._fresh_c()

    def _fresh_c(self) -> int:
        """c when l has just advanced to a new physical reading: 0, as the algorithm says."""
        if "no-c-reset" in self.bugs:
            return self.c + 1  # the bug: c keeps counting
        return 0

    def _stamp(self, kind: str, lt: int, c: int, pt: int, **fields: Any) -> dict[str, Any]:
        """Take (lt, c) as the clock, journal the event and return it (mu held)."""
        self.l, self.c = lt, c
        if lt > self.bound - PERSIST_AHEAD_US // 2:
            self.bound = lt + PERSIST_AHEAD_US
            atomic_write_json(self.bound_path, {"l_bound": self.bound})
        return self._journal(kind, l=lt, c=c, pt=pt, **fields)

    def _journal(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        event = {"seq": self.seq, "kind": kind, **fields}
        self.journal.append(event)
        if len(self.journal) > JOURNAL_MAX:
            cut = len(self.journal) - JOURNAL_MAX
            del self.journal[:cut]
            self.dropped += cut
        return {"node": self.id, "boot": self.boot, **event}

    # -- requests ----------------------------------------------------------------------

    def _local(self) -> dict[str, Any]:
        with self.mu:
            pt = now_us()
            lt, c = self._tick(pt)
            return self._stamp("local", lt, c, pt)

    def _send(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Stamp a send event, deliver the message to a peer and answer with both events."""
        if not self.others:
            return error_reply(BAD_REQUEST, "a node with no peers cannot send", definite=True)
        pick = msg.get("pick")
        if not isinstance(pick, int) or isinstance(pick, bool):
            pick = self.rng.randrange(len(self.others))
        to = self.others[pick % len(self.others)]
        with self.mu:
            pt = now_us()
            lt, c = self._tick(pt)
            # the message is named after its send event (the one stamped now: seq + 1)
            mid = f"{self.id}/{self.boot}/{self.seq + 1}"
            sent = self._stamp("send", lt, c, pt, peer=to, msg=mid)
        request = {"type": "hlc_receive", "msg": sent["msg"], "from": self.id, "l": lt, "c": c}
        try:
            reply = self.rpcs[to].call(request)
        except ConnectFailed as e:  # nothing was sent: certainly not received
            return e.reply(definite=True, to=to, send=sent)
        except RpcError as e:  # sent: it may have been received, or may still be
            return e.reply(to=to, send=sent)
        if reply.get("ok"):
            return ok_reply({"to": to, "send": sent, "receive": reply.get("value")})
        reply = {k: v for k, v in reply.items() if k != "id"}
        return {**reply, "to": to, "send": sent}

    def _receive(self, msg: dict[str, Any]) -> dict[str, Any]:
        ml, mc, sender, mid = msg.get("l"), msg.get("c"), msg.get("from"), msg.get("msg")
        if not (_is_int(ml) and _is_int(mc) and isinstance(sender, str) and isinstance(mid, str)):
            return error_reply(BAD_REQUEST, "hlc_receive needs l, c, from and msg", definite=True)
        with self.mu:
            pt = now_us()
            carried = {"peer": sender, "msg": mid, "ml": ml, "mc": mc}
            if self.guard and ml - pt > self.max_offset_us:
                refused = self._journal(
                    "refuse", pt=pt, max_offset_ms=self.max_offset_ms, **carried
                )
                ahead = (ml - pt) / 1000
                log.debug("refused %s from %s: %.1f ms ahead of this clock", mid, sender, ahead)
                return error_reply(
                    OFFSET_EXCEEDED,
                    f"{self.id} refused {mid}: stamped {ahead:.1f} ms ahead of its clock, more "
                    f"than the maximum offset of {self.max_offset_ms} ms",
                    definite=True,
                    refused=refused,
                )
            lt, c = self._merge(pt, ml, mc)
            event = self._stamp("receive", lt, c, pt, max_offset_ms=self.max_offset_ms, **carried)
        return ok_reply(event)

    def _events(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The journal from event ``since`` + 1 on, at most ``limit`` events."""
        since, limit = msg.get("since", 0), msg.get("limit", 1000)
        if not (_is_int(since) and _is_int(limit)) or since < 0 or limit < 1:
            return error_reply(BAD_REQUEST, "events takes since >= 0 and limit >= 1", definite=True)
        with self.mu:
            start = max(since - self.dropped, 0)
            page = self.journal[start : start + min(limit, 5000)]
            last = self.seq
        return ok_reply(
            {
                "node": self.id,
                "boot": self.boot,
                "events": page,
                "last": last,
                "dropped": self.dropped,
                "more": bool(page) and page[-1]["seq"] < last,
            }
        )


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)
