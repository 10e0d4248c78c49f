"""One CRDT replica: a G-counter, a PN-counter, an OR-set and a last-writer-wins register,
each taking writes on this node alone (no coordination, through any partition), spread to the
peers by state-based gossip every round.

Gossip, every ``--sync-ms``, to every peer at once (push, and pull with the answer):

- counters: this node's own entries (its totals of increments and decrements) of each counter
  whose totals changed since the peer last acknowledged them, with those acknowledged totals
  (``base``). The peer takes the per-node maximum. Entries travel only from their own node,
  so they converge once every pair of replicas has talked after the last change.
- the OR-set and the register: the whole state, merged both ways (the peer answers with its
  own after merging).

Concurrency: one lock (``mu``) guards the state; a change is appended to the record log under
it and made durable (``sync_upto``, shared fsyncs) outside it, before the reply, or the gossip,
that shows it leaves the node. The gossip asks every peer at once and never holds ``mu``
while it waits.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import wait
from typing import Any

from .._runtime import BAD_REQUEST, NodeConfig, RecordLog, error_reply, ok_reply
from .._runtime.replica import ConvergingReplica
from .crdts import Counter, LWWRegister, ORSet, diff, digest

__all__ = ["BUGS", "COUNTERS", "OBJECTS", "CrdtNode"]

log = logging.getLogger("crdt")

BUGS: dict[str, str] = {
    "merge-sum": "a counter merges a node's entry by adding the increment its sender reports "
    "since the last acknowledged gossip, instead of taking the per-node maximum: a gossip "
    "delivered twice (its answer lost, then sent again) counts twice",
    "no-tombstones": "the OR-set merges without its causal context (no dots seen, no "
    "tombstones): every element either replica holds stays, so a removed one comes back",
    "pn-single-counter": "the PN-counter keeps one entry per node, lowered by decrements, "
    "merged by maximum like a G-counter's: peers keep the higher old entry, decrements are lost",
}

#: the counters, by name: "g" takes increments only
COUNTERS = ("g", "pn")
#: everything a replica holds, by name
OBJECTS = (*COUNTERS, "set", "reg")


class CrdtNode(ConvergingReplica):
    """A replica (see the package docstring)."""

    log_name = "crdt"
    tick_name = round_name = "gossip"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        sync_interval: float = 0.2,
        rpc_timeout: float = 0.3,
        settle_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            cfg,
            sync_interval=sync_interval,
            rpc_timeout=rpc_timeout,
            settle_timeout=settle_timeout,
        )
        self.by_sum = "merge-sum" in self.bugs
        self.tombstones = "no-tombstones" not in self.bugs
        self.single = "pn-single-counter" in self.bugs
        #: peer -> counter -> this node's (increments, decrements) totals the peer
        #: acknowledged last (in memory: after a restart everything is sent again)
        self.acked: dict[str, dict[str, tuple[int, int]]] = {p: {} for p in self.others}

        os.makedirs(cfg.data, exist_ok=True)
        self.wal = RecordLog(os.path.join(cfg.data, "crdt.log"))
        self.counters = {name: Counter() for name in COUNTERS}
        self.set = ORSet()
        self.reg = LWWRegister()
        for rec in self.wal.records:  # replayed in order: the state before the crash
            if "c" in rec:
                self.counters[rec["c"]] = Counter.from_json(rec["s"])
            elif "set" in rec:
                self.set.apply(rec["set"]["add"], rec["set"]["drop"], rec["set"]["cc"])
            elif "reg" in rec:
                self.reg = LWWRegister.from_json(rec["reg"])

        self.handlers.update(
            add=self._on_add,
            read=self._on_read,
            write=self._on_write,
            settle=self._on_settle,
            gossip=self._on_gossip,
        )
        self.handlers["set-add"] = self._on_set_add
        self.handlers["set-remove"] = self._on_set_remove
        log.info(
            "gossip every %.0f ms with %s; %d records recovered; bugs: %s",
            sync_interval * 1000,
            ",".join(self.others) or "no peer",
            len(self.wal.records),
            ", ".join(sorted(self.bugs)) or "none",
        )

    def status(self) -> dict[str, Any]:
        with self.mu:
            values = self._values()
            d = digest(self._state())
        return {
            "id": self.id,
            "g": values["g"],
            "pn": values["pn"],
            "set_size": len(values["set"]),
            "digest": d,
            "unreachable": sorted(self.unreachable),
            "bugs": sorted(self.bugs),
        }

    def close(self) -> None:
        self.wal.close()

    # -- client requests -------------------------------------------------------------------

    def _on_add(self, msg: dict[str, Any]) -> dict[str, Any]:
        name, delta = msg.get("counter"), msg.get("delta")
        if name not in COUNTERS:
            return error_reply(BAD_REQUEST, f"'counter' must be one of {COUNTERS}, got {name!r}")
        if isinstance(delta, bool) or not isinstance(delta, int):
            return error_reply(BAD_REQUEST, f"'delta' must be an integer, got {delta!r}")
        if name == "g" and delta < 0:
            return error_reply(BAD_REQUEST, f"the G-counter only grows: delta {delta}")
        with self.mu:
            counter = self.counters[name]
            counter.add(self.id, delta, single=self.single and name == "pn")
            n = self.wal.append({"c": name, "s": counter.to_json()})
            total = counter.own(self.id)
        self.wal.sync_upto(n)
        return ok_reply({"total": list(total)})

    def _on_read(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = msg.get("object")
        if name not in OBJECTS:
            return error_reply(BAD_REQUEST, f"'object' must be one of {OBJECTS}, got {name!r}")
        with self.mu:
            value = self._values()[name]
            n = len(self.wal)
        self.wal.sync_upto(n)  # what a read shows must survive a crash
        return ok_reply(value)

    def _on_set_add(self, msg: dict[str, Any]) -> dict[str, Any]:
        element = msg.get("element")
        if isinstance(element, bool) or not isinstance(element, int | str):
            return error_reply(BAD_REQUEST, f"'element' is an integer or a string: {element!r}")
        with self.mu:
            before = self.set.dots()
            dot = self.set.add(self.id, element)
            n = self.wal.append({"set": diff(before, self.set)})
        self.wal.sync_upto(n)
        return ok_reply({"dot": list(dot)})

    def _on_set_remove(self, msg: dict[str, Any]) -> dict[str, Any]:
        element = msg.get("element")
        if isinstance(element, bool) or not isinstance(element, int | str):
            return error_reply(BAD_REQUEST, f"'element' is an integer or a string: {element!r}")
        with self.mu:
            before = self.set.dots()
            removed = self.set.remove(element)
            n = self.wal.append({"set": diff(before, self.set)}) if removed else len(self.wal)
        self.wal.sync_upto(n)
        return ok_reply({"removed": [list(d) for d in removed]})

    def _on_write(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A register write, stamped with this node's wall clock: the known weakness of a
        last-writer-wins register (a node whose clock is behind loses its writes)."""
        if "value" not in msg:
            return error_reply(BAD_REQUEST, "a write needs 'value'")
        ts = time.time()
        with self.mu:
            won = self.reg.write(msg["value"], ts, self.id)
            n = self.wal.append({"reg": self.reg.to_json()}) if won else len(self.wal)
        self.wal.sync_upto(n)
        return ok_reply({"ts": ts, "node": self.id, "won": won})

    def _on_settle(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Wait (up to the request's budget) until every peer reports this node's digest,
        then answer every object: the final reads after the final heal."""
        peers = self.wait_converged(msg)
        with self.mu:
            values = self._values()
            d = digest(self._state())
            n = len(self.wal)
        self.wal.sync_upto(n)
        converged = all(p == d for p in peers.values())
        return ok_reply({"values": values, "digest": d, "converged": converged, "peers": peers})

    # -- gossip ----------------------------------------------------------------------------

    def tick(self) -> None:
        """One gossip round with every peer at once."""
        futures = [self.pool.submit(self._gossip, p) for p in self.others]
        wait(futures, timeout=self.round_timeout)

    def _gossip(self, peer: str) -> None:
        """Push this node's changed counter entries and its set and register to ``peer``;
        merge what it answers."""
        with self.mu:
            counters = {}
            for name, counter in self.counters.items():
                own = counter.own(self.id)
                base = self.acked[peer].get(name, (0, 0))
                if own != base:
                    counters[name] = {"t": list(own), "base": list(base)}
            msg = {
                "type": "gossip",
                "from": self.id,
                "counters": counters,
                "set": self.set.to_json(),
                "reg": self.reg.to_json(),
            }
            n = len(self.wal)
        self.wal.sync_upto(n)  # the peer may show what it gets: durable here first
        reply = self.ask(peer, msg)
        if reply is None or not isinstance(reply.get("set"), dict):
            self.missed(peer)
            return
        with self.mu:
            for name, sent in counters.items():
                self.acked[peer][name] = (sent["t"][0], sent["t"][1])
        self._merge(ORSet.from_json(reply["set"]), LWWRegister.from_json(reply.get("reg", {})))
        self.reached(peer)

    def _on_gossip(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A peer's push: take its counter entries, merge its set and register, answer with
        this node's set and register."""
        sender = msg.get("from")
        if sender not in self.acked:
            return error_reply(BAD_REQUEST, f"gossip from a stranger: {sender!r}")
        try:
            other_set = ORSet.from_json(msg.get("set") or {})
            other_reg = LWWRegister.from_json(msg.get("reg") or {})
            reports = {
                name: ((int(c["t"][0]), int(c["t"][1])), (int(c["base"][0]), int(c["base"][1])))
                for name, c in (msg.get("counters") or {}).items()
                if name in COUNTERS
            }
        except (ValueError, TypeError, KeyError, IndexError) as e:
            return error_reply(BAD_REQUEST, f"bad gossip from {sender}: {e}")
        with self.mu:
            records = []
            for name, (totals, base) in reports.items():
                counter = self.counters[name]
                if counter.merge_own(sender, totals, base, by_sum=self.by_sum):
                    records.append({"c": name, "s": counter.to_json()})
            n = self.wal.append(*records) if records else len(self.wal)
        self.wal.sync_upto(n)
        self._merge(other_set, other_reg)
        with self.mu:
            reply = {"set": self.set.to_json(), "reg": self.reg.to_json()}
            n = len(self.wal)
        self.wal.sync_upto(n)
        return ok_reply(reply)

    def _merge(self, other_set: ORSet, other_reg: LWWRegister) -> None:
        """Merge a peer's set and register in, durably."""
        with self.mu:
            records: list[dict[str, Any]] = []
            before = self.set.dots()
            cc = dict(self.set.cc)
            self.set.merge(other_set, tombstones=self.tombstones)
            change = diff(before, self.set)
            if change["add"] or change["drop"] or self.set.cc != cc:
                records.append({"set": change})
            if self.reg.merge(other_reg):
                records.append({"reg": self.reg.to_json()})
            n = self.wal.append(*records) if records else len(self.wal)
        self.wal.sync_upto(n)

    # -- state -----------------------------------------------------------------------------

    def _values(self) -> dict[str, Any]:
        """What a client reads of each object (mu held)."""
        return {
            **{name: c.value for name, c in self.counters.items()},
            "set": self.set.elements(),
            "reg": self.reg.value,
        }

    def _state(self) -> dict[str, Any]:
        """The whole replicated state (mu held), whose digest replicas compare."""
        return {
            "counters": {name: c.to_json() for name, c in self.counters.items()},
            "set": self.set.to_json(),
            "reg": self.reg.to_json(),
        }

    def state_digest(self) -> str:
        return digest(self._state())
