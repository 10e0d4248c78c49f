"""Watches on the Raft store: a client watches a key prefix from a revision and polls for every
committed change in order; a broken watch resumes, on any node, after the last revision it saw.

A *revision* is a log index: the entry of a write, cas or txn is its revision, the same in the
write's reply and in every watch on every node (a leader's no-op and a failed cas have no
event, so revisions have holes). A node's events are what it has *applied*, in log order:
everything committed, nothing that may still be lost. The events live in memory and are
rebuilt from the log as a restarted node applies it again; the log has no snapshots, so
nothing is compacted and a watch from any revision is served in full.

Three requests, all answered by the node itself (never forwarded), as ZooKeeper does::

    {"type": "watch", "watch": "w1", "prefix": "p/", "start": 1}       or "start": "now"
        -> {"ok": true, "value": {"watch": "w1", "start": 1, "epoch": 7}}
    {"type": "rewatch", "watch": "w1", "prefix": "p/", "after": 41}
        -> {"ok": true, "value": {"watch": "w1", "start": 42, "epoch": 8}}
    {"type": "poll", "watch": "w1", "wait_ms": 500, "epoch": 8}
        -> {"ok": true, "value": {"watch": "w1", "events": [[42, "p/a", 7], ...],
                                  "revision": 45}}

``watch`` registers a new watch on this node from ``start`` (``"now"``: the node's applied
index + 1). ``poll`` waits up to ``wait_ms`` (at most the request timeout) until the node has
applied the watch's next revision, then returns the events (``[revision, key, value]``, the
events of one revision together) from there to ``revision``, through which the watch is now
complete, and re-arms the watch at ``revision + 1`` before it answers. ``rewatch`` is
ZooKeeper's SetWatches after a reconnect: a client whose connection broke (the node was
killed, paused or cut off), or that moved to another node, registers its watch again with the
last revision it saw, and the node continues after it; a node that has not applied that far
yet waits before it sends anything (a poll returns nothing until then). A poll of a watch this
node does not know (it restarted) is answered ``unknown-watch`` (definite): rewatch.

Each registration has its own ``epoch``, and a poll that names another epoch than the
watch's current one is answered ``unknown-watch`` too. A poll is not idempotent (it moves the
watch on), and a paused node answers its requests in any order once it runs again: the poll
of a connection the client had already given up on, read after the client's ``rewatch`` on a
new one, would otherwise take the events of the new registration into a reply nobody reads,
and the client's next poll would find a gap (seen in a correct run: a watcher on a node
paused for 3 s missed revisions 513 to 520).

Seeded bugs (``flags.WATCH_BUGS``):

``watch-resume-now``
    ``rewatch`` ignores ``after`` and starts the watch at the node's current revision, as a
    new watch from "now": what was committed while the client was away is never delivered
    (or, on a node that restarted and has not applied its log again yet, old events come a
    second time). Exposed by whatever breaks a watch's connection: a kill or a pause of its
    node.
``watch-before-commit``
    Polls serve the node's log up to its last entry, not up to what is applied: an entry is
    delivered once appended, before a majority holds it. Exposed by a partition that isolates
    the leader while clients write through it (its appended entries are replaced by the new
    leader's), or by killing the leader: watchers see writes that never happened, and miss
    what was committed at those revisions instead.
``watch-rearm-late``
    A watch is one-shot: a poll that returns events disarms it, and the next poll re-arms it
    at the node's current revision, after the client came back, instead of at ``revision +
    1`` before answering. Whatever was committed between the two polls is missed. No fault is
    needed, only writes while a watcher is between polls.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .._runtime import BAD_REQUEST, error_reply, ok_reply

__all__ = ["MAX_EVENTS", "UNKNOWN_WATCH", "Store", "Watches", "changes"]

#: a poll returns at most this many events (more only to finish a revision)
MAX_EVENTS = 2000
#: the error of a poll for a watch this node does not know (it restarted): rewatch
UNKNOWN_WATCH = "unknown-watch"


class Store(Protocol):
    """What watches need of the node (``RaftNode``): its lock, its log and applied index."""

    id: str
    bugs: frozenset[str]
    mu: threading.Lock
    applied: int
    log: list[tuple[int, Any]]
    request_timeout: float

    def wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool: ...


class _Watch:
    """A registered watch: its prefix, and the next revision it delivers (None while a
    one-shot watch of ``watch-rearm-late`` is disarmed)."""

    __slots__ = ("cursor", "epoch", "prefix")

    def __init__(self, prefix: str, cursor: int, epoch: int) -> None:
        self.prefix = prefix
        self.cursor: int | None = cursor
        self.epoch = epoch


class Watches:
    """The events a node has applied and the watches registered on it; its requests go into
    the node's ``handlers``. Everything runs with the node's ``mu`` held."""

    def __init__(self, node: Store) -> None:
        self.node = node
        self.bugs = node.bugs
        #: (revision, key, value), in revision order; ``revisions`` the same revisions
        self.events: list[tuple[int, Any, Any]] = []
        self.revisions: list[int] = []
        self.watches: dict[str, _Watch] = {}
        #: the last registration's epoch (every registration gets the next)
        self.epoch = 0

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {"watch": self._on_watch, "rewatch": self._on_rewatch, "poll": self._on_poll}

    # -- from the node's state machine (mu held) ------------------------------------------

    def applied(self, index: int, cmd: dict[str, Any], result: dict[str, Any]) -> None:
        """Entry ``index`` was applied with ``result``: its changes become events."""
        if result.get("ok") is not True:
            return  # a cas that found another value changed nothing
        for key, value in changes(cmd):
            self.events.append((index, key, value))
            self.revisions.append(index)

    def dropped(self, index: int) -> None:
        """Applied entries from ``index`` on were dropped (only Raft's seeded bugs do that)."""
        cut = bisect.bisect_left(self.revisions, index)
        del self.events[cut:], self.revisions[cut:]

    # -- requests -------------------------------------------------------------------------

    def _on_watch(self, msg: dict[str, Any]) -> dict[str, Any]:
        start = msg.get("start")
        problem = _registration_problem(msg) or (
            None
            if start == "now" or _is_revision(start, 1)
            else f"'start' must be a revision (an integer >= 1) or \"now\", got {start!r}"
        )
        if problem:
            return error_reply(BAD_REQUEST, problem)
        with self.node.mu:
            first = self.node.applied + 1 if start == "now" else int(msg["start"])
            return self._register(msg, first)

    def _on_rewatch(self, msg: dict[str, Any]) -> dict[str, Any]:
        after = msg.get("after")
        problem = _registration_problem(msg) or (
            None
            if _is_revision(after, 0)
            else f"'after' must be the last revision seen (an integer >= 0), got {after!r}"
        )
        if problem:
            return error_reply(BAD_REQUEST, problem)
        with self.node.mu:
            if "watch-resume-now" in self.bugs:
                return self._register(msg, self.node.applied + 1)  # the bug: from now
            return self._register(msg, int(msg["after"]) + 1)

    def _register(self, msg: dict[str, Any], first: int) -> dict[str, Any]:
        self.epoch += 1
        self.watches[msg["watch"]] = _Watch(msg["prefix"], first, self.epoch)
        return ok_reply({"watch": msg["watch"], "start": first, "epoch": self.epoch})

    def _on_poll(self, msg: dict[str, Any]) -> dict[str, Any]:
        wid, wait_ms = msg.get("watch"), msg.get("wait_ms", 0)
        if not isinstance(wid, str):
            return error_reply(BAD_REQUEST, f"'watch' must be a watch id (a string), got {wid!r}")
        if not _is_revision(wait_ms, 0):
            return error_reply(BAD_REQUEST, f"'wait_ms' must be an integer >= 0, got {wait_ms!r}")
        node = self.node
        deadline = time.monotonic() + min(int(wait_ms) / 1000, node.request_timeout)
        with node.mu:
            w = self.watches.get(wid)
            if w is None:
                return error_reply(
                    UNKNOWN_WATCH,
                    f"{node.id} has no watch {wid!r} (it restarted?): rewatch",
                    definite=True,
                )
            epoch = msg.get("epoch")
            if epoch is not None and epoch != w.epoch:  # a stale poll of an earlier registration
                return error_reply(
                    UNKNOWN_WATCH,
                    f"watch {wid!r} was registered again (epoch {w.epoch}, not {epoch})",
                    definite=True,
                )
            if w.cursor is None:  # watch-rearm-late: re-armed now, at the current revision
                w.cursor = node.applied + 1
            cursor = w.cursor
            node.wait_until(lambda: self._upto() >= cursor, deadline)
            if self.watches.get(wid) is not w:
                return error_reply(UNKNOWN_WATCH, f"watch {wid!r} was registered again")
            events, through = self._collect(w.prefix, cursor, self._upto())
            if events and "watch-rearm-late" in self.bugs:
                w.cursor = None  # the bug: one-shot, disarmed until the next poll
            else:
                w.cursor = max(cursor, through + 1)
            return ok_reply({"watch": wid, "events": events, "revision": max(through, cursor - 1)})

    # -- reading events -------------------------------------------------------------------

    def _upto(self) -> int:
        """The last revision a poll may deliver: the applied index, or the log's last entry
        with ``watch-before-commit``."""
        if "watch-before-commit" in self.bugs:
            return len(self.node.log)
        return self.node.applied

    def _collect(self, prefix: str, first: int, upto: int) -> tuple[list[list[Any]], int]:
        """The events for ``prefix`` from revision ``first`` to ``upto`` (a revision's events
        never split), and the revision through which they are complete."""
        out: list[list[Any]] = []
        for r, key, value in self._between(first, upto):
            if len(out) >= MAX_EVENTS and r != out[-1][0]:
                return out, r - 1
            if _matches(key, prefix):
                out.append([r, key, value])
        return out, upto

    def _between(self, first: int, upto: int) -> Iterator[tuple[int, Any, Any]]:
        """Every event from ``first`` to ``upto``: applied ones, then (``watch-before-commit``
        only) the changes of log entries appended but not applied yet."""
        applied = self.node.applied
        i = bisect.bisect_left(self.revisions, first)
        while i < len(self.events) and self.events[i][0] <= min(upto, applied):
            yield self.events[i]
            i += 1
        for index in range(max(first, applied + 1), upto + 1):
            for key, value in changes(self.node.log[index - 1][1]):
                yield index, key, value


def changes(cmd: Any) -> list[tuple[Any, Any]]:
    """The (key, value) pairs a store command sets if it succeeds: a write's, a cas's ``to``,
    each put of a txn; nothing for a no-op (or another pattern's command)."""
    if not isinstance(cmd, dict):
        return []
    op = cmd.get("op")
    if op == "write":
        return [(cmd["key"], cmd["value"])]
    if op == "cas":
        return [(cmd["key"], cmd["to"])]
    if op == "txn":
        return [(k, v) for k, v in cmd["puts"]]
    return []


def _matches(key: Any, prefix: str) -> bool:
    return prefix == "" or (isinstance(key, str) and key.startswith(prefix))


def _is_revision(v: Any, least: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _registration_problem(msg: dict[str, Any]) -> str | None:
    if not isinstance(msg.get("watch"), str) or not msg["watch"]:
        return f"'watch' must be a watch id (a non-empty string), got {msg.get('watch')!r}"
    if not isinstance(msg.get("prefix"), str):
        return f"'prefix' must be a string ('' for every key), got {msg.get('prefix')!r}"
    return None
