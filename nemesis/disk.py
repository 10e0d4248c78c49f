"""Disk faults through a FUSE file system under each node's data directory
(``nemesis.diskfs``): a crash that loses what was never synced, a full disk, a slow disk.

Real disks keep a write in a cache until it is synced; a power cut loses it. A system that
acknowledges before fsync (or forgets to fsync a directory after creating a file) looks fine
under ``kill``: the kernel's page cache survives a process's death. ``lose-unfsynced`` kills
the system's process on the target nodes and then drops every byte under its data directory
that was never synced (and every file created there whose name was never made durable), as a
power cut would; the heal starts it again on what is left. ``disk-full`` makes every write
there fail with ENOSPC while it lasts, ``slow-disk`` delays each write and sync by
``delay_ms``.

What the system's setup wrote counts as synced (``lose-unfsynced``'s nemesis checkpoints every
node when it is set up, after the system): a disk would have flushed it long before a fault.

The file system is mounted before the system is set up on a node (``FaultInfo.prepare``) and
unmounted after it is stopped (``unprepare``); each of the three kinds mounts it (once), so a
suite names only the kinds it wants. It needs the local or the docker backend (whose
containers are then given ``/dev/fuse`` and CAP_SYS_ADMIN: ``node_needs``), ``/dev/fuse`` and
libfuse3 (``diskfs.unavailable``: refused when the suite is read otherwise), and a system that
says where its data is (``HasData``; ``lose-unfsynced`` also ``Killable``).

Ops (``f``: value -> completion value):

- ``lose-unfsynced``: a target (or ``{"nodes": target}``) -> ``{"nodes": [names], "lost":
  {node: {"restored", "emptied", "removed", "bytes"}}}``: files put back to their synced
  content, emptied (name durable, no data synced) and removed (never made durable), and the
  bytes dropped. ``restart-lost`` (the heal): ignored -> the names started again.
- ``fill-disk``: a target -> ``{"nodes": [names]}``; ``free-disk`` (the heal) -> the names.
- ``slow-disk``: a target or ``{"nodes": target, "delay_ms": ms}`` -> ``{"nodes": [names],
  "delay_ms": ms}``; ``fast-disk`` (the heal) -> the names.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Cluster, Node, SetupError
from harness.history import Op
from harness.registry import FaultInfo, option
from nemesis import diskfs
from nemesis._common import (
    TARGETS,
    ApplyAndUndo,
    describe_errors,
    node_names,
    on_nodes,
    pick_nodes,
    pin_nodes,
)
from workloads.system import HasData, Killable

__all__ = [
    "DISK_FULL",
    "LOSE_UNFSYNCED",
    "SLOW_DISK",
    "DiskFullNemesis",
    "DiskOptions",
    "LoseUnfsyncedNemesis",
    "SlowDiskNemesis",
    "SlowDiskOptions",
    "prepare",
    "unprepare",
]

log = logging.getLogger("splitbrain")


@dataclass(frozen=True)
class DiskOptions:
    targets: tuple[str, ...] = option(
        ("one",), "which nodes each fault hits, taken in turn", choices=TARGETS
    )


@dataclass(frozen=True)
class SlowDiskOptions:
    targets: tuple[str, ...] = option(
        ("one",), "which nodes each fault hits, taken in turn", choices=TARGETS
    )
    delay_ms: int = option(
        50, "milliseconds each write and each sync waits", minimum=1, maximum=60000
    )


def prepare(node: Node, system: Any) -> None:
    """``FaultInfo.prepare``: mount the lazy file system over ``node``'s work directory,
    forgetful under the system's data directory."""
    if not isinstance(system, HasData):
        raise SetupError(
            "the disk faults need a system that says where its data is (HasData: "
            f"data_dir(node)); {type(system).__name__} does not"
        )
    diskfs.mount(node, system.data_dir(node))


def unprepare(node: Node) -> None:
    """``FaultInfo.unprepare``: unmount it (nothing when it is not mounted)."""
    diskfs.unmount(node)


def _target(value: Any, default: str) -> Any:
    if isinstance(value, dict):
        return value.get("nodes", default)
    return default if value is None else value


