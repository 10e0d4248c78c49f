"""One replica of the multi-value store: it takes reads and writes for every key, keeps each
key's versions in a dotted causal container (``versions``), and exchanges its whole state with
every peer every round (anti-entropy).

Concurrency: one lock (``mu``) guards ``states``; a change is appended to the record log
under it and made durable (``sync_upto``, shared fsyncs) outside it, before the reply or the
snapshot that depends on it leaves the node. The anti-entropy round asks every peer at once
(a thread per peer, through the pool) and never holds ``mu`` while it waits.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import wait
from typing import Any

from .._runtime import BAD_REQUEST, NodeConfig, RecordLog, error_reply, ok_reply
from .._runtime.replica import ConvergingReplica
from .versions import KeyState, digest, join, merge, update

__all__ = ["BUGS", "VClockNode"]

log = logging.getLogger("vclock")

BUGS: dict[str, str] = {
    "lww": "last writer wins by wall clock: every key keeps one version, the one with the "
    "latest wall-clock stamp, instead of the concurrent versions as siblings",
    "bad-merge": "anti-entropy merges two replicas' causal contexts with the element-wise "
    "minimum instead of the maximum",
}


class VClockNode(ConvergingReplica):
    """A replica (see the package docstring)."""

    log_name = "vclock"
    tick_name = "anti-entropy"
    round_name = "exchange"

    def __init__(
        self,
        cfg: NodeConfig,
        *,
        sync_interval: float = 0.1,
        rpc_timeout: float = 0.3,
        settle_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            cfg,
            sync_interval=sync_interval,
            rpc_timeout=rpc_timeout,
            settle_timeout=settle_timeout,
        )
        self.lww = "lww" in self.bugs
        self.min_merge = "bad-merge" in self.bugs

        os.makedirs(cfg.data, exist_ok=True)
        self.wal = RecordLog(os.path.join(cfg.data, "versions.log"))
        self.states: dict[str, KeyState] = {}
        for rec in self.wal.records:  # each record is a key's whole state: the last one wins
            self.states[str(rec["k"])] = KeyState.from_json(rec["s"])

        self.handlers.update(
            read=self._on_read,
            write=self._on_write,
            settle=self._on_settle,
            exchange=self._on_exchange,
        )
        log.info(
            "anti-entropy every %.0f ms with %s; %d keys recovered; bugs: %s",
            sync_interval * 1000,
            ",".join(self.others) or "no peer",
            len(self.states),
            ", ".join(sorted(self.bugs)) or "none",
        )

    def status(self) -> dict[str, Any]:
        with self.mu:
            siblings = max((len(s.entries) for s in self.states.values()), default=0)
            keys = len(self.states)
            d = digest(self.states)
        return {
            "id": self.id,
            "keys": keys,
            "most_siblings": siblings,
            "digest": d,
            "unreachable": sorted(self.unreachable),
            "bugs": sorted(self.bugs),
        }

    def close(self) -> None:
        self.wal.close()

    # -- client requests -------------------------------------------------------------------

    def _on_read(self, msg: dict[str, Any]) -> dict[str, Any]:
        key = msg.get("key")
        if not isinstance(key, str):
            return error_reply(BAD_REQUEST, f"'key' must be a string, got {key!r}")
        with self.mu:
            state = self.states.get(key, KeyState())
            n = len(self.wal)
        # what this read shows must survive a crash: a later read must not go back
        self.wal.sync_upto(n)
        return ok_reply({"values": state.values(), "context": state.cc, "dots": state.dots()})

    def _on_write(self, msg: dict[str, Any]) -> dict[str, Any]:
        key, context = msg.get("key"), msg.get("context", {})
        if not isinstance(key, str):
            return error_reply(BAD_REQUEST, f"'key' must be a string, got {key!r}")
        if "value" not in msg:
            return error_reply(BAD_REQUEST, "a write needs 'value'")
        if not isinstance(context, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in context.values()
        ):
            return error_reply(BAD_REQUEST, f"'context' must map node to counter: {context!r}")
        with self.mu:
            state, dot = update(
                self.states.get(key, KeyState()),
                self.id,
                msg["value"],
                context,
                time.time(),  # the wall clock: only the lww bug reads it
                lww=self.lww,
            )
            self.states[key] = state
            n = self.wal.append({"k": key, "s": state.to_json()})
        self.wal.sync_upto(n)
        # what the client knows now: what it had read, and its own write (not the siblings
        # it never saw: a write with this context must not replace them)
        return ok_reply({"dot": list(dot), "context": join(context, {self.id: dot[1]})})

    def _on_settle(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Wait (up to the request's budget) until every peer reports this node's digest,
        then answer every key's siblings: the final reads after the final heal."""
        peers = self.wait_converged(msg)
        with self.mu:
            values = {k: s.values() for k, s in sorted(self.states.items())}
            d = digest(self.states)
            n = len(self.wal)
        self.wal.sync_upto(n)
        return ok_reply(
            {
                "values": values,
                "digest": d,
                "converged": all(p == d for p in peers.values()),
                "peers": peers,
            }
        )

    # -- anti-entropy ----------------------------------------------------------------------

    def tick(self) -> None:
        """One anti-entropy round: push this node's whole state to every peer, merge what
        each sends back. A peer that answers again after failing gets the same exchange: the
        heal is repaired by the next round."""
        if not self.others:
            return
        snapshot = self._snapshot()
        msg = {"type": "exchange", "from": self.id, "state": snapshot}
        futures = {p: self.pool.submit(self.ask, p, msg) for p in self.others}
        wait(list(futures.values()), timeout=self.round_timeout)
        for peer, f in futures.items():
            reply = f.result() if f.done() else None
            if reply is None or not isinstance(reply.get("state"), dict):
                self.missed(peer)
                continue
            changed = self._merge(reply["state"])
            self.reached(peer, f"exchanged, {changed} keys changed")

    def _on_exchange(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A peer's push: merge its state, answer with this node's (merged) one."""
        state = msg.get("state")
        if not isinstance(state, dict):
            return error_reply(BAD_REQUEST, "an exchange needs 'state'")
        try:
            self._merge(state)
        except (ValueError, TypeError) as e:
            return error_reply(BAD_REQUEST, f"bad state from {msg.get('from')}: {e}")
        return ok_reply({"state": self._snapshot()})

    def _merge(self, received: dict[str, Any]) -> int:
        """Merge a peer's state (key -> ``KeyState.to_json``), durably; how many keys
        changed. Keys only this node has are merged with an empty state (a no-op, but for
        the bad-merge bug)."""
        theirs = {str(k): KeyState.from_json(v) for k, v in received.items()}
        changed = 0
        with self.mu:
            records = []
            for key in sorted(set(theirs) | set(self.states)):
                mine = self.states.get(key, KeyState())
                merged = merge(
                    mine, theirs.get(key, KeyState()), lww=self.lww, min_merge=self.min_merge
                )
                if merged != mine:
                    self.states[key] = merged
                    records.append({"k": key, "s": merged.to_json()})
            if records:
                changed = len(records)
                n = self.wal.append(*records)
            else:
                n = len(self.wal)
        self.wal.sync_upto(n)
        return changed

    def _snapshot(self) -> dict[str, Any]:
        """Every key's state as JSON, made durable first: a peer may act on it."""
        with self.mu:
            snap = {k: s.to_json() for k, s in self.states.items()}
            n = len(self.wal)
        self.wal.sync_upto(n)
        return snap

    def state_digest(self) -> str:
        return digest(self.states)
