"""What the patterns that serve clients share: a request's deadline, forwarding a request one
hop, the register operations (read, write, cas) and the home node of a key.

A node that cannot serve a client's request itself (it does not lead, or the key lives
elsewhere) forwards it, once: the forwarded copy carries ``"forwarded": "<node>"`` (it is
never forwarded again) and ``"timeout_ms"``, what is left of the forwarding node's deadline,
which the receiving node keeps to (``request_deadline``).
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from .wire import RpcClient

__all__ = [
    "REGISTER_OPS",
    "forward",
    "home_of",
    "register_problem",
    "request_deadline",
    "same_value",
]

#: the register's client requests (the Raft store's and CASPaxos's protocol)
REGISTER_OPS = ("read", "write", "cas")


def request_deadline(msg: dict[str, Any], budget: float) -> float:
    """The monotonic time by which ``msg`` must be answered: ``budget`` seconds from now,
    or less when a forwarding node asked for less (``timeout_ms``)."""
    if isinstance(msg.get("timeout_ms"), (int, float)):  # set by a forwarding node
        budget = max(0.0, min(budget, msg["timeout_ms"] / 1000))
    return time.monotonic() + budget


def forward(rpc: RpcClient, msg: dict[str, Any], sender: str, deadline: float) -> dict[str, Any]:
    """Send client request ``msg`` on through ``rpc`` as node ``sender``, with what is left
    until ``deadline``; the reply without its ``id``. Raises ``RpcError`` as ``rpc.call``."""
    remaining = max(0.0, deadline - time.monotonic())
    fwd = {k: v for k, v in msg.items() if k != "id"}
    fwd.update(forwarded=sender, timeout_ms=int(remaining * 1000))
    # the receiver answers within timeout_ms; the margin covers the way back
    reply = rpc.call(fwd, timeout=remaining + 0.2)
    reply.pop("id", None)
    return reply


def register_problem(t: str, msg: dict[str, Any]) -> str | None:
    """What is wrong with register request ``msg`` of type ``t`` (one of ``REGISTER_OPS``),
    or None: a key is a string or an integer, a write has a value, a cas ``from`` and ``to``."""
    key = msg.get("key")
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        return f"'key' must be a string or an integer, got {key!r}"
    if t == "write" and "value" not in msg:
        return "a write needs 'value'"
    if t == "cas" and ("from" not in msg or "to" not in msg):
        return "a cas needs 'from' and 'to'"
    return None


def same_value(a: Any, b: Any) -> bool:
    """JSON equality, as a cas compares: ``1``, ``1.0`` and ``true`` are different values to
    a client."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def home_of(key: Any, members: list[str]) -> str:
    """The member that keeps (or proposes for) ``key``: the same answer on every node."""
    digest = zlib.crc32(json.dumps(key, sort_keys=True).encode())
    return sorted(members)[digest % len(members)]
