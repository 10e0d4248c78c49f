"""What is deployed on nodes (System) and how a worker talks to it (Client).

A System is made once per test (``SystemInfo.make``); each worker's Client is made with that
System (``SystemInfo.clients[workload](workload_spec, client_options, system)``), opened on
one node (``client.open(node)``), and asks the System where to connect (``HasPorts``): no
client keeps endpoints of its own between tests.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from clusters.base import Node
from harness.history import Op

__all__ = [
    "Client",
    "HasData",
    "HasPorts",
    "HasPrimaries",
    "Killable",
    "OpTimeouts",
    "Pausable",
    "Reconfigurable",
    "System",
]


@runtime_checkable
class System(Protocol):
    def setup(self, node: Node) -> None:
        """Install and start on ``node``; return once it is ready to serve."""
        ...

    def teardown(self, node: Node) -> None: ...

    def log_files(self, node: Node) -> list[str]: ...


@runtime_checkable
class Killable(Protocol):
    def kill(self, node: Node) -> None:
        """SIGKILL the system's process group on ``node``."""
        ...

    def start(self, node: Node) -> None:
        """Start it again after a kill (no reinstall)."""
        ...


@runtime_checkable
class Pausable(Protocol):
    def pause(self, node: Node) -> None: ...

    def resume(self, node: Node) -> None: ...


@runtime_checkable
class HasData(Protocol):
    def data_dir(self, node: Node) -> str:
        """The directory on ``node`` that holds the system's durable state (the ``corrupt``
        fault changes files under it while the process is down)."""
        ...


@runtime_checkable
class Reconfigurable(Protocol):
    """A system whose membership can change while it runs (the ``membership`` fault)."""

    def remove_member(self, node: Node) -> None:
        """Remove ``node`` from the cluster through the system's own reconfiguration, stop
        its process and wipe its data; raises (RuntimeError) when the cluster refuses."""
        ...

    def add_member(self, node: Node) -> None:
        """Add a removed ``node`` back as a new member with empty data, and start it."""
        ...


@runtime_checkable
class HasPrimaries(Protocol):
    def primaries(self, nodes: list[Node]) -> list[Node]:
        """The nodes that currently believe they lead (may be empty or several)."""
        ...


@runtime_checkable
class HasPorts(Protocol):
    def port_of(self, node: Node) -> int:
        """The port ``node``'s member listens on for clients; raises for a node the System
        was not made with (never a guess)."""
        ...


@runtime_checkable
class Client(Protocol):
    def open(self, node: Node) -> None: ...

    def invoke(self, op: Op) -> Op:
        """Perform ``op`` (an invocation) and return its completion (ok / fail / info).
        Raising, or timing out, makes the runner record an ``info``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class OpTimeouts(Protocol):
    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """How many seconds ``op`` may take, given the workload's ``timeout``, for a client
        whose ops may take longer than one timeout (a drain, a connect then a request); the
        runner records ``info`` for an op still running after that (and a grace). None: no
        limit."""
        ...
