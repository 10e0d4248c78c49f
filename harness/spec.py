"""The test spec: one frozen value per test, mapping 1:1 onto the suite YAML.

A suite file::

    suite: smoke                  # name of the suite (default: the file's stem)
    defaults: {...}               # optional; any test key, deep-merged under every test
    tests:
      - name: raft-register       # required, unique in the suite
        system: {name: raft, bugs: [], port: 7000}
        cluster: {backend: local, nodes: 5}
        workload: {name: register, concurrency: 10, rate: 200, keys: 4, ...}
        nemesis: {faults: [partition, kill, pause, clock], interval: 6, quiet: 2, ...}
        time_limit: 60            # seconds of workload before the final heal
        seed: 42                  # optional; random when absent, always recorded
        checkers: [linearizable, stats]   # optional; the workload's default when absent

Every key is listed in the dataclasses below with its type and default; an unknown key, a
wrong type, a number that is not finite or a value out of range is an error naming the file,
the line and the key path. Names (system, bugs, workload, checkers) and the options of systems
and workloads are resolved against the registries (``workloads/registry.py``), for every test
of the suite before any test runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ClusterSpec",
    "NemesisSpec",
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


BACKENDS = ("local", "docker", "ssh")
FAULTS = ("partition", "kill", "pause", "clock", "loss")
SHAPES = (
    "one",
    "halves",
    "random-halves",
    "majorities-ring",
    "bridge",
    "primaries",
    "leader",
)
TARGETS = ("one", "minority", "majority", "all", "primaries")


@dataclass(frozen=True)
class SystemSpec:
    """What to deploy.

    name: a reference pattern (``raft``) or a third-party system.
    bugs: named seeded bugs to turn on (``splitbrain list`` shows them).
    port: the port the system listens on, on every node.
    options: system-specific settings (e.g. a lease duration): only those the system declares
      (``splitbrain list`` shows them), each of its declared type, checked when the suite is read.
    """

    name: str = "raft"
    bugs: tuple[str, ...] = ()
    port: int = 7000
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
class NemesisSpec:
    """Which faults, and when.

    faults: the kinds to inject, taken in turn: partition, kill, pause, clock, loss.
    quiet: seconds without a fault before each one; interval: seconds each fault lasts.
    shapes: partition shapes to pick from. kill_targets / pause_targets: which nodes.
    clock_max_ms: the largest clock offset a bump or strobe uses.
    loss: the probability a packet is dropped while a ``loss`` fault is in force.
    recovery: seconds to wait after the final heal before the final reads.
    """

    faults: tuple[str, ...] = ("partition", "kill", "pause", "clock")
    quiet: float = 2.0
    interval: float = 6.0
    shapes: tuple[str, ...] = ("one", "halves", "majorities-ring", "bridge", "leader")
    kill_targets: tuple[str, ...] = ("one", "majority", "primaries")
    pause_targets: tuple[str, ...] = ("one", "primaries")
    clock_max_ms: int = 60_000
    loss: float = 0.2
    recovery: float = 3.0


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
    checkers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    tests: tuple[TestSpec, ...]
    source: str = "<suite>"
