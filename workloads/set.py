"""The ``set`` workload: adds of unique integers to one set, then every thread reads it once
after the final heal; the ``set`` checker (``checkers/jepsen/sets.py``) finds the acknowledged
adds the final read misses.

Op values a client of this workload takes and returns::

    add   e      -> ok e               e: an integer, never added before
    read  None   -> ok [e, ...]        every element of the set (the final read)

An add that certainly did not happen completes ``fail``; one that may have (a timeout after
it was sent) ``info``. Redis runs it (``workloads/redis.py``).
"""

from __future__ import annotations

from typing import Any

from harness.generator import Context, Generator, each_thread, once, stagger
from harness.registry import NoOptions, WorkloadInfo
from harness.spec import WorkloadSpec

__all__ = ["SET", "SetOps", "set_generators"]


def set_generators(spec: WorkloadSpec, options: NoOptions) -> tuple[Generator, Generator | None]:
    """``WorkloadInfo.generators`` of the set workload: adds at ``spec.rate`` (0: as fast as
    possible), then one ``read`` per thread."""
    ops = SetOps()
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, each_thread(lambda: once("read"))


SET = WorkloadInfo(
    "set",
    "adds of unique integers to one set, then every thread reads it once after the final "
    "heal: which acknowledged adds are missing",
    set_generators,
    ("set", "stats"),
)


class SetOps:
    """Adds of unique integers: 0, 1, 2, ..."""

    def __init__(self) -> None:
        self.next = 0

    def op(self, ctx: Context) -> dict[str, Any]:
        self.next += 1
        return {"f": "add", "value": self.next - 1}
