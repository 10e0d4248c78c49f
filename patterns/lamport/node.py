"""One Lamport-clock node: a logical clock, the events it stamps (local events, sends and
receives), and the durable state that keeps the clock and the node's incarnation across a
kill -9.

Concurrency: one lock (``mu``) guards the clock and the event counter. An event is stamped
and numbered inside it, so the numbering is the node's process order; a send leaves the lock
before it waits for the receiver.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from .._runtime import (
    BAD_REQUEST,
    Node,
    NodeConfig,
    RpcError,
    atomic_write_json,
    error_reply,
    ok_reply,
    read_json,
)

__all__ = ["BUGS", "LamportNode", "event_id"]

log = logging.getLogger("lamport")

BUGS: dict[str, str] = {
    "no-max": "a receive ticks the receiver's own clock and ignores the message's stamp, "
    "instead of taking the maximum of both plus one",
    "send-no-tick": "a send stamps the message with the clock as it is, without ticking it "
    "first: the send shares its stamp with the node's previous event",
    "volatile-clock": "the clock lives in memory only: a restarted node counts again from 0",
}


def event_id(node: str, inc: int, seq: int) -> str:
    """The name of event ``seq`` of ``node``'s incarnation ``inc`` (``n1.2.17``): a message
    is named after its send event."""
    return f"{node}.{inc}.{seq}"


class LamportNode(Node):
    """A Lamport clock and the events it stamps (see the package docstring)."""

    log_name = "lamport"

    def __init__(self, cfg: NodeConfig, *, rpc_timeout: float = 0.5, reserve: int = 1000) -> None:
        super().__init__(cfg)
        self.reserve = max(1, reserve)
        self.rpcs = self.peer_clients(timeout=rpc_timeout, connect_timeout=rpc_timeout)
        self.mu = threading.Lock()
        os.makedirs(cfg.data, exist_ok=True)
        self.state_path = os.path.join(cfg.data, "clock.json")
        saved = read_json(self.state_path, {})
        #: how many times this node has started (durable in every build: it orders the
        #: node's events across restarts for the checker)
        self.inc = int(saved.get("inc", 0)) + 1
        # every stamp handed out so far is <= the durable ceiling, so a restarted node that
        # starts from it stamps every later event higher than every earlier one
        restored = 0 if "volatile-clock" in self.bugs else int(saved.get("ceiling", 0))
        #: the Lamport clock: the stamp of this node's latest event
        self.clock = restored
        #: events stamped in this incarnation (the last one's number)
        self.seq = 0
        self.ceiling = restored
        self._persist(restored + self.reserve)
        self.handlers.update(local=self._local, send=self._send, deliver=self._deliver)
        log.info(
            "incarnation %d, clock starts at %d (ceiling %d); bugs: %s",
            self.inc,
            self.clock,
            self.ceiling,
            ", ".join(sorted(self.bugs)) or "none",
        )

    def status(self) -> dict[str, Any]:
        with self.mu:
            return {
                "id": self.id,
                "clock": self.clock,
                "inc": self.inc,
                "events": self.seq,
                "bugs": sorted(self.bugs),
            }

    # -- events --------------------------------------------------------------------------

    def _local(self, _msg: dict[str, Any]) -> dict[str, Any]:
        """A local event: tick, stamp."""
        with self.mu:
            event = self._stamp(self.clock + 1)
        return ok_reply({"local": event})

    def _send(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send a message to ``msg["to"]``: tick and stamp the send, hand the stamp to the
        receiver, and answer with both events (or with the send's and why the receive is
        not known)."""
        to = msg.get("to")
        if not isinstance(to, str) or to not in self.rpcs:
            return error_reply(
                BAD_REQUEST,
                f"'to' must name another member ({', '.join(self.others) or 'none'}), got {to!r}",
            )
        with self.mu:
            # the bug: the send keeps the previous event's stamp
            tick = 0 if "send-no-tick" in self.bugs else 1
            sent = self._stamp(self.clock + tick)
        name = event_id(self.id, sent["inc"], sent["seq"])
        deliver = {"type": "deliver", "from": self.id, "msg": name, "c": sent["c"]}
        known = {"to": to, "msg": name, "send": sent}
        try:
            reply = self.rpcs[to].call(deliver)
        except RpcError as e:  # unreachable: certainly not delivered only if never sent
            return error_reply(
                e.code, f"message {name} to {to}: {e.message}", definite=e.definite, **known
            )
        value = reply.get("value") if reply.get("ok") else None
        recv = value.get("recv") if isinstance(value, dict) else None
        if not isinstance(recv, dict):
            return error_reply(
                str(reply.get("error") or "bad-reply"),
                f"{to} did not take message {name}: {reply.get('message', reply)}",
                definite=reply.get("definite") is True,
                **known,
            )
        return ok_reply({**known, "recv": recv})

    def _deliver(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Receive a message: the clock becomes the larger of its own and the message's
        stamp, plus one."""
        c = msg.get("c")
        if isinstance(c, bool) or not isinstance(c, int) or not isinstance(msg.get("msg"), str):
            return error_reply(BAD_REQUEST, f"a message needs 'msg' and an integer 'c': {msg}")
        with self.mu:
            # the bug: the message's stamp is ignored
            base = self.clock if "no-max" in self.bugs else max(self.clock, c)
            event = self._stamp(base + 1)
        log.debug(
            "received %s from %s (stamp %d) at %d", msg["msg"], msg.get("from"), c, event["c"]
        )
        return ok_reply({"recv": event})

    # -- the clock -----------------------------------------------------------------------

    def _stamp(self, c: int) -> dict[str, Any]:
        """The next event, stamped ``c`` (mu held): durable before it is handed out."""
        if c > self.ceiling and "volatile-clock" not in self.bugs:
            self._persist(c + self.reserve)
        self.clock = c
        self.seq += 1
        return {"node": self.id, "inc": self.inc, "seq": self.seq, "c": c}

    def _persist(self, ceiling: int) -> None:
        """Write the incarnation and a new ceiling of the clock (fsync'd, atomic)."""
        atomic_write_json(self.state_path, {"inc": self.inc, "ceiling": ceiling})
        self.ceiling = ceiling
