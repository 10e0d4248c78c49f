"""The reference Raft key/value store (``patterns/raft``): its System, its Client and its
registration (``RAFT``, the ``raft`` system, which runs the ``register`` workload).

``RaftSystem`` is ``workloads.daemon.PatternSystem`` running ``python3 -m patterns.raft``
on each node; ``RaftOptions`` are its timing flags, which the patterns built on the Raft
runtime (leader-follower, queue) take too.

``RaftClient`` speaks the client protocol documented in ``patterns/raft/__init__.py`` over
one persistent connection, mapping history ops (Jepsen's independent-key values) to
requests::

    read   [k, None]      -> {"type": "read", "key": k}             ok [k, v]
    write  [k, v]         -> {"type": "write", "key": k, "value": v}  ok [k, v]
    cas    [k, [a, b]]    -> {"type": "cas", "key": k, "from": a, "to": b}
                                                                  ok [k, [a, b]] or fail
    status None           -> {"type": "status"}                   ok {the node's status}

An error reply with ``definite: true`` completes as ``fail``, otherwise as ``info``; either
way ``error`` holds its code (``not-leader``, ``cas-mismatch``, ``timeout``, ...).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.history import Op
from harness.registry import NoOptions, SystemInfo
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, node_status
from workloads.options import ms, ms_range
from workloads.pattern_client import PatternClient
from workloads.raft_watch import RaftWatchOptions
from workloads.raft_watch import make_client as watch_client
from workloads.system import HasPorts, RemovedMembers

__all__ = [
    "DAEMON",
    "DEFAULT_PORT",
    "RAFT",
    "RAFT_BUGS",
    "RaftClient",
    "RaftOptions",
    "RaftSystem",
    "node_status",
    "register_client",
]

#: the daemon's name on a node: its log is ``<workdir>/raft.log``
DAEMON = "raft"

RAFT_BUGS = {
    "stale-read": "the leader serves reads from its local state without confirming it still "
    "leads; shown when the leader is isolated (partition shape 'leader') while a new one "
    "takes writes",
    "early-ack": "a write is acknowledged once it is in the leader's own log, before a "
    "majority has it; shown when the leader is isolated or killed right after",
    "no-fsync": "term, vote and log are written to the kernel but never fsynced: kills keep "
    "them; shown by the lose-unfsynced fault on one node at a time, as in "
    "suites/raft-lose-unfsynced.yaml (acknowledged writes lost)",
    "vote-twice": "a node may grant its vote to two candidates in one term; shown by elections "
    "under partitions such as 'majorities-ring' (two leaders in one term)",
    "count-new-member-early": "a member added back (the membership fault) is a voter at once, "
    "counted as holding every entry the leader sent it, acknowledged or not; shown on 3 nodes "
    "when the leader that added it is then isolated (partition shape 'leader'): it commits "
    "alone while the others elect a new leader",
    # the watches' bugs (patterns/raft/watch.py), seen by the watch workload
    "watch-resume-now": "a resumed watch starts at the node's current revision instead of "
    "after the last one its client saw; shown by kills and pauses of a watcher's node (a gap "
    "after the reconnect)",
    "watch-before-commit": "watches deliver log entries once appended, before commit; shown "
    "when the leader is isolated (partition shape 'leader') or killed while clients write "
    "through it (events for writes that are then lost)",
    "watch-rearm-late": "a watch is one-shot, re-armed at the current revision by the next poll "
    "instead of right after the last; shown by writes alone, no fault needed (changes between "
    "two polls missed)",
}


@dataclass(frozen=True)
class RaftOptions:
    """The Raft store's own options (``system.options``), shared by the patterns built on its
    runtime; each is a daemon flag (``heartbeat_ms`` -> ``--heartbeat-ms``)."""

    heartbeat_ms: int = ms(50, "leader heartbeat interval")
    election_ms: str = ms_range("300-600", "randomized election timeout range")
    request_timeout_ms: int = ms(1000, "how long a client request may wait for its outcome")


class RaftSystem(RemovedMembers, PatternSystem):
    """System + Killable + Pausable + HasPrimaries + HasPorts + Reconfigurable for
    ``patterns/raft``: ``PatternSystem`` with the module ``raft``. ``bugs`` are seeded bug
    names passed on as ``--bug``; ``options`` (``RaftOptions``) and ``extra_args`` are appended
    to the daemon's command line (``["--election-ms", "150-300"]``).

    Membership (the ``membership`` fault), through the store's own single-server changes:
    ``remove_member`` asks the cluster (``remove-server``, forwarded to the leader, answered
    once the new configuration is committed), then stops the node and wipes its data;
    ``add_member`` starts the node on an empty data directory marked ``join`` (outside the
    configuration: it never campaigns) and asks the cluster to add it (``add-server``: the
    leader catches it up as a learner, then commits the configuration with it). A removed
    node is not started by a heal of the kill fault."""

    def __init__(
        self,
        bugs: Sequence[str] = (),
        port: int = DEFAULT_PORT,
        *,
        nodes: Sequence[Node] | None = None,
        ready_timeout: float = 20.0,
        options: RaftOptions | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(
            DAEMON,
            bugs,
            port,
            nodes=nodes,
            ready_timeout=ready_timeout,
            options=options,
            extra_args=extra_args,
        )
        #: nodes removed from the cluster and not added back
        self.removed: set[str] = set()

    def members(self) -> list[Node]:
        """Every node of the cluster, in order (a watch may move to any of them)."""
        return list(self._nodes)

    # -- Reconfigurable ------------------------------------------------------------------

    def remove_member(self, node: Node) -> None:
        """Remove ``node`` through the cluster (once committed), then stop it and wipe its
        data; RuntimeError when the cluster refuses or does not answer in time."""
        self.removing(node)
        self._change("remove-server", node)
        self.removed.add(node.name)
        self.kill(node)
        data = self.data_dir(node)
        node.exec(["rm", "-rf", data])
        node.exec(["mkdir", "-p", data])

    def add_member(self, node: Node) -> None:
        """Start the removed ``node`` on its empty data directory marked ``join`` (unless an
        earlier try left it running) and ask the cluster to add it: it is a member once
        caught up and the new configuration committed."""
        self.adding(node)
        if not node.alive(self.daemon):
            data = self.data_dir(node)
            node.exec(["mkdir", "-p", data])
            node.exec(["touch", f"{data}/{JOIN_FILE}"])
            # durable, as a real operator's would be: a power cut (lose-unfsynced) must not
            # take the mark away and start the node in --peers' configuration
            node.exec(["sync", f"{data}/{JOIN_FILE}", data])
            self.start_joining(node)
        self._change("add-server", node)
        self.removed.discard(node.name)

    def _change(self, kind: str, node: Node) -> None:
        """Ask the members other than ``node`` (then ``node``) for ``kind`` of ``node``, each
        forwarding it to the leader, until one answers ok; RuntimeError with what each said.
        An answer that the change may or may not have been made (a timeout) ends the tries:
        asking again is safe (a change already made is answered ok)."""
        said: list[str] = []
        order = [n for n in self._nodes if n.name not in self.removed and n.name != node.name]
        if kind == "remove-server":
            order.append(node)
        for other in order:
            reply = _ask(
                other.address,
                self.port_of(other),
                {"type": kind, "node": node.name, "timeout_ms": int(ADMIN_TIMEOUT * 1000)},
                timeout=ADMIN_TIMEOUT + 2,
            )
            if reply is None:
                said.append(f"{other.name}: no answer")
                continue
            if reply.get("ok") is True:
                return
            said.append(f"{other.name}: {reply.get('error')}: {reply.get('message')}")
            if reply.get("definite") is not True:
                break
        raise RuntimeError(f"{kind} {node.name} refused: {'; '.join(said) or 'no member left'}")


class RaftClient(PatternClient):
    """A Client of the Raft store (see the module docstring for the ops): one persistent
    connection to its node, whose port the system it was made with gives (or ``port=``).

    ``timeout`` bounds connecting and each request (seconds). A timeout or a broken
    connection after a request was sent raises (the runner records ``info``); a refused
    connection, before anything was sent, completes as ``fail`` with error
    ``connection-refused`` (any other failure to connect: ``connect-failed: ...``).
    """

    def invoke(self, op: Op) -> Op:
        """Perform ``op`` and return its completion (see the module docstring)."""
        try:
            req, key = _request(op)
        except (TypeError, ValueError) as e:
            return op.complete("fail", op.value, error=f"bad-op: {e}")
        try:
            self.ensure_connected()
        except ConnectionRefusedError:
            return op.complete("fail", op.value, error="connection-refused")
        except OSError as e:  # nothing was sent: the op certainly did not happen
            return op.complete("fail", op.value, error=f"connect-failed: {e}")
        reply = self.call(req)
        if reply.get("ok") is True:
            value = reply.get("value")
            if op.f == "read":
                return op.complete("ok", [key, value])
            if op.f == "status":
                return op.complete("ok", value)
            return op.complete("ok", op.value)
        return self.failed(op, reply)


#: how long a membership change may take on the leader (the new member catches up first)
ADMIN_TIMEOUT = 5.0


def _ask(host: str, port: int, msg: dict[str, Any], *, timeout: float) -> dict[str, Any] | None:
    """One request to a node and its reply, or None if it did not answer in ``timeout`` s."""
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 1.0)) as s:
            s.settimeout(timeout)
            s.sendall(json.dumps({"id": 1, **msg}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
        reply = json.loads(buf)
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) else None


#: patterns/raft/storage.py's JOIN_FILE (the harness does not import the patterns)
JOIN_FILE = "join"


def _request(op: Op) -> tuple[dict[str, Any], Any]:
    """The request for ``op`` and its key; raises ValueError for an op it cannot map."""
    if op.f == "status":
        return {"type": "status"}, None
    if not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
        raise ValueError(f"expected [key, value], got {op.value!r}")
    key, arg = op.value
    if op.f == "read":
        return {"type": "read", "key": key}, key
    if op.f == "write":
        return {"type": "write", "key": key, "value": arg}, key
    if op.f == "cas":
        if not isinstance(arg, (list, tuple)) or len(arg) != 2:
            raise ValueError(f"a cas needs [key, [from, to]], got {op.value!r}")
        return {"type": "cas", "key": key, "from": arg[0], "to": arg[1]}, key
    raise ValueError(f"raft has no op {op.f!r}; it runs read, write, cas, status")


def register_client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> RaftClient:
    """The client of the ``register`` workload on a system that speaks the Raft store's
    protocol (raft, paxos, leaderfollower)."""
    return RaftClient(system, timeout=spec.timeout)


def _make(spec: SystemSpec, nodes: Sequence[Node], options: RaftOptions) -> RaftSystem:
    port = DEFAULT_PORT if spec.port is None else spec.port
    return RaftSystem(spec.bugs, port, nodes=nodes, options=options)


RAFT = SystemInfo(
    name="raft",
    description="reference Raft key-value store (patterns/raft): read, write, cas per key; "
    "watches on a key prefix (the watch workload)",
    make=_make,
    clients={"register": register_client, "watch": watch_client},
    client_options={"watch": RaftWatchOptions},
    bugs=RAFT_BUGS,
    options=RaftOptions,
    default_port=DEFAULT_PORT,
    checkers=("leaders",),
    final_ops=("status",),
    offers={"membership": ("remove", "replace")},
)
