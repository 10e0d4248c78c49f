"""The runner: one worker thread per client process plus one for the nemesis, drawing
operations from one generator and journaling every invocation and completion.

A client that raises, or takes longer than its timeout, produces an ``info`` completion (the
operation may or may not have happened) and the worker continues as a new process, with a
fresh client, as Jepsen's interpreter does: a process never has two operations in flight.

The timeout is enforced: with ``timeout`` set (the workload's), an op still running
``timeout + grace`` seconds after its invocation (or the client's own ``op_timeout(op,
timeout)`` + grace, for a client whose ops may take longer, as a queue's drain does) is
completed ``info`` by a watchdog thread, and the worker goes on at once, as a new process with
a fresh client, on a new thread. The thread stuck in the client is abandoned: whatever its
``invoke`` returns later is dropped, and it closes its client then. A client should give up
by itself within its timeout, and say what it knows (a refused connection is a ``fail``);
the grace lets it do so before the runner has to say ``info``. Nemesis ops have no timeout.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.generator import NEMESIS_THREAD, Context, Generator, Wait
from harness.history import NEMESIS, Journal, Op

__all__ = ["GRACE", "Runner", "RunStats", "Worker"]

log = logging.getLogger("splitbrain.runner")

#: seconds an op may run past its timeout before the runner completes it ``info``
GRACE = 1.0


@dataclass
class RunStats:
    invocations: int = 0
    completions: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    #: the nemesis op in force (for the progress line)
    fault: str | None = None
    #: ops the runner completed ``info`` because their client had not returned in time
    timed_out: int = 0


@dataclass
class Worker:
    """What a worker needs: how to make a client for its node, and the node's name."""

    node: str | None
    open_client: Callable[[], Any]  # returns an opened Client (with invoke/close)


