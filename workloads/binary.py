"""A base for systems that run a binary (or a few) on every node, each with a config file and
a health check: etcd, Redis and ZooKeeper are built on it, and so can a plugin's system.

A subclass says what to run and how to tell that it is up; ``BinarySystem`` does the rest:
the ports of every node (``port_bases``: where nodes share an address, node i starts at
``port + ports_per_node * i``), a fresh data directory and config files at setup, spawning
(each daemon logs to ``<workdir>/<daemon>.log`` and runs in the workdir), waiting with the
tail of the log on failure, kill / start / pause / resume, and ``primaries``. A whole system::

    @dataclass(frozen=True)
    class NatsOptions:
        jetstream: bool = option(True, "enable JetStream")

    class NatsSystem(BinarySystem):
        daemons = ("nats",)
        binaries = ("nats-server",)
        ports_per_node = 3              # client, cluster, monitoring
        default_port = 4222
        options_type = NatsOptions
        options: NatsOptions

        def config_files(self, node: Node) -> dict[str, str]:
            client, cluster, monitor = self.ports(node)
            return {"nats.conf": f"port: {client}\\nhttp_port: {monitor}\\n..."}

        def argv(self, node: Node, daemon: str) -> list[str]:
            return ["nats-server", "-c", "nats.conf"]

        def answering(self, node: Node, daemon: str) -> str | None:
            return http_check(f"http://{node.address}:{self.ports(node)[2]}/healthz")

    NATS = SystemInfo("nats", "...", NatsSystem.make, {"register": ...},
                      options=NatsOptions, default_port=NatsSystem.default_port)

Extra flags: a system whose options declare ``extra_args: tuple[str, ...] = extra_args()``
gets them appended to the command line of its first daemon (``extra_argv``), so that a user
testing their own build can pass what the system's own flags do not cover (etcd's
``--snapshot-count 100``, Redis' ``--maxmemory 64mb``); a subclass whose daemon takes them
elsewhere (a JVM's flags before its main class) overrides ``extra_argv`` or ``command``.

Clients learn where to connect from the system they are made with: ``endpoint(node)`` is the
node's address and first port, ``ports(node)`` all of its ports. A node the system was not
made with is an error (SetupError), never a default port.
"""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, Self

from clusters.base import Node, SetupError
from harness.registry import NoOptions, option
from harness.spec import SystemSpec
from workloads.daemon import kill_daemons, nodes_where, port_bases, wait_ready

__all__ = ["BinarySystem", "extra_args", "http_check", "write_file"]


def extra_args() -> Any:
    """The ``extra_args`` field of a system's options: flags appended to its first daemon's
    command line, as given (``extra_args: [--snapshot-count, "100"]`` in a suite)."""
    return option((), "flags appended to the daemon's command line, e.g. [--snapshot-count, '100']")


