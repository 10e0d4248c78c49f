"""etcd's v3 JSON gateway, as the etcd clients use it: POST a JSON body, keys and values in
base64, errors as ``EtcdError`` (definite when etcd refused before proposing), and a
member's status for the ``status`` op."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

from harness.history import Op

__all__ = [
    "DEFINITE_CODES",
    "EtcdError",
    "b64",
    "member_status",
    "post",
    "prefix_end",
    "status_completion",
    "unb64",
]

# gRPC codes etcd returns before a request reaches Raft: InvalidArgument, FailedPrecondition
# (e.g. "etcdserver: not capable"), ResourceExhausted ("too many requests"), Unauthenticated
DEFINITE_CODES = frozenset({3, 9, 8, 16})


class EtcdError(Exception):
    """An error etcd answered; ``definite``: it certainly did nothing (a gRPC code of
    ``DEFINITE_CODES``)."""

    def __init__(self, message: str, definite: bool) -> None:
        super().__init__(message)
        self.definite = definite


def post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POST ``body`` as JSON to ``url`` and return the JSON object etcd answers. Raises
    EtcdError for an HTTP error etcd answered, OSError (URLError, TimeoutError,
    ConnectionRefusedError) when none came, ValueError for an answer that is not an object."""
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            reply = json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            err = json.loads(e.read())
        except (OSError, ValueError):
            err = {}
        code = int(err.get("code", -1)) if isinstance(err, dict) else -1
        msg = (err.get("error") or err.get("message")) if isinstance(err, dict) else None
        raise EtcdError(f"http {e.code}: {msg or e.reason}", code in DEFINITE_CODES) from None
    if not isinstance(reply, dict):
        raise ValueError(f"etcd answered {reply!r}")
    return reply


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def unb64(s: str) -> str:
    return base64.b64decode(s).decode()


def prefix_end(prefix: str) -> str:
    """The ``range_end`` that makes a range request cover every key starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def member_status(host: str, port: int, *, timeout: float = 1.0) -> dict[str, Any] | None:
    """A member's status as ``{role, term, led_terms, member_id, leader, version, revision,
    raft_index, applied_index}``, or None when it does not answer. ``revision``: its store's
    revision (the reply header's); ``raft_index``: the last entry of its Raft log;
    ``applied_index``: the last entry it applied (``raftAppliedIndex``, etcd 3.4 on; None
    before)."""
    try:
        body = post(f"http://{host}:{port}/v3/maintenance/status", {}, timeout)
    except (OSError, ValueError, EtcdError):
        return None
    header = body.get("header") or {}
    member, leader = str(header.get("member_id", "")), str(body.get("leader", ""))
    term = int(header.get("raft_term", 0) or 0)
    role = "leader" if member and member == leader else "follower"
    return {
        "role": role,
        "term": term,
        "led_terms": [term] if role == "leader" else [],
        "member_id": member,
        "leader": leader,
        "version": body.get("version"),
        "revision": _int(header.get("revision")),
        "raft_index": _int(body.get("raftIndex")),
        "applied_index": _int(body.get("raftAppliedIndex")),
    }


def _int(v: Any) -> int | None:
    """A number of etcd's JSON (int64 fields come as strings; a zero one is left out)."""
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def status_completion(
    op: Op,
    endpoint: tuple[str, int],
    node: str | None,
    timeout: float,
    promise: str,
    **extra: Any,
) -> Op:
    """The completion of a ``status`` op against the member at ``endpoint`` (address, port):
    its status, with ``promise`` (what etcd promises for the workload at hand, for the
    ``promises`` note) and ``extra``."""
    st = member_status(*endpoint, timeout=timeout)
    if st is None:
        return op.complete("fail", None, error="no-status")
    return op.complete("ok", {**st, "id": node, **extra, "system": "etcd", "promise": promise})
