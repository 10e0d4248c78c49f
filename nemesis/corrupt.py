"""Disk corruption while a node is down: flip bits in, or cut the tail of, the files that
hold a system's durable state, then start it again on what is left.

Real disks and file systems return bits that were never written and lose the end of a file
that was being appended when the power went (torn writes). A system that checksums its
records should notice and refuse or repair; one that trusts its files serves what they now
say. This fault stops the system's process on the target nodes (``system.kill``), changes
files under its data directory (``HasData.data_dir``) and leaves it down; the heal starts it
again (``system.start``), and a process that cannot start on what it finds is an ``info``
heal naming the node and the reason: a finding in itself.

A correct system is not promised to survive this on a majority at once: Raft, Paxos and the
rest assume storage keeps what was synced. On one node at a time a system with checksums and
replication should stay valid; that is what the default targets ask.

Ops (``f``: value -> completion value):

- ``corrupt``: ``None`` or ``{"nodes": target, "mode": "bitflip"|"truncate", "fraction": f,
  "files": "newest"|"all"}`` (what is not given comes from the options) -> the same keys,
  ``nodes`` as names, plus ``"changed": {node: {file: bytes}}``: the bytes flipped, or cut
  from the end. ``bitflip`` flips one bit in each of ``fraction`` of a file's bytes (at least
  one); ``truncate`` cuts ``fraction`` of its length from its end (at least one byte).
  ``files``: the most recently written file (a log being appended) or every file.
- ``start-corrupted`` (the heal): ignored -> the names started again.

The corrupting runs on the node as a small Python program (``python3`` on every node, as the
patterns and ``delayq`` need), seeded from the nemesis' random source, so a seed replays the
same damage.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node, SetupError
from harness.history import Op
from harness.registry import FaultInfo, option
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

__all__ = ["CORRUPT", "FILES", "MODES", "CorruptNemesis", "CorruptOptions"]

MODES = ("bitflip", "truncate")
FILES = ("newest", "all")

# argv: data dir, mode, fraction, files, seed -> prints {file: bytes changed}
_DAMAGE = r"""
import json, os, random, sys
root, mode, which = sys.argv[1], sys.argv[2], sys.argv[4]
fraction, seed = float(sys.argv[3]), int(sys.argv[5])
rng = random.Random(seed)
found = []
for d, _, names in os.walk(root):
    for n in names:
        p = os.path.join(d, n)
        if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) > 0:
            found.append(p)
found.sort()
if which == "newest" and found:
    found = [max(found, key=lambda p: (os.path.getmtime(p), p))]
changed = {}
for p in found:
    size = os.path.getsize(p)
    if mode == "truncate":
        cut = max(1, int(size * fraction))
        os.truncate(p, size - min(cut, size))
        changed[os.path.relpath(p, root)] = min(cut, size)
    else:
        count = max(1, int(size * fraction))
        with open(p, "r+b") as f:
            for at in rng.sample(range(size), min(count, size)):
                f.seek(at); b = f.read(1)[0]
                f.seek(at); f.write(bytes([b ^ (1 << rng.randrange(8))]))
            f.flush(); os.fsync(f.fileno())
        changed[os.path.relpath(p, root)] = min(count, size)
