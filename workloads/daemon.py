"""Systems that run daemons on nodes, and a reference pattern as such a System.

Any System: ``SingleDaemon`` kills, pauses and resumes its one daemon; ``kill_daemons``
kills several; ``wait_ready`` waits until a started daemon answers (or fails with what it saw
and the tail of its log); ``nodes_where`` asks every node a question at once (for
``primaries``). The etcd, Redis and ZooKeeper Systems use these.

A reference pattern: ``python3 -m patterns.<module>``, one daemon per node.

Every pattern of ``patterns/`` is built on ``patterns/_runtime``, so they share a command line
(``--id --listen --peers --data``, ``--bug`` for each seeded bug, then the pattern's own
flags) and a ``status`` request. ``PatternSystem`` installs ``patterns/`` on a node, starts,
kills, pauses and resumes the daemon, waits until it answers ``status``, and names the nodes
that say they lead; the Raft store, the lock, lease, election, leader-follower, queue, Paxos
and two-phase-commit Systems are all this class with their module and flags.

The daemon is named after the module: its log is ``<workdir>/<module>.log``, its data
``<workdir>/<module>-data``, and ``patterns/`` is copied to ``<workdir>/code/patterns``.
It needs every node's address for ``--peers``: pass ``nodes=`` to the constructor (as
``make_pattern``, every pattern's ``SystemInfo.make``, does) or call ``configure(nodes)``
before the first ``setup``. Its options are an options dataclass instance, passed on as flags
(``option_flags``); its clients ask it for their node's port (``port_of``).
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clusters import clock
from clusters.base import Node, SetupError
from harness.registry import options_dict
from harness.spec import SystemSpec

__all__ = [
    "DEFAULT_PORT",
    "PATTERNS_DIR",
    "PatternSystem",
    "SingleDaemon",
    "kill_daemons",
    "make_pattern",
    "node_status",
    "nodes_where",
    "option_flags",
    "port_bases",
    "wait_ready",
]

#: the first port of every reference pattern (each SystemInfo's ``default_port``)
DEFAULT_PORT = 7000
#: the directory holding ``_runtime/`` and the patterns, copied to every node
PATTERNS_DIR = Path(__file__).resolve().parents[1] / "patterns"


def make_pattern(
    module: str,
    spec: SystemSpec,
    nodes: Sequence[Node],
    options: Any,
    *,
    is_primary: Callable[[dict[str, Any]], bool] | None = None,
) -> PatternSystem:
    """The ``PatternSystem`` of ``patterns/<module>`` for a suite's ``system`` section: its
    bugs, its port (``DEFAULT_PORT`` when the suite gives none), ``options`` (an instance of
    the system's options dataclass) as flags; ``SystemInfo.make`` of every reference pattern."""
    port = DEFAULT_PORT if spec.port is None else spec.port
    return PatternSystem(
        module, spec.bugs, port, nodes=nodes, options=options, is_primary=is_primary
    )


def port_bases(nodes: Sequence[Node], port: int, per_node: int = 1) -> dict[str, int]:
    """The first of the ``per_node`` ports each member uses: ``port`` on every node when each
    has an address of its own; where several share one (all on one host), node i starts at
    ``port + per_node * i``. Raises SetupError when two nodes have one name."""
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise SetupError(f"node names must be unique, got {names}")
    shared = len({n.address for n in nodes}) < len(nodes)
    return {n.name: port + (per_node * i if shared else 0) for i, n in enumerate(nodes)}


def option_flags(options: Any) -> list[str]:
    """An options dataclass instance (or a mapping) as daemon flags, in field order:
    ``lease_ms=800`` -> ``--lease-ms 800``, a true boolean -> the bare flag, false or None ->
    nothing."""
    items = options_dict(options) if not isinstance(options, Mapping) else dict(options)
    out: list[str] = []
    for key, value in items.items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is not False and value is not None:  # 0 is a value (0 == False)
            out += [flag, str(value)]
    return out


def kill_daemons(node: Node, *names: str, within: float = 5.0) -> None:
    """SIGKILL the process groups of daemons ``names`` on ``node``; returns once none of them
    runs (or after ``within`` seconds)."""
    for name in names:
        node.signal(name, signal.SIGKILL)
    deadline = time.monotonic() + within
    while any(node.alive(name) for name in names) and time.monotonic() < deadline:
        time.sleep(0.02)


def nodes_where(nodes: list[Node], test: Callable[[Node], bool]) -> list[Node]:
    """The nodes for which ``test`` holds, all asked at once (each test may wait on a node
    that does not answer)."""
    if not nodes:
        return []
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        flags = list(pool.map(test, nodes))
    return [n for n, f in zip(nodes, flags, strict=True) if f]


class SingleDaemon:
    """Mixin: Killable's ``kill`` and Pausable for a System that runs one daemon, named
    ``daemon``, on each node."""

    daemon: str

    def kill(self, node: Node) -> None:
        """SIGKILL the daemon's process group; returns once it is gone (at most ~5 s)."""
        kill_daemons(node, self.daemon)

    def pause(self, node: Node) -> None:
        node.signal(self.daemon, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        node.signal(self.daemon, signal.SIGCONT)


def wait_ready(
    node: Node,
    daemon: str,
    probe: Callable[[], str | None],
    *,
    timeout: float,
    failure: str,
    log_file: str | None = None,
    poll: float = 0.1,
) -> None:
    """Poll ``probe`` until it returns None (the daemon is ready), for up to ``timeout`` s or
    until daemon ``daemon`` has exited. ``probe`` returns what it saw otherwise ("no answer",
    "mode follower"). Then raises SetupError: ``<daemon> on <node> exited and <failure>
    within <timeout>s (<what it saw last>)``, with the last 20 lines of ``log_file`` (default
    ``<workdir>/<daemon>.log``)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        seen = probe()
        if seen is None:
            return
        last = seen
        if not node.alive(daemon):
            break
        time.sleep(poll)
    log_file = log_file or f"{node.workdir}/{daemon}.log"
    try:
        tail = node.exec(["tail", "-n", "20", log_file], check=False).stdout
    except Exception as e:  # noqa: BLE001 - the log tail only decorates the error
        tail = f"(could not read the log: {e})"
    state = "is running but" if node.alive(daemon) else "exited and"
    raise SetupError(
        f"{daemon} on {node.name} {state} {failure} within {timeout:g}s ({last}); "
        f"last lines of its log:\n{tail}"
    )


def node_status(host: str, port: int, *, timeout: float = 1.0) -> dict[str, Any] | None:
    """A pattern node's ``status`` value, or None if it does not answer in ``timeout`` s."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b'{"id":1,"type":"status"}\n')
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
        reply = json.loads(buf)
    except (OSError, ValueError):
        return None
    value = reply.get("value") if isinstance(reply, dict) and reply.get("ok") else None
    return value if isinstance(value, dict) else None


class PatternSystem(SingleDaemon):
    """System + Killable + Pausable + HasPrimaries for the pattern ``patterns/<module>``.

    ``bugs`` are passed as ``--bug``, then ``options`` (an options dataclass instance) as
    flags (see ``option_flags``), then ``extra_args``. Every node listens on ``port``; where
    several nodes share one address (all on one host), node i listens on ``port + i``.
    ``primaries`` are the nodes whose ``status`` satisfies ``is_primary`` (by default:
    ``role`` is ``leader``). Setup waits up to ``ready_timeout`` seconds for the daemon to
    answer ``status``.
    """

    def __init__(
        self,
        module: str,
        bugs: Sequence[str] = (),
        port: int = DEFAULT_PORT,
        *,
        nodes: Sequence[Node] | None = None,
        options: Any = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 20.0,
        is_primary: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.module = module
        self.daemon = module
        self.bugs = list(bugs)
        self.port = port
        self.extra_args = option_flags(options or {}) + list(extra_args)
        self.ready_timeout = ready_timeout
        self.is_primary = is_primary or (lambda st: st.get("role") == "leader")
        self._nodes: list[Node] = []
        self._ports: dict[str, int] = {}
        if nodes is not None:
            self.configure(list(nodes))

    def configure(self, nodes: list[Node]) -> None:
        """Learn every member of the cluster (their names and addresses make ``--peers``)."""
        self._ports = port_bases(nodes, self.port)
        self._nodes = list(nodes)

    def port_of(self, node: Node) -> int:
        """The port ``node``'s daemon listens on (HasPorts); SetupError for a node it was not
        configured with."""
        port = self._ports.get(node.name)
        if port is None:
            raise SetupError(
                f"{self.module} does not know node {node.name!r}: pass nodes= or call "
                f"configure(nodes) with every node first (it knows {sorted(self._ports)})"
            )
        return port

    # -- System ------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Install a fresh copy of ``patterns/`` and an empty data directory, start the
        daemon and wait until it answers ``status``; raises SetupError otherwise."""
        self.port_of(node)  # a SetupError for a node it was not configured with
        code, data = self._code_dir(node), self.data_dir(node)
        self.kill(node)  # a daemon left from an earlier setup must not see its files go
        node.exec(["rm", "-rf", code, data])
        node.exec(["mkdir", "-p", code, data])
        node.put(PATTERNS_DIR, f"{code}/patterns")
        self.start(node)

    def teardown(self, node: Node) -> None:
        """Kill the daemon (its data and log stay on the node for inspection)."""
        self.kill(node)

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.workdir}/{self.daemon}.log"]

    # -- Killable / Pausable -------------------------------------------------------------

    def start(self, node: Node) -> None:
        """Start the daemon on its existing data and wait until it answers ``status``."""
        node.spawn(self.daemon, self._argv(node), env=self._env(node), cwd=self._code_dir(node))
        self._wait_ready(node)

    # -- HasPrimaries ----------------------------------------------------------------------

    def primaries(self, nodes: list[Node]) -> list[Node]:
        """The nodes whose status says they are primary (a paused or dead node is not)."""

        def primary(n: Node) -> bool:
            st = node_status(n.address, self.port_of(n), timeout=0.5)
            return st is not None and self.is_primary(st)

        return nodes_where(nodes, primary)

    # -- helpers ------------------------------------------------------------------------

    def _argv(self, node: Node) -> list[str]:
        python = getattr(node, "python", "python3")
        peers = ",".join(f"{n.name}={n.address}:{self._ports[n.name]}" for n in self._nodes)
        argv = [
            python, "-m", f"patterns.{self.module}",
            "--id", node.name,
            "--listen", f"0.0.0.0:{self._ports[node.name]}",
            "--peers", peers,
            "--data", self.data_dir(node),
        ]  # fmt: skip
        for bug in self.bugs:
            argv += ["--bug", bug]
        return argv + self.extra_args

    def _env(self, node: Node) -> dict[str, str]:
        env = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        env.update(clock.faketime_env(node))
        return env

    def _wait_ready(self, node: Node) -> None:
        port = self.port_of(node)

        def probe() -> str | None:
            return None if node_status(node.address, port, timeout=0.5) is not None else "no answer"

        wait_ready(
            node,
            self.daemon,
            probe,
            timeout=self.ready_timeout,
            failure=f"did not answer status on {node.address}:{port}",
        )

    def _code_dir(self, node: Node) -> str:
        return f"{node.workdir}/code"

    def data_dir(self, node: Node) -> str:
        """Where the daemon keeps its durable state on ``node`` (``HasData``)."""
        return f"{node.workdir}/{self.module}-data"


class SettlingSystem(PatternSystem):
    """A ``PatternSystem`` of replicas that converge (vector clocks, CRDTs): ``settle`` is how
    long (seconds) a final read may wait for them to agree, from the system's ``settle_ms``
    option."""

    def __init__(self, *args: Any, settle: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settle = settle

    @classmethod
    def maker(cls, module: str) -> Callable[[Any, Sequence[Node], Any], Any]:
        """``SystemInfo.make`` for ``patterns/<module>``: the suite's port (or the default),
        its bugs, every node, the options, and ``settle`` from ``options.settle_ms``."""

        def make(spec: Any, nodes: Sequence[Node], options: Any) -> Any:
            port = DEFAULT_PORT if spec.port is None else spec.port
            settle = options.settle_ms / 1000
            return cls(module, spec.bugs, port, nodes=nodes, options=options, settle=settle)

        return make
