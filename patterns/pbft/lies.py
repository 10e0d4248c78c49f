"""The lying modes a replica can be switched into (the ``byzantine`` fault), and what each does.

A lying replica keeps an honest state machine (its own state stays what the protocol makes
it); the lies are in what it sends, to its peers and to clients. The harness switches a node
with ``{"type": "lie", "mode": MODE}`` and back with ``{"type": "lie", "mode": null}``.

``equivocate``
    As primary, it sends one backup (the first other member, in name order) a different
    PRE-PREPARE for each sequence number (a write of ``LIE_VALUE`` by a client that does not
    exist), with its own COMMIT for it and PREPAREs and COMMITs it forges in the other
    replicas' names. As a backup, it forges such pre-prepares in the primary's name for the
    next numbers, and vouches (PREPARE and COMMIT) for every digest it is pre-prepared.
    A correct replica rejects the forgeries (MAC) and needs 2f+1 votes: one liar can stall a
    number (a view change follows) but not commit two requests there.
``wrong-reply``
    It answers every client request at once with a result it never computed: ``LIE_VALUE``
    for a read, success for a cas. A client that waits for f+1 matching replies ignores it.
``silence``
    It drops every message to all other replicas but one (the first in name order).
``replay``
    It sends again messages it sent a while ago (old views, old sequence numbers, old
    checkpoints), and forwards old client requests to the primary again.
``forge-view-change``
    It sends VIEW-CHANGE messages for the next view in its own name and forged in every
    other replica's, each claiming that nothing was prepared: enough of them would start a
    view change whose NEW-VIEW fills committed numbers with null requests.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .auth import digest

__all__ = ["LIE_VALUE", "MODES", "Liar", "alternative"]

MODES = ("equivocate", "wrong-reply", "silence", "replay", "forge-view-change")

#: the value lies carry: the register workload never writes it
LIE_VALUE = 1000003

#: (destination, message, the replica it claims to come from; None: itself)
Out = tuple[str, dict[str, Any], str | None]


def alternative(seq: int, request: Any) -> dict[str, Any]:
    """The other request an equivocating primary sends for ``seq`` instead of ``request``: a
    write of ``LIE_VALUE`` to the same key by a client that does not exist."""
    key = request["op"].get("key", 0) if isinstance(request, dict) else 0
    return {"client": "liar", "rid": seq, "op": {"f": "write", "key": key, "value": LIE_VALUE}}


class Liar:
    """The lie layer of replica ``me`` among ``members`` (sorted); ``mode`` None: honest.

    ``outgoing`` rewrites what the replica sends; ``incoming`` may answer what it receives;
    ``reply`` fabricates a client's result; ``tick`` injects messages on its own.
    ``state`` reads the replica (view, primary, low, last executed, checkpoints) under the
    node's lock.
    """

    def __init__(self, me: str, members: list[str], state: Callable[[], dict[str, Any]]) -> None:
        self.me = me
        self.members = members
        self.others = [m for m in members if m != me]
        self.state = state
        self.mode: str | None = None
        self.rng = random.Random(me)
        #: (monotonic time sent, destination, message) of what it sent, for replay
        self.sent: deque[tuple[float, str, dict[str, Any]]] = deque(maxlen=2000)
        self.requests: deque[dict[str, Any]] = deque(maxlen=200)
        self._last_forge = 0.0

    @property
    def victim(self) -> str:
        """The one replica equivocation targets, and the one silence spares."""
        return self.others[0]

    # -- what the replica sends --------------------------------------------------------

    def outgoing(self, dest: str, msg: dict[str, Any]) -> list[Out]:
        self.sent.append((time.monotonic(), dest, msg))
        mode = self.mode
        if mode == "silence" and dest != self.victim:
            return []
        if mode == "equivocate" and msg.get("kind") == "pre-prepare" and dest == self.victim:
            return self._equivocation(dest, msg["view"], msg["seq"], msg.get("request"), None)
        return [(dest, msg, None)]

    def incoming(self, msg: dict[str, Any]) -> list[Out]:
        """What a liar adds on receiving ``msg`` (already accepted as authentic)."""
        if self.mode != "equivocate" or msg.get("kind") != "pre-prepare":
            return []
        v, seq, d = msg.get("view"), msg.get("seq"), msg.get("digest")
        if not isinstance(seq, int):
            return []
        out: list[Out] = []
        primary = msg.get("from")
        # vouch for whatever it is shown, and for the other request an equivocating primary
        # sends its victim (liars lie alike: a second liar makes the primary's lie stick)
        votes = [(p, d) for p in self.others]
        victim = next((m for m in self.members if m != primary), None)
        if victim is not None and victim != self.me:
            votes.append((victim, digest(alternative(seq, msg.get("request")))))
        for peer, vd in votes:
            for kind in ("prepare", "commit"):
                out.append((peer, {"kind": kind, "view": v, "seq": seq, "digest": vd}, None))
        if isinstance(primary, str) and primary != self.me and isinstance(v, int):
            for ahead in (1, 2):  # forge the primary's next pre-prepares for one backup
                target = next((p for p in self.others if p != primary), self.victim)
                out += self._equivocation(target, v, seq + ahead, msg.get("request"), primary)
        return out

    def _equivocation(
        self, dest: str, view: int, seq: int, request: Any, primary: str | None
    ) -> list[Out]:
        alt = alternative(seq, request)
        d = digest(alt)
        pp = {"kind": "pre-prepare", "view": view, "seq": seq, "digest": d, "request": alt}
        out: list[Out] = [(dest, pp, primary)]
        vote = {"view": view, "seq": seq, "digest": d}
        sender = primary or self.me
        for m in self.members:
            if m == dest:
                continue
            if m != sender:
                out.append((dest, {"kind": "prepare", **vote}, None if m == self.me else m))
            out.append((dest, {"kind": "commit", **vote}, None if m == self.me else m))
        return out

    # -- clients -----------------------------------------------------------------------

    def reply(self, request: dict[str, Any]) -> Any:
        """A fabricated result for ``request`` (wrong-reply), or None: answer honestly."""
        self.requests.append(request)
        if self.mode != "wrong-reply":
            return None
        f = request["op"].get("f")
        return {"read": LIE_VALUE, "write": "ok", "cas": True}.get(f, LIE_VALUE)

    # -- on its own --------------------------------------------------------------------

    def tick(self) -> list[Out]:
        """Messages the liar injects now (replay, forge-view-change)."""
        if self.mode == "replay":
            return self._replay()
        if self.mode == "forge-view-change":
            now = time.monotonic()
            if now - self._last_forge < 0.3:
                return []
            self._last_forge = now
            return self._forged_view_changes()
        return []

    def _replay(self) -> list[Out]:
        now = time.monotonic()
        old = [s for s in self.sent if now - s[0] > 1.0]
        out: list[Out] = [
            (dest, msg, None) for _, dest, msg in self.rng.sample(old, min(5, len(old)))
        ]
        st = self.state()
        primary = st["primary"]
        if self.requests and primary != self.me:
            for req in self.rng.sample(list(self.requests), min(2, len(self.requests))):
                out.append((primary, {"kind": "request", "request": req}, None))
        return out

    def _forged_view_changes(self) -> list[Out]:
        st = self.state()
        vc = {
            "kind": "view-change",
            "view": st["view"] + 1,
            "low": st["low"],
            "checkpoints": st["checkpoints"],
            "prepared": [],
            "pre_prepared": [],
        }
        out: list[Out] = []
        for dest in self.others:
            for claimed in self.members:
                if claimed != dest:
                    out.append((dest, vc, None if claimed == self.me else claimed))
        return out
