"""The test spec: one frozen value per test, mapping 1:1 onto the suite YAML.

A suite file::

    suite: smoke                  # name of the suite (default: the file's stem)
    defaults: {...}               # optional; any test key, deep-merged under every test
    tests:
      - name: raft-register       # required, unique in the suite
        system: {name: raft, bugs: [], port: 7000}
        cluster: {backend: local, nodes: 5}
        workload: {name: register, concurrency: 10, rate: 200, keys: 4, ...}
        nemesis: {faults: [partition, {name: kill, targets: [one]}], interval: 6, quiet: 2}
        time_limit: 60            # seconds of workload before the final heal
        seed: 42                  # optional; random when absent, always recorded
        checkers: [linearizable, stats]   # optional; the workload's default when absent;
                                          # with options: {name: linearizable, model: mutex}
        expect: invalid           # optional: valid, invalid or a list of anomaly kinds; a
                                  # test with seeded bugs expects invalid, others valid

Every key is listed in the dataclasses below with its type and default; an unknown key, a
wrong type, a number that is not finite or a value out of range is an error naming the file,
the line and the key path. Names (system, bugs, workload, checkers, faults, backend) and the
options of each are resolved against the registries (``harness/registry.py``), for every test
of the suite before any test runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CheckerSpec",
    "ClusterSpec",
    "FaultSpec",
    "NamedOptions",
    "NemesisSpec",
    "Step",
    "SuiteSpec",
    "SystemSpec",
    "TestSpec",
    "WorkloadSpec",
]

#: A scalar type of an option or a key, in the words an error message uses.
TYPE_WORDS: dict[type, str] = {
    int: "an integer", float: "a number", str: "a string", bool: "true or false",
}  # fmt: skip


def is_of_type(value: object, tp: type) -> bool:
    """Whether a value read from YAML is a ``tp`` (bool, int, float or str) as a suite means
    it: ``true`` is not an integer, an integer is a number."""
    return (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )


@dataclass(frozen=True)
class NamedOptions:
    """A name and the options given with it: ``kill`` or ``{name: kill, targets: [one]}``.
    In YAML every key besides ``name`` is an option (the one with the name ``options`` too, as
    a mapping); the registry's entry of that name declares which options it takes."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


class FaultSpec(NamedOptions):
    """A fault kind the nemesis injects, with its options (``splitbrain list`` shows them)."""


class CheckerSpec(NamedOptions):
    """A checker, with its options: ``linearizable`` or ``{name: linearizable, model: mutex}``."""


@dataclass(frozen=True)
class SystemSpec:
    """What to deploy.

    name: a reference pattern (``raft``) or a third-party system.
    bugs: named seeded bugs to turn on (``splitbrain list`` shows them).
    port: the port the system listens on, on every node (default: the system's own, which
      ``splitbrain list`` shows).
    options: system-specific settings (e.g. a lease duration): only those the system declares
      (``splitbrain list`` shows them), each of its declared type, checked when the suite is read.
    """

    name: str = "raft"
    bugs: tuple[str, ...] = ()
    port: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterSpec:
    """Where to deploy.

    backend: local (network namespaces on this machine), docker or ssh.
    nodes: how many nodes (1 or more); for ssh, the first ``nodes`` hosts are used.
    hosts: for ssh, the hosts: mappings of address and optionally name, user (root), port
      (22), key (a private key file), workdir; or ``user@address:port`` strings.
    inventory: for ssh, a YAML inventory file of hosts (see ``clusters/ssh.py``), used with or
      instead of ``hosts``.
    known_hosts: for ssh, a known_hosts file checked besides ``~/.ssh/known_hosts``.
    accept_unknown_host_keys: for ssh, connect to a host whose key is in no known_hosts
      (default false: such a host is refused).
    image: for docker, the node image to run (default: the image ``splitbrain image build``
      makes, built on first use).
    """

    backend: str = "local"
    nodes: int = 5
    hosts: tuple[dict[str, Any], ...] = ()
    inventory: str | None = None
    known_hosts: str | None = None
    accept_unknown_host_keys: bool = False
    image: str | None = None


