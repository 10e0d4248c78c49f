"""etcd watches: the ``watch`` workload (``WATCH``) and its etcd Client (checked by the
``watch`` checker, ``checkers/watch.py``).

Writers put unique values to a few keys under ``splitbrain/watch/``; watchers each keep one
watch on that prefix open (a streaming ``POST /v3/watch`` on the JSON gateway, one JSON
message a line) from a thread of their own, re-creating it from the last revision seen + 1
whenever it breaks (member killed or paused, stream stalled, cancelled). The history::

    write    [k, v]   -> ok [k, {"value": v, "revision": r}]   r: the put's revision
    txn      [["w", k1, v1], ["w", k2, v2]]                   two puts in one revision
             -> ok {"txn": [...], "revision": r}
    watch    {"start": "first" | "now"}                       every ``poll`` s, per watcher
             -> ok {"watcher": id, "start": s, "events": [[r, k, v, n], ...], ...}
                the events received since the last watch op of this watcher, in order;
                n numbers the watch response that carried the event (for atomicity)
    catch-up {"start": ...}                                   once per watcher, after the heal
             -> ok {... the same, "target": t, "caught_up": bool}
                t is the prefix's latest mod revision, read linearizably after the heal;
                the op waits (``catch_up_s``) until the watcher has received revision t

A watcher starting ``first`` watches from revision 1 (the whole history), one starting
``now`` from the revision current when it started + 1; watcher threads alternate.

What etcd promises for watches (https://etcd.io/docs/v3.4/learning/api/, "Watch streams"):
events are *ordered* by revision, *reliable* (a watcher that receives events a and c also
receives every b between them) and *atomic* (a revision's events come in one response); a
broken watch resumed from its last revision + 1 misses nothing while that revision is not
compacted. Events may be late ("unbounded delay"), so watchers are only held to what they
have received, plus what they receive once the cluster is healed. ``checkers/watch.py``
checks exactly that, against the writes' acknowledged revisions.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Context, Generator, Wait, stagger
from harness.history import Op
from harness.registry import WorkloadInfo, option
from harness.spec import WorkloadSpec
from workloads.etcd.api import EtcdError, b64, post, prefix_end, status_completion
from workloads.etcd.system import EtcdSystem
from workloads.options import share

__all__ = [
    "PROMISE",
    "WATCH",
    "WATCH_PREFIX",
    "EtcdWatchClient",
    "EtcdWatchOptions",
    "WatchOps",
    "WatchOptions",
    "make_client",
    "watch_generators",
]

WATCH_PREFIX = "splitbrain/watch/"

PROMISE = (
    "etcd promises that watch events are ordered by revision, reliable (no event between two "
    "received ones is dropped) and atomic, and that a watch resumed from its last revision + "
    "1 misses nothing (https://etcd.io/docs/v3.4/learning/api/#watch-streams); writes are "
    "linearizable, so revisions follow real time. An anomaly here is a broken promise"
)


@dataclass(frozen=True)
class WatchOptions:
    """``workload.options`` of the watch workload."""

    watchers: int = option(3, "threads that watch (fewer than the concurrency)", minimum=1)
    txn: float = share(0.2, "share of writes that put two keys in one transaction")
    poll: float = option(0.5, "seconds between a watcher's watch ops", minimum=0)
    late_start: float = option(5.0, "seconds before a 'now' watcher's first op", minimum=0)


@dataclass(frozen=True)
class EtcdWatchOptions:
    """``workload.options`` etcd's watch client reads."""

    stall: float = option(
        3.0, "seconds without a message after which a watch stream is re-created", minimum=0
    )
    catch_up_s: float = option(
        20.0, "seconds a watcher may take to catch up after the heal", minimum=0
    )


def watch_generators(
    spec: WorkloadSpec, options: WatchOptions
) -> tuple[Generator, Generator | None]:
    """``WorkloadInfo.generators`` of the watch workload: writes and watches, then one
    catch-up per watcher after the heal."""
    ops = WatchOps(spec, options)
    return ops, _CatchUp(ops)


WATCH = WorkloadInfo(
    "watch",
    "writers put unique values to a few keys; watchers keep a watch on their prefix, "
    "resumed from the last revision + 1 when it breaks, and catch up after the heal",
    watch_generators,
    ("watch", "stats"),
    options=WatchOptions,
)


