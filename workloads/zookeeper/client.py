"""``ZooKeeperClient``: the register workload through kazoo, one session per client.

Each client keeps one kazoo session with its node's server (no retries: each op is one
attempt) and maps history ops to znodes ``/splitbrain/<key>`` holding a decimal integer::

    read   [k, None]    -> (sync, if it syncs) then get                 ok [k, v or None]
    write  [k, v]       -> set (create if absent)                   ok [k, v]
    cas    [k, [a, b]]  -> get -> (value, version); value != a: fail (cas-mismatch);
                           else set b with that version: ok, or BadVersion: fail
    status None         -> srvr on the node's server                 ok {id, role, promise}

A cas is a versioned compare-and-set: the conditional set is a write through the leader, so
it is linearizable even when the get before it was stale (a stale get only turns into a
BadVersion or a mismatch, both definite failures). NoNode / NodeExists / BadVersion are
definite; connection loss, a session that expires under a request and timeouts are ``info``
for write and cas (the request may have reached the leader), ``fail`` for a read, which
changes nothing.

The recipe clients (``lock``, ``queue``) are this client with other ops: they share its
session handling (``online``, ``disconnects``, ``kazoo_options``), ``status`` and ``bounded``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.history import Op
from harness.registry import option
from harness.spec import WorkloadSpec
from workloads.zookeeper.system import ZooKeeperSystem, server_mode

# kazoo is imported where it is used: it is optional (./setup --tests installs it), and the
# system registers, and ``splitbrain list`` shows it, without it

__all__ = [
    "PROMISES",
    "ROOT",
    "ZooKeeperClient",
    "ZooKeeperRegisterOptions",
    "bounded",
    "kazoo_log",
    "make_client",
]

#: kazoo's own log: every dropped connection and reconnection, hundreds per chaos run; the
#: history already records what they did to the operations
kazoo_log = logging.getLogger("kazoo.splitbrain")
kazoo_log.setLevel(logging.ERROR)

ROOT = "/splitbrain"

PROMISES = {
    True: "reads here call sync first: ZooKeeper promises linearizable writes, and tells a "
    "client that must see the latest data to sync before it reads, so an invalid verdict here "
    "is ZooKeeper breaking its promise, with one caveat to check first: sync is not a quorum "
    "round: a leader about to lose its quorum, or paused and just resumed, answers it from its "
    "own state, so a read after it can be stale in that window, which ZooKeeper does not "
    "promise against (https://zookeeper.apache.org/doc/r3.8.0/"
    "zookeeperProgrammers.html#ch_zkGuarantees)",
    False: "reads here do not call sync: ZooKeeper promises linearizable writes but only "
    "sequentially consistent reads, served from the connected server's own state, which "
    "may be stale (its internals guide: reads are not linearizable); stale reads found here "
    "are the test asking for more than ZooKeeper promises, not a broken promise (writes and "
    "cas go through the leader and are promised linearizable)",
}


@dataclass(frozen=True)
class ZooKeeperRegisterOptions:
    """``workload.options`` ZooKeeper's register client reads."""

    sync: bool | None = option(None, "sync before every read (default: the system's)")


def make_client(
    spec: WorkloadSpec, options: ZooKeeperRegisterOptions, system: ZooKeeperSystem
) -> ZooKeeperClient:
    """The register client of a test: ``SystemInfo.clients["register"]``."""
    return ZooKeeperClient(system, timeout=spec.timeout, sync=options.sync)


def bounded(call: Callable[[], Any], seconds: float) -> Any:
    """``call()``'s result, or its exception, if it returns within ``seconds``; else
    TimeoutError. The call goes on in a daemon thread: kazoo's recipes (Lock, LockingQueue)
    retry on their own and take no deadline for every request they make, so the recipe
    clients bound them here, and a worker whose op timed out closes its KazooClient, which
    ends whatever the thread still waits on (ConnectionClosedError)."""
    box: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append((True, call()))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box.append((False, e))
        done.set()

    threading.Thread(target=run, name="kazoo-call", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g}s")
    ok, result = box[0]
    if not ok:
        raise result
    return result


