"""Option fields that systems and workloads declare often, made with ``harness.registry.option``.

Each returns a field for an options dataclass::

    @dataclass(frozen=True)
    class LeaseOptions:
        lease_ms: int = ms(600, "lease time")
        tenure_ms: str = ms_range("500-1500", "how long a holder keeps renewing")
        status: float = share(0.02, "share of ops that ask for a status report")

A pattern daemon gets every field as a flag (``workloads.daemon.option_flags``):
``lease_ms`` -> ``--lease-ms 600``.
"""

from __future__ import annotations

from typing import Any

from harness.registry import option

__all__ = ["MS_RANGE", "ms", "ms_range", "share"]

#: what an ``ms_range`` option matches, and how ``splitbrain list`` says it
MS_RANGE = (r"[0-9]+-[0-9]+", "MIN-MAX, e.g. 300-600")


def ms(default: int | None, doc: str, *, minimum: int = 1) -> Any:
    """A duration in milliseconds: an integer >= ``minimum`` (``heartbeat_ms: 50``); a
    default of None means the field is ``int | None`` (the daemon decides)."""
    return option(default, doc, minimum=minimum)


def ms_range(default: str, doc: str) -> Any:
    """A range of milliseconds written ``MIN-MAX`` (``election_ms: 300-600``), as the pattern
    daemons read it."""
    return option(default, doc, pattern=MS_RANGE[0], form=MS_RANGE[1])


def share(default: float, doc: str) -> Any:
    """A fraction of the time, from 0 to 1 (``reads: 0.15``)."""
    return option(default, doc, minimum=0, maximum=1)