def make_client(
    spec: WorkloadSpec, options: EtcdWatchOptions, system: EtcdSystem
) -> EtcdWatchClient:
    """The watch client of a test: ``SystemInfo.clients["watch"]``."""
    return EtcdWatchClient(
        system, timeout=spec.timeout, stall=options.stall, catch_up_s=options.catch_up_s
    )


class EtcdWatchClient:
    """A watch-workload Client of one etcd member: writes, and one watch kept open in the
    background (see the module docstring). ``timeout``: seconds for a write; ``stall``:
    seconds without a message after which a watch stream is re-created; ``catch_up_s``: how
    long ``catch-up`` waits for the watcher to receive the target revision."""

    def __init__(
        self,
        system: EtcdSystem,
        *,
        timeout: float = 2.0,
        stall: float = 3.0,
        catch_up_s: float = 20.0,
    ) -> None:
        self.system = system
        self.timeout = timeout
        self.stall = stall
        self.catch_up_s = catch_up_s
        self.endpoint: tuple[str, int] | None = None
        self.base: str | None = None
        self.node: str | None = None
        self.watcher: _Watcher | None = None

    def open(self, node: Node) -> None:
        self.endpoint = self.system.endpoint(node)
        self.base = "http://{}:{}".format(*self.endpoint)
        self.node = node.name

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """How long the runner lets ``op`` run: a catch-up waits up to ``catch_up_s`` for the
        watcher, after reading the target revision."""
        if op.f == "catch-up":
            return self.catch_up_s + self.timeout + 1.0
        return self.timeout

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    def invoke(self, op: Op) -> Op:
        if self.base is None or self.endpoint is None:
            raise RuntimeError("EtcdWatchClient.invoke before open")
        if op.f == "status":
            return status_completion(op, self.endpoint, self.node, self.timeout, PROMISE)
        if op.f in ("write", "txn"):
            return self._write(op)
        if op.f in ("watch", "catch-up"):
            start = (
                (op.value or {}).get("start", "first") if isinstance(op.value, dict) else "first"
            )
            if start not in ("first", "now"):
                return op.complete("fail", op.value, error=f"bad-op: start {start!r}")
            if self.watcher is None:
                name = f"{self.node}/{op.process}"
                self.watcher = _Watcher(self.endpoint, name, start, self.stall)
            if op.f == "watch":
                return op.complete("ok", self.watcher.drain())
            return self._catch_up(op)
        return op.complete("fail", op.value, error=f"bad-op: the watch client has no op {op.f!r}")

    def _write(self, op: Op) -> Op:
        """A put of ``[k, v]``, or (``txn``) one txn of puts ``[["w", k, v], ...]``."""
        puts = _puts(op)
        if puts is None:
            expected = "[key, value]" if op.f == "write" else '[["w", key, value], ...]'
            return op.complete("fail", op.value, error=f"bad-op: expected {expected}")
        bodies = [{"key": b64(f"{WATCH_PREFIX}{k}"), "value": b64(json.dumps(v))} for k, v in puts]
        assert self.base is not None
        try:
            if op.f == "write":
                reply = post(self.base + "/v3/kv/put", bodies[0], self.timeout)
            else:
                txn = {"success": [{"request_put": b} for b in bodies]}
                reply = post(self.base + "/v3/kv/txn", txn, self.timeout)
        except urllib.error.URLError as e:
            if isinstance(e.reason, ConnectionRefusedError):
                return op.complete("fail", op.value, error="connection-refused")
            return op.complete("info", op.value, error=f"url-error: {e.reason}")
        except EtcdError as e:
            return op.complete("fail" if e.definite else "info", op.value, error=str(e))
        except TimeoutError:
            return op.complete("info", op.value, error="timeout")
        except (OSError, ValueError) as e:
            return op.complete("info", op.value, error=f"{type(e).__name__}: {e}")
        revision = int(reply["header"]["revision"])
        if op.f == "txn":
            return op.complete("ok", {"txn": op.value, "revision": revision})
        key, v = puts[0]
        return op.complete("ok", [key, {"value": v, "revision": revision}])

    def _catch_up(self, op: Op) -> Op:
        """Read the prefix's latest revision linearizably (again and again while the cluster
        elects a leader), then wait for the watcher to get there; ``fail`` (nothing drained)
        if the revision cannot be read within ``catch_up_s``."""
        assert self.base is not None and self.watcher is not None
        deadline = time.monotonic() + self.catch_up_s
        while True:
            try:
                reply = post(
                    self.base + "/v3/kv/range",
                    {
                        "key": b64(WATCH_PREFIX),
                        "range_end": b64(prefix_end(WATCH_PREFIX)),
                        "keys_only": True,
                        "sort_order": "DESCEND",
                        "sort_target": "MOD",
                        "limit": 1,
                    },
                    self.timeout,
                )
                break
            except (EtcdError, OSError, ValueError) as e:
                if time.monotonic() >= deadline:
                    return op.complete("fail", op.value, error=f"no-target: {e}")
                time.sleep(0.2)
        kvs = reply.get("kvs") or []
        target = int(kvs[0]["mod_revision"]) if kvs else 0
        caught = self.watcher.wait_for(target, max(deadline - time.monotonic(), 1.0))
        return op.complete("ok", {**self.watcher.drain(), "target": target, "caught_up": caught})


