"""Anomalies by rule, counted in full but built only as far as they are shown.

A run that goes wrong can break one rule a hundred thousand times (a watcher that missed every
event of a diverged member), and a result keeps a few anomalies of each kind (``max_reports``,
five by default) with the count of all. Building the rest (an explanation in words, the ops
as dicts, the search for the evidence) costs more than finding them: on a 127 s etcd run with
127,000 missed events the watch checker took 862 s, most of it explaining every missed event
(each one scanning every revision the watcher received). A checker counts each with
``count(name)``, which says whether to build it: only for the first ``limit`` of that
name.

    found = Findings(limit=5)
    if found.count("missed-event"):     # counted; True for the first five: build it
        found.keep(Anomaly("missed-event", ...))
    found.anomalies()      # the first five of each name, in the order found
    found.counts           # {"missed-event": 127000}
"""

from __future__ import annotations

from checkers.base import Anomaly

__all__ = ["Findings"]


class Findings:
    """The anomalies a checker found: ``counts`` every one, builds the first ``limit`` of each
    name (``built`` counts the builds, so that a test can see none was wasted)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: name -> how many were found
        self.counts: dict[str, int] = {}
        #: name -> the first ``limit`` found, built
        self.kept: dict[str, list[Anomaly]] = {}
        self.built = 0

    def count(self, name: str) -> bool:
        """One more anomaly called ``name``: True when it is one of the first ``limit`` of
        that name, which the caller then builds and gives to ``keep``."""
        n = self.counts.get(name, 0)
        self.counts[name] = n + 1
        return n < self.limit

    def keep(self, anomaly: Anomaly) -> None:
        """Keep an anomaly ``count`` said to build."""
        self.built += 1
        self.kept.setdefault(anomaly.name, []).append(anomaly)

    def anomalies(self) -> list[Anomaly]:
        """The kept anomalies, each name's in the order found, names in the order first
        found."""
        return [a for items in self.kept.values() for a in items]

    def __bool__(self) -> bool:
        return bool(self.counts)
