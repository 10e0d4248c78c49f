"""``ZooKeeperClient``: the register workload through kazoo, one session per client.

Each client keeps one kazoo session with its node's server (no retries: each op is one
attempt) and maps history ops to znodes ``/splitbrain/<key>`` holding a decimal integer::

    read   [k, None]    -> (sync, if it syncs) then get                 ok [k, v or None]
    write  [k, v]       -> set (create if absent)                   ok [k, v]
    cas    [k, [a, b]]  -> get -> (value, version); value != a: fail (cas-mismatch);
                           else set b with that version: ok, or BadVersion: fail
    status None         -> srvr on the node's server        ok {id, role, promise, models}

What ZooKeeper says of each is kept in the op's ``extra`` for the ``versions`` checker
(``checkers/versions.py``): a write's and a cas's ``version`` (the znode's stat.version after
it: +1 per write of the key, 0 for the write that created it) and ``zxid`` (its mzxid), a
cas's ``saw_version`` (the version its set was conditioned on), a read's ``read_version`` and
``read_zxid`` (of the value it read).

A cas is a versioned compare-and-set: the conditional set is a write through the leader, so
it is linearizable even when the get before it was stale (a stale get only turns into a
BadVersion or a mismatch, both definite failures). NoNode / NodeExists / BadVersion are
definite; connection loss, a session that expires under a request and timeouts are ``info``
for write and cas (the request may have reached the leader), ``fail`` for a read, which
changes nothing.

A process is one session. ZooKeeper's session guarantees (a client never sees an older view,
its updates apply in the order it sent them) hold within a session, and kazoo, after a session
expires, quietly starts a new one on the same handle. So the register client does not go on in
it: an op that finds the session it opened with gone (expired, or replaced) completes ``info``
(``session-expired``) without being sent, and one whose session ended while it ran completes
``info`` too; the runner then closes the client and opens a new one, as a new process. Each op
is served by the node's own server (``hosts`` is that one server), the node the history
records.

The recipe clients (``lock``, ``queue``) are this client with other ops: they share its
session handling (``online``, ``disconnects``, ``kazoo_options``), ``status`` and ``bounded``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.history import Op
from harness.registry import option
from harness.spec import WorkloadSpec
from workloads.zookeeper.reconfig import kazoo_log
from workloads.zookeeper.system import ZooKeeperSystem, server_mode

# kazoo is imported where it is used: it is optional (./setup --tests installs it), and the
# system registers, and ``splitbrain list`` shows it, without it

__all__ = [
    "MODELS",
    "PROMISES",
    "ROOT",
    "ZooKeeperClient",
    "ZooKeeperRegisterOptions",
    "bounded",
    "kazoo_log",
    "make_client",
]


ROOT = "/splitbrain"
#: the error of an op that found its process's session gone (see the module docstring)
SESSION_EXPIRED = "session-expired: a process is one session"

#: the consistency models (the ``causal`` checker's names) ZooKeeper promises a session's
#: register operations, with or without sync: its programmer's guide, "Consistency
#: Guarantees": "Sequential Consistency: Updates from a client will be applied in the order
#: that they were sent", "Single System Image: ... a client will never see an older view of
#: the system even if the client fails over to a different server with the same session",
#: and its updates, once "seen by the client, through a read request or successful update,
#: will never be rolled back"; its overview: reads "are sequentially consistent, because read
#: operations will appear to take effect in some sequential order that furthermore respects
#: the order of each client's operations"
MODELS = ("sequential", "read-your-writes")

PROMISES = {
    True: "reads here call sync first: ZooKeeper promises linearizable writes, sequentially "
    "consistent reads and read-your-writes within a session, and tells a client that must see "
    "the latest data to sync before it reads, so an invalid verdict here is ZooKeeper breaking "
    "its promise, with one caveat to check first: sync is not a quorum round: a leader about "
    "to lose its quorum, or paused and just resumed, answers it from its own state, so a read "
    "after it can be stale in that window, which ZooKeeper does not promise against "
    "(https://zookeeper.apache.org/doc/r3.8.0/zookeeperProgrammers.html#ch_zkGuarantees)",
    False: "reads here do not call sync: ZooKeeper promises linearizable writes but only "
    "sequentially consistent reads, served from the connected server's own state, which "
    "may be stale (its internals guide: reads are not linearizable), and a session never sees "
    "an older view than it has seen (read-your-writes, monotonic reads); stale reads found "
    "here are the test asking for more than ZooKeeper promises, not a broken promise, while "
    "a sequential or read-your-writes anomaly would be one (writes and cas go through the "
    "leader and are promised linearizable) "
    "(https://zookeeper.apache.org/doc/r3.8.0/zookeeperProgrammers.html#ch_zkGuarantees)",
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


def _written(stat: Any, saw: Any = None) -> dict[str, Any]:
    """The ``extra`` of an acknowledged write or cas, for the ``versions`` checker: the
    znode's version after it (``version``, +1 per write of the key, 0 when it created it) and
    the zxid that made it (``zxid``); a cas also the version its conditional set was given
    (``saw_version``, the version of the value it compared with)."""
    extra = {"version": stat.version, "zxid": stat.mzxid}
    if saw is not None:
        extra["saw_version"] = saw.version
    return extra


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
    while the session's connection is up; ``session_id`` is the session it opened, and
    ``lost`` says kazoo reported that session expired (LOST).
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
        self.session_id: int | None = None
        self.lost = False

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
        self.lost = False
        self.zk.add_listener(self._on_state)
        try:
            self.zk.start(timeout=self.timeout)
        except Exception:
            self.close()
            raise
        cid = self.zk.client_id
        self.session_id = cid[0] if cid else None

    def _on_state(self, state: str) -> None:
        # kazoo calls this from its connection thread: CONNECTED, SUSPENDED or LOST
        if state == "CONNECTED":
            self.online.set()
        else:
            self.disconnects += 1
            self.online.clear()
            if state == "LOST":  # the session expired (or the client is closing)
                self.lost = True

    def session_ended(self) -> bool:
        """Whether the session this client opened is gone: kazoo reported it LOST, or its
        handle now runs another session (kazoo starts one after an expiry)."""
        if self.lost:
            return True
        cid = self.zk.client_id if self.zk is not None else None
        if cid is None:  # not connected right now: the session may still live
            return False
        if self.session_id is None:
            self.session_id = cid[0]
        return bool(cid[0] != self.session_id)

    def kazoo_options(self) -> dict[str, Any]:
        """Extra KazooClient arguments (the recipe clients bound kazoo's own retries)."""
        return {}

    def promise(self) -> str:
        """What ZooKeeper promises to this client, for its ``status`` (the promises note)."""
        return PROMISES[bool(self.sync)]

    def models(self) -> tuple[str, ...]:
        """The consistency models ZooKeeper promises this client's operations, by the
        ``causal`` checker's names (the promises note checks them); the recipe clients,
        whose ops are not register reads and writes, name none."""
        return MODELS

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
        if self.session_ended():
            # nothing is sent: the process was this session, and ends with it (info makes the
            # runner open a new client, a new session, as a new process)
            return op.complete("info", op.value, error=SESSION_EXPIRED)
        done = self._perform(op, key, arg, path)
        if done.type != "fail" and self.session_ended():
            # it may have been served in a session that is not this process's
            return op.complete("info", op.value, error=f"{SESSION_EXPIRED} while it ran")
        return done

    def _perform(self, op: Op, key: Any, arg: Any, path: str) -> Op:
        from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

        try:
            if op.f == "read":
                if self.sync:
                    self._do(self.zk.sync_async(path))
                try:
                    data, stat = self._do(self.zk.get_async(path))
                except NoNodeError:
                    return op.complete("ok", [key, None])
                read = {"read_version": stat.version, "read_zxid": stat.mzxid}
                return op.complete("ok", [key, int(data)], extra=read)
            if op.f == "write":
                v = str(int(arg)).encode()
                try:
                    stat = self._do(self.zk.set_async(path, v))
                except NoNodeError:
                    try:
                        stat = self._create(path, v)
                    except NodeExistsError:  # created in between: set it, as a write does
                        stat = self._do(self.zk.set_async(path, v))
                return op.complete("ok", op.value, extra=_written(stat))
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
                    new = self._do(self.zk.set_async(path, str(int(arg[1])).encode(), stat.version))
                except BadVersionError:
                    return op.complete("fail", op.value, error="cas-bad-version")
                return op.complete("ok", op.value, extra=_written(new, saw=stat))
        except (NoNodeError, BadVersionError, NodeExistsError) as e:
            return op.complete("fail", op.value, error=type(e).__name__)
        except Exception as e:  # connection loss, session expiry, timeout: maybe applied
            return self._failed(op, f"{type(e).__name__}: {e}".rstrip(": "))
        return op.complete(
            "fail", op.value, error=f"bad-op: zookeeper runs read, write, cas, status; not {op.f!r}"
        )

    def _do(self, async_result: Any) -> Any:
        return async_result.get(timeout=self.timeout)

    def _create(self, path: str, value: bytes) -> Any:
        """Create the key's znode (and the root, for the first key); its stat."""
        from kazoo.exceptions import NodeExistsError, NoNodeError

        try:
            _, stat = self._do(self.zk.create_async(path, value, include_data=True))
        except NoNodeError:  # the first key: make the parent once
            try:
                self._do(self.zk.create_async(ROOT, b""))
            except NodeExistsError:
                pass
            _, stat = self._do(self.zk.create_async(path, value, include_data=True))
        return stat

    def _failed(self, op: Op, error: str) -> Op:
        # a read has no effect, so a failed one is certainly not a completed one
        return op.complete("fail" if op.f == "read" else "info", op.value, error=error)

    def status(self, op: Op) -> Op:
        """The completion of a ``status`` op: the server's mode, and what ZooKeeper promises
        to this client (``promise``, in words; ``models``, the models the promises note
        checks), for the promises note."""
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
            "models": list(self.models()),
        }
        return op.complete("ok", value)