class Runner:
    """Runs ``generator`` to exhaustion with ``workers`` client threads and an optional nemesis.

    ``timeout``: seconds a client op may take (the workload's ``timeout``; None: no limit);
    ``grace``: how much longer the runner waits before it completes the op ``info`` itself
    (see the module docstring).

    ``stop()`` (from another thread, e.g. on Ctrl-C) makes every worker finish its current
    operation and exit; ``run()`` returns when all have.
    """

    def __init__(
        self,
        generator: Generator,
        journal: Journal,
        workers: list[Worker],
        *,
        nemesis: Any | None = None,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        timeout: float | None = None,
        grace: float = GRACE,
    ) -> None:
        self.gen = generator
        self.journal = journal
        self.workers = workers
        self.nemesis = nemesis
        self.seed = seed
        self.clock = clock or time.monotonic
        self.t0 = self.clock()
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.busy: set[int | str] = set()
        self.live: set[int | str] = set()
        self.stopping = threading.Event()
        #: threads waiting on ``wake`` (a completion notifies only when there are some)
        self._waiting = 0
        self.stats = RunStats()
        self.errors: list[BaseException] = []
        self.timeout = timeout
        self.grace = grace
        #: the ops whose time is watched, by worker; guarded by ``_watch``
        self._flights: dict[int | str, _Flight] = {}
        self._watch = threading.Condition(threading.Lock())
        #: when the watchdog wakes next (it is woken earlier for an earlier deadline)
        self._watch_until = float("inf")
        self._all_done = threading.Event()

    def now(self) -> float:
        return self.clock() - self.t0

    def stop(self) -> None:
        self.stopping.set()
        with self.wake:
            self.wake.notify_all()

    def start(self) -> None:
        n = len(self.workers)
        ids: list[int | str] = list(range(n))
        if self.nemesis is not None:
            ids.append(NEMESIS_THREAD)
        self.live = set(ids)
        if not ids:
            self._all_done.set()
        for tid in ids:
            process: int | str = NEMESIS if tid == NEMESIS_THREAD else tid
            self._spawn(tid, n, process, random.Random(f"{self.seed}/{tid}"))
        if self.timeout is not None and self.workers:
            threading.Thread(target=self._watchdog, name="watchdog", daemon=True).start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers; True when all have exited (a thread abandoned in a client
        that never returned is not waited for)."""
        return self._all_done.wait(timeout)

    def run(self) -> RunStats:
        self.start()
        self.join()
        return self.stats

    # -- one worker ---------------------------------------------------------------------------

    def _spawn(self, tid: int | str, n: int, process: int | str, rng: random.Random) -> None:
        """Start worker ``tid``'s thread (again, after a timed-out op, as a new process)."""
        threading.Thread(
            target=self._work, args=(tid, n, process, rng), name=f"worker-{tid}", daemon=True
        ).start()

    def _work(self, tid: int | str, n: int, process: int | str, rng: random.Random) -> None:
        is_nemesis = tid == NEMESIS_THREAD
        worker = None if is_nemesis else self.workers[int(tid)]
        client = None
        abandoned = False  # by the watchdog: another thread now does this worker's ops
        try:
            while not self.stopping.is_set():
                node = worker.node if worker else None
                ready = is_nemesis or client is not None
                drawn = self._next(tid, process, rng, node if ready else _NOT_READY)
                if drawn is None:
                    return
                item, invoke = drawn
                if invoke is None:  # a client to open first: the op is invoked after that
                    if client is None and worker is not None:
                        client = self._open(worker)
                    invoke = Op("invoke", item["f"], item.get("value"), process, node=node)
                    with self.lock:
                        self.journal.append(invoke)
                        self.stats.invocations += 1
                if is_nemesis:
                    self.stats.fault = f"{invoke.f} {_short(invoke.value)}"
                flight = None if is_nemesis else self._watch_op(tid, n, client, invoke, rng)
                completion = self._invoke(self.nemesis if is_nemesis else client, invoke)
                if flight is not None and not self._land(tid, flight):
                    abandoned = True  # the watchdog completed it: this thread is done
                    log.info("worker %s: %s returned after its timeout", tid, invoke.f)
                    return
                with self.lock:
                    self.journal.append(completion)
                    self.busy.discard(tid)
                    self.stats.completions[completion.type] += 1
                    if self._waiting:  # a thread waits for some op to complete
                        self.wake.notify_all()
                if isinstance(client, _Unopened):
                    client = None  # try to open a real one for the next op
                elif completion.type == "info" and not is_nemesis:
                    process = int(process) + n  # a fresh process: the old one may be stuck
                    _close(client)
                    client = None
        except BaseException as e:  # a bug in a generator or the harness, not in the client
            log.exception("worker %s crashed", tid)
            self.errors.append(e)
            self.stop()
        finally:
            _close(client)
            if not abandoned:
                with self.wake:
                    self.live.discard(tid)
                    self.busy.discard(tid)
                    self.wake.notify_all()
                    last = not self.live
                if last:
                    with self._watch:
                        self._watch.notify_all()  # the watchdog's work is done
                    self._all_done.set()

    def _next(
        self, tid: int | str, process: int | str, rng: random.Random, node: Any
    ) -> tuple[dict, Op | None] | None:
        """The next op for ``tid`` from the generator, and its invocation, journaled under
        the same lock (one lock taken per invocation, not two); ``node`` is
        ``_NOT_READY`` when the worker has a client to open first: the invocation is then
        left to the caller (None), to be journaled once the client is open."""
        with self.lock:
            while not self.stopping.is_set():
                # live and busy are passed as they are (read-only for generators): copying
                # them per op costs a fifth of the runner's throughput
                ctx = Context(
                    time=self.now(),
                    thread=tid,
                    process=process,
                    rng=rng,
                    threads=self.live,
                    busy=self.busy,
                )
                r = self.gen.op(ctx)
                if r is None:
                    return None
                if isinstance(r, Wait):
                    # sleep until then, or until some op completes (phases may advance)
                    self._waiting += 1
                    try:
                        self.wake.wait(timeout=max(0.0, min(r.until - ctx.time, 1.0)))
                    finally:
                        self._waiting -= 1
                    continue
                self.busy.add(tid)
                if node is _NOT_READY:
                    return r, None
                invoke = Op("invoke", r["f"], r.get("value"), process, node=node)
                self.journal.append(invoke)
                self.stats.invocations += 1
                return r, invoke
            return None

    # -- timeouts -----------------------------------------------------------------------------

    def _watch_op(
        self, tid: int | str, n: int, client: Any, invoke: Op, rng: random.Random
    ) -> _Flight | None:
        """Have the watchdog watch ``invoke`` (None: it has no time limit)."""
        if self.timeout is None:
            return None
        limit: float | None = self.timeout
        op_timeout = getattr(client, "op_timeout", None)
        if op_timeout is not None:
            limit = op_timeout(invoke, self.timeout)
        if limit is None:
            return None
        flight = _Flight(invoke, limit, time.monotonic() + limit + self.grace, n, rng)
        with self._watch:
            self._flights[tid] = flight
            if flight.deadline < self._watch_until:
                self._watch.notify()
        return flight

    def _land(self, tid: int | str, flight: _Flight) -> bool:
        """True if the worker's op completed before the watchdog gave up on it."""
        with self._watch:
            if self._flights.get(tid) is flight:
                del self._flights[tid]
                return True
            return False

    def _watchdog(self) -> None:
        """Completes ``info`` every watched op past its deadline, and starts a new thread for
        its worker, as a new process; ends once every worker has."""
        while True:
            with self._watch:
                if not self.live:
                    return
                now = time.monotonic()
                due = [(t, f) for t, f in self._flights.items() if f.deadline <= now]
                for tid, _ in due:
                    del self._flights[tid]
                nxt = min((f.deadline for f in self._flights.values()), default=now + 1.0)
                if not due:
                    self._watch_until = nxt
                    self._watch.wait(max(0.0, nxt - now))
                    self._watch_until = float("inf")
                    continue
            for tid, flight in due:
                self._time_out(tid, flight)

    def _time_out(self, tid: int | str, flight: _Flight) -> None:
        invoke = flight.invoke
        waited = flight.limit + self.grace
        log.warning(
            "worker %s: %s %s did not complete in %gs: info, and a new process",
            tid,
            invoke.f,
            _short(invoke.value),
            waited,
        )
        error = f"timeout: the client did not complete it within {waited:g}s"
        completion = invoke.complete("info", invoke.value, error=error)
        with self.wake:
            self.journal.append(completion)
            self.busy.discard(tid)
            self.stats.completions["info"] += 1
            self.stats.timed_out += 1
            self.wake.notify_all()  # not only waiters: the watchdog's rare path stays simple
        # the stuck thread keeps its client (it closes it when invoke returns); the worker
        # goes on as a new process, which opens a fresh one
        self._spawn(tid, flight.n, int(invoke.process) + flight.n, flight.rng)

    def _open(self, worker: Worker) -> Any:
        try:
            return worker.open_client()
        except Exception as e:
            log.warning("opening a client to %s failed: %s", worker.node, e)
            return _Unopened(e)

    def _invoke(self, target: Any, invoke: Op) -> Op:
        try:
            completion = target.invoke(invoke)
            if completion is None or completion.type not in ("ok", "fail", "info"):
                raise TypeError(f"invoke returned {completion!r}, not a completion")
            return completion
        except Exception as e:
            return invoke.complete("info", invoke.value, error=f"{type(e).__name__}: {e}")


_NOT_READY: Any = object()  # ``_next``'s node when the worker's client is not open yet


@dataclass
class _Flight:
    """A client op in flight, watched: ``deadline`` (monotonic) is its invocation time plus
    ``limit`` plus the grace; ``n`` and ``rng`` are what its worker's next thread needs."""

    invoke: Op
    limit: float
    deadline: float
    n: int
    rng: random.Random


class _Unopened:
    """Stands in for a client whose open() failed: every op is a definite failure, since
    nothing was sent, and the worker tries to open a new client after it."""

    def __init__(self, e: Exception) -> None:
        self.e = e

    def invoke(self, op: Op) -> Op:
        time.sleep(0.05)  # do not spin against a node that refuses connections
        return op.complete("fail", op.value, error=f"client-open-failed: {self.e}")

    def close(self) -> None:
        pass


def _close(client: Any) -> None:
    if client is None:
        return
    try:
        client.close()
    except Exception:
        pass


def _short(value: Any) -> str:
    s = str(value)
    return s if len(s) <= 60 else s[:57] + "..."
