"""``ZooKeeperSystem``: an ensemble, one server per node (Debian's ``zookeeper``, 3.8, Java).

Each server is started from the Debian package's jars (``QuorumPeerMain``) with its own
``<workdir>/zoo.cfg``, its data and ``myid`` in ``<workdir>/zk-data`` and its log in
``<workdir>/zookeeper.log``; the JVM heap is kept small (``-Xmx128m``, C1 only, serial GC)
because five JVMs share two cores. Clients use the node's first port, servers talk to each
other on the second (quorum) and third (leader election); where nodes share an address node
i uses ``port + 3 i`` ... It can be killed and restarted on its data, paused, and asked who
leads (the ``srvr`` four-letter command: ``Mode: leader``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from clusters.base import Node
from clusters.clock import faketime_env
from harness.registry import option
from workloads.binary import BinarySystem
from workloads.options import ms

__all__ = [
    "DAEMON",
    "DEFAULT_PORT",
    "JAVA",
    "ZOOKEEPER_JAR",
    "ZooKeeperOptions",
    "ZooKeeperSystem",
    "four_letter",
    "server_mode",
]

DAEMON = "zookeeper"
DEFAULT_PORT = 2181
JAVA = "/usr/bin/java"
ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
#: the jar's manifest names its dependencies; these add a logging binding (else slf4j is silent)
LOG_JARS = ("/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar")
#: the server's log4j configuration, written to its workdir: everything at INFO and above to
#: the console, which spawn appends to ``zookeeper.log`` (no file appenders of its own)
LOG4J_PROPERTIES = [
    "log4j.rootLogger=INFO, CONSOLE",
    "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender",
    "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout",
    "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n",
]


@dataclass(frozen=True)
class ZooKeeperOptions:
    """``system.options`` of ZooKeeper."""

    sync: bool = option(True, "clients sync before every read")
    tick_ms: int = ms(500, "ZooKeeper's tickTime")
    init_limit: int = option(20, "initLimit, in ticks", minimum=1)
    sync_limit: int = option(4, "syncLimit, in ticks", minimum=1)
    session_timeout_ms: int = ms(4000, "the clients' session timeout")
    heap_mb: int = option(128, "the server's Java heap", minimum=16)
    faketime: bool = option(True, "start under libfaketime (clock faults apply)")


class ZooKeeperSystem(BinarySystem):
    """System + Killable + Pausable + HasPrimaries for a ZooKeeper ensemble, one server per node.

    ``options`` (ZooKeeperOptions): ``sync`` (true, the default: clients sync before every
    read; false: plain reads; workload.options.sync overrides it), ``tick_ms`` (tickTime),
    ``init_limit`` / ``sync_limit`` (in ticks: a follower cut off from the leader stops
    serving after sync_limit ticks), ``session_timeout_ms`` (the clients'; ZooKeeper clamps
    it to 2 .. 20 ticks), ``heap_mb``, ``faketime`` (start under libfaketime so clock faults
    apply). Setup waits up to ``ready_timeout`` seconds for its server to be in a quorum
    (leader or follower); a restart only until it answers ``srvr`` at all.
    """

    daemons = (DAEMON,)
    binaries = (JAVA, ZOOKEEPER_JAR)
    install_hint = "install Debian's zookeeper (./setup --tests does)"
    ports_per_node = 3
    default_port = DEFAULT_PORT
    data_dir_name = "zk-data"
    collected_files = ("zoo.cfg",)
    ready_timeout = 60.0
    poll = 0.2
    options_type = ZooKeeperOptions
    options: ZooKeeperOptions

    @property
    def sync(self) -> bool:
        """Whether clients that do not choose sync before every read."""
        return self.options.sync

    @property
    def session_timeout(self) -> float:
        """The clients' session timeout, in seconds."""
        return self.options.session_timeout_ms / 1000

    def config_files(self, node: Node) -> dict[str, str]:
        myid = [n.name for n in self.nodes].index(node.name) + 1
        return {
            f"{self.data_dir_name}/myid": f"{myid}\n",
            "zoo.cfg": _text_of(self._config(node)),
            "log4j.properties": _text_of(LOG4J_PROPERTIES),
        }

    def argv(self, node: Node, daemon: str) -> list[str]:
        return [
            JAVA,
            f"-Xmx{self.options.heap_mb}m", "-Xms16m", "-Xss512k",
            # two cores for five JVMs: no C2 compiler threads, one GC thread
            "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
            "-Djava.net.preferIPv4Stack=true",
            # how long an election waits to connect to a peer (default 5 s): a partitioned
            # peer would hold up every election that long
            "-Dzookeeper.cnxTimeout=1000",
            "-Dzookeeper.log.dir=.",
            "-Dlog4j.configuration=file:./log4j.properties",
            "-cp", ":".join([ZOOKEEPER_JAR, *LOG_JARS]),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            "./zoo.cfg",  # in its workdir, where spawn runs it
        ]  # fmt: skip

    def env(self, node: Node, daemon: str) -> dict[str, str]:
        return faketime_env(node) if self.options.faketime else {}

    def answering(self, node: Node, daemon: str) -> str | None:
        """It answers ``srvr``, in any mode: after a restart the rest of the ensemble may
        still be down or cut off."""
        return None if server_mode(*self.endpoint(node)) is not None else "no answer"

    def ready(self, node: Node) -> str | None:
        """It serves as leader or follower of a quorum (or standalone)."""
        mode = server_mode(*self.endpoint(node))
        if mode in ("leader", "follower", "standalone"):
            return None
        return f"mode {mode}" if mode else "no answer"

    def is_primary(self, node: Node) -> bool:
        """Its ``srvr`` says ``Mode: leader``."""
        return server_mode(*self.endpoint(node), timeout=0.5) == "leader"

    def _config(self, node: Node) -> list[str]:
        o = self.options
        lines = [
            f"tickTime={o.tick_ms}",
            f"initLimit={o.init_limit}",
            f"syncLimit={o.sync_limit}",
            # relative to the server's working directory, its workdir (spawn runs it there):
            # a workdir may be a relative path, which the JVM would resolve against itself
            f"dataDir=./{self.data_dir_name}",
            f"clientPort={self.ports(node)[0]}",
            f"clientPortAddress={node.address}",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,stat,ruok,mntr",
            f"maxSessionTimeout={20 * o.tick_ms}",
        ]
        if len(self.nodes) > 1:
            for i, n in enumerate(self.nodes, start=1):
                _, peer, elect = self.ports(n)
                lines.append(f"server.{i}={n.address}:{peer}:{elect}")
        return lines


def four_letter(host: str, port: int, word: str, *, timeout: float = 1.0) -> str | None:
    """A four-letter command's answer (``srvr``, ``ruok``, ...), or None if none came."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(4096)
                if not b:
                    break
                chunks.append(b)
        return b"".join(chunks).decode(errors="replace")
    except OSError:
        return None


def server_mode(host: str, port: int, *, timeout: float = 1.0) -> str | None:
    """``leader``, ``follower``, ``standalone``, ``not-serving`` (up, not in a quorum), or
    None when the server does not answer."""
    out = four_letter(host, port, "srvr", timeout=timeout)
    if out is None or not out:
        return None
    for line in out.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return "not-serving"


def _text_of(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
