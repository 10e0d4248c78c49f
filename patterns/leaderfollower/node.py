"""One node of the replicated log: the Raft node's election and replication, with high- and
low-water marks, log reads on any node, truncation and an audit.

The Raft machinery (``patterns/raft``) supplies leader election, failover and replication;
the commit index is the high-water mark. This module adds what a leader-follower log
promises its readers: reads of the log are served by whichever node is asked, followers
included, but only up to the high-water mark that node knows and only above the low-water
mark; writes are acknowledged with the index they got; truncation moves the low-water mark
through the log, so every node moves it at the same entry.
"""

from __future__ import annotations

import logging
from typing import Any

from .._runtime import BAD_REQUEST, NodeConfig, error_reply, ok_reply
from ..raft import LEADER, RaftNode

__all__ = ["BUGS", "LogNode", "summary"]

log = logging.getLogger("log")

BUGS: dict[str, str] = {
    "ack-before-replication": "the primary acknowledges a write once it is in its own log, "
    "before a majority holds it",
    "read-past-hwm": "log reads return every entry a node holds, past its high-water mark",
    "lwm-leader-only": "only the node that leads when a truncation is applied moves its "
    "low-water mark; followers keep serving the truncated prefix",
}

#: the most entries one log read returns
MAX_READ = 256


class LogNode(RaftNode):
    """A Raft node that serves the replicated log's client protocol (see the package)."""

    def __init__(self, cfg: NodeConfig, **raft: Any) -> None:
        super().__init__(cfg, **raft)
        #: entries at or below it are truncated: never served again
        self.lwm = 0
        self.handlers.update(
            {"read-log": self._read_log, "audit": self._audit, "truncate": self._on_truncate}
        )

    def status(self) -> dict[str, Any]:
        st = super().status()
        with self.mu:
            st.update(hwm=self.commit, lwm=self.lwm)
        return st

    # -- reads of the log, on any node -------------------------------------------------

    def _read_log(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``from``: "head" (the oldest entries kept) or "tail" (the newest visible);
        ``count`` entries at most. Entries ``lwm < i <= hwm`` are visible."""
        where, count = msg.get("from", "tail"), msg.get("count", 8)
        if where not in ("head", "tail"):
            return error_reply(BAD_REQUEST, f'\'from\' must be "head" or "tail", got {where!r}')
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_READ:
            return error_reply(BAD_REQUEST, f"'count' must be an integer in 1..{MAX_READ}")
        with self.mu:
            hwm, lwm = self.commit, self.lwm
            top = hwm
            if "read-past-hwm" in self.bugs:
                top = len(self.log)  # the bug: what this node holds, committed or not
            if where == "tail":
                first = max(lwm + 1, top - count + 1)
                last = top
            else:
                first = lwm + 1
                last = min(top, lwm + count)
            entries = [self._entry(i) for i in range(first, last + 1)]
        return ok_reply({"node": self.id, "hwm": hwm, "lwm": lwm, "entries": entries})

    def _audit(self, _msg: dict[str, Any]) -> dict[str, Any]:
        """Every committed entry, the truncated ones included: what the checker compares
        reads and acknowledgements with, after the test (not a client read)."""
        with self.mu:
            entries = [self._entry(i) for i in range(1, self.commit + 1)]
            return ok_reply(
                {
                    "node": self.id,
                    "hwm": self.commit,
                    "lwm": self.lwm,
                    "term": self.term,
                    "entries": entries,
                }
            )

    def _entry(self, index: int) -> list[Any]:
        term, cmd = self.log[index - 1]
        return [index, term, summary(cmd)]

    # -- writes and truncation, on the leader ------------------------------------------

    def lead_write(self, cmd: dict[str, Any], deadline: float) -> dict[str, Any]:
        if "ack-before-replication" in self.bugs and cmd.get("op") == "write":
            with self.mu:
                if self.role != LEADER:
                    return self.not_leader(self.leader)
                index = self.append_local([(self.term, cmd)])
                self.wake.notify_all()
            self.storage.sync(index)
            # the bug: durable here is taken for durable everywhere
            return ok_reply({"index": index})
        return super().lead_write(cmd, deadline)

    def _on_truncate(self, msg: dict[str, Any]) -> dict[str, Any]:
        keep = msg.get("keep")
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            return error_reply(BAD_REQUEST, f"'keep' must be an integer >= 0, got {keep!r}")
        return self.route(msg, lambda deadline: self._lead_truncate(keep, deadline))

    def _lead_truncate(self, keep: int, deadline: float) -> dict[str, Any]:
        with self.mu:
            if self.role != LEADER:
                return self.not_leader(self.leader)
            upto = max(self.lwm, self.commit - keep)
        return self.lead_write({"op": "truncate", "upto": upto}, deadline)

    def execute(self, cmd: dict[str, Any]) -> dict[str, Any]:
        index = self.applied + 1  # entries are applied in order, one at a time
        op = cmd.get("op")
        if op == "truncate":
            upto = int(cmd["upto"])
            if "lwm-leader-only" not in self.bugs or self.role == LEADER:
                self.lwm = max(self.lwm, upto)
            return ok_reply({"upto": upto, "index": index})
        result = super().execute(cmd)
        if op in ("write", "cas") and result.get("ok"):
            result = ok_reply({"index": index})
        return result


def summary(cmd: dict[str, Any]) -> list[Any]:
    """A log entry's command as a short list: ``["w", key, value]``, ``["c", key, from,
    to]``, ``["t", upto]`` (truncate), ``["n"]`` (a leader's no-op)."""
    op = cmd.get("op")
    if op == "write":
        return ["w", cmd["key"], cmd["value"]]
    if op == "cas":
        return ["c", cmd["key"], cmd["from"], cmd["to"]]
    if op == "truncate":
        return ["t", cmd["upto"]]
    return ["n"]