class BinarySystem:
    """System + Killable + Pausable + HasPrimaries + HasPorts for daemons run from binaries.

    Class attributes a subclass sets: ``daemons`` (their names, in the order they start),
    ``options_type`` (its options dataclass, whose defaults a system made without options
    gets), ``binaries`` (files every node must have: a bare name is looked up on the PATH),
    ``install_hint`` (how to get them), ``ports_per_node``, ``default_port``, ``data_dir_name``
    (default ``<first daemon>-data``), ``collected_files`` (files of the workdir kept with the
    logs, such as a config the daemon rewrites), ``ready_timeout`` and ``poll`` (seconds).

    Hooks: ``argv`` (required), ``answering`` (required: the daemon is up), ``config_files``,
    ``env``, ``ready`` (setup waits for it: the node serves as a member of the cluster),
    ``is_primary``; ``first_start`` when setup must do more than start every daemon in turn
    and wait for ``ready``.
    """

    daemons: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()
    install_hint: str = ""
    ports_per_node: int = 1
    default_port: int = 7000
    data_dir_name: str = ""
    collected_files: tuple[str, ...] = ()
    ready_timeout: float = 30.0
    poll: float = 0.1
    #: the system's options dataclass (``harness.registry.option`` fields): the instance a
    #: system is made without options gets
    options_type: type = NoOptions
    #: an instance of ``options_type``
    options: Any

    def __init__(
        self,
        port: int | None = None,
        *,
        nodes: Sequence[Node] = (),
        options: Any = None,
        ready_timeout: float | None = None,
    ) -> None:
        if not self.daemons:
            raise TypeError(f"{type(self).__name__} names no daemons")
        self.port = self.default_port if port is None else port
        self.nodes = list(nodes)
        self.options = self.options_type() if options is None else options
        if ready_timeout is not None:
            self.ready_timeout = ready_timeout
        self._bases = port_bases(self.nodes, self.port, self.ports_per_node)
        self._by_name = {n.name: n for n in self.nodes}

    @classmethod
    def make(cls, spec: SystemSpec, nodes: Sequence[Node], options: Any) -> Self:
        """``SystemInfo.make`` for this class: the suite's port (or ``default_port``), every
        node of the test, and the system's options (an instance of its options class)."""
        return cls(spec.port, nodes=nodes, options=options)

    # -- where each node is --------------------------------------------------------------------

    def known(self, node: Node) -> Node:
        """The member ``node`` is; SetupError if the system was not made with it."""
        member = self._by_name.get(node.name)
        if member is None or member.address != node.address:
            raise SetupError(
                f"{type(self).__name__} was not made with node {node.name!r} at {node.address}; "
                f"its nodes: {', '.join(f'{n.name} at {n.address}' for n in self.nodes) or 'none'}"
            )
        return member

    def ports(self, node: Node) -> tuple[int, ...]:
        """The ``ports_per_node`` ports of ``node``, the first being the clients'."""
        base = self._bases[self.known(node).name]
        return tuple(range(base, base + self.ports_per_node))

    def port_of(self, node: Node) -> int:
        """The port clients of ``node`` connect to (``HasPorts``)."""
        return self.ports(node)[0]

    def endpoint(self, node: Node) -> tuple[str, int]:
        """Where a client of ``node`` connects: its address and first port."""
        return node.address, self.ports(node)[0]

    def data_dir(self, node: Node) -> str:
        return f"{node.workdir}/{self.data_dir_name or self.daemons[0] + '-data'}"

    # -- System ---------------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Check the binaries, kill what an earlier setup left, make an empty data directory,
        write the config files, then ``first_start``; raises SetupError when it is not ready
        within ``ready_timeout``."""
        self.known(node)
        self.check_binaries(node)
        self.kill(node)
        data = self.data_dir(node)
        node.exec(["rm", "-rf", data])
        node.exec(["mkdir", "-p", data])
        for path, text in self.config_files(node).items():
            write_file(node, path, text)
        self.first_start(node)

    def teardown(self, node: Node) -> None:
        """Kill the daemons (data, config and logs stay on the node for inspection)."""
        self.kill(node)

    def log_files(self, node: Node) -> list[str]:
        logs = [f"{node.workdir}/{d}.log" for d in self.daemons]
        return logs + [f"{node.workdir}/{f}" for f in self.collected_files]

    # -- Killable / Pausable (every daemon of a node together, as on a host that crashes) -------

    def kill(self, node: Node) -> None:
        """SIGKILL the daemons' process groups; returns once they are gone (at most ~5 s)."""
        kill_daemons(node, *self.daemons)

    def start(self, node: Node) -> None:
        """Start every daemon on its existing data, in order, each once it is ``answering``;
        not once the node is ``ready``: the rest of the cluster may be down or cut off."""
        for daemon in self.daemons:
            self.start_daemon(node, daemon)

    def pause(self, node: Node) -> None:
        for daemon in self.daemons:
            node.signal(daemon, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        for daemon in self.daemons:
            node.signal(daemon, signal.SIGCONT)

    # -- HasPrimaries ---------------------------------------------------------------------------

    def primaries(self, nodes: Sequence[Node]) -> list[Node]:
        """The nodes for which ``is_primary`` holds, all asked at once."""
        return nodes_where(list(nodes), self.is_primary)

    # -- hooks ----------------------------------------------------------------------------------

    def argv(self, node: Node, daemon: str) -> list[str]:
        """The command line of ``daemon`` on ``node`` (it runs in the node's workdir)."""
        raise NotImplementedError

    def extra_argv(self, node: Node, daemon: str) -> list[str]:
        """Flags appended to ``argv``: the options' ``extra_args`` (``extra_args()``), for the
        first daemon only (Redis' sentinel is not the daemon under test); none without."""
        if daemon != self.daemons[0]:
            return []
        return [str(a) for a in getattr(self.options, "extra_args", ()) or ()]

    def command(self, node: Node, daemon: str) -> list[str]:
        """The command line ``start_daemon`` spawns: ``argv`` then ``extra_argv``."""
        return self.argv(node, daemon) + self.extra_argv(node, daemon)

    def answering(self, node: Node, daemon: str) -> str | None:
        """None once ``daemon`` on ``node`` is up and answers; else what was seen instead
        (``no answer``, ``mode not-serving``), for the error if it never is."""
        raise NotImplementedError

    def ready(self, node: Node) -> str | None:
        """None once ``node`` serves as a member of the cluster (a leader is known, it is in a
        quorum); setup waits for it. Default: answering is enough."""
        return None

    def config_files(self, node: Node) -> dict[str, str]:
        """Files setup writes for ``node``: path (relative to its workdir) -> text."""
        return {}

    def env(self, node: Node, daemon: str) -> dict[str, str]:
        """Environment variables ``daemon`` starts with, on top of the node's."""
        return {}

    def is_primary(self, node: Node) -> bool:
        """Whether ``node`` believes it leads. Default: no node does."""
        return False

    def first_start(self, node: Node) -> None:
        """Start the daemons of a freshly set-up node and wait until it is ``ready``."""
        self.start(node)
        self.wait(node, self.daemons[0], lambda: self.ready(node), "ready")

    # -- for subclasses -------------------------------------------------------------------------

    def start_daemon(self, node: Node, daemon: str) -> None:
        """Spawn ``daemon`` and wait until it is ``answering``."""
        node.spawn(daemon, self.command(node, daemon), env=self.env(node, daemon))
        self.wait(node, daemon, lambda: self.answering(node, daemon), "answering")

    def wait(self, node: Node, daemon: str, probe: Callable[[], str | None], what: str) -> None:
        """Poll ``probe`` until it says None, for up to ``ready_timeout`` s or until ``daemon``
        exits; SetupError with what it said last and the tail of the daemon's log otherwise."""
        ports = self.ports(node)
        where = f"{node.address}:{ports[0]}" + (f"-{ports[-1]}" if len(ports) > 1 else "")
        wait_ready(
            node,
            daemon,
            probe,
            timeout=self.ready_timeout,
            poll=self.poll,
            failure=f"was not {what} at {where}",
            log_file=f"{node.workdir}/{daemon}.log",
        )

    def check_binaries(self, node: Node) -> None:
        """SetupError naming the first of ``binaries`` that ``node`` does not have."""
        if not self.binaries:
            return
        script = (
            'for b in "$@"; do case "$b" in */*) [ -e "$b" ];; *) command -v "$b" >/dev/null;; '
            'esac || { echo "$b"; exit 1; }; done'
        )
        found = node.exec(["sh", "-c", script, "sh", *self.binaries], check=False)
        if found.returncode != 0:
            missing = found.stdout.strip() or " / ".join(self.binaries)
            hint = f": {self.install_hint}" if self.install_hint else ""
            raise SetupError(f"{missing} not found on {node.name}{hint}")


def write_file(node: Node, path: str, text: str) -> None:
    """Write ``text`` to ``path`` on ``node`` (relative to its workdir)."""
    full = path if path.startswith("/") else f"{node.workdir}/{path}"
    node.exec(["sh", "-c", 'printf "%s" "$1" > "$0"', full, text])


def http_check(
    url: str, good: Callable[[Any], bool] | None = None, *, timeout: float = 1.0
) -> str | None:
    """None if a GET of ``url`` answers 2xx (and, with ``good``, its JSON body satisfies it);
    else what came instead, for ``answering`` and ``ready``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            raw = r.read()
    except (OSError, ValueError) as e:  # URLError, HTTPError (4xx, 5xx), a timeout
        return str(e)
    if good is None:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return f"answered {raw[:200]!r}"
    return None if good(body) else f"answered {body!r}"
