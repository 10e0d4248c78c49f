"""The runner: one worker thread per client process plus one for the nemesis, drawing
operations from one generator and journaling every invocation and completion.

A client that raises, or takes longer than its timeout, produces an ``info`` completion (the
operation may or may not have happened) and the worker continues as a new process, with a
fresh client, as Jepsen's interpreter does: a process never has two operations in flight.
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

__all__ = ["Runner", "RunStats", "Worker"]

log = logging.getLogger("splitbrain.runner")


@dataclass
class RunStats:
    invocations: int = 0
    completions: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    #: the nemesis op in force (for the progress line)
    fault: str | None = None


@dataclass
class Worker:
    """What a worker needs: how to make a client for its node, and the node's name."""

    node: str | None
    open_client: Callable[[], Any]  # returns an opened Client (with invoke/close)


class Runner:
    """Runs ``generator`` to exhaustion with ``workers`` client threads and an optional nemesis.

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
        self.stats = RunStats()
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

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
        for tid in ids:
            t = threading.Thread(
                target=self._work, args=(tid, n), name=f"worker-{tid}", daemon=True
            )
            self._threads.append(t)
            t.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers; True when all have exited."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.join(left)
        return not any(t.is_alive() for t in self._threads)

    def run(self) -> RunStats:
        self.start()
        self.join()
        return self.stats

    # -- one worker ---------------------------------------------------------------------------

    def _work(self, tid: int | str, n: int) -> None:
        rng = random.Random(f"{self.seed}/{tid}")
        is_nemesis = tid == NEMESIS_THREAD
        process: int | str = NEMESIS if is_nemesis else tid
        worker = None if is_nemesis else self.workers[int(tid)]
        client = None
        try:
            while not self.stopping.is_set():
                item = self._next(tid, process, rng)
                if item is None:
                    return
                if client is None and worker is not None:
                    client = self._open(worker)
                invoke = Op(
                    "invoke",
                    item["f"],
                    item.get("value"),
                    process,
                    node=worker.node if worker else None,
                )
                self.journal.append(invoke)
                self.stats.invocations += 1
                if is_nemesis:
                    self.stats.fault = f"{invoke.f} {_short(invoke.value)}"
                completion = self._invoke(self.nemesis if is_nemesis else client, invoke)
                with self.wake:
                    self.journal.append(completion)
                    self.busy.discard(tid)
                    self.stats.completions[completion.type] += 1
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
            with self.wake:
                self.live.discard(tid)
                self.busy.discard(tid)
                self.wake.notify_all()

    def _next(self, tid: int | str, process: int | str, rng: random.Random) -> dict | None:
        with self.wake:
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
                    self.wake.wait(timeout=max(0.0, min(r.until - ctx.time, 1.0)))
                    continue
                self.busy.add(tid)
                return r
            return None

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
