"""A node's membership table and the rules that change it: pure logic, no sockets, no clock.

Every member has an entry ``(incarnation, state, join)``; ``state`` is alive, suspect or
dead. Entries travel whole (the table is small: one line per member of the cluster) on every
probe and its answer, and a receiver keeps, for each member, the entry that *overrides* the
other (SWIM's rules, Das, Gupta and Motivala 2002):

- a higher incarnation overrides a lower one, whatever the states;
- at one incarnation, dead overrides suspect, which overrides alive.

Only a member raises its own incarnation: when it hears that it is suspected or dead at its
current incarnation, it *refutes*: incarnation + 1, alive, and the new entry overrides the
accusation wherever it arrives. A dead entry stays in the table as a tombstone, so that a
stale "alive" at the same incarnation cannot bring the member back; the member itself comes
back with a higher incarnation (it refutes, or it restarted: the incarnation is durable).

The live members are the alive and the suspect ones (a suspect is still a member until its
suspicion times out). The leader is the live member that joined first: the smallest
``(join, id)``. A member's ``join`` is the wall-clock millisecond at which its process
started; a refutation keeps it, a restart is a new join.

Seeded bugs that live here: ``no-incarnation`` (incarnations are never raised: an accusation
cannot be refuted; a suspect is cleared only where it answers a probe directly, and the
suspicions gossiped back accuse it again, so it flaps until some suspicion times out; then
it is dead, and nothing can be newer than a death: it never comes back, not even after a
restart), ``never-remove`` (a suspicion never times out: dead members stay members, and a
dead leader stays leader).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ALIVE", "DEAD", "SUSPECT", "Member", "Membership", "entry_problem"]

ALIVE, SUSPECT, DEAD = "alive", "suspect", "dead"
#: at one incarnation, the state with the higher rank overrides
RANK = {ALIVE: 0, SUSPECT: 1, DEAD: 2}


@dataclass
class Member:
    """One member as this node knows it; ``since`` (local monotonic seconds) is when this
    node last saw the entry change, for the suspicion timeout (it does not travel)."""

    inc: int
    state: str
    join: int
    since: float

    def key(self) -> tuple[int, int]:
        """What decides which of two entries of one member overrides the other."""
        return self.inc, RANK[self.state]

    def wire(self) -> dict[str, Any]:
        return {"inc": self.inc, "state": self.state, "join": self.join}


def entry_problem(entry: Any) -> str | None:
    """What is wrong with an entry received from a peer, or None."""
    if not isinstance(entry, dict):
        return f"an entry is an object, got {entry!r}"
    if entry.get("state") not in RANK:
        return f"an entry's state is alive, suspect or dead, got {entry.get('state')!r}"
    for k in ("inc", "join"):
        v = entry.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            return f"an entry's {k!r} is an integer >= 0, got {v!r}"
    return None


class Membership:
    """The table of ``me`` and the rules in the module docstring.

    ``incarnations=False`` is the ``no-incarnation`` bug, ``remove_dead=False`` the
    ``never-remove`` bug. Times (``now``) are the caller's monotonic seconds.
    """

    def __init__(
        self,
        me: str,
        inc: int,
        join: int,
        now: float,
        *,
        incarnations: bool = True,
        remove_dead: bool = True,
    ) -> None:
        self.me = me
        self.incarnations = incarnations
        self.remove_dead = remove_dead
        self.table: dict[str, Member] = {me: Member(inc, ALIVE, join, now)}

    # -- what the table says ------------------------------------------------------------

    @property
    def inc(self) -> int:
        """This node's own incarnation."""
        return self.table[self.me].inc

    def live(self) -> list[str]:
        """The members, alive or suspect, sorted by id."""
        return sorted(n for n, m in self.table.items() if m.state != DEAD)

    def leader(self) -> str | None:
        """The live member that joined first (ties by id)."""
        live = [(m.join, n) for n, m in self.table.items() if m.state != DEAD]
        return min(live)[1] if live else None

    def digest(self) -> dict[str, dict[str, Any]]:
        """The whole table as it travels."""
        return {n: m.wire() for n, m in sorted(self.table.items())}

    def state_of(self, node: str) -> str | None:
        m = self.table.get(node)
        return None if m is None else m.state

    # -- how it changes -----------------------------------------------------------------

    def merge(self, digest: Any, now: float) -> list[str]:
        """Take from a peer's ``digest`` every entry that overrides ours; an accusation of
        this node is refuted. Returns what changed, one line each (for the log)."""
        if not isinstance(digest, dict):
            return []
        changes: list[str] = []
        for node, entry in digest.items():
            if not isinstance(node, str) or entry_problem(entry) is not None:
                continue
            incoming = Member(entry["inc"], entry["state"], entry["join"], now)
            if node == self.me:
                changes += self._about_me(incoming)
                continue
            mine = self.table.get(node)
            if mine is None or incoming.key() > mine.key():
                if mine is None or (mine.inc, mine.state) != (incoming.inc, incoming.state):
                    changes.append(f"{node} {incoming.state} (incarnation {incoming.inc})")
                self.table[node] = incoming
        return changes

    def _about_me(self, incoming: Member) -> list[str]:
        me = self.table[self.me]
        if not self.incarnations:  # the bug: nothing to refute with; accusations are ignored
            return []
        accused = incoming.state != ALIVE and incoming.inc >= me.inc
        if accused or incoming.inc > me.inc:
            was = me.inc
            me.inc = incoming.inc + 1
            return [
                f"refuted {incoming.state} at incarnation {incoming.inc}: now {me.inc} (was {was})"
            ]
        return []

    def heard_from(self, node: str, now: float) -> list[str]:
        """``node`` answered this node directly. With incarnations that proves nothing new
        (its entry in the answer says all); without them (the ``no-incarnation`` bug) it is
        the only way back from suspect to alive, and none back from dead."""
        m = self.table.get(node)
        if self.incarnations or m is None or m.state != SUSPECT:
            return []  # a death is final: without incarnations nothing can be newer than it
        m.state, m.since = ALIVE, now
        return [f"{node} alive (heard from it)"]

    def suspect(self, node: str, now: float) -> list[str]:
        """``node`` did not answer a probe, directly or through others: suspect it."""
        m = self.table.get(node)
        if m is None or m.state != ALIVE or node == self.me:
            return []
        m.state, m.since = SUSPECT, now
        return [f"{node} suspect (incarnation {m.inc})"]

    def expire(self, now: float, timeout: float) -> list[str]:
        """Suspicions older than ``timeout`` become deaths (never, with ``never-remove``)."""
        if not self.remove_dead:
            return []
        out = []
        for node, m in self.table.items():
            if m.state == SUSPECT and now - m.since >= timeout:
                m.state, m.since = DEAD, now
                out.append(f"{node} dead (incarnation {m.inc})")
        return out
