"""Transactional isolation checking, after Elle (Kingsbury and Alvaro, VLDB 2020).

    from checkers.txn import ListAppendChecker, RwRegisterChecker
    checker = ListAppendChecker(consistency_models=["serializable"], anomalies=[],
                                time_budget_s=60.0)
    result = checker.check(history, ctx={})      # Result(valid, anomalies, details)
    result.details["not"]                         # the weakest models the history rules out
    checker.write_artifacts(result, run_dir)      # list-append-anomalies.html

Transactions are ops with ``f`` "txn" and a value of micro-ops: ``["append", "x", 3]``,
``["r", "x", [1, 2]]`` (list-append) or ``["w", "x", 3]``, ``["r", "x", 3]`` (registers).
From them the checker infers write-write, write-read and read-write dependencies (plus process
or real-time order when the models need them), finds the strongly connected components of
that graph and in each the shortest cycle of every anomaly class, and names what it finds:
G0, G1a, G1b, G1c, G-single, G-nonadjacent, G2-item and their -process / -realtime variants,
internal inconsistency, dirty updates, duplicate elements, incompatible orders, lost updates.
The session guarantees, PRAM, causal and sequential consistency are checked by the causality
checker (``checkers.causal``), whose anomalies join these under their own names.
``models`` says which consistency model forbids which anomaly.
"""

from __future__ import annotations

from . import models
from .checker import (
    LIST_APPEND,
    RW_REGISTER,
    ListAppendChecker,
    ListAppendOptions,
    RwRegisterChecker,
    RwRegisterOptions,
)
from .explain import DESCRIPTIONS
from .models import ALL_ANOMALIES, ALL_MODELS, CYCLE_TYPES, boundary, prohibited_anomalies

__all__ = [
    "ALL_ANOMALIES",
    "ALL_MODELS",
    "CYCLE_TYPES",
    "DESCRIPTIONS",
    "LIST_APPEND",
    "RW_REGISTER",
    "ListAppendChecker",
    "ListAppendOptions",
    "RwRegisterChecker",
    "RwRegisterOptions",
    "boundary",
    "models",
    "prohibited_anomalies",
]