@dataclass(frozen=True)
class WorkloadSpec:
    """What the clients do.

    name: the workload (``register``: read / write / cas over several keys).
    concurrency: client worker threads (each talks to node ``thread % nodes``).
    rate: target ops/s over all clients (0 for as fast as possible).
    keys: keys in use at once; ops_per_key: after that many ops a key retires and a fresh one
      takes its place, which keeps each key's history small enough to check.
    values: writes and cas pick values in [0, values).
    mix: relative weights of each f; only the ops the workload declares (register: read, write,
      cas); a workload that draws its own ops (lock, bank, ...) does not read it.
    timeout: seconds a client waits for one operation before it counts as indeterminate.
    options: workload-specific settings: only those the workload, or the system's client for
      it, declares (``splitbrain list``), each of its declared type, checked when the suite is
      read.
    """

    name: str = "register"
    concurrency: int = 10
    rate: float = 100.0
    keys: int = 4
    ops_per_key: int = 200
    values: int = 5
    mix: dict[str, float] = field(default_factory=lambda: {"read": 2.0, "write": 1.0, "cas": 1.0})
    timeout: float = 2.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One op of an explicit fault schedule: ``at`` seconds after time zero, the nemesis
    invokes ``f`` (a start or heal op of one of the test's fault kinds) with ``value``."""

    at: float
    f: str
    value: Any = None


@dataclass(frozen=True)
class NemesisSpec:
    """Which faults, and when.

    faults: the fault kinds to inject, taken in turn, each a name or a name with options
      (``{name: kill, targets: [one, majority]}``); ``splitbrain list`` shows every kind and
      its options.
    quiet: seconds without a fault before each one; interval: seconds each fault lasts.
    recovery: seconds to wait after the final heal before the final reads.
    schedule: an explicit list of steps (``{at: 5.0, f: kill, value: [n2]}``) instead of the
      rotation: a replay of a run's faults (``splitbrain run --replay``), or a schedule
      ``splitbrain shrink`` cut down; ``faults`` still names the kinds (their options).
    shapes, kill_targets, pause_targets, clock_max_ms, loss: shorthands for the options of the
      partition (``shapes``), kill and pause (``targets``), clock (``max_ms``) and loss
      (``probability``) faults, for every test a ``defaults`` section reaches; an option given
      with the fault itself wins.
    """

    faults: tuple[FaultSpec, ...] = (
        FaultSpec("partition"), FaultSpec("kill"), FaultSpec("pause"), FaultSpec("clock"),
    )  # fmt: skip
    quiet: float = 2.0
    interval: float = 6.0
    recovery: float = 3.0
    shapes: tuple[str, ...] | None = None
    kill_targets: tuple[str, ...] | None = None
    pause_targets: tuple[str, ...] | None = None
    clock_max_ms: int | None = None
    loss: float | None = None
    schedule: tuple[Step, ...] | None = None

    def __post_init__(self) -> None:  # a spec built in Python may name a fault by its name
        faults = tuple(FaultSpec(f) if isinstance(f, str) else f for f in self.faults)
        object.__setattr__(self, "faults", faults)


#: the NemesisSpec shorthand keys: key -> (fault, option)
SHORTHANDS: dict[str, tuple[str, str]] = {
    "shapes": ("partition", "shapes"),
    "kill_targets": ("kill", "targets"),
    "pause_targets": ("pause", "targets"),
    "clock_max_ms": ("clock", "max_ms"),
    "loss": ("loss", "probability"),
}


def fault_options(spec: NemesisSpec) -> dict[str, dict[str, Any]]:
    """Each fault kind of ``spec`` -> the options given for it, shorthands included."""
    out: dict[str, dict[str, Any]] = {}
    for fault in spec.faults:  # a kind named twice: the place that gives options gives them
        opts = {**out.get(fault.name, {}), **fault.options}
        for key, (kind, name) in SHORTHANDS.items():
            value = getattr(spec, key)
            if kind == fault.name and value is not None:
                opts.setdefault(name, list(value) if isinstance(value, tuple) else value)
        out[fault.name] = opts
    return out


@dataclass(frozen=True)
class TestSpec:
    """One test: system + cluster + workload + nemesis + time limit + seed."""

    __test__ = False  # not a pytest class

    name: str
    system: SystemSpec = field(default_factory=SystemSpec)
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    nemesis: NemesisSpec = field(default_factory=NemesisSpec)
    time_limit: float = 30.0
    seed: int | None = None
    checkers: tuple[CheckerSpec, ...] = ()
    # valid, invalid, or the anomaly kinds the test must find (a known bug it guards against);
    # None: invalid with seeded bugs, else valid (harness.nightly.expectation)
    expect: Any = None

    def __post_init__(self) -> None:  # a spec built in Python may name a checker by its name
        named = tuple(CheckerSpec(c) if isinstance(c, str) else c for c in self.checkers)
        object.__setattr__(self, "checkers", named)
        if isinstance(self.expect, list):  # kinds read from YAML: frozen like the rest
            object.__setattr__(self, "expect", tuple(self.expect))


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    tests: tuple[TestSpec, ...]
    source: str = "<suite>"
