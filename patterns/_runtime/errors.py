"""Error codes shared by every reference pattern, and whether each one is definite.

A failure is *definite* when the operation certainly did not take effect and never will
(the harness records a ``fail``); it is *indefinite* when it may have taken effect, or may
still (the harness records an ``info``). A reply that reports an error always carries both::

    {"id": 7, "ok": false, "error": "not-leader", "definite": true,
     "leader": "n2", "message": "n1 is a follower; the leader is n2"}

Patterns may use codes of their own (``cas-mismatch``, ``lock-held``, ...); pass
``definite=`` explicitly for those, or add them to ``DEFINITE`` at import time.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BAD_REQUEST",
    "CONNECTION_LOST",
    "DEFINITE",
    "INTERNAL",
    "NOT_LEADER",
    "TIMEOUT",
    "UNAVAILABLE",
    "ConnectFailed",
    "ConnectionLost",
    "RpcError",
    "RpcTimeout",
    "error_reply",
    "is_definite",
    "ok_reply",
]

#: this node does not lead and will not do it; ``leader`` names the leader it knows, or null
NOT_LEADER = "not-leader"
#: the operation was accepted but its outcome was not known before the deadline
TIMEOUT = "timeout"
#: nothing was done: no leader to send it to, or the connection to it could not be opened
UNAVAILABLE = "unavailable"
#: the connection broke after the request was sent: the outcome is unknown
CONNECTION_LOST = "connection-lost"
#: the request was malformed; nothing was done
BAD_REQUEST = "bad-request"
#: the server raised while handling the request: the outcome is unknown
INTERNAL = "internal"

#: the default definiteness of each known code; unknown codes default to indefinite, the
#: safe choice (an ``info`` is never wrong, a ``fail`` that did take effect is)
DEFINITE: dict[str, bool] = {
    NOT_LEADER: True,
    TIMEOUT: False,
    UNAVAILABLE: True,
    CONNECTION_LOST: False,
    BAD_REQUEST: True,
    INTERNAL: False,
    "cas-mismatch": True,
}


def is_definite(code: str) -> bool:
    """Whether a failure with ``code`` certainly did not take effect (unknown codes: False)."""
    return DEFINITE.get(code, False)


def ok_reply(value: Any = None) -> dict[str, Any]:
    """A success reply; the server fills in the request's ``id``."""
    return {"ok": True, "value": value}


def error_reply(
    code: str,
    message: str = "",
    *,
    definite: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An error reply with ``code`` and its definiteness (``DEFINITE[code]`` unless given).

    ``extra`` fields (``leader="n2"``) are added to the reply as they are.
    """
    reply: dict[str, Any] = {
        "ok": False,
        "error": code,
        "definite": is_definite(code) if definite is None else definite,
        "message": message,
    }
    reply.update(extra)
    return reply


class RpcError(Exception):
    """A call to another node failed; ``code`` and ``definite`` say how to report it."""

    code = INTERNAL
    definite = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def reply(self, *, definite: bool | None = None, **extra: Any) -> dict[str, Any]:
        """This failure as an error reply to pass on to a client."""
        d = self.definite if definite is None else definite
        return error_reply(self.code, self.message, definite=d, **extra)


class ConnectFailed(RpcError):
    """The connection could not be opened: nothing was sent, so nothing was done."""

    code = UNAVAILABLE
    definite = True


class RpcTimeout(RpcError):
    """The request was sent and no reply came in time: it may or may not have been done."""

    code = TIMEOUT
    definite = False


class ConnectionLost(RpcError):
    """The connection broke after the request was sent: it may or may not have been done."""

    code = CONNECTION_LOST
    definite = False
