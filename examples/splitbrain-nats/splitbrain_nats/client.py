"""The register workload over the bucket, with nats-py (an asyncio-only client library).

History ops (values as the register workload makes them: ``[key, ...]``) map onto the KV API;
every ok completion records the revision JetStream gave in ``op.extra["revision"]``::

    read   [k, None]    -> kv.get("k<k>")        ok [k, v]; [k, None] at revision 0 if none
    write  [k, v]       -> kv.put("k<k>", v)     ok [k, v]
    cas    [k, [a, b]]  -> kv.get("k<k>"): not a -> fail (cas-mismatch); a at revision r ->
                           kv.update("k<k>", b, last=r)     ok [k, [a, b]], extra["over"] = r;
                           fail if the key changed since r (JetStream refuses the update)

Fail or info: ``fail`` only when the op certainly did not happen, else ``info`` (the op may
have taken effect): a read never changes anything, so a failed read is ``fail``; a write or
the update of a cas that times out, or loses its connection after it was sent, raises (the
runner records ``info``); one the server refused (no stream leader to take it, a wrong last
revision) or that could not be sent (no connection) is ``fail``.
"""

from __future__ import annotations

import asyncio

import nats.errors
import nats.js.errors
from clusters.base import Node
from harness.history import Op
from harness.registry import NoOptions
from harness.spec import WorkloadSpec
from nats.aio.client import Client as NatsConnection
from nats.js.kv import KeyValue
from workloads.asyncio_client import AsyncClient

from splitbrain_nats.system import NatsSystem, connect

__all__ = ["REQUEST_SHARE", "NatsRegisterClient", "make_client"]

#: the share of the op's timeout one request (or a connect) may take
REQUEST_SHARE = 0.8
#: errors raised before anything was sent: the op certainly did not happen
NOT_SENT = (
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.OutboundBufferLimitError,
    ConnectionRefusedError,
)
#: answers of a server that refused the op: it certainly did not happen
REFUSED = (
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.KeyWrongLastSequenceError,
)


def make_client(spec: WorkloadSpec, options: NoOptions, system: NatsSystem) -> AsyncClient:
    """``SystemInfo.clients["register"]``: an unopened client of the test's system. The
    adapter cancels an op still running after the workload's ``timeout`` (the runner then
    records ``info``); each request gives up a little earlier, so that the client can still
    say what it knows (a read that got no answer is a ``fail``)."""
    inner = NatsRegisterClient(system, timeout=REQUEST_SHARE * spec.timeout)
    return AsyncClient(inner, timeout=spec.timeout)


class NatsRegisterClient:
    """The async client: ``open``, ``invoke`` and ``close`` are coroutines, which
    ``AsyncClient`` runs on an event loop of this client's own."""

    def __init__(self, system: NatsSystem, *, timeout: float) -> None:
        self.system = system
        self.timeout = timeout
        self.url = ""
        self.nc: NatsConnection | None = None
        self.kv: KeyValue | None = None

    async def open(self, node: Node) -> None:
        host, port = self.system.endpoint(node)
        self.url = f"nats://{host}:{port}"
        try:
            await self.connect()
        except (TimeoutError, OSError, nats.errors.Error) as e:
            raise ConnectionError(f"{self.url}: {_describe(e)}") from None

    async def connect(self) -> None:
        """Connect (again) to the node and find the bucket."""
        await self.close()
        self.nc, self.kv = None, None
        self.nc = await connect(self.url, self.timeout)
        self.kv = await self.nc.jetstream(timeout=self.timeout).key_value(
            self.system.options.bucket
        )

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()

    async def invoke(self, op: Op) -> Op:
        if op.f not in ("read", "write", "cas"):
            return op.complete("fail", op.value, error=f"nats runs read, write, cas; not {op.f!r}")
        key, arg = op.value
        if self.kv is None or self.nc is None or self.nc.is_closed:
            try:
                await self.connect()
            except (TimeoutError, OSError, nats.errors.Error) as e:
                return op.complete("fail", op.value, error=f"connect: {_describe(e)}")
        try:
            if op.f == "read":
                value, rev = await self.get(key)
                return op.complete("ok", [key, value], extra={"revision": rev})
            if op.f == "write":
                rev = await self.kv_().put(f"k{key}", str(arg).encode())
                return op.complete("ok", op.value, extra={"revision": rev})
            return await self.cas(op, key, arg[0], arg[1])
        except REFUSED + NOT_SENT as e:
            return op.complete("fail", op.value, error=_describe(e))
        except (TimeoutError, nats.errors.Error, OSError) as e:
            if op.f == "read":  # a read changes nothing
                return op.complete("fail", op.value, error=_describe(e))
            raise  # the write may have been stored: the runner records info
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this op itself is cancelled (it ran out of time)
            # the connection closed and cancelled the request waiting for its answer
            if op.f == "read":
                return op.complete("fail", op.value, error="connection closed")
            raise ConnectionError("the connection closed before the answer came") from None

    async def cas(self, op: Op, key: int, old: int, new: int) -> Op:
        """Write ``new`` only over ``old``: the update names the revision the get saw, so
        JetStream refuses it if anything was written to the key since."""
        try:
            value, rev = await self.get(key)
        except (TimeoutError, nats.errors.Error, OSError) as e:
            return op.complete("fail", op.value, error=f"get: {_describe(e)}")
        if value != old:
            return op.complete("fail", op.value, error="cas-mismatch", extra={"revision": rev})
        done = await self.kv_().update(f"k{key}", str(new).encode(), last=rev)
        return op.complete("ok", op.value, extra={"revision": done, "over": rev})

    async def get(self, key: int) -> tuple[int | None, int]:
        """The key's value and revision; (None, 0) when it has none."""
        try:
            entry = await self.kv_().get(f"k{key}")
        except nats.js.errors.KeyNotFoundError:
            return None, 0
        return int(entry.value or b"0"), entry.revision or 0

    def kv_(self) -> KeyValue:
        if self.kv is None:
            raise nats.errors.ConnectionClosedError
        return self.kv


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".rstrip(": ")
