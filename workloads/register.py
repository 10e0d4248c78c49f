"""The register workload: read / write / compare-and-set over several independent keys.

Values follow Jepsen's independent-key convention: ``[key, v]`` (a cas is ``[key, [from, to]]``),
so the linearizability checker splits the history per key. Keys retire after ``ops_per_key``
operations and fresh ones take their place, which keeps every key's history small enough to
search exhaustively, however long the test runs.

``REGISTER`` registers it: ops ``read`` / ``write`` / ``cas`` (``workload.mix`` weighs them),
checked by the ``linearizable`` and ``stats`` checkers.
"""

from __future__ import annotations

from typing import Any

from harness.generator import Context, Generator, each_thread, once, stagger
from harness.registry import NoOptions, WorkloadInfo
from harness.spec import WorkloadSpec

__all__ = ["REGISTER", "RegisterOps", "final_reads", "register_generators", "status_once"]


class RegisterOps:
    """Generator of register ops over a rotating set of keys."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.values = spec.values
        self.ops_per_key = spec.ops_per_key
        self.fs = [f for f, w in spec.mix.items() if w > 0]
        self.weights = [spec.mix[f] for f in self.fs]
        self.active: list[int] = list(range(spec.keys))
        self.used: dict[int, int] = dict.fromkeys(self.active, 0)
        self.next_key = spec.keys

    @property
    def keys_touched(self) -> list[int]:
        return sorted(self.used)

    def op(self, ctx: Context) -> dict[str, Any]:
        rng = ctx.rng
        slot = rng.randrange(len(self.active))
        key = self.active[slot]
        self.used[key] += 1
        if self.used[key] >= self.ops_per_key:
            self.active[slot] = self.next_key
            self.used[self.next_key] = 0
            self.next_key += 1
        f = rng.choices(self.fs, self.weights)[0]
        if f == "read":
            return {"f": "read", "value": [key, None]}
        if f == "write":
            return {"f": "write", "value": [key, rng.randrange(self.values)]}
        if f == "cas":
            return {
                "f": "cas",
                "value": [key, [rng.randrange(self.values), rng.randrange(self.values)]],
            }
        raise ValueError(f"the register workload has no op {f!r}; allowed: read, write, cas")


def final_reads(ops: RegisterOps) -> Generator:
    """After the final heal, every thread reads every key the test touched, once: a write
    lost at any point of the run (say, by a crash of every node) shows as a final read that
    misses it, also on keys that retired long before."""

    class _Reads:
        def __init__(self) -> None:
            self.keys = ops.keys_touched

        def op(self, ctx: Context) -> dict[str, Any] | None:
            if not self.keys:
                return None
            return {"f": "read", "value": [self.keys.pop(0), None]}

    return each_thread(_Reads)


def status_once() -> Generator:
    """Every thread asks its node for its status once (who leads, in which terms)."""
    return each_thread(lambda: once("status"))


def register_generators(
    spec: WorkloadSpec, options: NoOptions
) -> tuple[Generator, Generator | None]:
    """The register ops at ``spec.rate``, then every touched key read once per thread."""
    ops = RegisterOps(spec)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, final_reads(ops)


REGISTER = WorkloadInfo(
    name="register",
    description="read / write / compare-and-set over rotating independent keys",
    generators=register_generators,
    checkers=("linearizable", "stats"),
    ops=("read", "write", "cas"),
)
