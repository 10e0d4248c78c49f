"""etcd's lock API with leases, as a Client of the ``lock`` workload (``workloads/lock.py``).

Each acquire grants a fresh lease (``/v3/lease/grant``, ``lease_ttl`` seconds), keeps it alive
from a thread of its own (``/v3/lease/keepalive`` every third of the TTL) while it is held, and
locks with it (``/v3/lock/lock {name, lease}``), which waits until the lock is free and returns
the lock key; the key's create revision is the fencing token. The protected storage is etcd
itself: each write is a key of its own under the lock's data prefix, and a read lists them in
the order etcd committed them (by mod revision). History values are the lock workload's::

    acquire [k, None] -> ok [k, {"token": create revision, "lease_ms": TTL}]
    write   [k, v]    -> ok [k, [token, v]]       put  splitbrain/lockdata/<k>/<v>
                         (extra ``version``: the reply's revision, for the versions checker)
    release [k, None] -> ok [k, token]
    read    [k, None] -> ok [k, [[token, v], ...]]  every write of k, in revision order

Two modes (``workload.options.fencing``):

``fencing: false`` (the plain lock): a write is a put and a release is ``/v3/lock/unlock``,
    neither of which looks at the lock. The client believes it holds the lock from its grant
    to its release, as a program using etcd's lock API as a mutex does.
``fencing: true``: a write is a txn that puts only if the lock key still exists with the
    token's create revision, and a release is a txn that deletes the key under the same
    compare; when the compare fails, the op fails with ``lock-lost`` (the lease ran out and
    etcd deleted the key). This is the use etcd documents: "version number validation".

What etcd promises (https://etcd.io/docs/v3.5/learning/why/, "Notes on the usage of lock and
lease"): a lock key lives as long as its lease, and a lease ends when the leader has not heard
a keepalive for its TTL; "the lock APIs cannot be used as mutual exclusion mechanism by
themselves": a holder whose keepalives stop reaching the leader (its member paused or cut
off) loses the lock without knowing, and another client acquires it. Mutual exclusion comes
from comparing the revision in every write ("a client knows that it is acquiring a lock of a
key when its requests are completed by etcd cluster successfully"). So the lock checker's
mutual-exclusion and stale-write rules ask more than etcd promises in the plain mode, and
exactly what it promises in the fenced mode. Jepsen's etcd 3.4.3 analysis found the same.

Why the checker's lease rule is sound here: a grant that is not released ``ok`` is taken to
end no sooner than ``lease_ms`` after its acquire was invoked. The lease is granted inside
the acquire, so the leader starts its TTL after that invocation, and keepalives only extend
it; a new leader also starts every lease's TTL afresh.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.history import Op
from harness.registry import option
from harness.spec import WorkloadSpec
from workloads.etcd.api import EtcdError, b64, post, prefix_end, status_completion, unb64
from workloads.etcd.system import EtcdSystem
from workloads.options import ms

__all__ = [
    "DATA_PREFIX",
    "LOCK_PREFIX",
    "PROMISES",
    "EtcdLockClient",
    "EtcdLockOptions",
    "make_client",
]

LOCK_PREFIX = "splitbrain/lock/"
DATA_PREFIX = "splitbrain/lockdata/"

PROMISES = {
    False: "etcd does not promise that its lock API is a mutex: a lock lasts as long as its "
    "lease, which ends when keepalives stop reaching the leader, while the holder may still "
    "believe it holds the lock (https://etcd.io/docs/v3.5/learning/why/#notes-on-the-usage-"
    "of-lock-and-lease). This test's writes and releases do not compare the lock's revision, "
    "so two holders at once and stale writes found here are the test asking for more than "
    "etcd promises, not a broken promise",
    True: "etcd promises that a txn comparing the lock key's create revision (the fencing "
    "token) succeeds only while that lock is held (https://etcd.io/docs/v3.5/learning/why/"
    "#notes-on-the-usage-of-lock-and-lease): writes and releases here make that compare, so "
    "two holders at once or a stale write accepted would be a broken promise",
}


@dataclass(frozen=True)
class EtcdLockOptions:
    """``workload.options`` etcd's lock client reads (the lock workload has its own)."""

    fencing: bool = option(False, "compare the lock's revision in every write")
    lease_ttl: int = option(2, "seconds of the lock's lease", minimum=1)
    hold_ms: int = ms(0, "how long a holder holds the lock", minimum=0)


def make_client(spec: WorkloadSpec, options: EtcdLockOptions, system: EtcdSystem) -> EtcdLockClient:
    """The lock client of a test: ``SystemInfo.clients["lock"]``."""
    return EtcdLockClient(
        system,
        timeout=spec.timeout,
        fencing=options.fencing,
        lease_ttl=options.lease_ttl,
        hold_ms=options.hold_ms,
    )


