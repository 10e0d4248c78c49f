"""``NatsSystem``: one NATS server with JetStream per node, and a key-value bucket on them.

Each node runs ``nats-server -c nats.conf`` (Debian's ``nats-server``, 2.9) with three ports:
clients on the first (default 4222), routes between the servers on the second, the HTTP
monitoring endpoint on the third (``/varz``, ``/healthz``, ``/jsz``). The servers form one
cluster whose server names are the node names. Once the cluster has a JetStream meta leader,
the first node's setup creates the bucket (``options.bucket``), replicated on
``options.replicas`` servers (default: every node, at most 5): the stream ``KV_<bucket>``.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass
from typing import Any

import nats
from clusters.base import Node
from harness.registry import option
from nats.aio.client import Client as NatsConnection
from nats.js.api import KeyValueConfig
from workloads.binary import BinarySystem, http_check

__all__ = ["DEFAULT_PORT", "NatsOptions", "NatsSystem", "connect", "jsz", "stream_leader"]

DEFAULT_PORT = 4222


@dataclass(frozen=True)
class NatsOptions:
    """``system.options`` of nats (checked when the suite is read)."""

    bucket: str = option(
        "splitbrain",
        "the key-value bucket the clients use",
        pattern=r"[A-Za-z0-9_-]+",
        form="letters, digits, _ and -",
    )
    replicas: int | None = option(
        None, "servers that hold the bucket (default: every node, at most 5)", minimum=1, maximum=5
    )


class NatsSystem(BinarySystem):
    """A NATS JetStream cluster, one server per node (System, Killable, Pausable,
    HasPrimaries: the primary is the leader of the bucket's stream)."""

    daemons = ("nats",)
    binaries = ("nats-server",)  # on the PATH of every node (Debian: /usr/sbin)
    ports_per_node = 3  # clients, routes, monitoring
    default_port = DEFAULT_PORT
    install_hint = "install Debian's nats-server (./setup --tests does)"
    options_type = NatsOptions  # what a NatsSystem made without options gets
    options: NatsOptions

    @property
    def stream(self) -> str:
        """The JetStream stream that holds the bucket."""
        return f"KV_{self.options.bucket}"

    @property
    def replicas(self) -> int:
        return self.options.replicas or min(len(self.nodes), 5)

    def config_files(self, node: Node) -> dict[str, str]:
        client, route, monitor = self.ports(node)
        routes = ", ".join(f"nats-route://{n.address}:{self.ports(n)[1]}" for n in self.nodes)
        return {
            "nats.conf": f"""server_name: {json.dumps(node.name)}
listen: "{node.address}:{client}"
http: "{node.address}:{monitor}"
jetstream {{
  store_dir: {json.dumps(self.data_dir(node))}
}}
cluster {{
  name: splitbrain
  listen: "{node.address}:{route}"
  routes: [{routes}]
}}
"""
        }

    def argv(self, node: Node, daemon: str) -> list[str]:
        return ["nats-server", "-c", f"{node.workdir}/nats.conf"]

    def answering(self, node: Node, daemon: str) -> str | None:
        """The server is up (``/varz``); JetStream may still wait for the rest of the cluster."""
        return http_check(self.monitor_url(node, "/varz"))

    def ready(self, node: Node) -> str | None:
        """JetStream is healthy on ``node`` and the cluster has a meta leader."""
        unhealthy = http_check(self.monitor_url(node, "/healthz"))
        if unhealthy is not None:
            return unhealthy
        info = jsz(self.monitor_url(node, "/jsz"))
        leader = (info or {}).get("meta_cluster", {}).get("leader")
        return None if leader else f"no JetStream meta leader yet ({info!r:.200})"

    def first_start(self, node: Node) -> None:
        """Start and wait until ready, like every system; the first node then makes the
        bucket (retried until the cluster has placed its replicas)."""
        super().first_start(node)
        if node.name == self.nodes[0].name:
            self.wait(node, "nats", lambda: self.make_bucket(node), "able to create the bucket")

    def make_bucket(self, node: Node) -> str | None:
        """Create the bucket through ``node`` (a no-op if it exists with this config); None
        once done, else why not."""
        host, port = self.endpoint(node)
        config = KeyValueConfig(bucket=self.options.bucket, history=1, replicas=self.replicas)

        async def create() -> None:
            nc = await connect(f"nats://{host}:{port}", timeout=2)
            try:
                await nc.jetstream(timeout=5).create_key_value(config)
            finally:
                await nc.close()

        try:
            asyncio.run(create())
        except Exception as e:  # any failure is retried until ready_timeout
            return f"{type(e).__name__}: {e}"
        return None

    def is_primary(self, node: Node) -> bool:
        """``node`` says it leads the bucket's stream."""
        info = jsz(self.monitor_url(node, "/jsz?accounts=true&streams=true"))
        return stream_leader(info, self.stream) == node.name

    def monitor_url(self, node: Node, path: str) -> str:
        """The URL of ``path`` on ``node``'s monitoring endpoint."""
        return f"http://{node.address}:{self.ports(node)[2]}{path}"


async def connect(url: str, timeout: float) -> NatsConnection:
    """A connection to one server that never reconnects by itself (nothing buffered while
    disconnected is sent later, when its op has long completed) and logs nothing: each op
    reports its own error."""
    return await nats.connect(url, connect_timeout=timeout, allow_reconnect=False, error_cb=_ignore)


async def _ignore(e: Exception) -> None:
    pass


def jsz(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The JSON a monitoring endpoint answers, or None if it does not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = json.loads(r.read())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def stream_leader(info: dict[str, Any] | None, stream: str) -> str | None:
    """The server name ``/jsz?accounts=true&streams=true`` gives as ``stream``'s leader."""
    for account in (info or {}).get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail.get("name") == stream:
                return (detail.get("cluster") or {}).get("leader") or None
    return None
