"""The Raft store's watches: the ``watch`` workload's client for system ``raft`` (checked by
the ``watch`` checker, ``checkers/watch.py``, as etcd's watches are).

Writers put unique values to a few keys under ``watch/`` (``write``), a share of them two keys
in one ``txn`` (one log entry: one revision). Each watcher keeps one watch on the ``watch/``
prefix (``patterns/raft/watch.py``), polled by a thread of its own: registered on its node
from revision 1 (``first``) or from the node's current revision (``now``), polled every
``interval`` s (a poll waits up to ``wait_ms`` for a change), and, whenever a request fails
(the node was killed or paused, the connection broke, the node restarted and forgot the
watch), registered again with ``rewatch`` after the last revision it saw, on its node or, once
that node has failed twice in a row, on the next one. The history is the etcd watch client's
(``workloads/etcd/watch.py``)::

    write    [k, v]     -> ok [k, {"value": v, "revision": r}]    r: the write's log index
    txn      [["w", k1, v1], ["w", k2, v2]] -> ok {"txn": [...], "revision": r}
    watch    {"start": "first" | "now"}
             -> ok {"watcher": id, "start": s, "events": [[r, k, v, n], ...], ...}
                the events received since the last watch op, in order; n numbers the poll
                reply that carried them (a revision's events come in one reply)
    catch-up {"start": ...}   once per watcher, after the heal
             -> ok {... the same, "target": t, "caught_up": bool}
                t: the store's revision read by ReadIndex after the heal (``revision``); the
                op waits (``catch_up_s``) until the watch is complete through t
    status   None           -> ok {the node's status}

What the store promises for watches: every committed change of a watched key, in revision
order, each once, the events of one revision together; a watch resumed after the last
revision it saw misses nothing (nothing is ever compacted). So every rule of the checker
holds; an anomaly is a bug.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.history import Op
from harness.registry import option
from harness.spec import WorkloadSpec
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = ["WATCH_PREFIX", "RaftWatchClient", "RaftWatchOptions", "make_client"]

#: the prefix of the workload's keys in the store (the history has them without it)
WATCH_PREFIX = "watch/"


@dataclass(frozen=True)
class RaftWatchOptions:
    """``workload.options`` the Raft store's watch client reads."""

    interval: float = option(0.1, "seconds between a watcher's polls", minimum=0)
    wait_ms: int = option(500, "how long a poll waits for a change (ms)", minimum=0)
    catch_up_s: float = option(
        20.0, "seconds a watcher may take to catch up after the heal", minimum=0
    )


def make_client(spec: WorkloadSpec, options: RaftWatchOptions, system: HasPorts) -> RaftWatchClient:
    """The watch client of a test on the Raft store: ``RAFT.clients["watch"]``."""
    return RaftWatchClient(
        system,
        timeout=spec.timeout,
        interval=options.interval,
        wait_ms=options.wait_ms,
        catch_up_s=options.catch_up_s,
    )