class EtcdLockClient:
    """A lock Client of one etcd member (see the module docstring for the ops).

    ``fencing``: compare the token in writes and releases. ``lease_ttl``: seconds asked for
    each lease (etcd may grant more: at least 1.5 election timeouts). ``hold_ms``: how long
    the client works under the lock before each write (it sleeps, as a holder doing work
    would). ``timeout``: seconds for each request; a lock request waits that long at most.
    """

    def __init__(
        self,
        system: EtcdSystem,
        *,
        timeout: float = 2.0,
        fencing: bool = False,
        lease_ttl: int = 2,
        hold_ms: int = 0,
    ) -> None:
        self.system = system
        self.timeout = timeout
        self.fencing = fencing
        self.lease_ttl = lease_ttl
        self.hold_ms = hold_ms
        self.endpoint: tuple[str, int] | None = None
        self.base: str | None = None
        self.node: str | None = None
        #: lock key k -> (lock key in etcd, token, its keepalive)
        self.held: dict[Any, tuple[str, int, _KeepAlive]] = {}

    def open(self, node: Node) -> None:
        self.endpoint = self.system.endpoint(node)
        self.base = "http://{}:{}".format(*self.endpoint)
        self.node = node.name

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """How long the runner lets ``op`` run: an acquire makes three requests (grant,
        lock, look up its key), a write first holds the lock ``hold_ms``."""
        if op.f == "acquire":
            return 3 * self.timeout
        if op.f == "write":
            return self.hold_ms / 1000.0 + self.timeout
        return self.timeout

    def close(self) -> None:
        """Stop every keepalive and revoke its lease, so that a lock this client held or was
        waiting for is freed now rather than when its lease runs out."""
        for _, _, keeper in self.held.values():
            keeper.stop()
        self.held.clear()

    def invoke(self, op: Op) -> Op:
        if self.base is None or self.endpoint is None:
            raise RuntimeError("EtcdLockClient.invoke before open")
        if op.f == "status":
            promise = PROMISES[self.fencing]
            return status_completion(op, self.endpoint, self.node, self.timeout, promise)
        if not isinstance(op.value, list | tuple) or len(op.value) != 2:
            return op.complete(
                "fail", op.value, error=f"bad-op: expected [key, value], got {op.value!r}"
            )
        handlers: dict[str, Callable[[Op, Any, Any], Op]] = {
            "acquire": self._acquire,
            "write": self._write,
            "release": self._release,
            "read": self._read,
        }
        handler = handlers.get(op.f)
        if handler is None:
            return op.complete(
                "fail", op.value, error=f"bad-op: the lock client has no op {op.f!r}"
            )
        key, arg = op.value
        try:
            return handler(op, key, arg)
        except _Refused:
            return op.complete("fail", op.value, error="connection-refused")

    # -- ops ---------------------------------------------------------------------------------

    def _acquire(self, op: Op, key: Any, _: Any) -> Op:
        if key in self.held:  # the generator never asks this; say so rather than leak a lease
            return op.complete("fail", op.value, error="already-holding")
        try:
            grant = self._post("/v3/lease/grant", {"TTL": self.lease_ttl})
        except (EtcdError, OSError, ValueError) as e:
            # no lock was asked for: whatever became of the lease, nothing is held
            return op.complete("fail", op.value, error=f"lease-grant: {_describe(e)}")
        lease, ttl = int(grant["ID"]), int(grant.get("TTL", 0) or 0)
        assert self.base is not None
        keeper = _KeepAlive(self.base, lease, ttl or self.lease_ttl)
        try:
            reply = self._post(
                "/v3/lock/lock", {"name": b64(f"{LOCK_PREFIX}{key}"), "lease": lease}
            )
            lock_key = str(reply["key"])
            found = self._post("/v3/kv/range", {"key": lock_key}).get("kvs") or []
        except _Refused:
            keeper.stop()
            raise
        except (EtcdError, OSError, ValueError, KeyError) as e:
            keeper.stop()  # frees the lock if it was granted after all
            definite = isinstance(e, EtcdError) and e.definite
            return op.complete("fail" if definite else "info", op.value, error=_describe(e))
        if not found:  # granted, but the lease had already run out: nothing is held
            keeper.stop()
            return op.complete("fail", op.value, error="lock-lost: the lease ended at the grant")
        token = int(found[0]["create_revision"])
        self.held[key] = (lock_key, token, keeper)
        return op.complete("ok", [key, {"token": token, "lease_ms": ttl * 1000}])

    def _write(self, op: Op, key: Any, v: Any) -> Op:
        if key not in self.held:
            return op.complete("fail", op.value, error="not-holding")
        lock_key, token, _ = self.held[key]
        value = [key, [token, v]]
        if self.hold_ms > 0:  # work under the lock; the lease may run out meanwhile
            time.sleep(self.hold_ms / 1000.0)
        put = {"key": b64(f"{DATA_PREFIX}{key}/{v:010d}"), "value": b64(json.dumps([token, v]))}
        try:
            if not self.fencing:
                reply = self._post("/v3/kv/put", put)
                return op.complete("ok", value, extra=_version(reply))
            reply = self._post(
                "/v3/kv/txn",
                {"compare": [_still_held(lock_key, token)], "success": [{"request_put": put}]},
            )
        except (EtcdError, OSError, ValueError) as e:
            return self._failed(op, e, value)
        if reply.get("succeeded") is True:  # the gateway leaves out a false "succeeded"
            return op.complete("ok", value, extra=_version(reply))
        return op.complete("fail", value, error="lock-lost: the lock key is gone")

    def _release(self, op: Op, key: Any, _: Any) -> Op:
        if key not in self.held:
            return op.complete("fail", op.value, error="not-holding")
        lock_key, token, keeper = self.held.pop(key)
        value = [key, token]
        try:
            if not self.fencing:
                self._post("/v3/lock/unlock", {"key": lock_key})
                return op.complete("ok", value)
            reply = self._post(
                "/v3/kv/txn",
                {
                    "compare": [_still_held(lock_key, token)],
                    "success": [{"request_delete_range": {"key": lock_key}}],
                },
            )
        except (EtcdError, OSError, ValueError) as e:
            return self._failed(op, e, value)
        finally:
            keeper.stop()
        if reply.get("succeeded") is True:
            return op.complete("ok", value)
        return op.complete("fail", value, error="lock-lost: the lock key was gone at the release")

    def _read(self, op: Op, key: Any, _: Any) -> Op:
        prefix = f"{DATA_PREFIX}{key}/"
        try:
            reply = self._post(
                "/v3/kv/range",
                {
                    "key": b64(prefix),
                    "range_end": b64(prefix_end(prefix)),
                    "sort_order": "ASCEND",
                    "sort_target": "MOD",
                },
            )
        except (EtcdError, OSError, ValueError) as e:
            return op.complete("fail", op.value, error=_describe(e))  # a read changes nothing
        entries = [json.loads(unb64(kv["value"])) for kv in reply.get("kvs") or []]
        return op.complete("ok", [key, entries])

    # -- helpers ------------------------------------------------------------------------------

    def _failed(self, op: Op, e: Exception, value: Any) -> Op:
        definite = isinstance(e, EtcdError) and e.definite
        return op.complete("fail" if definite else "info", value, error=_describe(e))

    def _post(self, path: str, body: dict[str, Any], timeout: float | None = None) -> dict:
        assert self.base is not None
        try:
            return post(self.base + path, body, timeout or self.timeout)
        except ConnectionRefusedError:
            raise _Refused from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ConnectionRefusedError):
                raise _Refused from None
            raise


