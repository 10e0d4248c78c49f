"""Faults: partitions and packet loss, kill / pause, clock skew, delay, membership, corrupted
disks and lying nodes, and how to combine and replay them.

Each fault kind is a ``FaultInfo`` (``harness.registry``) registered under
``splitbrain.faults``: PARTITION and LOSS (``nemesis.partition``), KILL and PAUSE
(``nemesis.process``), CLOCK (``nemesis.clock``), DRIFT (``nemesis.drift``: a clock that runs
fast or slow), DELAY (``nemesis.delay``: latency with jitter, per node or per link, tc netem or
an NFQUEUE program in each node), CORRUPT (``nemesis.corrupt``: bits flipped or a tail cut in a
stopped node's data), and two that only reach systems offering them: MEMBERSHIP
(``nemesis.membership``: members removed and added back through the system's own
reconfiguration) and BYZANTINE (``nemesis.byzantine``: a node that lies). ``for_test`` makes a
test's nemesis from them, ``nemesis.schedule`` says when each fault starts and heals (the
rotation, or a suite's explicit steps), and ``nemesis.replay`` records a run's steps to give
them back.

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