class RaftWatchClient(PatternClient):
    """Writes on its own connection; one watch kept by a background thread (see the module
    docstring). ``timeout``: seconds for a request; ``catch_up_s``: how long ``catch-up``
    waits for the watch to reach the target revision."""

    def __init__(
        self,
        system: HasPorts,
        *,
        timeout: float = 2.0,
        interval: float = 0.1,
        wait_ms: int = 500,
        catch_up_s: float = 20.0,
    ) -> None:
        super().__init__(system, timeout=timeout)
        self.interval = interval
        self.wait_ms = wait_ms
        self.catch_up_s = catch_up_s
        self.node: Node | None = None
        self.watcher: _Watcher | None = None

    def open(self, node: Node) -> None:
        self.node = node
        super().open(node)

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        super().close()

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """A catch-up reads the target revision, then waits up to ``catch_up_s``."""
        if op.f == "catch-up":
            return self.catch_up_s + 2 * self.timeout + 1.0
        return super().op_timeout(op, timeout)

    def invoke(self, op: Op) -> Op:
        if op.f == "status":
            reply = self.request(op, {"type": "status"})
            if isinstance(reply, Op):
                return reply
            return (
                op.complete("ok", reply.get("value")) if reply.get("ok") else self.failed(op, reply)
            )
        if op.f in ("write", "txn"):
            return self._write(op)
        if op.f in ("watch", "catch-up"):
            start = op.value.get("start", "first") if isinstance(op.value, dict) else "first"
            if start not in ("first", "now"):
                return op.complete("fail", op.value, error=f"bad-op: start {start!r}")
            if self.watcher is None:
                assert self.node is not None and self.system is not None
                self.watcher = _Watcher(self, f"{self.node.name}/{op.process}", start)
            if op.f == "watch":
                return op.complete("ok", self.watcher.drain())
            return self._catch_up(op)
        return op.complete("fail", op.value, error=f"bad-op: the watch client has no op {op.f!r}")

    def _write(self, op: Op) -> Op:
        puts = _puts(op)
        if puts is None:
            expected = "[key, value]" if op.f == "write" else '[["w", key, value], ...]'
            return op.complete("fail", op.value, error=f"bad-op: expected {expected}")
        if op.f == "write":
            req = {"type": "write", "key": WATCH_PREFIX + puts[0][0], "value": puts[0][1]}
        else:
            req = {"type": "txn", "puts": [[WATCH_PREFIX + k, v] for k, v in puts]}
        reply = self.request(op, req)
        if isinstance(reply, Op):
            return reply
        if reply.get("ok") is not True:
            return self.failed(op, reply)
        revision = int(reply["revision"])
        if op.f == "txn":
            return op.complete("ok", {"txn": op.value, "revision": revision})
        key, value = puts[0]
        return op.complete("ok", [key, {"value": value, "revision": revision}])

    def _catch_up(self, op: Op) -> Op:
        """Read the store's revision by ReadIndex (again and again while the cluster elects
        a leader), then wait until the watch is complete through it; ``fail`` (nothing
        drained) if no revision can be read within ``catch_up_s``."""
        assert self.watcher is not None
        deadline = time.monotonic() + self.catch_up_s
        while True:
            reply = self.request(op, {"type": "revision"})
            if not isinstance(reply, Op) and reply.get("ok") is True:
                target = int(reply["value"])
                break
            if time.monotonic() >= deadline:
                error = reply.error if isinstance(reply, Op) else reply.get("error")
                return op.complete("fail", op.value, error=f"no-target: {error}")
            time.sleep(0.2)
        caught = self.watcher.wait_for(target, max(deadline - time.monotonic(), 1.0))
        return op.complete("ok", {**self.watcher.drain(), "target": target, "caught_up": caught})


