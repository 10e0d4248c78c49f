"""Checkers for Jepsen's classic workloads, as Jepsen (and elle-cli) check them.

    BankChecker(negative_balances=False)   totals preserved, no negative balances
    CounterChecker()                       every read within the bounds the adds allow
    SetChecker()                           the final read holds every acknowledged add
    SetFullChecker(linearizable=False)     every element followed through every read
    LongForkChecker(group_size=3)          no two reads saw inserts in incompatible orders
    UniqueIdsChecker()                     every generated id distinct

Each has ``name`` and ``check(history, ctx) -> Result``.
"""

from __future__ import annotations

from .bank import BankChecker
from .counter import CounterChecker
from .long_fork import LongForkChecker
from .sets import SetChecker, SetFullChecker
from .unique_ids import UniqueIdsChecker

__all__ = [
    "BankChecker",
    "CounterChecker",
    "LongForkChecker",
    "SetChecker",
    "SetFullChecker",
    "UniqueIdsChecker",
]
