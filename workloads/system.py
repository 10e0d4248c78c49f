"""What is deployed on nodes (System) and how a worker talks to it (Client).

A System is made once per test (``SystemInfo.make``); each worker's Client is made with that
System (``SystemInfo.clients[workload](workload_spec, client_options, system)``), opened on
one node (``client.open(node)``), and asks the System where to connect (``HasPorts``): no
client keeps endpoints of its own between tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from clusters.base import Node
from harness.history import Op

__all__ = [
    "Client",
    "HasData",
    "HasPorts",
    "HasPrimaries",
    "Killable",
    "MemberState",
    "MemberStates",
    "OpTimeouts",
    "Pausable",
    "Reconfigurable",
    "RemovedMembers",
    "System",
    "read_each",
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


class RemovedMembers:
    """What a ``Reconfigurable`` System keeps of its membership, mixed in before its base:
    ``removed`` (set by the System's ``__init__``) names the nodes removed and not added
    back. Such a node is not started by a heal of the kill fault (``start``) and is not read
    (``members_of``); ``removing`` and ``adding`` refuse a change that makes no sense."""

    removed: set[str]

    def start(self, node: Node) -> None:
        """Start it on its data, unless it was removed (it stays out until ``add_member``)."""
        if node.name not in self.removed:
            super().start(node)  # type: ignore[misc]

    def start_joining(self, node: Node) -> None:
        """Start ``node`` although it is still marked removed: ``add_member`` starts it before
        the cluster takes it back."""
        super().start(node)  # type: ignore[misc]

    def removing(self, node: Node) -> None:
        if node.name in self.removed:
            raise RuntimeError(f"{node.name} is not a member (removed before)")

    def adding(self, node: Node) -> None:
        if node.name not in self.removed:
            raise RuntimeError(f"{node.name} is a member already")

    def members_of(self, nodes: Sequence[Node]) -> list[Node]:
        """``nodes`` without those removed."""
        return [n for n in nodes if n.name not in self.removed]


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


@dataclass(frozen=True)
class MemberState:
    """What one member of a replicated system says of its own state, read from that member
    alone (never through the cluster), for the ``members`` checker (``checkers/members.py``).

    index: the position in the replication stream the member has applied (etcd: its Raft
      applied index; ZooKeeper: the last zxid it applied; Redis: the primary's replication
      offset the member has processed). The harness waits until every member reports the
      same ``index``: then they have applied the same stream and must agree.
    revision: the member's own latest revision of its data (etcd: its store revision;
      ZooKeeper: the zxid of its last change; Redis: its offset). Members at one ``index``
      must be at one ``revision``: etcd members that applied the same entries to different
      revisions lost or doubled one.
    at: the one revision, agreed by the reading for all members, that ``digest`` and
      ``keys`` describe (etcd reads every member at the lowest revision any of them is at);
      members whose ``at`` is the same are compared key by key. None: the member's current
      state (compared only between members that also say None, once converged).
    digest: a digest of the member's whole content at ``at`` (etcd: ``hashkv:<HashKV>`` when
      every member could be asked, else ``range:<sha256 of every key, value and mod
      revision>``); equal content gives equal digests. None when it could not be taken.
    keys: key -> the member's content of that key at ``at``, as any JSON value comparable
      with ``==`` (etcd: ``[mod_revision, value]``; Redis: the value), enough to name the keys
      that differ; None when it could not be read. A key one member lacks is absent.
    error: why the member could not be read (no other field is then trusted); None.
    info: anything else the member said, kept in the history for a person (term, leader,
      role, member id, how the digest was taken).
    """

    index: int | None = None
    revision: int | None = None
    at: int | None = None
    digest: str | None = None
    keys: dict[str, Any] | None = None
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The state as the ``member-states`` op's value holds it (plain JSON)."""
        return {
            "index": self.index,
            "revision": self.revision,
            "at": self.at,
            "digest": self.digest,
            "keys": self.keys,
            "error": self.error,
            "info": self.info,
        }


_A = TypeVar("_A")
_T = TypeVar("_T")


def read_each(members: dict[str, _A], read: Callable[[_A], _T]) -> dict[str, _T]:
    """``read(address)`` of every member at once (member name -> address), for
    ``member_states``: each member is read alone, and none waits for another's timeout."""
    if not members:
        return {}
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        futures = {n: pool.submit(read, address) for n, address in members.items()}
        return {n: f.result() for n, f in futures.items()}


@runtime_checkable
class MemberStates(Protocol):
    """A system whose members can each be read alone, to compare them after the final heal.

    The contract (``harness/members.py`` drives it, ``checkers/members.py`` judges it):
    after the final heal, with every client stopped, the harness calls ``member_states``
    until every member reports the same ``MemberState.index`` or ``members_wait_s`` seconds
    have passed, then records the last reading as ONE op in the history: process
    ``nemesis``, f ``member-states``, an invoke then its completion, whose value is
    ``{member name: MemberState.to_dict()}``; ``ok`` when the members reached one index,
    ``info`` (error ``members-not-converged: ...``) when the wait ran out; when every member
    has the same ``digest``, only the first member's ``keys`` are kept (the others' are
    None, ``info.keys_as`` names whose they are). The ``members``
    checker reads only that op: ``members-not-converged`` when the indexes differ,
    ``members-disagree`` (member, key, revision) when members at one index differ in
    revision, or members read at one ``at`` differ in digest or keys.
    """

    @property
    def members_wait_s(self) -> float:
        """Seconds the harness waits after the final heal for the members to reach one
        ``index`` (the system's typed option ``members_wait_s``); 0: read once."""
        ...

    def member_states(self, nodes: Sequence[Node], timeout: float) -> dict[str, MemberState]:
        """Read every member among ``nodes`` now, each from itself alone, each request
        bounded by ``timeout`` seconds; member name -> its state. A member that cannot be
        read gets a state with ``error``; a node that is not a member now (removed by the
        ``membership`` fault and not added back) is left out. Never raises for a member's
        failure; all members of one call are read at one ``at`` where the system can."""
        ...