print(json.dumps(changed))
"""


@dataclass(frozen=True)
class CorruptOptions:
    targets: tuple[str, ...] = option(
        ("one",), "which nodes each corruption hits, taken in turn", choices=TARGETS
    )
    modes: tuple[str, ...] = option(
        MODES, "what each corruption does, taken in turn", choices=MODES
    )
    fraction: float = option(
        0.01,
        "bitflip: the share of a file's bytes that get a bit flipped; truncate: the share of "
        "its length cut from its end (at least one byte either way)",
        minimum=0.000001,
        maximum=1,
    )
    files: str = option("newest", "the most recently written file, or every file", choices=FILES)


def _pick(
    options: CorruptOptions, turn: int, rng: random.Random, interval: float
) -> tuple[str, Any]:
    if not options.targets or not options.modes:
        raise ValueError("the corrupt fault has no targets or modes to take")
    return "corrupt", {
        "nodes": options.targets[turn % len(options.targets)],
        "mode": options.modes[turn % len(options.modes)],
    }


def _make(options: CorruptOptions, rng: random.Random, system: Any) -> CorruptNemesis:
    return CorruptNemesis(rng, system, options=options)


CORRUPT = FaultInfo(
    name="corrupt",
    description="stop a node's process, flip bits in or cut the tail of the files of its data "
    "directory, and start it again at the heal on what is left",
    make=_make,
    starts=("corrupt",),
    heal="start-corrupted",
    pick=_pick,
    options=CorruptOptions,
    color="rgba(121,85,72,.35)",
    heal_rank=21,
    pin=pin_nodes,
)


class CorruptNemesis(ApplyAndUndo):
    """See the module docstring. ``options`` gives what a ``corrupt`` value leaves open."""

    fs = frozenset({"corrupt", "start-corrupted"})
    apply_f, undo_f = "corrupt", "start-corrupted"

    def __init__(
        self,
        rng: random.Random,
        system: Any,
        nodes: Sequence[Node] | None = None,
        *,
        options: CorruptOptions | None = None,
    ) -> None:
        if not isinstance(system, Killable) or not isinstance(system, HasData):
            raise SetupError(
                "the corrupt fault needs a system that can be killed and started and says "
                f"where its data is (Killable, HasData: data_dir(node)); {type(system).__name__} "
                "is not"
            )
        self.rng, self.system = rng, system
        self.options = options or CorruptOptions()
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = []
        #: names of the nodes down with corrupted data, to start at the heal
        self.down: set[str] = set()

    def teardown(self) -> None:
        errors = self._start_all()
        if errors:
            raise RuntimeError(f"could not start again: {describe_errors(errors)}")

    def _value(self, value: Any) -> dict[str, Any]:
        o = self.options
        v: dict[str, Any] = {"nodes": o.targets[0], "mode": o.modes[0], "fraction": o.fraction,
                             "files": o.files}  # fmt: skip
        if value is None:
            return v
        if not isinstance(value, dict) or set(value) - set(v):
            raise ValueError(
                f"expected null or a map with {', '.join(v)} for corrupt, got {value!r}"
            )
        v.update(value)
        if v["mode"] not in MODES or v["files"] not in FILES:
            raise ValueError(f"mode must be one of {MODES}, files one of {FILES}: got {value!r}")
        f = v["fraction"]
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1:
            raise ValueError(f"fraction must be a number in (0, 1], got {f!r}")
        return v

    def _apply(self, op: Op) -> Op:
        v = self._value(op.value)
        targets = pick_nodes(v["nodes"], self.nodes, self.rng, system=self.system)
        seeds = {n.name: self.rng.randrange(1 << 30) for n in targets}
        changed: dict[str, dict[str, int]] = {}

        def damage(node: Node) -> None:
            self.system.kill(node)
            self.down.add(node.name)
            python = getattr(node, "python", "python3")
            argv = [python, "-c", _DAMAGE, self.system.data_dir(node), v["mode"],
                    str(v["fraction"]), v["files"], str(seeds[node.name])]  # fmt: skip
            r = node.exec(argv, timeout=60)
            changed[node.name] = json.loads(r.stdout or "{}")

        errors = on_nodes(targets, damage)
        value = {**v, "nodes": node_names(targets), "changed": dict(sorted(changed.items()))}
        error = describe_errors(errors) or (
            None if targets else f"target {v['nodes']!r} names no node"
        )
        return op.complete("info" if error else "ok", value, error=error)

    def _undo(self, op: Op) -> Op:
        back = sorted(self.down)
        errors = self._start_all()
        done = [n for n in back if n not in errors]
        return op.complete("info" if errors else "ok", done, error=describe_errors(errors))

    def _start_all(self) -> dict[str, BaseException]:
        down = [n for n in self.nodes if n.name in self.down]
        errors = on_nodes(down, self.system.start)
        self.down -= {n.name for n in down if n.name not in errors}
        return errors
