"""A Client for a system whose client library is asyncio-only.

The runner calls clients synchronously, one worker thread each. ``AsyncClient`` wraps an
object whose ``open``, ``invoke`` and ``close`` are coroutines, and runs them on an event loop
of its own, in a thread of its own: one loop per client, so clients never share a loop and
one that stalls stalls only its worker::

    class NatsKV:                                   # the plugin writes asyncio code
        def __init__(self, system, timeout): ...
        async def open(self, node): self.nc = await nats.connect(...)
        async def invoke(self, op): ... return op.complete("ok", value)
        async def close(self): await self.nc.close()

    def kv_client(spec, options, system):           # SystemInfo.clients["register"]
        return AsyncClient(NatsKV(system, spec.timeout), timeout=spec.timeout)

With ``timeout``, an ``invoke`` still running after that many seconds is cancelled (the
coroutine gets CancelledError where it waits) and raises TimeoutError, which the runner
records as ``info``; ``open`` and ``close`` get the same bound. ``close`` also stops the loop
and ends its thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from clusters.base import Node
from harness.history import Op

__all__ = ["AsyncClient", "AsyncClientLike"]

_T = TypeVar("_T")


class AsyncClientLike(Protocol):
    """What ``AsyncClient`` wraps: the Client protocol, in coroutines."""

    async def open(self, node: Node) -> None: ...

    async def invoke(self, op: Op) -> Op: ...

    async def close(self) -> None: ...


class AsyncClient:
    """A Client (open / invoke / close) running ``inner``'s coroutines on its own event loop
    thread; ``timeout`` (seconds, None: none) bounds each call."""

    def __init__(self, inner: AsyncClientLike, *, timeout: float | None = None) -> None:
        self.inner = inner
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"asyncio-{type(inner).__name__}", daemon=True
        )
        self._thread.start()

    def open(self, node: Node) -> None:
        self._run(self.inner.open(node))

    def invoke(self, op: Op) -> Op:
        return self._run(self.inner.invoke(op))

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """The inner client's ``op_timeout`` when it has one (the runner's limit for ``op``),
        else the workload's ``timeout``."""
        inner = getattr(self.inner, "op_timeout", None)
        return inner(op, timeout) if inner is not None else timeout

    def close(self) -> None:
        """Close ``inner``, then stop the loop (cancelling what still runs on it) and end its
        thread; closing twice does nothing."""
        if self._loop.is_closed():
            return
        try:
            if self._thread.is_alive():
                self._run(self.inner.close())
        finally:
            self._stop()

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """``coro``'s result, run on the loop; TimeoutError (after cancelling it) when it
        takes longer than ``timeout``."""
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("AsyncClient used after close")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout)
        except TimeoutError:  # concurrent.futures.TimeoutError is this one
            if future.done():  # it ended meanwhile, or raised a TimeoutError of its own
                return future.result()
            future.cancel()
            raise TimeoutError(f"no result in {self.timeout:g}s (cancelled)") from None

    def _stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(5)
            except (concurrent.futures.TimeoutError, RuntimeError):
                pass  # a task that ignores cancellation: the loop stops all the same
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
