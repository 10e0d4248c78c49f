"""What an actor does with a message: the actor's behaviour, a pure function of its state.

Every actor is the same small object: a counter and an append-only log::

    state = {"count": 0, "log": []}
    increment  None  -> count + 1; the result is the new count
    append     x     -> log + [x]; the result is the log's new length
    read       None  -> unchanged; the result is {"count": ..., "log": [...]}

Kept apart from the node so that the message handling (one at a time, persisted before the
reply) and the actor's own logic do not mix.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPS", "apply", "initial"]

#: the messages an actor understands
OPS = ("increment", "append", "read")


def initial() -> dict[str, Any]:
    """A fresh actor's state (an actor exists as soon as a message names it)."""
    return {"count": 0, "log": []}


def apply(state: dict[str, Any], op: str, arg: Any) -> tuple[dict[str, Any], Any]:
    """The state after ``op`` with ``arg``, and the result for the sender. ``state`` is left
    as it is (a new dict is returned when the message changes something)."""
    if op == "increment":
        return {**state, "count": state["count"] + 1}, state["count"] + 1
    if op == "append":
        log = [*state["log"], arg]
        return {**state, "log": log}, len(log)
    if op == "read":
        return state, {"count": state["count"], "log": list(state["log"])}
    raise ValueError(f"an actor has no message {op!r}; it takes {', '.join(OPS)}")