class _Refused(Exception):
    """Nothing was sent: the member refused the connection."""


class _KeepAlive:
    """Keeps one lease alive from a daemon thread, a keepalive every third of its TTL, until
    ``stop()``, which then revokes the lease. Failures are ignored: a holder that cannot reach
    the leader just loses its lease when the TTL runs out, and does not know it."""

    def __init__(self, base: str, lease: int, ttl: int) -> None:
        self.base = base
        self.lease = lease
        self.every = max(ttl / 3.0, 0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"keepalive-{lease:x}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                post(f"{self.base}/v3/lease/keepalive", {"ID": self.lease}, self.every)
            except Exception:  # noqa: BLE001 - see the class docstring
                pass
        try:  # best effort: otherwise the lease (and any lock key of it) ends with its TTL
            post(f"{self.base}/v3/lease/revoke", {"ID": self.lease}, 1.0)
        except Exception:  # noqa: BLE001
            pass


def _version(reply: dict[str, Any]) -> dict[str, Any]:
    """The write's ``version``: the reply header's revision (the ``versions`` checker: writes
    under one lock acknowledged one after another get growing revisions)."""
    rev = (reply.get("header") or {}).get("revision")
    return {"version": int(rev)} if rev is not None else {}


def _still_held(lock_key: str, token: int) -> dict[str, Any]:
    """The compare that holds exactly while this grant holds the lock: its key exists, with
    the create revision it had when granted (a missing key has create revision 0)."""
    return {"key": lock_key, "target": "CREATE", "result": "EQUAL", "create_revision": str(token)}


def _describe(e: Exception) -> str:
    if isinstance(e, TimeoutError):
        return "timeout"
    if isinstance(e, urllib.error.URLError):
        return f"url-error: {e.reason}"
    if isinstance(e, EtcdError):
        return str(e)
    return f"{type(e).__name__}: {e}"
