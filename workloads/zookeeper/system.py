"""``ZooKeeperSystem``: an ensemble, one server per node (Debian's ``zookeeper``, 3.8, Java).

Each server is started from the Debian package's jars (``QuorumPeerMain``) with its own
``<workdir>/zoo.cfg``, its data and ``myid`` in ``<workdir>/zk-data`` and its log in
``<workdir>/zookeeper.log``; the JVM heap is kept small (``-Xmx128m``, C1 only, serial GC)
because five JVMs share two cores. Clients use the node's first port, servers talk to each
other on the second (quorum) and third (leader election); where nodes share an address node
i uses ``port + 3 i`` ... It can be killed and restarted on its data, paused, and asked who
leads (the ``srvr`` four-letter command: ``Mode: leader``).

An ensemble of several runs with dynamic reconfiguration (``reconfigEnabled=true``; its
servers in ``<workdir>/zoo.cfg.dynamic``, which each server rewrites as the ensemble changes,
and ``standaloneEnabled=false``, so that an ensemble reconfigured down to one server stays a
quorum of one). Membership (the ``membership`` fault, ``reconfig.py``): ``remove_member``
asks another member to ``reconfig -remove`` the node's id, stops it and wipes its data;
``add_member`` starts it with empty data and a dynamic config of the ensemble as committed
plus itself as a participant (ZooKeeper's reconfiguration guide, "adding servers", option 2),
waits until it follows the leader, then asks a member to ``reconfig -add`` it. A removed node
is not started by a heal of the kill fault.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from clusters.clock import faketime_env
from harness.registry import option
from workloads.binary import BinarySystem, write_file
from workloads.options import ms
from workloads.system import MemberState, RemovedMembers
from workloads.zookeeper.fourletter import four_letter, server_mode
from workloads.zookeeper.members import read_members
from workloads.zookeeper.reconfig import (
    Ensemble,
    admin_session,
    read_ensemble,
    reconfig,
    server_line,
    super_digest,
)

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
    extra_args: tuple[str, ...] = option(
        (),
        "JVM flags put before ZooKeeper's main class, e.g. [-Dzookeeper.snapCount=1000]",
        pattern=r"-\S.*",
        form="a flag starting with -, e.g. -Dzookeeper.snapCount=1000",
    )
    extra_config: tuple[str, ...] = option(
        (),
        "lines added to every server's zoo.cfg (a key given twice: the last wins), e.g. "
        "[snapCount=1000, autopurge.purgeInterval=1]",
        pattern=r"[A-Za-z][\w.\-]*=[^\n]*",
        form="key=value, e.g. snapCount=1000",
    )
    members_wait_s: float = option(
        30.0,
        "seconds to wait after the final heal for every server to apply the same last zxid, "
        "before each is read alone (the members checker)",
        minimum=0,
    )


class ZooKeeperSystem(RemovedMembers, BinarySystem):
    """System + Killable + Pausable + HasPrimaries + Reconfigurable + MemberStates for a
    ZooKeeper ensemble, one server per node.

    ``options`` (ZooKeeperOptions): ``sync`` (true, the default: clients sync before every
    read; false: plain reads; workload.options.sync overrides it), ``tick_ms`` (tickTime),
    ``init_limit`` / ``sync_limit`` (in ticks: a follower cut off from the leader stops
    serving after sync_limit ticks), ``session_timeout_ms`` (the clients'; ZooKeeper clamps
    it to 2 .. 20 ticks), ``heap_mb``, ``faketime`` (start under libfaketime so clock faults
    apply), ``extra_args`` (JVM flags, before the main class: ``-Dzookeeper.<property>``
    sets what zoo.cfg does not), ``extra_config`` (``key=value`` lines appended to zoo.cfg,
    where most of a user's settings go), ``members_wait_s`` (how long the harness waits after
    the final heal for the servers to apply one last zxid before reading each). Setup waits
    up to ``ready_timeout`` seconds for its server to be in a quorum (leader or follower); a
    restart only until it answers ``srvr`` at all.

    Membership (Reconfigurable): ``remove_member`` / ``add_member``, see the module
    docstring; ``removed`` names the nodes removed and not added back.
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
    #: the dynamic config file, relative to the workdir (the server writes its successors,
    #: ``zoo.cfg.dynamic.<version>``, beside it and points zoo.cfg at the newest)
    dynamic_config = "zoo.cfg.dynamic"
    #: how long one admin request (a session's start, a reconfig) may take, in seconds
    admin_timeout = 10.0

    def __init__(
        self,
        port: int | None = None,
        *,
        nodes: Sequence[Node] = (),
        options: ZooKeeperOptions | None = None,
        ready_timeout: float | None = None,
    ) -> None:
        super().__init__(port, nodes=nodes, options=options, ready_timeout=ready_timeout)
        #: nodes removed from the ensemble and not added back
        self.removed: set[str] = set()

    @property
    def sync(self) -> bool:
        """Whether clients that do not choose sync before every read."""
        return self.options.sync

    @property
    def session_timeout(self) -> float:
        """The clients' session timeout, in seconds."""
        return self.options.session_timeout_ms / 1000

    def server_id(self, node: Node) -> int:
        """Its ``myid``: its place among the system's nodes, from 1."""
        return [n.name for n in self.nodes].index(self.known(node).name) + 1

    def server_line(self, node: Node) -> str:
        """Its line in the dynamic config (``server.<id>=...``)."""
        _, peer, elect = self.ports(node)
        return server_line(self.server_id(node), node.address, peer, elect, self.port_of(node))

    def config_files(self, node: Node) -> dict[str, str]:
        files = {
            f"{self.data_dir_name}/myid": f"{self.server_id(node)}\n",
            "zoo.cfg": _text_of(self._config(node)),
            "log4j.properties": _text_of(LOG4J_PROPERTIES),
        }
        if len(self.nodes) > 1:
            files[self.dynamic_config] = _text_of([self.server_line(n) for n in self.nodes])
        return files

    def setup(self, node: Node) -> None:
        """As BinarySystem's, after removing the dynamic configs an earlier run's servers
        wrote in the workdir."""
        self.removed.discard(node.name)
        self._forget_dynamic_configs(node)
        super().setup(node)

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
            # the superuser the membership fault's reconfig requests authenticate as
            f"-Dzookeeper.DigestAuthenticationProvider.superDigest={super_digest()}",
            "-Dzookeeper.log.dir=.",
            "-Dlog4j.configuration=file:./log4j.properties",
            *self.options.extra_args,
            "-cp", ":".join([ZOOKEEPER_JAR, *LOG_JARS]),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            "./zoo.cfg",  # in its workdir, where spawn runs it
        ]  # fmt: skip

    def extra_argv(self, node: Node, daemon: str) -> list[str]:
        """None after the main class: ``extra_args`` are JVM flags, which ``argv`` puts
        before it (after it they would be arguments of QuorumPeerMain)."""
        return []

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

    # -- MemberStates ------------------------------------------------------------------------------

    @property
    def members_wait_s(self) -> float:
        """Seconds the harness waits for the servers to apply one last zxid."""
        return self.options.members_wait_s

    def member_states(self, nodes: list[Node], timeout: float) -> dict[str, MemberState]:
        """Each member among ``nodes`` (not those removed from the ensemble) read through a
        session pinned to it, after ``sync``, at the zxid it reports (``members.py``)."""
        members = {n.name: self.endpoint(n) for n in self.members_of(nodes)}
        return read_members(members, timeout)

    # -- Reconfigurable ----------------------------------------------------------------------------

    def remove_member(self, node: Node) -> None:
        """``reconfig -remove`` its id through another member, then stop it and wipe its
        data. RuntimeError when the ensemble refuses or no member answers; a retry after a
        removal that was done but not acknowledged finds it done."""
        self.known(node)
        self.removing(node)
        sid = self.server_id(node)

        def remove(zk: Any) -> None:
            servers, _ = read_ensemble(zk, timeout=self.admin_timeout)
            if sid in servers:
                if len(servers) == 1:
                    raise RuntimeError(f"{node.name} is the ensemble's last member")
                reconfig(zk, timeout=self.admin_timeout, leaving=str(sid))

        self._admin(remove, exclude=node, what=f"reconfig -remove {sid} ({node.name})")
        self.removed.add(node.name)
        self.kill(node)
        self._wipe(node)

    def add_member(self, node: Node) -> None:
        """Start the removed ``node`` empty, with the ensemble as committed plus itself,
        wait until it follows the leader, then ``reconfig -add`` it through another member.
        RuntimeError (the node stopped again) when the ensemble refuses."""
        self.known(node)
        self.adding(node)
        line = self.server_line(node)
        sid = self.server_id(node)
        servers = self._admin(
            lambda zk: read_ensemble(zk, timeout=self.admin_timeout)[0],
            exclude=node,
            what="read /zookeeper/config",
        )
        servers[sid] = line.partition("=")[2]
        self._prepare_joiner(node, servers)
        try:
            self.start_joining(node)
            self._wait_following(node)

            def add(zk: Any) -> None:
                now, _ = read_ensemble(zk, timeout=self.admin_timeout)
                if now.get(sid) != servers[sid]:
                    reconfig(zk, timeout=self.admin_timeout, joining=line)

            self._admin(add, exclude=node, what=f"reconfig -add {line} ({node.name})")
        except Exception:
            self.kill(node)
            self._wipe(node)
            raise
        self.removed.discard(node.name)

    def _prepare_joiner(self, node: Node, servers: Ensemble) -> None:
        """Empty data with its myid, zoo.cfg and a dynamic config of ``servers``."""
        self.kill(node)
        self._wipe(node)
        self._forget_dynamic_configs(node)
        files = self.config_files(node)
        lines = [f"server.{i}={v}" for i, v in sorted(servers.items())]
        files[self.dynamic_config] = _text_of(lines)
        for path, text in files.items():
            write_file(node, path, text)

    def _wait_following(self, node: Node) -> None:
        """Until the joiner follows the leader (synced with it, as reconfig -add needs);
        RuntimeError after ``ready_timeout`` seconds."""
        deadline = time.monotonic() + self.ready_timeout
        while True:
            mode = server_mode(*self.endpoint(node))
            if mode in ("follower", "leader"):
                return
            if time.monotonic() > deadline or not node.alive(DAEMON):
                raise RuntimeError(f"{node.name} did not join the leader: mode {mode}")
            time.sleep(self.poll)

    def _admin(self, call: Any, *, exclude: Node, what: str) -> Any:
        """``call(session)`` through the first member other than ``exclude`` (and the
        removed) that serves in a quorum (``srvr``: leader or follower; a server cut off from
        its quorum starts no session) and starts a superuser session; RuntimeError naming
        what each said when none does. A RuntimeError from ``call`` is its refusal."""
        said: list[str] = []
        for other in self.nodes:
            if other.name == exclude.name or other.name in self.removed:
                continue
            mode = server_mode(*self.endpoint(other))
            if mode not in ("leader", "follower"):
                said.append(f"{other.name}: mode {mode}")
                continue
            try:
                with admin_session(*self.endpoint(other), timeout=self.admin_timeout) as zk:
                    return call(zk)
            except RuntimeError:
                raise
            except Exception as e:  # noqa: BLE001 - kazoo's errors and timeouts, reported
                said.append(f"{other.name}: {type(e).__name__} {e}".rstrip())
        raise RuntimeError(f"{what}: no member did it: {'; '.join(said) or 'no member left'}")

    def _wipe(self, node: Node) -> None:
        node.exec(["rm", "-rf", self.data_dir(node)])
        node.exec(["mkdir", "-p", self.data_dir(node)])

    def _forget_dynamic_configs(self, node: Node) -> None:
        node.exec(["sh", "-c", f'rm -f "$0"/{self.dynamic_config}*', node.workdir])

    def _config(self, node: Node) -> list[str]:
        o = self.options
        lines = [
            f"tickTime={o.tick_ms}",
            f"initLimit={o.init_limit}",
            f"syncLimit={o.sync_limit}",
            # relative to the server's working directory, its workdir (spawn runs it there):
            # a workdir may be a relative path, which the JVM would resolve against itself
            f"dataDir=./{self.data_dir_name}",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,stat,ruok,mntr,conf",
            f"maxSessionTimeout={20 * o.tick_ms}",
        ]
        if len(self.nodes) > 1:
            # the servers, client ports included, are in the dynamic config
            lines += [
                "reconfigEnabled=true",
                "standaloneEnabled=false",
                f"dynamicConfigFile=./{self.dynamic_config}",
            ]
        else:
            lines += [f"clientPort={self.ports(node)[0]}", f"clientPortAddress={node.address}"]
        # last: java.util.Properties keeps the last value of a key given twice
        return lines + list(o.extra_config)


def _text_of(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
