"""``EtcdSystem``: one etcd member per node (Debian's ``etcd-server``, 3.4).

Each member keeps its data in ``<workdir>/etcd-data`` and logs to ``<workdir>/etcd.log``;
clients use the node's first port, members talk to each other on the second (where nodes
share an address, node i uses ``port + 2 i`` and ``port + 2 i + 1``). It can be killed and
restarted on its data, paused, and asked who leads (``/v3/maintenance/status``).

Membership (the ``membership`` fault): ``remove_member`` asks another member to remove the
node (``/v3/cluster/member/remove``; etcd's strict reconfiguration check refuses a removal
that would lose the quorum), stops it and wipes its data; ``add_member`` asks a member to add
it back (``/v3/cluster/member/add``) and starts it with empty data, ``--initial-cluster`` as
the cluster answered and ``--initial-cluster-state existing``, as etcd's runtime
reconfiguration guide does. A removed node is not started by a heal of the kill fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.registry import option
from workloads.binary import BinarySystem, extra_args, http_check
from workloads.etcd.api import EtcdError, member_status, post
from workloads.etcd.members import read_members
from workloads.options import ms
from workloads.system import MemberState, RemovedMembers

__all__ = ["DAEMON", "DEFAULT_PORT", "ETCD_BINARY", "READ_MODES", "EtcdOptions", "EtcdSystem"]

DAEMON = "etcd"
DEFAULT_PORT = 2379
ETCD_BINARY = "/usr/bin/etcd"
READ_MODES = ("linearizable", "serializable")


@dataclass(frozen=True)
class EtcdOptions:
    """``system.options`` of etcd."""

    reads: str = option("linearizable", "how clients read", choices=READ_MODES)
    election_ms: int = ms(1000, "etcd's --election-timeout")
    heartbeat_ms: int = ms(100, "etcd's --heartbeat-interval")
    binary: str = option(ETCD_BINARY, "the etcd executable on every node")
    extra_args: tuple[str, ...] = extra_args()
    members_wait_s: float = option(
        30.0,
        "seconds to wait after the final heal for every member to apply the same Raft index, "
        "before each is read alone (the members checker)",
        minimum=0,
    )


class EtcdSystem(RemovedMembers, BinarySystem):
    """System + Killable + Pausable + HasPrimaries + Reconfigurable + MemberStates for an
    etcd cluster, one member per node.

    ``options`` (EtcdOptions): ``reads``, the read mode its clients use unless their workload
    says otherwise; ``election_ms`` / ``heartbeat_ms``; ``binary``; ``extra_args``, flags
    appended to etcd's command line (``[--snapshot-count, "100"]``, for a user's own build);
    ``members_wait_s``, how long the harness waits after the final heal for the members to
    reach one applied index before reading each. Setup waits up to
    ``ready_timeout`` seconds for the cluster to be healthy (a leader); a restart only until
    the member serves HTTP.
    """

    daemons = (DAEMON,)
    ports_per_node = 2
    default_port = DEFAULT_PORT
    install_hint = "install Debian's etcd-server (./setup --tests does)"
    ready_timeout = 30.0
    options_type = EtcdOptions
    options: EtcdOptions

    def __init__(
        self,
        port: int | None = None,
        *,
        nodes: Sequence[Node] = (),
        options: EtcdOptions | None = None,
        ready_timeout: float | None = None,
    ) -> None:
        super().__init__(port, nodes=nodes, options=options, ready_timeout=ready_timeout)
        self.binaries = (self.options.binary,)
        #: nodes removed from the cluster and not added back
        self.removed: set[str] = set()
        #: node -> the --initial-cluster it joined an existing cluster with
        self.joined: dict[str, str] = {}

    @property
    def reads(self) -> str:
        """The read mode of clients that do not choose one."""
        return self.options.reads

    def argv(self, node: Node, daemon: str) -> list[str]:
        cport, pport = self.ports(node)
        peers = ",".join(f"{n.name}={self._peer_url(n)}" for n in self.nodes)
        state = "new"
        if node.name in self.joined:
            peers, state = self.joined[node.name], "existing"
        a = node.address
        return [
            self.options.binary,
            "--name", node.name,
            "--data-dir", self.data_dir(node),
            "--listen-client-urls", f"http://{a}:{cport}",
            "--advertise-client-urls", f"http://{a}:{cport}",
            "--listen-peer-urls", f"http://{a}:{pport}",
            "--initial-advertise-peer-urls", f"http://{a}:{pport}",
            "--initial-cluster", peers,
            "--initial-cluster-state", state,
            "--initial-cluster-token", "splitbrain",
            "--election-timeout", str(self.options.election_ms),
            "--heartbeat-interval", str(self.options.heartbeat_ms),
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]  # fmt: skip

    def env(self, node: Node, daemon: str) -> dict[str, str]:
        return {"ETCD_UNSUPPORTED_ARCH": ""}

    def answering(self, node: Node, daemon: str) -> str | None:
        """It serves HTTP (``/version``): after a restart the rest of the cluster may still
        be down or cut off, so a leader is not waited for."""
        return http_check(
            self._url(node, "/version"), lambda b: isinstance(b, dict) and "etcdserver" in b
        )

    def ready(self, node: Node) -> str | None:
        """The cluster it belongs to has a leader (``/health``)."""
        return http_check(
            self._url(node, "/health"), lambda b: isinstance(b, dict) and b.get("health") == "true"
        )

    def is_primary(self, node: Node) -> bool:
        """Its status names itself as leader."""
        st = member_status(*self.endpoint(node), timeout=0.5)
        return st is not None and st.get("role") == "leader"

    # -- MemberStates ------------------------------------------------------------------------------

    @property
    def members_wait_s(self) -> float:
        """Seconds the harness waits for the members to reach one applied index."""
        return self.options.members_wait_s

    def member_states(self, nodes: Sequence[Node], timeout: float) -> dict[str, MemberState]:
        """Each member among ``nodes`` (not those removed from the cluster) read alone, at
        the lowest revision any of them is at (``workloads.etcd.members``)."""
        members = {n.name: self.endpoint(n) for n in self.members_of(nodes)}
        return read_members(members, timeout)

    # -- Reconfigurable ----------------------------------------------------------------------------

    def remove_member(self, node: Node) -> None:
        """Remove ``node`` through another member, then stop it and wipe its data."""
        self.known(node)
        self.removing(node)
        members = self._members(exclude=node)
        ids = [m["ID"] for m in members if m.get("name") == node.name or
               self._peer_url(node) in m.get("peerURLs", [])]  # fmt: skip
        if not ids:
            raise RuntimeError(f"{node.name} is not in the member list")
        self._call(exclude=node, path="/v3/cluster/member/remove", body={"ID": ids[0]})
        self.removed.add(node.name)
        self.joined.pop(node.name, None)
        self.kill(node)
        node.exec(["rm", "-rf", self.data_dir(node)])
        node.exec(["mkdir", "-p", self.data_dir(node)])

    def add_member(self, node: Node) -> None:
        """Add the removed ``node`` back, empty, and start it as a member of the cluster."""
        self.known(node)
        self.adding(node)
        reply = self._call(
            exclude=node, path="/v3/cluster/member/add", body={"peerURLs": [self._peer_url(node)]}
        )
        members = reply.get("members") or []
        urls = [
            f"{m.get('name') or node.name}={m['peerURLs'][0]}" for m in members if m.get("peerURLs")
        ]
        self.joined[node.name] = ",".join(urls)
        self.removed.discard(node.name)
        self.start(node)

    def _members(self, exclude: Node) -> list[dict[str, Any]]:
        reply = self._call(exclude=exclude, path="/v3/cluster/member/list", body={})
        return list(reply.get("members") or [])

    def _call(self, *, exclude: Node, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the first member other than ``exclude`` that answers; RuntimeError with
        what each said when none does, or the error a member answered."""
        said: list[str] = []
        for other in self.nodes:
            if other.name == exclude.name or other.name in self.removed:
                continue
            host, port = self.endpoint(other)
            try:
                return post(f"http://{host}:{port}{path}", body, timeout=5.0)
            except EtcdError as e:
                raise RuntimeError(f"{other.name} refused {path}: {e}") from None
            except (OSError, ValueError) as e:
                said.append(f"{other.name}: {e}")
        raise RuntimeError(f"no member answered {path}: {'; '.join(said) or 'no member left'}")

    def _peer_url(self, node: Node) -> str:
        return f"http://{node.address}:{self.ports(node)[1]}"

    def _url(self, node: Node, path: str) -> str:
        host, port = self.endpoint(node)
        return f"http://{host}:{port}{path}"
