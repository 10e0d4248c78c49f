"""Consistency models weaker than linearizability, checked for real.

    from checkers.causal import CausalChecker
    checker = CausalChecker(consistency_models=["causal"], time_budget_s=60)
    result = checker.check(history, ctx={})   # Result(valid, anomalies, details)

Session guarantees per process (read-your-writes, monotonic-reads, monotonic-writes,
writes-follow-reads), PRAM, causal consistency (session order plus reads-from, transitively)
and sequential consistency (per key for registers and key-value stores; strong session
serializability for transactions), on list-append, rw-register, register and key-value
histories. A session is a process, whichever node serves it.
"""

from __future__ import annotations

from .checker import CHECKER, MODELS, CausalChecker, CausalOptions, implied_models

__all__ = ["CHECKER", "MODELS", "CausalChecker", "CausalOptions", "implied_models"]
