"""``EtcdSystem``: one etcd member per node (Debian's ``etcd-server``, 3.4).

Each member keeps its data in ``<workdir>/etcd-data`` and logs to ``<workdir>/etcd.log``;
clients use the node's first port, members talk to each other on the second (where nodes
share an address, node i uses ``port + 2 i`` and ``port + 2 i + 1``). It can be killed and
restarted on its data, paused, and asked who leads (``/v3/maintenance/status``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clusters.base import Node
from harness.registry import option
from workloads.binary import BinarySystem, http_check
from workloads.etcd.api import member_status
from workloads.options import ms

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


class EtcdSystem(BinarySystem):
    """System + Killable + Pausable + HasPrimaries for an etcd cluster, one member per node.

    ``options`` (EtcdOptions): ``reads``, the read mode its clients use unless their workload
    says otherwise; ``election_ms`` / ``heartbeat_ms``; ``binary``. Setup waits up to
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

    @property
    def reads(self) -> str:
        """The read mode of clients that do not choose one."""
        return self.options.reads

    def argv(self, node: Node, daemon: str) -> list[str]:
        cport, pport = self.ports(node)
        peers = ",".join(f"{n.name}=http://{n.address}:{self.ports(n)[1]}" for n in self.nodes)
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
            "--initial-cluster-state", "new",
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

    def _url(self, node: Node, path: str) -> str:
        host, port = self.endpoint(node)
        return f"http://{host}:{port}{path}"