class _Watcher:
    """One watch on the prefix, kept by a daemon thread that polls it and collects its
    events, on a connection of its own (a ``PatternClient`` it moves between nodes)."""

    def __init__(self, client: RaftWatchClient, name: str, start: str) -> None:
        assert client.node is not None and client.system is not None
        self.name = name
        self.start_mode = start
        self.interval = client.interval
        self.wait_ms = client.wait_ms
        self.nodes = _ring(client.system, client.node)
        self.conn = PatternClient(client.system, timeout=client.timeout + client.wait_ms / 1000)
        self.lock = threading.Condition()
        self.start: int | None = None
        self.upto: int | None = None  # the watch is complete through this revision
        self.events: list[list[Any]] = []
        self.replies = 0  # poll replies with events, numbered in each event
        self.restarts = 0
        #: the current registration's epoch (None before the first)
        self.epoch: int | None = None
        self.errors: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def drain(self) -> dict[str, Any]:
        """The events received since the last drain, and the watch's state."""
        with self.lock:
            events, self.events = self.events, []
            out: dict[str, Any] = {
                "watcher": self.name,
                "start": self.start,
                "events": events,
                "upto": self.upto,
                "restarts": self.restarts,
                "on": self.nodes[0].name,
            }
            if self.errors:
                out["errors"], self.errors = self.errors[-3:], []
        return out

    def wait_for(self, revision: int, seconds: float) -> bool:
        """Until the watch is complete through ``revision`` (true), or ``seconds`` pass."""
        deadline = time.monotonic() + seconds
        with self.lock:
            while self.upto is None or self.upto < revision:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.2))
        return True

    def _run(self) -> None:
        self.conn.open(self.nodes[0])
        registered, failures = False, 0
        while not self.stopped.is_set():
            try:
                if not registered:
                    self._register()
                    registered = True
                self._poll()
                failures = 0
                self.stopped.wait(self.interval)
                continue
            except _Refused as e:
                self._note(str(e))
            except (OSError, ValueError) as e:  # no reply: the node is down, paused, gone
                self._note(f"{type(e).__name__}: {e}")
            registered = False
            failures += 1
            if failures >= 2:  # twice in a row: resume on the next node
                self.nodes.append(self.nodes.pop(0))
                self.conn.drop()
                self.conn.open(self.nodes[0])
                failures = 0
            self.stopped.wait(0.2)

    def _register(self) -> None:
        """A new watch (the first time), else ``rewatch`` after the last revision seen."""
        self.conn.ensure_connected()
        base = {"watch": self.name, "prefix": WATCH_PREFIX}
        if self.upto is None:
            start = 1 if self.start_mode == "first" else "now"
            reply = self.conn.call({"type": "watch", **base, "start": start})
        else:
            reply = self.conn.call({"type": "rewatch", **base, "after": self.upto})
            with self.lock:
                self.restarts += 1
        if reply.get("ok") is not True:
            raise _Refused(f"register: {reply.get('error')}: {reply.get('message')}")
        self.epoch = reply["value"].get("epoch")  # polls name it: a stale one is refused
        if self.upto is None:
            with self.lock:
                self.start = int(reply["value"]["start"])
                self.upto = self.start - 1

    def _poll(self) -> None:
        self.conn.ensure_connected()
        poll = {"type": "poll", "watch": self.name, "wait_ms": self.wait_ms, "epoch": self.epoch}
        reply = self.conn.call(poll)
        if reply.get("ok") is not True:
            raise _Refused(f"poll: {reply.get('error')}: {reply.get('message')}")
        value = reply["value"]
        with self.lock:
            events = value.get("events") or []
            if events:
                self.replies += 1
            for r, key, v in events:
                self.events.append([int(r), str(key)[len(WATCH_PREFIX) :], v, self.replies])
            self.upto = max(self.upto or 0, int(value["revision"]))
            self.lock.notify_all()

    def _note(self, error: str) -> None:
        with self.lock:
            self.errors.append(error[:200])


class _Refused(Exception):
    """The node answered a watch request with an error (a restarted node's unknown-watch)."""


def _ring(system: HasPorts, home: Node) -> list[Node]:
    """Every node the watch may move to, its own first (just its own if the system does not
    say which nodes it has)."""
    nodes = list(getattr(system, "members", lambda: [home])())
    i = next((k for k, n in enumerate(nodes) if n.name == home.name), None)
    return [home] if i is None else nodes[i:] + nodes[:i]


def _puts(op: Op) -> list[tuple[str, Any]] | None:
    """The (key, value) pairs a write or txn op puts, or None if it is malformed."""
    v = op.value
    if op.f == "write":
        ok = isinstance(v, (list, tuple)) and len(v) == 2
        return [(str(v[0]), v[1])] if ok else None
    ok = (
        isinstance(v, (list, tuple))
        and bool(v)
        and all(isinstance(m, (list, tuple)) and len(m) == 3 and m[0] == "w" for m in v)
    )
    return [(str(m[1]), m[2]) for m in v] if ok else None
