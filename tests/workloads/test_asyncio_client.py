"""AsyncClient: an asyncio-only client's coroutines run on one event loop thread per client."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from harness.history import Op
from workloads.asyncio_client import AsyncClient
from workloads.system import Client


@dataclass
class FakeNode:
    name: str
    address: str = "127.0.0.1"


class Counter:
    """An asyncio client: every call notes the loop and thread it ran on."""

    def __init__(self) -> None:
        self.loops: set[int] = set()
        self.threads: set[int] = set()
        self.node: str | None = None
        self.closed = False
        self.value = 0

    def _note(self) -> None:
        self.loops.add(id(asyncio.get_running_loop()))
        self.threads.add(threading.get_ident())

    async def open(self, node: Any) -> None:
        self._note()
        self.node = node.name

    async def invoke(self, op: Op) -> Op:
        self._note()
        if op.f == "hang":
            try:
                await asyncio.Event().wait()  # never set
            except asyncio.CancelledError:
                self.value = -1  # it saw the cancellation
                raise
        if op.f == "boom":
            raise ConnectionResetError("gone")
        await asyncio.sleep(0)
        self.value += op.value
        return op.complete("ok", self.value, extra={"member": self.node})

    async def close(self) -> None:
        self._note()
        self.closed = True


def node(name: str) -> Any:
    return FakeNode(name)


def invoke(f: str, value: object = None) -> Op:
    return Op("invoke", f, value, 0)


def test_the_coroutines_run_on_one_loop_thread_of_the_clients_own() -> None:
    a, b = Counter(), Counter()
    ca, cb = AsyncClient(a), AsyncClient(b)
    assert isinstance(ca, Client)
    ca.open(node("n1"))
    cb.open(node("n2"))
    assert ca.invoke(invoke("add", 2)).value == 2
    done = ca.invoke(invoke("add", 3))
    assert (done.type, done.value, done.extra) == ("ok", 5, {"member": "n1"})
    assert cb.invoke(invoke("add", 1)).value == 1
    ca.close()
    cb.close()
    assert a.closed and b.closed
    assert len(a.loops) == len(a.threads) == 1 and len(b.loops) == 1
    assert a.loops != b.loops and a.threads != b.threads
    assert threading.get_ident() not in a.threads
    assert not ca._thread.is_alive()  # close ends the loop's thread
    ca.close()  # twice: nothing


def test_an_exception_of_the_coroutine_reaches_the_runner() -> None:
    client = AsyncClient(Counter())
    client.open(node("n1"))
    with pytest.raises(ConnectionResetError, match="gone"):
        client.invoke(invoke("boom"))
    assert client.invoke(invoke("add", 1)).type == "ok"  # the loop lives on
    client.close()


def test_an_invoke_past_the_timeout_is_cancelled_and_raises_timeout() -> None:
    inner = Counter()
    client = AsyncClient(inner, timeout=0.2)
    client.open(node("n1"))
    with pytest.raises(TimeoutError, match="cancelled"):
        client.invoke(invoke("hang"))
    client.close()
    assert inner.value == -1 and inner.closed