class _DiskFault(ApplyAndUndo):
    """A fault made on some nodes through their file system's control file, undone later."""

    fs: frozenset[str]
    apply_f: str
    undo_f: str

    def __init__(
        self, rng: random.Random, system: Any, nodes: Sequence[Node] | None, default: str
    ) -> None:
        self.rng, self.system, self.default = rng, system, default
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = []
        #: names of the nodes the fault is in force on
        self.affected: set[str] = set()

    def teardown(self) -> None:
        errors = self._undo_all()
        if errors:
            raise RuntimeError(f"could not {self.undo_f} on: {describe_errors(errors)}")

    def apply_one(self, node: Node, op: Op) -> Any:
        raise NotImplementedError

    def undo_one(self, node: Node) -> None:
        raise NotImplementedError

    def extra(self, op: Op) -> dict[str, Any]:
        return {}

    def _apply(self, op: Op) -> Op:
        targets = pick_nodes(_target(op.value, self.default), self.nodes, self.rng,
                             system=self.system)  # fmt: skip
        done: dict[str, Any] = {}

        def one(node: Node) -> None:
            self.affected.add(node.name)
            done[node.name] = self.apply_one(node, op)

        errors = on_nodes(targets, one)
        value: dict[str, Any] = {"nodes": [n for n in node_names(targets) if n not in errors]}
        value.update(self.extra(op))
        value.update(self.report(done))
        error = describe_errors(errors)
        if not targets:
            error = f"target {op.value!r} names no node"
        return op.complete("info" if error else "ok", value, error=error)

    def report(self, done: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _undo(self, op: Op) -> Op:
        back = sorted(self.affected)
        errors = self._undo_all()
        return op.complete(
            "info" if errors else "ok",
            [n for n in back if n not in errors],
            error=describe_errors(errors),
        )

    def _undo_all(self) -> dict[str, BaseException]:
        targets = [n for n in self.nodes if n.name in self.affected]
        errors = on_nodes(targets, self.undo_one)
        self.affected -= {n.name for n in targets if n.name not in errors}
        return errors


class LoseUnfsyncedNemesis(_DiskFault):
    """``lose-unfsynced`` (kill, then drop what was not synced) and ``restart-lost``."""

    fs = frozenset({"lose-unfsynced", "restart-lost"})
    apply_f, undo_f = "lose-unfsynced", "restart-lost"

    def __init__(
        self, rng: random.Random, system: Any, nodes: Sequence[Node] | None = None
    ) -> None:
        if not isinstance(system, Killable) or not isinstance(system, HasData):
            raise SetupError(
                "the lose-unfsynced fault needs a system that can be killed and started and "
                f"says where its data is (Killable, HasData); {type(system).__name__} is not"
            )
        super().__init__(rng, system, nodes, "one")

    def setup(self, cluster: Cluster) -> None:
        """After the system's setup (the run sets the nemesis up then): what it wrote counts
        as synced, as a disk would have flushed it long before the first fault (ZooKeeper's
        ``myid``, written by setup and never synced, would otherwise be lost)."""
        super().setup(cluster)
        errors = on_nodes(self.nodes, lambda node: diskfs.control(node, "checkpoint"))
        if errors:
            raise SetupError(f"lose-unfsynced: could not checkpoint: {describe_errors(errors)}")

    def apply_one(self, node: Node, op: Op) -> Any:
        self.system.kill(node)
        return diskfs.control(node, "lose")["last_loss"]

    def report(self, done: dict[str, Any]) -> dict[str, Any]:
        return {"lost": dict(sorted(done.items()))}

    def undo_one(self, node: Node) -> None:
        self.system.start(node)


class DiskFullNemesis(_DiskFault):
    """``fill-disk`` (writes under the data directory fail with ENOSPC) and ``free-disk``."""

    fs = frozenset({"fill-disk", "free-disk"})
    apply_f, undo_f = "fill-disk", "free-disk"

    def __init__(
        self, rng: random.Random, system: Any, nodes: Sequence[Node] | None = None
    ) -> None:
        super().__init__(rng, system, nodes, "one")

    def apply_one(self, node: Node, op: Op) -> Any:
        return diskfs.control(node, "enospc 1")

    def undo_one(self, node: Node) -> None:
        """Free the disk; a system process that exited while it was full (etcd stops at its
        first failed WAL write, as it is designed to) is started again, as after a crash:
        otherwise the node stays down for the rest of the run and its member cannot be read."""
        diskfs.control(node, "enospc 0")
        if isinstance(self.system, Killable) and _exited(self.system, node):
            log.info("free-disk: the system on %s exited while the disk was full: starting it",
                     node.name)  # fmt: skip
            self.system.kill(node)  # whatever is left of it
            self.system.start(node)


class SlowDiskNemesis(_DiskFault):
    """``slow-disk`` (each write and sync under the data directory waits) and ``fast-disk``."""

    fs = frozenset({"slow-disk", "fast-disk"})
    apply_f, undo_f = "slow-disk", "fast-disk"

    def __init__(
        self,
        rng: random.Random,
        system: Any,
        nodes: Sequence[Node] | None = None,
        *,
        options: SlowDiskOptions | None = None,
    ) -> None:
        super().__init__(rng, system, nodes, "one")
        self.options = options or SlowDiskOptions()

    def _delay(self, op: Op) -> int:
        ms = op.value.get("delay_ms") if isinstance(op.value, dict) else None
        ms = self.options.delay_ms if ms is None else ms
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 < ms <= 60000:
            raise ValueError(f"delay_ms must be an integer from 1 to 60000, got {ms!r}")
        return ms

    def extra(self, op: Op) -> dict[str, Any]:
        return {"delay_ms": self._delay(op)}

    def apply_one(self, node: Node, op: Op) -> Any:
        return diskfs.control(node, f"slow {self._delay(op)}")

    def undo_one(self, node: Node) -> None:
        diskfs.control(node, "slow 0")


# -- the fault kinds ------------------------------------------------------------------------------


def _picker(f: str) -> Callable[[Any, int, random.Random, float], tuple[str, Any]]:
    def pick(options: Any, turn: int, rng: random.Random, interval: float) -> tuple[str, Any]:
        if not options.targets:
            raise ValueError(f"the {f} fault has no targets to take (targets is empty)")
        return f, options.targets[turn % len(options.targets)]

    return pick


def _make_lose(options: DiskOptions, rng: random.Random, system: Any) -> LoseUnfsyncedNemesis:
    return LoseUnfsyncedNemesis(rng, system)


def _make_full(options: DiskOptions, rng: random.Random, system: Any) -> DiskFullNemesis:
    return DiskFullNemesis(rng, system)


def _make_slow(options: SlowDiskOptions, rng: random.Random, system: Any) -> SlowDiskNemesis:
    return SlowDiskNemesis(rng, system, options=options)


_SHARED: dict[str, Any] = {
    "pin": pin_nodes,
    "prepare": prepare,
    "unprepare": unprepare,
    "check": diskfs.unavailable,
    "node_needs": ("fuse",),
}

LOSE_UNFSYNCED = FaultInfo(
    name="lose-unfsynced",
    description="kill the system's process on some nodes and drop everything under its data "
    "directory that was never synced (a power cut; FUSE; local and docker backends); start it at "
    "the heal",
    make=_make_lose,
    starts=("lose-unfsynced",),
    heal="restart-lost",
    pick=_picker("lose-unfsynced"),
    options=DiskOptions,
    color="rgba(156,39,176,.3)",
    heal_rank=22,
    **_SHARED,
)
DISK_FULL = FaultInfo(
    name="disk-full",
    description="every write, create and allocation under the data directory of some nodes "
    "fails with ENOSPC until the heal (FUSE; local and docker backends)",
    make=_make_full,
    starts=("fill-disk",),
    heal="free-disk",
    pick=_picker("fill-disk"),
    options=DiskOptions,
    color="rgba(255,152,0,.3)",
    heal_rank=15,
    **_SHARED,
)
SLOW_DISK = FaultInfo(
    name="slow-disk",
    description="each write and sync under the data directory of some nodes waits delay_ms "
    "until the heal (FUSE; local and docker backends)",
    make=_make_slow,
    starts=("slow-disk",),
    heal="fast-disk",
    pick=_picker("slow-disk"),
    options=SlowDiskOptions,
    color="rgba(205,220,57,.35)",
    heal_rank=15,
    **_SHARED,
)


def _exited(system: Any, node: Node) -> bool:
    """Whether a daemon of ``system`` (``daemons`` of a BinarySystem, ``daemon`` of a
    pattern's) no longer runs on ``node``; False when the system names none."""
    names = list(getattr(system, "daemons", None) or [])
    if not names and isinstance(getattr(system, "daemon", None), str):
        names = [system.daemon]
    return bool(names) and not all(node.alive(name) for name in names)