class _Watcher:
    """One watch on the prefix, kept open by a daemon thread that collects its events."""

    def __init__(self, endpoint: tuple[str, int], name: str, start: str, stall: float) -> None:
        self.endpoint = endpoint
        self.base = "http://{}:{}".format(*endpoint)
        self.name = name
        self.start_mode = start
        self.stall = stall
        self.lock = threading.Condition()
        self.start: int | None = 1 if start == "first" else None
        self.next = self.start
        self.events: list[list[Any]] = []
        self.compacted: list[list[int]] = []
        self.responses = 0  # watch responses with events, numbered in each event
        self.restarts = 0
        self.errors: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def drain(self) -> dict[str, Any]:
        """The events received since the last drain (and the watch's state)."""
        with self.lock:
            events, self.events = self.events, []
            out: dict[str, Any] = {
                "watcher": self.name,
                "start": self.start,
                "events": events,
                "next": self.next,
                "restarts": self.restarts,
            }
            if self.compacted:
                out["compacted"], self.compacted = self.compacted, []
            if self.errors:
                out["errors"], self.errors = self.errors[-3:], []
        return out

    def wait_for(self, revision: int, seconds: float) -> bool:
        """Until the watch has received ``revision`` (true), or ``seconds`` pass (false)."""
        deadline = time.monotonic() + seconds
        with self.lock:
            while self.next is None or self.next <= revision:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.2))
        return True

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                if self.next is None:
                    self._begin_now()
                for message in self._stream():
                    self._take(message)
                    if self.stopped.is_set():
                        return
            except Exception as e:  # noqa: BLE001 - any break: re-create from next
                with self.lock:
                    self.errors.append(f"{type(e).__name__}: {e}"[:200])
            with self.lock:
                self.restarts += 1
            self.stopped.wait(0.1)

    def _begin_now(self) -> None:
        """Start after the current revision, read linearizably."""
        reply = post(self.base + "/v3/kv/range", {"key": b64(WATCH_PREFIX)}, 2.0)
        with self.lock:
            self.start = self.next = int(reply["header"]["revision"]) + 1

    def _stream(self) -> Iterator[dict[str, Any]]:
        """The messages of one watch stream from ``next``, until it breaks or stalls."""
        host, port = self.endpoint
        conn = http.client.HTTPConnection(host, port, timeout=self.stall)
        try:
            body = {
                "create_request": {
                    "key": b64(WATCH_PREFIX),
                    "range_end": b64(prefix_end(WATCH_PREFIX)),
                    "start_revision": str(self.next),
                }
            }
            conn.request(
                "POST", "/v3/watch", json.dumps(body), {"Content-Type": "application/json"}
            )
            resp = conn.getresponse()
            if resp.status != 200:
                raise OSError(f"watch answered http {resp.status}: {resp.read()[:200]!r}")
            while not self.stopped.is_set():
                line = resp.readline()
                if not line:
                    raise OSError("the watch stream ended")
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()

    def _take(self, message: dict[str, Any]) -> None:
        if "error" in message:
            raise OSError(f"watch error: {message['error']}")
        result = message.get("result") or {}
        events = []
        for ev in result.get("events") or []:
            kv = ev.get("kv") or {}
            key = base64.b64decode(kv.get("key", "")).decode()[len(WATCH_PREFIX) :]
            # only puts happen here; a deleted key's event has no value (None)
            value = json.loads(base64.b64decode(kv.get("value", "")) or b"null")
            events.append([int(kv.get("mod_revision", 0)), key, value])
        with self.lock:
            if events:
                self.responses += 1
            for e in events:
                self.events.append([*e, self.responses])
                self.next = max(self.next or 0, e[0] + 1)
            self.lock.notify_all()
        if result.get("canceled"):
            compact = int(result.get("compact_revision", 0) or 0)
            with self.lock:
                if compact and self.next is not None and compact > self.next:
                    # history below compact is gone: that range cannot be watched any more
                    self.compacted.append([self.next, compact - 1])
                    self.next = compact
            raise OSError(f"watch cancelled: {result.get('cancel_reason') or 'no reason given'}")


