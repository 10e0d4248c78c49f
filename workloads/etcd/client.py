"""``EtcdClient``: the register workload over etcd's v3 JSON gateway.

History ops map onto the gateway (keys and values base64, values JSON-encoded integers, keys
under ``splitbrain/``)::

    read   [k, None]    -> POST /v3/kv/range {key, serializable?}       ok [k, v or None]
    write  [k, v]       -> POST /v3/kv/put {key, value}                 ok [k, v]
    cas    [k, [a, b]]  -> POST /v3/kv/txn compare value(k) == a, then range k and put b
                           ok if the reply says "succeeded": true; a failed compare comes
                           back without the key at all, and completes as fail
    status None         -> POST /v3/maintenance/status                 ok {id, role, term,
                           revision, raft_index, applied_index, ...}

What etcd says besides is kept in each completion's extra, for the ``versions`` checker
(``checkers/versions.py``): a write's ``version`` (the reply header's revision: the key's new
mod_revision), a cas's ``version`` and ``saw_version`` (the mod_revision of the key its range
read before the put, i.e. the write its compare matched), a read's ``read_version`` (the
mod_revision of the value read) and ``revision`` (the store's revision it was served at; a
failed cas's too).
"""

from __future__ import annotations

import base64
import json
import urllib.error
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.history import Op
from harness.registry import option
from harness.spec import WorkloadSpec
from workloads.etcd.api import EtcdError, b64, post, status_completion
from workloads.etcd.system import READ_MODES, EtcdSystem

__all__ = ["KEY_PREFIX", "MODELS", "PROMISES", "EtcdClient", "EtcdRegisterOptions", "make_client"]

KEY_PREFIX = "splitbrain/"

PROMISES = {
    "linearizable": "etcd promises linearizable reads and writes (strict serializability) with "
    "its default read mode: an invalid verdict here is etcd breaking its documented promise "
    "(https://etcd.io/docs/v3.4/learning/api_guarantees/)",
    "serializable": "reads here are 'serializable': etcd serves them from one member's local "
    "state without consensus and documents that they 'may access stale data with respect to "
    "quorum' (https://etcd.io/docs/v3.4/learning/api_guarantees/); stale reads found here are "
    "the test asking for more than etcd promises, not a broken promise (writes and cas still "
    "go through Raft and are promised linearizable). What etcd does promise them: a member "
    "serves a prefix of the one Raft log, so 'a client reads the same events in the same "
    "order' (sequential consistency, in the words of etcd's v3.3 guarantees, the last to "
    "name a model for them: 'serialized access may be behind the quorum state'); a "
    "sequential anomaly for a client that stays on one member would be a broken promise",
}

#: the consistency models (the ``causal`` checker's names) etcd promises a client's register
#: operations, by read mode: strict serializability implies sequential consistency (the
#: linearizable checker checks the rest); serializable reads keep sequential consistency for
#: a client that stays on one member (see PROMISES)
MODELS = {"linearizable": ("sequential",), "serializable": ("sequential",)}


@dataclass(frozen=True)
class EtcdRegisterOptions:
    """``workload.options`` etcd's register client reads."""

    reads: str | None = option(None, "how clients read (default: the system's)", choices=READ_MODES)


def make_client(spec: WorkloadSpec, options: EtcdRegisterOptions, system: EtcdSystem) -> EtcdClient:
    """The register client of a test: ``SystemInfo.clients["register"]``."""
    return EtcdClient(system, timeout=spec.timeout, reads=options.reads)


