"""Message authentication: an HMAC per pair of replicas, and the digests of requests and states.

Every replica-to-replica message carries ``from``, ``to`` and ``mac``: HMAC-SHA256 of the
message's canonical JSON (without ``mac``) under the key of the pair (``from``, ``to``). The
pair's key is HMAC-SHA256(run secret, "a|b") with a and b sorted, so both ends derive it from
the secret given on the command line (``--secret``). This stands in for the pairwise keys a
deployment would hand out: a replica only ever uses the keys of its own pairs, so a lying
replica cannot make a MAC that another pair accepts (what it forges is signed with its own
key, which the receiver rejects).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

__all__ = ["NULL", "canonical", "digest", "pair_key", "sign", "verify"]

#: the digest of the null request a new view fills a gap with
NULL = "null"


def canonical(value: Any) -> bytes:
    """``value`` as compact JSON with sorted keys: the same bytes on every replica."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def digest(value: Any) -> str:
    """The digest of a request (None: the null request) or of a state snapshot."""
    if value is None:
        return NULL
    return hashlib.sha256(canonical(value)).hexdigest()[:24]


def pair_key(secret: str, a: str, b: str) -> bytes:
    """The key replicas ``a`` and ``b`` share, derived from the run's secret."""
    lo, hi = sorted((a, b))
    return hmac.new(secret.encode(), f"{lo}|{hi}".encode(), hashlib.sha256).digest()


def sign(key: bytes, msg: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``msg`` with its ``mac`` under ``key``."""
    body = {k: v for k, v in msg.items() if k != "mac"}
    return {**body, "mac": hmac.new(key, canonical(body), hashlib.sha256).hexdigest()[:32]}


def verify(key: bytes, msg: dict[str, Any]) -> bool:
    """Whether ``msg``'s ``mac`` is right under ``key``."""
    mac = msg.get("mac")
    if not isinstance(mac, str):
        return False
    return hmac.compare_digest(sign(key, msg)["mac"], mac)
