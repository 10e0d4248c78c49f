"""The ``member-states`` step: after the final heal, read each member of the system alone
and record what each says, for the ``members`` checker (``checkers/members.py``).

A crash-consistency bug (members that applied different entries and go on serving) is
invisible to client-side checks until a client happens to read from the bad member; reading
every member directly, once they have all applied the same stream, sees it. The contract
between the system (``workloads.system.MemberStates``), this step and the checker is in the
protocol's docstring; this module only waits and records.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from harness.history import NEMESIS, Journal, Op
from workloads.system import MemberStates

__all__ = ["MEMBER_STATES", "READ_TIMEOUT_S", "converged", "offers", "record_member_states"]

log = logging.getLogger("splitbrain")

#: the f of the op the step records
MEMBER_STATES = "member-states"
#: seconds each request of one reading may take
READ_TIMEOUT_S = 5.0
#: seconds between two readings while the members have not reached one index
POLL_S = 0.5


def offers(system: Any) -> bool:
    """Whether ``system`` can be read member by member (``MemberStates``)."""
    return isinstance(system, MemberStates)


def converged(states: dict[str, Any]) -> bool:
    """Every member was read and reports the same ``index``."""
    if not states:
        return False
    indexes = {getattr(s, "index", None) for s in states.values()}
    return all(getattr(s, "error", None) is None for s in states.values()) and (
        len(indexes) == 1 and None not in indexes
    )


def record_member_states(
    system: Any, nodes: list[Any], journal: Journal, stop: threading.Event | None = None
) -> Op:
    """Read ``system.member_states(nodes, ...)`` until the members reach one index or
    ``system.members_wait_s`` seconds pass (or ``stop`` is set), and append the last reading
    to ``journal`` as one ``member-states`` op of the nemesis process (``ok`` when converged,
    ``info`` when not). Returns the completion. A reading that raises counts as a reading in
    which every member failed with that error."""
    wait_s = float(system.members_wait_s)
    invoke = journal.append(Op("invoke", MEMBER_STATES, None, NEMESIS))
    deadline = time.monotonic() + wait_s
    readings = 0
    while True:
        readings += 1
        try:
            states: dict[str, Any] = system.member_states(list(nodes), READ_TIMEOUT_S)
            problem = None
        except Exception as e:  # a System's bug must not lose the run: it goes in the op
            log.exception("member-states: the reading failed")
            states, problem = {}, f"{type(e).__name__}: {e}"
        done = converged(states)
        if done or time.monotonic() >= deadline or (stop is not None and stop.is_set()):
            break
        if stop is not None:
            stop.wait(POLL_S)
        else:
            time.sleep(POLL_S)
    value = _trimmed({name: s.to_dict() for name, s in sorted(states.items())})
    if done:
        completion = invoke.complete("ok", value)
    else:
        why = problem or _not_converged(states, wait_s, readings)
        completion = invoke.complete("info", value, error=f"members-not-converged: {why}")
    log.info(
        "member-states: %s after %d reading(s)", "converged" if done else "not converged", readings
    )
    return journal.append(completion)


def _trimmed(value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``value`` with the keys of every member but the first dropped when all members have
    one digest: their content is then the same, and a long run's keyspace written five times
    over would only make the history's line longer (``info.keys_as`` names the member whose
    keys they are, ``info.key_count`` counts them)."""
    digests = {s.get("digest") for s in value.values()}
    if len(value) < 2 or len(digests) != 1 or None in digests:
        return value
    first = next(iter(value))
    out = {}
    for name, s in value.items():
        keys = s.get("keys")
        if name != first and isinstance(keys, dict):
            info = {**s.get("info", {}), "keys_as": first, "key_count": len(keys)}
            s = {**s, "keys": None, "info": info}
        out[name] = s
    return out


def _not_converged(states: dict[str, Any], wait_s: float, readings: int) -> str:
    parts = []
    for name, s in sorted(states.items()):
        parts.append(f"{name} {s.error}" if s.error else f"{name} at index {s.index}")
    return f"after {wait_s:g} s ({readings} readings): " + (", ".join(parts) or "no member")
