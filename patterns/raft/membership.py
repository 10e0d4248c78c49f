"""The cluster's configuration (who votes), as the log says: single-server changes.

As in the Raft thesis (ch. 4), the configuration is a log entry, ``{"op": "config",
"voters": [...]}``, and a node uses the latest one in its log, committed or not: a change takes
effect on each node when the entry is appended there, and is undone if the entry is dropped
(a truncated suffix). A log with no configuration entry is in the initial configuration: every
``--peers`` member, or none for a node whose data directory holds ``join``
(``storage.JOIN_FILE``: started empty to be added; it waits to be added and never
campaigns). The configuration is persisted with the log, so a restart restores it.

Changes are one server at a time, so a majority of the old configuration and one of the new
always share a node; the leader keeps to that by starting no change until the last one is
committed (and an entry of its own term is). This module is the bookkeeping: ``Config``
follows the log, ``quorum`` and ``commit_index`` count voters only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["CONFIG_OP", "Config", "commit_index", "config_entry", "quorum"]

#: the ``op`` of a configuration entry
CONFIG_OP = "config"


def config_entry(voters: Iterable[str]) -> dict[str, Any]:
    """The command of a log entry that makes ``voters`` the configuration."""
    return {"op": CONFIG_OP, "voters": sorted(set(voters))}


class Config:
    """The configuration in force on one node: the latest configuration entry of its log
    (``index``, 0 for none) or the initial one."""

    def __init__(self, initial: Sequence[str]) -> None:
        self.initial = sorted(initial)
        self.voters: list[str] = list(self.initial)
        #: the log index of the entry that set ``voters`` (0: the initial configuration)
        self.index = 0

    def appended(self, first: int, entries: Sequence[tuple[int, Any]]) -> None:
        """Entries were appended to the log from index ``first`` on: the last configuration
        among them takes effect."""
        for k in range(len(entries) - 1, -1, -1):
            cmd = entries[k][1]
            if isinstance(cmd, dict) and cmd.get("op") == CONFIG_OP:
                self.voters = list(cmd["voters"])
                self.index = first + k
                return

    def truncated(self, log: Sequence[tuple[int, Any]]) -> None:
        """The log was cut back to ``log``: the latest configuration left in it (or the
        initial one) is in force again."""
        if self.index <= len(log):
            return
        self.voters, self.index = list(self.initial), 0
        self.appended(1, log)

    def __contains__(self, node: object) -> bool:
        return node in self.voters


def quorum(voters: Sequence[str], holders: Iterable[str]) -> bool:
    """Whether ``holders`` include a majority of ``voters`` (never, for no voters)."""
    have = set(holders)
    return bool(voters) and sum(1 for v in voters if v in have) >= len(voters) // 2 + 1


def commit_index(voters: Sequence[str], matches: Mapping[str, int]) -> int:
    """The highest index a majority of ``voters`` hold, by each voter's ``matches`` (0 for a
    voter missing there; 0 for no voters)."""
    if not voters:
        return 0
    held = sorted((matches.get(v, 0) for v in voters), reverse=True)
    return held[len(voters) // 2]
