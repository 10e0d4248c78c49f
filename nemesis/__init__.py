"""Faults: partitions and packet loss, kill / pause, clock skew, and how to combine them.

Each fault kind is a ``FaultInfo`` (``harness.registry``) registered under
``splitbrain.faults``: PARTITION and LOSS (``nemesis.partition``), KILL and PAUSE
(``nemesis.process``), CLOCK (``nemesis.clock``), DRIFT (``nemesis.drift``: a clock that runs
fast or slow) and DELAY (``nemesis.delay``: latency with jitter, tc netem or an NFQUEUE program
in each node). ``for_test`` makes a test's nemesis from
them, ``nemesis.schedule`` says when each fault starts and heals.

Every nemesis takes a seeded ``random.Random`` (and the system, where it needs one), gets its
nodes in ``setup(cluster)``, completes each op with what it did, and heals everything in
``teardown()``.
"""

from nemesis._common import TARGETS
from nemesis.base import Nemesis
from nemesis.clock import CLOCK, ClockNemesis, ClockOptions
from nemesis.compose import ComposedNemesis, NoopNemesis, compose, for_test
from nemesis.partition import (
    LOSS,
    PARTITION,
    SHAPES,
    Grudge,
    LossNemesis,
    LossOptions,
    PartitionNemesis,
    PartitionOptions,
    grudge_for,
)
from nemesis.process import KILL, PAUSE, KillNemesis, KillOptions, PauseNemesis, PauseOptions
from nemesis.schedule import final_heal, heals_owed, schedule

__all__ = [
    "CLOCK",
    "KILL",
    "LOSS",
    "PARTITION",
    "PAUSE",
    "SHAPES",
    "TARGETS",
    "ClockNemesis",
    "ClockOptions",
    "ComposedNemesis",
    "Grudge",
    "KillNemesis",
    "KillOptions",
    "LossNemesis",
    "LossOptions",
    "Nemesis",
    "NoopNemesis",
    "PartitionNemesis",
    "PartitionOptions",
    "PauseNemesis",
    "PauseOptions",
    "compose",
    "final_heal",
    "for_test",
    "grudge_for",
    "heals_owed",
    "schedule",
]
