"""Checkers for Jepsen's classic workloads, as Jepsen (and elle-cli) check them.

    BankChecker(negative_balances=False)   totals preserved, no negative balances
    CounterChecker()                       every read within the bounds the adds allow
    SetChecker()                           the final read holds every acknowledged add
    SetFullChecker(linearizable=False)     every element followed through every read
    LongForkChecker(group_size=3)          no two reads saw inserts in incompatible orders
    UniqueIdsChecker()                     every generated id distinct

Each has ``name`` and ``check(history, ctx) -> Result``; ``BANK``, ``COUNTER``, ``SET``,
``SET_FULL``, ``LONG_FORK`` and ``UNIQUE_IDS`` are their registry entries.
"""

from __future__ import annotations

from .bank import BANK, BankChecker, BankOptions
from .counter import COUNTER, CounterChecker
from .long_fork import LONG_FORK, LongForkChecker, LongForkOptions
from .sets import SET, SET_FULL, SetChecker, SetFullChecker, SetFullOptions
from .unique_ids import UNIQUE_IDS, UniqueIdsChecker

__all__ = [
    "BANK",
    "COUNTER",
    "LONG_FORK",
    "SET",
    "SET_FULL",
    "UNIQUE_IDS",
    "BankChecker",
    "BankOptions",
    "CounterChecker",
    "LongForkChecker",
    "LongForkOptions",
    "SetChecker",
    "SetFullChecker",
    "SetFullOptions",
    "UniqueIdsChecker",
]