class EtcdClient:
    """A register Client of one etcd member over its v3 JSON gateway (urllib).

    ``reads``: ``linearizable`` or ``serializable``; None takes the system's. ``timeout``
    bounds each request (seconds). A refused connection completes as ``fail`` (nothing was
    sent); a read that fails or times out completes as ``fail`` too (a read changes nothing);
    a write or cas that errs or times out is ``info`` (it may have taken effect), except for
    errors etcd returns before proposing. A client talks to its node's member only, so a
    process (a session) stays on one member, the node the history records.
    """

    def __init__(
        self, system: EtcdSystem, *, timeout: float = 2.0, reads: str | None = None
    ) -> None:
        self.system = system
        self.timeout = timeout
        self.reads = reads or system.reads
        self.endpoint: tuple[str, int] | None = None
        self.base: str | None = None
        self.node: str | None = None

    def open(self, node: Node) -> None:
        self.endpoint = self.system.endpoint(node)
        self.base = "http://{}:{}".format(*self.endpoint)
        self.node = node.name

    def close(self) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        """Perform ``op`` and return its completion (see the module docstring)."""
        if self.base is None or self.endpoint is None:
            raise RuntimeError("EtcdClient.invoke before open")
        if op.f == "status":
            promise = PROMISES.get(self.reads, "")
            models = list(MODELS.get(self.reads, ()))
            return status_completion(
                op, self.endpoint, self.node, self.timeout, promise, reads=self.reads, models=models
            )
        if not isinstance(op.value, list | tuple) or len(op.value) != 2:
            return op.complete(
                "fail", op.value, error=f"bad-op: expected [key, value], got {op.value!r}"
            )
        key, arg = op.value
        k = b64(f"{KEY_PREFIX}{key}")
        try:
            if op.f == "read":
                body: dict[str, Any] = {"key": k}
                if self.reads == "serializable":
                    body["serializable"] = True
                reply = self._post("/v3/kv/range", body)
                kvs = reply.get("kvs") or []
                value = json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None
                extra = _header_revision(reply)
                if kvs:
                    extra["read_version"] = int(kvs[0].get("mod_revision") or 0)
                return op.complete("ok", [key, value], extra=extra)
            if op.f == "write":
                reply = self._post("/v3/kv/put", {"key": k, "value": b64(json.dumps(arg))})
                return op.complete("ok", op.value, extra=_version(reply))
            if op.f == "cas":
                if not isinstance(arg, list | tuple) or len(arg) != 2:
                    return op.complete("fail", op.value, error="bad-op: cas needs [k, [a, b]]")
                compare = {
                    "key": k,
                    "target": "VALUE",
                    "result": "EQUAL",
                    "value": b64(json.dumps(arg[0])),
                }
                put = {"request_put": {"key": k, "value": b64(json.dumps(arg[1]))}}
                # the range before the put reads the key as the compare saw it
                seen = {"request_range": {"key": k}}
                reply = self._post("/v3/kv/txn", {"compare": [compare], "success": [seen, put]})
                # the gateway leaves out false fields: a failed compare has no "succeeded"
                if reply.get("succeeded") is True:
                    return op.complete("ok", op.value, extra=_cas_versions(reply))
                return op.complete(
                    "fail", op.value, error="cas-mismatch", extra=_header_revision(reply)
                )
        except ConnectionRefusedError:
            return op.complete("fail", op.value, error="connection-refused")
        except urllib.error.URLError as e:
            if isinstance(e.reason, ConnectionRefusedError):
                return op.complete("fail", op.value, error="connection-refused")
            return self._failed(op, f"url-error: {e.reason}")
        except EtcdError as e:
            return self._failed(op, str(e), definite=e.definite)
        except TimeoutError:
            return self._failed(op, "timeout")
        except (OSError, ValueError) as e:
            return self._failed(op, f"{type(e).__name__}: {e}")
        return op.complete(
            "fail", op.value, error=f"bad-op: etcd runs read, write, cas, status; not {op.f!r}"
        )

    def _failed(self, op: Op, error: str, *, definite: bool = False) -> Op:
        # a read has no effect, so a failed one is certainly not a completed one
        kind = "fail" if definite or op.f == "read" else "info"
        return op.complete(kind, op.value, error=error)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.base is not None
        return post(self.base + path, body, self.timeout)


def _header_revision(reply: dict[str, Any]) -> dict[str, Any]:
    """``{"revision": the store's revision the reply was made at}``, when it says one."""
    rev = (reply.get("header") or {}).get("revision")
    return {"revision": int(rev)} if rev is not None else {}


def _version(reply: dict[str, Any]) -> dict[str, Any]:
    """A put's or a txn's reply header revision as the write's ``version`` (the key's new
    mod_revision), for the versions checker."""
    rev = (reply.get("header") or {}).get("revision")
    return {"version": int(rev)} if rev is not None else {}


def _cas_versions(reply: dict[str, Any]) -> dict[str, Any]:
    """A successful cas txn's ``version`` and ``saw_version``: the mod_revision of the key its
    range read before the put (the write the compare matched)."""
    extra = _version(reply)
    responses = reply.get("responses") or []
    kvs = ((responses[0] if responses else {}).get("response_range") or {}).get("kvs") or []
    if kvs:
        extra["saw_version"] = int(kvs[0].get("mod_revision") or 0)
    return extra
