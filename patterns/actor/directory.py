"""The directory and the actors' durable state, as this node's acceptor keeps them.

Every node is an acceptor for every actor. Per actor it keeps:

- ``promised``: the highest activation epoch it has promised (a claim). The epoch names its
  host (``host_of``), so the promises of a majority are the replicated directory: which node
  hosts the actor now.
- ``accepted``: the latest state a host wrote at this acceptor, ``{"e", "n", "state",
  "dedup"}``: the epoch of the host that wrote it, ``n`` the number of messages the actor
  has processed, the actor's state, and the de-duplication table (per sender, the last
  sequence number applied and its reply).

A claim of epoch ``e`` is granted when ``e`` is above every promise (the reply carries what
was accepted, for the new host to start from); a write at ``(e, n)`` is accepted when ``e``
is at least the promise and ``(e, n)`` is not below what was accepted. This is Paxos with
ballots ``(epoch, n)``, the claim being phase 1 and each message's write phase 2, so a host
whose epoch a newer claim has overtaken can no longer write at a majority.

Durability: every change is appended to a ``RecordLog`` (the actor's whole record) and
fsync'd (shared between concurrent callers) before the answer leaves the node.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .._runtime import RecordLog

__all__ = ["Directory", "position"]


def position(acc: dict[str, Any] | None) -> tuple[int, int]:
    """The ballot of an accepted record: (epoch, n); (0, 0) for none."""
    return (0, 0) if not acc else (int(acc["e"]), int(acc["n"]))


class Directory:
    """This node's promises and accepted states, per actor, recovered from ``<data>/actors.log``."""

    def __init__(self, data: str) -> None:
        os.makedirs(data, exist_ok=True)
        self.wal = RecordLog(os.path.join(data, "actors.log"))
        self.mu = threading.Lock()
        #: actor -> [promised epoch, accepted record or None]
        self.slots: dict[str, list[Any]] = {}
        for actor, promised, acc in self.wal.records:
            self.slots[actor] = [promised, acc]
        self.torn_bytes = self.wal.torn_bytes
        self.wal.records = []

    def promised(self, actor: str) -> int:
        with self.mu:
            slot = self.slots.get(actor)
            return int(slot[0]) if slot else 0

    def claim(self, actor: str, epoch: int) -> dict[str, Any]:
        """Promise ``epoch`` (durably) if it is above the promise; the reply: ``granted``,
        ``promised`` (the promise now) and ``accepted`` (the record this node holds)."""
        with self.mu:
            slot = self.slots.setdefault(actor, [0, None])
            if epoch < slot[0]:
                return {"ok": True, "granted": False, "promised": slot[0]}
            n = 0
            if epoch > slot[0]:
                slot[0] = epoch
                n = self.wal.append([actor, slot[0], slot[1]])
            acc = slot[1]
        if n:
            self.wal.sync_upto(n)
        return {"ok": True, "granted": True, "promised": epoch, "accepted": acc}

    def accept(self, actor: str, record: dict[str, Any]) -> dict[str, Any]:
        """Keep ``record`` (``e``, ``n``, ``state``, ``dedup``) durably unless a newer claim
        or a later write is here; the reply: ``granted`` and ``promised``."""
        e = int(record["e"])
        with self.mu:
            slot = self.slots.setdefault(actor, [0, None])
            if e < slot[0] or position(record) < position(slot[1]):
                return {"ok": True, "granted": False, "promised": slot[0]}
            n = 0
            if position(record) != position(slot[1]) or e != slot[0]:
                slot[0], slot[1] = e, record
                n = self.wal.append([actor, e, record])
        if n:
            self.wal.sync_upto(n)
        return {"ok": True, "granted": True, "promised": e}

    def actors(self) -> int:
        with self.mu:
            return len(self.slots)

    def close(self) -> None:
        with self.mu:
            self.wal.close()
