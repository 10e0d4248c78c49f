"""The contracts every node backend fulfils: Node, Cluster, and the optional NetworkControl."""

from __future__ import annotations

import signal as _signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["Cluster", "Completed", "CommandFailed", "NetworkControl", "Node", "SetupError"]


class SetupError(RuntimeError):
    """The cluster or the system could not be set up (exit code 4)."""


@dataclass(frozen=True, slots=True)
class Completed:
    """What a command run on a node returned."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandFailed(RuntimeError):
    def __init__(self, node: str, result: Completed) -> None:
        cmd = " ".join(result.argv)
        super().__init__(
            f"on {node}: `{cmd}` exited {result.returncode}: {result.stderr.strip()[:500]}"
        )
        self.node = node
        self.result = result


@runtime_checkable
class Node(Protocol):
    """One host. Every argument list is a list: nothing is pasted into a shell string."""

    name: str
    address: str
    #: a directory on the node for the system's data, logs and the clock offset file
    workdir: str

    def exec(
        self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True
    ) -> Completed: ...

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> int:
        """Start a daemon in its own process group, stdout/stderr to ``<workdir>/<name>.log``;
        returns its pid (which is also its process group id)."""
        ...

    def signal(self, name: str, sig: _signal.Signals) -> bool:
        """Send ``sig`` to the process group of daemon ``name``; False if it is not running."""
        ...

    def alive(self, name: str) -> bool: ...

    def put(self, local: str | Path, remote: str) -> None: ...

    def get(self, remote: str, local: str | Path) -> None: ...


@runtime_checkable
class Cluster(Protocol):
    nodes: list[Node]

    def create(self) -> None: ...

    def destroy(self) -> None:
        """Remove everything create() made; safe to call twice and after a partial create."""
        ...


@runtime_checkable
class NetworkControl(Protocol):
    """A backend's own way to cut links, where it has one (the default is iptables in nodes)."""

    def drop(self, src: Node, dst: Node) -> None: ...

    def heal(self) -> None: ...