class ZooKeeperClient:
    """A register Client with one kazoo session to one server (see the module docstring).

    ``sync``: call sync before every read; None takes the system's option. ``timeout``
    bounds each request (seconds) and the wait for a session at open. ``online`` is set
    while the session's connection is up.
    """

    def __init__(
        self, system: ZooKeeperSystem, *, timeout: float = 2.0, sync: bool | None = None
    ) -> None:
        self.system = system
        self.timeout = timeout
        self.sync = system.sync if sync is None else sync
        self.node: Node | None = None
        self.endpoint: tuple[str, int] | None = None
        self.zk: Any = None
        self.online = threading.Event()
        #: how many times the connection went down (SUSPENDED or LOST) since open
        self.disconnects = 0

    def open(self, node: Node) -> None:
        """Start a session with the node's server; raises if none within ``timeout``."""
        from kazoo.client import KazooClient

        self.endpoint = self.system.endpoint(node)
        self.node = node
        # no connection_retry / command_retry: one attempt per op, the history says the rest
        self.zk = KazooClient(
            hosts="{}:{}".format(*self.endpoint),
            timeout=self.system.session_timeout,
            randomize_hosts=False,
            logger=kazoo_log,
            **self.kazoo_options(),
        )
        self.online = threading.Event()
        self.zk.add_listener(self._on_state)
        try:
            self.zk.start(timeout=self.timeout)
        except Exception:
            self.close()
            raise

    def _on_state(self, state: str) -> None:
        # kazoo calls this from its connection thread: CONNECTED, SUSPENDED or LOST
        if state == "CONNECTED":
            self.online.set()
        else:
            self.disconnects += 1
            self.online.clear()

    def kazoo_options(self) -> dict[str, Any]:
        """Extra KazooClient arguments (the recipe clients bound kazoo's own retries)."""
        return {}

    def promise(self) -> str:
        """What ZooKeeper promises to this client, for its ``status`` (the promises note)."""
        return PROMISES[bool(self.sync)]

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """How long the runner lets ``op`` run: it first waits up to ``timeout`` for the
        connection, then makes up to four requests (a write of a key's first value creates
        the root), each bounded by ``timeout``; a status reads ``srvr`` from a socket."""
        if op.f == "status":
            return 2 * self.timeout
        return 5 * self.timeout

    def close(self) -> None:
        zk, self.zk = self.zk, None
        if zk is None:
            return

        def stop() -> None:
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001 - a session to a dead server ends anyway
                pass

        # kazoo's stop waits for its connection thread, which may wait on a partitioned or
        # paused server for a session timeout: the worker does not wait with it
        threading.Thread(target=stop, name="kazoo-stop", daemon=True).start()

    def invoke(self, op: Op) -> Op:
        """Perform ``op`` and return its completion (see the module docstring)."""
        from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

        if self.zk is None or self.node is None:
            raise RuntimeError("ZooKeeperClient.invoke before open")
        if op.f == "status":
            return self.status(op)
        if not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
            return op.complete(
                "fail", op.value, error=f"bad-op: expected [key, value], got {op.value!r}"
            )
        key, arg = op.value
        path = f"{ROOT}/{key}"
        if not self.online.wait(self.timeout):
            # nothing is sent while the connection is down (kazoo would queue it for later);
            # kazoo reconnects in the background, so this waits for that first
            return op.complete("fail", op.value, error="not-connected")
        try:
            if op.f == "read":
                if self.sync:
                    self._do(self.zk.sync_async(path))
                try:
                    data, _ = self._do(self.zk.get_async(path))
                except NoNodeError:
                    return op.complete("ok", [key, None])
                return op.complete("ok", [key, int(data)])
            if op.f == "write":
                v = str(int(arg)).encode()
                try:
                    self._do(self.zk.set_async(path, v))
                except NoNodeError:
                    try:
                        self._create(path, v)
                    except NodeExistsError:  # created in between: set it, as a write does
                        self._do(self.zk.set_async(path, v))
                return op.complete("ok", op.value)
            if op.f == "cas":
                if not isinstance(arg, (list, tuple)) or len(arg) != 2:
                    return op.complete("fail", op.value, error="bad-op: cas needs [k, [a, b]]")
                try:
                    data, stat = self._do(self.zk.get_async(path))
                except NoNodeError:
                    return op.complete("fail", op.value, error="cas-mismatch: no value")
                if int(data) != int(arg[0]):
                    return op.complete("fail", op.value, error="cas-mismatch")
                try:
                    self._do(self.zk.set_async(path, str(int(arg[1])).encode(), stat.version))
                except BadVersionError:
                    return op.complete("fail", op.value, error="cas-bad-version")
                return op.complete("ok", op.value)
        except (NoNodeError, BadVersionError, NodeExistsError) as e:
            return op.complete("fail", op.value, error=type(e).__name__)
        except Exception as e:  # connection loss, session expiry, timeout: maybe applied
            return self._failed(op, f"{type(e).__name__}: {e}".rstrip(": "))
        return op.complete(
            "fail", op.value, error=f"bad-op: zookeeper runs read, write, cas, status; not {op.f!r}"
        )

    def _do(self, async_result: Any) -> Any:
        return async_result.get(timeout=self.timeout)

    def _create(self, path: str, value: bytes) -> None:
        from kazoo.exceptions import NodeExistsError, NoNodeError

        try:
            self._do(self.zk.create_async(path, value))
        except NoNodeError:  # the first key: make the parent once
            try:
                self._do(self.zk.create_async(ROOT, b""))
            except NodeExistsError:
                pass
            self._do(self.zk.create_async(path, value))

    def _failed(self, op: Op, error: str) -> Op:
        # a read has no effect, so a failed one is certainly not a completed one
        return op.complete("fail" if op.f == "read" else "info", op.value, error=error)

    def status(self, op: Op) -> Op:
        """The completion of a ``status`` op: the server's mode, and what ZooKeeper promises
        to this client (``promise``), for the promises note."""
        assert self.node is not None and self.endpoint is not None
        mode = server_mode(*self.endpoint, timeout=self.timeout)
        if mode is None:
            return op.complete("fail", None, error="no-status")
        value = {
            "id": self.node.name,
            "role": mode,
            "sync": bool(self.sync),
            "system": "zookeeper",
            "promise": self.promise(),
        }
        return op.complete("ok", value)
