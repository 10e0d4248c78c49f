"""Faults: partitions and packet loss, kill / pause, clock skew, and how to combine them.

Every nemesis takes a seeded ``random.Random`` (and the system, where it needs one), gets its
nodes in ``setup(cluster)``, completes each op with what it did, and heals everything in
``teardown()``.
"""

from nemesis.base import Nemesis
from nemesis.clock import ClockNemesis
from nemesis.compose import ComposedNemesis, NoopNemesis, compose
from nemesis.partition import SHAPES, Grudge, PartitionNemesis, grudge_for
from nemesis.process import KillNemesis, PauseNemesis

__all__ = [
    "SHAPES",
    "ClockNemesis",
    "ComposedNemesis",
    "Grudge",
    "KillNemesis",
    "Nemesis",
    "NoopNemesis",
    "PartitionNemesis",
    "PauseNemesis",
    "compose",
    "grudge_for",
]