def _puts(op: Op) -> list[tuple[Any, Any]] | None:
    """The (key, value) pairs a write or txn op puts, or None if it is malformed."""
    v = op.value
    if op.f == "write":
        return [(v[0], v[1])] if isinstance(v, (list, tuple)) and len(v) == 2 else None
    ok = (
        isinstance(v, (list, tuple))
        and v
        and all(isinstance(m, (list, tuple)) and len(m) == 3 and m[0] == "w" for m in v)
    )
    return [(m[1], m[2]) for m in v] if ok else None


# -- the workload --------------------------------------------------------------------------------


class WatchOps:
    """Threads below ``options.watchers`` (3) are watchers: a ``watch`` op every
    ``options.poll`` seconds (0.5), starting alternately from revision 1 and from now (a
    "now" watcher's first op comes ``options.late_start`` seconds in, default 5); the others
    write unique values to ``spec.keys`` keys at ``spec.rate`` in total, a fraction
    ``options.txn`` (0.2) of them as a txn putting two keys in one revision."""

    def __init__(self, spec: WorkloadSpec, options: WatchOptions | None = None) -> None:
        options = options or WatchOptions()
        self.watchers = options.watchers
        self.txn = options.txn
        self.poll = options.poll
        self.late_start = options.late_start
        if self.watchers < 1 or self.watchers >= spec.concurrency:
            raise ValueError(
                f"workload option 'watchers' must be at least 1 and less than concurrency "
                f"({spec.concurrency}), got {self.watchers}"
            )
        self.keys = max(1, spec.keys)
        self.next_value = 0
        self.due: dict[int | str, float] = {}
        self.writes: Generator = _Writes(self)
        if spec.rate > 0:
            self.writes = stagger(1.0 / spec.rate, self.writes)

    def start_of(self, thread: int | str) -> str:
        return "first" if int(thread) % 2 == 0 else "now"

    def is_watcher(self, thread: int | str) -> bool:
        return isinstance(thread, int) and thread < self.watchers

    def op(self, ctx: Context) -> dict[str, Any] | Wait | None:
        if not self.is_watcher(ctx.thread):
            return self.writes.op(ctx)
        if ctx.thread not in self.due and self.start_of(ctx.thread) == "now":
            self.due[ctx.thread] = ctx.time + self.late_start  # so that "now" is not 0
        due = self.due.get(ctx.thread, ctx.time)
        if ctx.time < due:
            return Wait(due)
        self.due[ctx.thread] = ctx.time + self.poll
        return {"f": "watch", "value": {"start": self.start_of(ctx.thread)}}


class _Writes:
    def __init__(self, ops: WatchOps) -> None:
        self.ops = ops

    def op(self, ctx: Context) -> dict[str, Any]:
        keys = self.ops.keys
        if keys >= 2 and ctx.rng.random() < self.ops.txn:  # two keys in one revision
            k1, k2 = ctx.rng.sample(range(keys), 2)
            v = self.ops.next_value
            self.ops.next_value += 2
            return {"f": "txn", "value": [["w", str(k1), v], ["w", str(k2), v + 1]]}
        v = self.ops.next_value
        self.ops.next_value += 1
        return {"f": "write", "value": [str(ctx.rng.randrange(keys)), v]}


class _CatchUp:
    """After the heal: one ``catch-up`` per watcher thread."""

    def __init__(self, ops: WatchOps) -> None:
        self.ops = ops
        self.done: set[int | str] = set()

    def op(self, ctx: Context) -> dict[str, Any] | None:
        if not self.ops.is_watcher(ctx.thread) or ctx.thread in self.done:
            return None
        self.done.add(ctx.thread)
        return {"f": "catch-up", "value": {"start": self.ops.start_of(ctx.thread)}}
