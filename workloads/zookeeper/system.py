"""ZooKeeper (Debian's ``zookeeper``, 3.8, Java) as a System, and a register Client through
kazoo. kazoo's Lock and LockingQueue recipes, the ``lock`` and ``queue`` workloads of the same
system, are in ``workloads/zookeeper_lock.py`` and ``workloads/zookeeper_queue.py``.

``ZooKeeperSystem`` runs an ensemble, one server per node, each started from the Debian
package's jars (``QuorumPeerMain``) with its own ``<workdir>/zoo.cfg``, its data and ``myid`` in
``<workdir>/zk-data`` and its log in ``<workdir>/zookeeper.log``; the JVM heap is kept small
(``-Xmx128m``, C1 only, serial GC) because five JVMs share two cores. Clients use port
``port`` (the SystemSpec's), servers talk to each other on ``port + 1`` (quorum) and
``port + 2`` (leader election); where nodes share an address node i uses ``port + 3 i`` ...
It can be killed and restarted on its data, paused, and asked who leads (the ``srvr``
four-letter command: ``Mode: leader``).

``ZooKeeperClient`` keeps one kazoo session with its node's server (no retries: each op is
one attempt) and maps history ops to znodes ``/splitbrain/<key>`` holding a decimal integer::

    read   [k, None]    -> (sync, if options.sync) then get         ok [k, v or None]
    write  [k, v]       -> set (create if absent)                   ok [k, v]
    cas    [k, [a, b]]  -> get -> (value, version); value != a: fail (cas-mismatch);
                           else set b with that version: ok, or BadVersion: fail
    status None         -> srvr on the node's server                 ok {id, role, promise}

A cas is a versioned compare-and-set: the conditional set is a write through the leader, so
it is linearizable even when the get before it was stale (a stale get only turns into a
BadVersion or a mismatch, both definite failures). NoNode / NodeExists / BadVersion are
definite; connection loss, a session that expires under a request and timeouts are ``info``
for write and cas (the request may have reached the leader), ``fail`` for a read, which
changes nothing.

What ZooKeeper promises (https://zookeeper.apache.org/doc/r3.8.0/zookeeperProgrammers.html,
"Consistency Guarantees"): writes are linearizable; reads are sequentially consistent, served
by the server a client is connected to from its own state, and ZooKeeper does not guarantee
that two clients see the same view at the same time (the internals guide: reads are not
linearizable, they may return stale data); a client that needs the latest data calls ``sync``
first. So with ``options: {sync: false}``
a checker that reports stale reads has found the test asking for more than ZooKeeper
promises. With ``sync: true`` reads do what ZooKeeper tells a client that must see the latest
data to do, so an anomaly is worth a bug report; strictly, even sync + read is not a promised
linearizable read (sync is not a quorum round: a leader about to lose its quorum, or paused
and just resumed, answers it from its own state; suites/zookeeper.yaml's zookeeper-sync-pause
has found such stale reads), which the status note says. The ``promises`` checker
(workloads/etcd.py) writes this into results.json.

Clocks: the JVM reads the wall clock through libc (``clock_gettime``), so libfaketime reaches
it and clock faults apply. ZooKeeper 3.8 measures session expiry, tick and sync timeouts with
``System.nanoTime`` (``Time.currentElapsedTime``, CLOCK_MONOTONIC), which the clock nemesis
leaves alone by default, so a stepped wall clock should not expire sessions nor depose a
leader: zookeeper-sync in suites/zookeeper.yaml injects clock faults and expects valid, and
tests/workloads/test_zookeeper.py checks a session and the leader through an hour's step.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clusters.base import Node, SetupError
from harness.history import Op
from workloads.daemon import SingleDaemon, nodes_where, port_bases, wait_ready

__all__ = [
    "DAEMON",
    "JAVA",
    "ZOOKEEPER_JAR",
    "ZooKeeperClient",
    "ZooKeeperSystem",
    "bounded",
    "register",
]

log = logging.getLogger(__name__)
#: kazoo's own log: every dropped connection and reconnection, hundreds per chaos run; the
#: history already records what they did to the operations
_kazoo_log = logging.getLogger("kazoo.splitbrain")
_kazoo_log.setLevel(logging.ERROR)

DAEMON = "zookeeper"
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
ROOT = "/splitbrain"

#: (node name, address) -> (client port, sync reads, session timeout s), from configure
_NODES: dict[tuple[str, str], tuple[int, bool, float]] = {}

PROMISES = {
    True: "reads here call sync first: ZooKeeper promises linearizable writes, and tells a "
    "client that must see the latest data to sync before it reads, so an invalid verdict here "
    "is ZooKeeper breaking its promise, with one caveat to check first: sync is not a quorum "
    "round: a leader about to lose its quorum, or paused and just resumed, answers it from its "
    "own state, so a read after it can be stale in that window, which ZooKeeper does not "
    "promise against (https://zookeeper.apache.org/doc/r3.8.0/"
    "zookeeperProgrammers.html#ch_zkGuarantees)",
    False: "reads here do not call sync: ZooKeeper promises linearizable writes but only "
    "sequentially consistent reads, served from the connected server's own state, which "
    "may be stale (its internals guide: reads are not linearizable); stale reads found here "
    "are the test asking for more than ZooKeeper promises, not a broken promise (writes and "
    "cas go through the leader and are promised linearizable)",
}


class ZooKeeperSystem(SingleDaemon):
    """System + Killable + Pausable + HasPrimaries for a ZooKeeper ensemble, one server per node.

    ``options``: ``sync`` (true, the default: clients sync before every read; false: plain
    reads; workload.options.sync overrides it), ``tick_ms`` (tickTime, default 500),
    ``init_limit`` / ``sync_limit`` (in ticks, default 20 / 4: a follower cut off from the
    leader stops serving after sync_limit ticks), ``session_timeout_ms`` (the clients', default
    4000; ZooKeeper clamps it to 2 .. 20 ticks), ``heap_mb`` (default 128), ``faketime``
    (default true: start under libfaketime so clock faults apply). Setup waits up to
    ``ready_timeout`` seconds for its server to be in a quorum (leader or follower).
    """

    daemon = DAEMON

    def __init__(
        self,
        port: int = 2181,
        *,
        nodes: Sequence[Node] | None = None,
        options: Mapping[str, Any] | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        opts = dict(options or {})
        self.sync = bool(opts.pop("sync", True))
        self.tick_ms = int(opts.pop("tick_ms", 500))
        self.init_limit = int(opts.pop("init_limit", 20))
        self.sync_limit = int(opts.pop("sync_limit", 4))
        self.session_timeout_ms = int(opts.pop("session_timeout_ms", 4000))
        self.heap_mb = int(opts.pop("heap_mb", 128))
        self.faketime = bool(opts.pop("faketime", True))
        if opts:
            raise SetupError(
                f"unknown zookeeper option(s) {sorted(opts)}; allowed: sync, tick_ms, "
                "init_limit, sync_limit, session_timeout_ms, heap_mb, faketime"
            )
        self.port = port
        self.ready_timeout = ready_timeout
        self._nodes: list[Node] = []
        self._ports: dict[str, tuple[int, int, int]] = {}
        if nodes is not None:
            self.configure(list(nodes))

    def configure(self, nodes: list[Node]) -> None:
        """Learn every server (their addresses make the ``server.i`` lines)."""
        bases = port_bases(nodes, self.port, 3)
        self._nodes = list(nodes)
        for n in nodes:
            base = bases[n.name]
            self._ports[n.name] = (base, base + 1, base + 2)
            _NODES[(n.name, n.address)] = (base, self.sync, self.session_timeout_ms / 1000)

    def client_port(self, node: Node) -> int:
        return self._ports[node.name][0]

    # -- System ------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Write a fresh config and myid, start the server and wait until it serves as leader
        or follower of a quorum; raises SetupError otherwise."""
        if node.name not in self._ports:
            raise SetupError(
                f"ZooKeeperSystem does not know node {node.name!r}: pass nodes= or call configure"
            )
        for path in (JAVA, ZOOKEEPER_JAR):
            if shutil.which(path) is None and not _exists(node, path):
                raise SetupError(
                    f"{path} not found on {node.name}: install Debian's zookeeper (./setup "
                    "--tests does)"
                )
        self.kill(node)
        data = self._data_dir(node)
        node.exec(["rm", "-rf", data])
        node.exec(["mkdir", "-p", data])
        myid = [n.name for n in self._nodes].index(node.name) + 1
        _write(node, f"{data}/myid", [str(myid)])
        _write(node, f"{node.workdir}/zoo.cfg", self._config(node))
        _write(node, f"{node.workdir}/log4j.properties", LOG4J_PROPERTIES)
        self._spawn(node)
        self._wait(node, lambda mode: mode in ("leader", "follower", "standalone"), "in a quorum")

    def teardown(self, node: Node) -> None:
        """Kill the server (its data, config and log stay on the node for inspection)."""
        self.kill(node)

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.workdir}/{DAEMON}.log", f"{node.workdir}/zoo.cfg"]

    # -- Killable / Pausable ------------------------------------------------------------

    def start(self, node: Node) -> None:
        """Restart the server on its data; returns once it answers ``srvr`` at all, not once
        it is in a quorum: the rest of the ensemble may still be down or cut off."""
        self._spawn(node)
        self._wait(node, lambda mode: True, "answering")

    # -- HasPrimaries -------------------------------------------------------------------

    def primaries(self, nodes: list[Node]) -> list[Node]:
        """The servers whose ``srvr`` says ``Mode: leader``."""

        def leads(n: Node) -> bool:
            return server_mode(n.address, self.client_port(n), timeout=0.5) == "leader"

        return nodes_where(nodes, leads)

    # -- helpers ------------------------------------------------------------------------

    def _config(self, node: Node) -> list[str]:
        cport, _, _ = self._ports[node.name]
        lines = [
            f"tickTime={self.tick_ms}",
            f"initLimit={self.init_limit}",
            f"syncLimit={self.sync_limit}",
            # relative to the server's working directory, its workdir (spawn runs it there):
            # a workdir may be a relative path, which the JVM would resolve against itself
            "dataDir=./zk-data",
            f"clientPort={cport}",
            f"clientPortAddress={node.address}",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,stat,ruok,mntr",
            f"maxSessionTimeout={20 * self.tick_ms}",
        ]
        if len(self._nodes) > 1:
            for i, n in enumerate(self._nodes, start=1):
                _, peer, elect = self._ports[n.name]
                lines.append(f"server.{i}={n.address}:{peer}:{elect}")
        return lines

    def _spawn(self, node: Node) -> None:
        env: dict[str, str] = {}
        if self.faketime:
            from clusters.clock import faketime_env

            env.update(faketime_env(node))
        node.spawn(DAEMON, self._argv(node), env=env)

    def _argv(self, node: Node) -> list[str]:
        return [
            JAVA,
            f"-Xmx{self.heap_mb}m", "-Xms16m", "-Xss512k",
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

    def _wait(self, node: Node, good: Any, what: str) -> None:
        port = self.client_port(node)

        def probe() -> str | None:
            mode = server_mode(node.address, port, timeout=1.0)
            if mode is not None and good(mode):
                return None
            return f"mode {mode}" if mode else "no answer"

        wait_ready(
            node, DAEMON, probe, timeout=self.ready_timeout, poll=0.2,
            failure=f"was not {what} at {node.address}:{port}", log_file=self.log_files(node)[0],
        )  # fmt: skip

    @staticmethod
    def _data_dir(node: Node) -> str:
        return f"{node.workdir}/zk-data"


def _exists(node: Node, path: str) -> bool:
    try:
        return node.exec(["test", "-e", path], check=False).returncode == 0
    except Exception:  # noqa: BLE001
        return False


def _write(node: Node, path: str, lines: list[str]) -> None:
    node.exec(["sh", "-c", 'printf "%s\\n" "$@" > "$0"', path, *lines])


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


def bounded(call: Callable[[], Any], seconds: float) -> Any:
    """``call()``'s result, or its exception, if it returns within ``seconds``; else
    TimeoutError. The call goes on in a daemon thread: kazoo's recipes (Lock, LockingQueue)
    retry on their own and take no deadline for every request they make, so the recipe
    clients bound them here, and a worker whose op timed out closes its KazooClient, which
    ends whatever the thread still waits on (ConnectionClosedError)."""
    box: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append((True, call()))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box.append((False, e))
        done.set()

    threading.Thread(target=run, name="kazoo-call", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g}s")
    ok, result = box[0]
    if not ok:
        raise result
    return result


class ZooKeeperClient:
    """A register Client with one kazoo session to one server (see the module docstring).

    ``sync``: call sync before every read; None takes the node's ZooKeeperSystem option.
    ``timeout`` bounds each request (seconds) and the wait for a session at open.
    """

    def __init__(self, timeout: float = 2.0, *, sync: bool | None = None) -> None:
        self.timeout = timeout
        self.sync = sync
        self.node: Node | None = None
        self.zk: Any = None
        self._port = 2181
        self._connected = threading.Event()
        #: how many times the connection went down (SUSPENDED or LOST) since open
        self.disconnects = 0

    def open(self, node: Node) -> None:
        """Start a session with the node's server; raises if none within ``timeout``."""
        from kazoo.client import KazooClient

        port, sync, session = _NODES.get((node.name, node.address), (2181, True, 4.0))
        self.node, self._port = node, port
        if self.sync is None:
            self.sync = sync
        # no connection_retry / command_retry: one attempt per op, the history says the rest
        self.zk = KazooClient(
            hosts=f"{node.address}:{port}",
            timeout=session,
            randomize_hosts=False,
            logger=_kazoo_log,
            **self._kazoo_options(),
        )
        self._connected = threading.Event()
        self.zk.add_listener(self._on_state)
        try:
            self.zk.start(timeout=self.timeout)
        except Exception:
            self.close()
            raise

    def _on_state(self, state: str) -> None:
        # kazoo calls this from its connection thread: CONNECTED, SUSPENDED or LOST
        if state == "CONNECTED":
            self._connected.set()
        else:
            self.disconnects += 1
            self._connected.clear()

    def _kazoo_options(self) -> dict[str, Any]:
        """Extra KazooClient arguments (the recipe clients bound kazoo's own retries)."""
        return {}

    def _promise(self) -> str:
        """What ZooKeeper promises to this client, for its ``status`` (the promises note)."""
        return PROMISES[bool(self.sync)]

    def close(self) -> None:
        zk, self.zk = self.zk, None
        if zk is None:
            return

        def stop() -> None:
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001 - a session to a dead server ends anyway
                pass

        # kazoo's stop waits for its connection thread, which may wait on a partitioned or
        # paused server for a session timeout: the worker does not wait with it
        threading.Thread(target=stop, name="kazoo-stop", daemon=True).start()

    def invoke(self, op: Op) -> Op:
        """Perform ``op`` and return its completion (see the module docstring)."""
        from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

        if self.zk is None or self.node is None:
            raise RuntimeError("ZooKeeperClient.invoke before open")
        if op.f == "status":
            return self._status(op)
        if not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
            return op.complete(
                "fail", op.value, error=f"bad-op: expected [key, value], got {op.value!r}"
            )
        key, arg = op.value
        path = f"{ROOT}/{key}"
        if not self._connected.wait(self.timeout):
            # nothing is sent while the connection is down (kazoo would queue it for later);
            # kazoo reconnects in the background, so this waits for that first
            return op.complete("fail", op.value, error="not-connected")
        try:
            if op.f == "read":
                if self.sync:
                    self._do(self.zk.sync_async(path))
                try:
                    data, _ = self._do(self.zk.get_async(path))
                except NoNodeError:
                    return op.complete("ok", [key, None])
                return op.complete("ok", [key, int(data)])
            if op.f == "write":
                v = str(int(arg)).encode()
                try:
                    self._do(self.zk.set_async(path, v))
                except NoNodeError:
                    try:
                        self._create(path, v)
                    except NodeExistsError:  # created in between: set it, as a write does
                        self._do(self.zk.set_async(path, v))
                return op.complete("ok", op.value)
            if op.f == "cas":
                if not isinstance(arg, (list, tuple)) or len(arg) != 2:
                    return op.complete("fail", op.value, error="bad-op: cas needs [k, [a, b]]")
                try:
                    data, stat = self._do(self.zk.get_async(path))
                except NoNodeError:
                    return op.complete("fail", op.value, error="cas-mismatch: no value")
                if int(data) != int(arg[0]):
                    return op.complete("fail", op.value, error="cas-mismatch")
                try:
                    self._do(self.zk.set_async(path, str(int(arg[1])).encode(), stat.version))
                except BadVersionError:
                    return op.complete("fail", op.value, error="cas-bad-version")
                return op.complete("ok", op.value)
        except (NoNodeError, BadVersionError, NodeExistsError) as e:
            return op.complete("fail", op.value, error=type(e).__name__)
        except Exception as e:  # connection loss, session expiry, timeout: maybe applied
            return self._failed(op, f"{type(e).__name__}: {e}".rstrip(": "))
        return op.complete(
            "fail", op.value, error=f"bad-op: zookeeper runs read, write, cas, status; not {op.f!r}"
        )

    def _do(self, async_result: Any) -> Any:
        return async_result.get(timeout=self.timeout)

    def _create(self, path: str, value: bytes) -> None:
        from kazoo.exceptions import NodeExistsError, NoNodeError

        try:
            self._do(self.zk.create_async(path, value))
        except NoNodeError:  # the first key: make the parent once
            try:
                self._do(self.zk.create_async(ROOT, b""))
            except NodeExistsError:
                pass
            self._do(self.zk.create_async(path, value))

    def _failed(self, op: Op, error: str) -> Op:
        # a read has no effect, so a failed one is certainly not a completed one
        return op.complete("fail" if op.f == "read" else "info", op.value, error=error)

    def _status(self, op: Op) -> Op:
        assert self.node is not None
        mode = server_mode(self.node.address, self._port, timeout=self.timeout)
        if mode is None:
            return op.complete("fail", None, error="no-status")
        value = {
            "id": self.node.name,
            "role": mode,
            "sync": bool(self.sync),
            "system": "zookeeper",
            "promise": self._promise(),
        }
        return op.complete("ok", value)


def register() -> list[Any]:
    """The ``zookeeper`` system (register, lock and queue workloads), and the
    ``queue-at-least-once`` checker; its ``promises`` note is etcd's."""
    from harness.spec import SystemSpec, WorkloadSpec
    from workloads.registry import Option, SystemInfo, ms
    from workloads.zookeeper_queue import checker_info

    def make(spec: SystemSpec, nodes: list[Any]) -> ZooKeeperSystem:
        # the SystemSpec's default port (7000) is the reference patterns'; suites say 2181
        return ZooKeeperSystem(spec.port, nodes=nodes, options=spec.options)

    def client(spec: WorkloadSpec) -> ZooKeeperClient:
        sync = spec.options.get("sync")
        return ZooKeeperClient(timeout=spec.timeout, sync=None if sync is None else bool(sync))

    def lock_client(spec: WorkloadSpec) -> ZooKeeperClient:
        from workloads.zookeeper_lock import ZooKeeperLockClient

        return ZooKeeperLockClient(
            timeout=spec.timeout,
            fencing=bool(spec.options.get("fencing", True)),
            patience=float(spec.options.get("patience", 20.0)),
        )

    def queue_client(spec: WorkloadSpec) -> ZooKeeperClient:
        from workloads.zookeeper_queue import ZooKeeperQueueClient

        return ZooKeeperQueueClient(
            timeout=spec.timeout,
            hold=float(spec.options.get("hold", 0.2)),
            wait=float(spec.options.get("wait", 0.1)),
        )

    return [
        SystemInfo(
            "zookeeper",
            "ZooKeeper 3.8 (Debian zookeeper, Java), one server per node; register through "
            "kazoo, cas as a get then a set with the version read. Promises linearizable "
            "writes and sequentially consistent reads: with workload options {sync: false} "
            "reads may be stale by design, so stale reads found then are the test asking for "
            "more than ZooKeeper promises. Also kazoo's Lock recipe (lock workload, options "
            "{fencing: true|false}) and LockingQueue (queue workload, at least once)",
            {},
            make,
            {"register": client, "lock": lock_client, "queue": queue_client},
            checkers=("promises",),
            final_ops=("status",),
            # the server's jars and a headless JRE: Debian's zookeeper package itself would
            # bring the full default-jre (GTK, X11, Mesa: 156 packages, ~550 MB) and a log4j
            # configuration this System writes for itself
            node_packages=("libzookeeper-java", "default-jre-headless"),
            options=(
                Option("sync", bool, True, "clients sync before every read"),
                ms("tick_ms", 500, "ZooKeeper's tickTime"),
                Option("init_limit", int, 20, "initLimit, in ticks", minimum=1),
                Option("sync_limit", int, 4, "syncLimit, in ticks", minimum=1),
                ms("session_timeout_ms", 4000, "the clients' session timeout"),
                Option("heap_mb", int, 128, "the server's Java heap", minimum=16),
                Option("faketime", bool, True, "start under libfaketime (clock faults apply)"),
            ),
            client_options={
                "register": (
                    Option("sync", bool, None, "sync before every read (default: the system's)"),
                ),
                "lock": (
                    Option("fencing", bool, True, "fence what a holder writes"),
                    Option(
                        "patience",
                        float,
                        20.0,
                        "seconds a write or release waits through reconnections",
                        minimum=0,
                    ),
                ),
                "queue": (
                    Option("hold", float, 0.2, "seconds a consumer works on an entry", minimum=0),
                    Option("wait", float, 0.1, "seconds a dequeue waits for an entry", minimum=0),
                ),
            },  # fmt: skip
        ),
        checker_info(),
    ]
