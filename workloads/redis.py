"""Redis (Debian's ``redis-server``, 7.0) with Sentinel failover as a System; register and set
clients through redis-py; and the ``set`` workload (unique adds, then a final read).

``RedisSystem`` runs, on every node, a ``redis-server`` (daemon ``redis``, port ``port``) and a
``redis-sentinel`` (daemon ``sentinel``, port ``port + 1``). The first node starts as the
primary, the others as its replicas; the sentinels (quorum: a majority of nodes) watch it
and promote a replica when a majority of them cannot reach it. Config files, data and logs
live in the node's workdir (``redis.conf``, ``sentinel.conf``, which Sentinel rewrites on a
failover, ``redis.log``, ``sentinel.log``).

A client asks the sentinel on its own node which server is the primary, before every
operation, and sends the operation there, as a Sentinel-aware application does::

    read   [k, None]     -> GET k                      ok [k, v or None]
    write  [k, v]        -> SET k v                    ok
    cas    [k, [a, b]]   -> a Lua script: GET, compare, SET      ok, or fail (cas-mismatch)
    add    e             -> SADD splitbrain-set e      ok
    read   None          -> SMEMBERS splitbrain-set    ok [e, ...]   (the set workload)
    status None          -> ROLE on the node's server  ok {role, system, promise}

What Redis promises (https://redis.io/docs/latest/operate/oss_and_stack/management/replication/
and .../sentinel/): replication is asynchronous, so "Redis Sentinel + Redis replication does
not guarantee that acknowledged writes are retained during failures"; after a partition, the
old primary's writes are discarded when it rejoins as a replica. Lost acknowledged writes and
non-linearizable histories found under partitions are therefore what Redis documents, not a
broken promise: the ``promises`` note in results.json says so.

No clock faults: redis-server started under libfaketime hangs at start (a known conflict
between libfaketime's preload and jemalloc, Redis' allocator), so the suite leaves them out.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clusters.base import Node, SetupError
from harness.generator import Context, Generator, each_thread, once
from harness.history import Op
from harness.spec import WorkloadSpec
from workloads.daemon import kill_daemons, port_bases, wait_ready

__all__ = ["RedisClient", "RedisSystem", "SetOps", "register"]

log = logging.getLogger(__name__)

MASTER = "splitbrain"
SET_KEY = "splitbrain-set"
DAEMONS = ("redis", "sentinel")

PROMISE = (
    "Redis replicates asynchronously and documents that Sentinel failover does not retain "
    "every acknowledged write (https://redis.io/docs/latest/operate/oss_and_stack/management/"
    "sentinel/): lost acknowledged writes and stale or impossible reads under partitions are "
    "what Redis promises, so an invalid verdict here is the test asking for more than Redis "
    "promises, not a broken promise"
)

#: (node name, address) -> (redis port, sentinel port), filled by RedisSystem.configure
_NODES: dict[tuple[str, str], tuple[int, int]] = {}

_CAS = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0
"""


class RedisSystem:
    """System + Killable + Pausable + HasPrimaries: a Redis primary, replicas and sentinels.

    ``options``: ``down_after_ms`` (Sentinel's down-after-milliseconds, default 1000),
    ``failover_timeout_ms`` (default 3000), ``appendonly`` (default false: Redis' default
    persistence). Setup waits up to ``ready_timeout`` seconds for the server and sentinel.
    """

    def __init__(
        self,
        port: int = 6379,
        *,
        nodes: Sequence[Node] | None = None,
        options: Mapping[str, Any] | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        opts = dict(options or {})
        self.down_after_ms = int(opts.pop("down_after_ms", 1000))
        self.failover_timeout_ms = int(opts.pop("failover_timeout_ms", 3000))
        self.appendonly = bool(opts.pop("appendonly", False))
        if opts:
            raise SetupError(
                f"unknown redis option(s) {sorted(opts)}; allowed: down_after_ms, "
                "failover_timeout_ms, appendonly"
            )
        self.port = port
        self.ready_timeout = ready_timeout
        self._nodes: list[Node] = []
        self._ports: dict[str, tuple[int, int]] = {}
        if nodes is not None:
            self.configure(list(nodes))

    def configure(self, nodes: list[Node]) -> None:
        bases = port_bases(nodes, self.port, 2)
        self._nodes = list(nodes)
        for n in nodes:
            base = bases[n.name]
            self._ports[n.name] = (base, base + 1)
            _NODES[(n.name, n.address)] = (base, base + 1)

    # -- System ------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Write fresh configs, start the server (primary on the first node, replica on the
        others) and its sentinel, and wait until both answer PING."""
        found = node.exec(
            ["sh", "-c", "command -v redis-server && command -v redis-sentinel"], check=False
        )
        if found.returncode != 0:
            raise SetupError(
                f"redis-server / redis-sentinel not found on {node.name}: ./setup --tests "
                "installs them (the docker backend's image for redis has them)"
            )
        self.kill(node)
        wd = node.workdir
        node.exec(["rm", "-rf", f"{wd}/redis-data"])
        node.exec(["mkdir", "-p", f"{wd}/redis-data"])
        primary = self._nodes[0]
        rport, sport = self._ports[node.name]
        conf = [
            f"bind {node.address}",
            f"port {rport}",
            "protected-mode no",
            f"dir {wd}/redis-data",
            'save ""',
            f"appendonly {'yes' if self.appendonly else 'no'}",
            f"replica-announce-ip {node.address}",
            # Redis' default waits 5 s before a full sync; a replica that is not in sync yet
            # when the first fault comes would make every write so far look lost
            "repl-diskless-sync-delay 0",
        ]
        if node.name != primary.name:
            conf.append(f"replicaof {primary.address} {self._ports[primary.name][0]}")
        quorum = len(self._nodes) // 2 + 1
        sconf = [
            f"bind {node.address}",
            f"port {sport}",
            "protected-mode no",
            f"dir {wd}/redis-data",
            f"sentinel announce-ip {node.address}",
            f"sentinel monitor {MASTER} {primary.address} {self._ports[primary.name][0]} {quorum}",
            f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}",
            f"sentinel failover-timeout {MASTER} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER} {len(self._nodes)}",
        ]
        _write(node, "redis.conf", conf)
        _write(node, "sentinel.conf", sconf)
        self._start_server(node)
        self._wait_replicated(node)
        self._start_sentinel(node)
        self._wait_sentinels(node)

    def _wait_replicated(self, node: Node) -> None:
        """Until the primary has every replica online (and this one, a replica, its link up).

        The sentinels start only then: a sentinel learns the replicas from the primary's
        INFO, which it asks for when it connects and then every 10 s, and one that connected
        before the replicas did would know none of them for 10 s; a primary killed then is
        never replaced ("-failover-abort-no-good-slave", seen in CI)."""
        import redis

        want = len(self._nodes) - 1
        primary = self._nodes[0]

        def check() -> str | None:
            r = redis.Redis(node.address, self._ports[node.name][0], socket_timeout=0.5)
            p = redis.Redis(primary.address, self._ports[primary.name][0], socket_timeout=0.5)
            try:
                info, pinfo = r.info("replication"), p.info("replication")
            finally:
                r.close()
                p.close()
            online = sum(
                1 for k, v in pinfo.items()
                if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
            )  # fmt: skip
            if info.get("role") != "master" and info.get("master_link_status") != "up":
                return f"link to the primary {info.get('master_link_status')}"
            if online < want:
                return f"{online} of {want} replicas online at the primary"
            return None

        self._wait_for(node, check)

    def _wait_sentinels(self, node: Node) -> None:
        """Until this node's sentinel knows every other sentinel (they find each other
        through the primary, every 2 s) and every replica, so that the first fault meets a
        cluster that can fail over."""
        import redis

        want = len(self._nodes) - 1

        def check() -> str | None:
            s = redis.Redis(node.address, self._ports[node.name][1], socket_timeout=0.5)
            try:
                peers = len(s.execute_command("SENTINEL", "SENTINELS", MASTER))
                replicas = len(s.execute_command("SENTINEL", "REPLICAS", MASTER))
            finally:
                s.close()
            if peers >= want and replicas >= want:
                return None
            return (
                f"its sentinel knows {peers} of {want} other sentinels, {replicas} of {want} "
                "replicas"
            )

        self._wait_for(node, check)

    def _wait_for(self, node: Node, check: Callable[[], str | None]) -> None:
        """Until ``check`` says nothing is missing (None), or SetupError with what it said."""
        import redis

        deadline = time.monotonic() + self.ready_timeout
        state = ""
        while time.monotonic() < deadline:
            try:
                missing = check()
                if missing is None:
                    return
                state = missing
            except redis.RedisError as e:
                state = str(e)
            time.sleep(0.2)
        raise SetupError(
            f"redis on {node.name} was not in sync within {self.ready_timeout:g}s ({state})"
        )

    def teardown(self, node: Node) -> None:
        self.kill(node)

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.workdir}/{d}.log" for d in DAEMONS] + [f"{node.workdir}/sentinel.conf"]

    # -- Killable / Pausable: the server and its sentinel go down together, as on a host
    # that crashes or stalls

    def kill(self, node: Node) -> None:
        kill_daemons(node, *DAEMONS)

    def start(self, node: Node) -> None:
        self._start_server(node)
        self._start_sentinel(node)

    def _start_server(self, node: Node) -> None:
        node.spawn("redis", ["redis-server", f"{node.workdir}/redis.conf"])
        self._wait(node, self._ports[node.name][0], "redis")

    def _start_sentinel(self, node: Node) -> None:
        node.spawn("sentinel", ["redis-sentinel", f"{node.workdir}/sentinel.conf"])
        self._wait(node, self._ports[node.name][1], "sentinel")

    def pause(self, node: Node) -> None:
        for d in DAEMONS:
            node.signal(d, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        for d in DAEMONS:
            node.signal(d, signal.SIGCONT)

    # -- HasPrimaries -------------------------------------------------------------------

    def primaries(self, nodes: list[Node]) -> list[Node]:
        """The nodes whose server says ROLE master (after a partition, maybe several)."""
        import redis

        found = []
        for n in nodes:
            try:
                r = redis.Redis(n.address, self._ports[n.name][0], socket_timeout=0.5)
                if r.execute_command("ROLE")[0] in (b"master", "master"):
                    found.append(n)
                r.close()
            except redis.RedisError:
                pass
        return found

    def _wait(self, node: Node, port: int, daemon: str) -> None:
        import redis

        def probe() -> str | None:
            try:
                r = redis.Redis(node.address, port, socket_timeout=0.5)
                r.ping()
                r.close()
            except redis.RedisError as e:
                return str(e)
            return None

        wait_ready(
            node, daemon, probe, timeout=self.ready_timeout,
            failure=f"did not answer PING on {node.address}:{port}",
        )  # fmt: skip


def _write(node: Node, name: str, lines: list[str]) -> None:
    node.exec(["sh", "-c", 'printf "%s\\n" "$@" > "$0"', f"{node.workdir}/{name}", *lines])


class RedisClient:
    """Talks to whichever server the sentinel on its node names as primary (see the module
    docstring). ``timeout`` bounds each request. Errors the server returns before doing
    anything (READONLY on a replica, a refused connection) complete as ``fail``; a timeout or
    a dropped connection during a write is ``info``; a failed read is ``fail``."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.node: Node | None = None
        self._sentinel: Any = None
        self._servers: dict[tuple[str, int], Any] = {}
        self._cas: Any = None

    def open(self, node: Node) -> None:
        import redis

        self.node = node
        rport, sport = _NODES.get((node.name, node.address), (6379, 6380))
        self._rport = rport
        self._sentinel = redis.Redis(node.address, sport, socket_timeout=self.timeout,
                                     socket_connect_timeout=self.timeout)  # fmt: skip

    def close(self) -> None:
        for r in [self._sentinel, *self._servers.values()]:
            try:
                r.close()
            except Exception:  # noqa: BLE001
                pass
        self._servers.clear()

    def invoke(self, op: Op) -> Op:
        import redis

        if self.node is None:
            raise RuntimeError("RedisClient.invoke before open")
        if op.f == "status":
            return self._status(op)
        try:
            addr = self._sentinel.execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
        except redis.RedisError as e:
            return op.complete("fail", op.value, error=f"no-primary: sentinel: {e}")
        if not addr:
            return op.complete("fail", op.value, error="no-primary")
        host, port = _text(addr[0]), int(addr[1])
        r = self._servers.get((host, port))
        if r is None:
            r = self._servers[(host, port)] = redis.Redis(
                host, port, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        try:
            return self._do(r, op)
        except redis.ReadOnlyError:
            return op.complete("fail", op.value, error="readonly-replica")
        except redis.ConnectionError as e:
            if "refused" in str(e).lower() or "connecting to" in str(e).lower():
                return op.complete("fail", op.value, error=f"connect-failed: {e}")
            return self._failed(op, f"connection: {e}")
        except redis.TimeoutError:
            return self._failed(op, "timeout")
        except redis.ResponseError as e:
            # errors Redis answers before executing (wrong type, MASTERDOWN, LOADING, ...)
            return op.complete("fail", op.value, error=f"error: {e}")

    def _do(self, r: Any, op: Op) -> Op:
        if op.f == "add":
            r.sadd(SET_KEY, int(op.value))
            return op.complete("ok", op.value)
        if op.f == "read" and op.value is None:
            return op.complete("ok", sorted(int(x) for x in r.smembers(SET_KEY)))
        if not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
            return op.complete("fail", op.value, error=f"bad-op: {op.value!r}")
        key, arg = op.value
        k = f"splitbrain/{key}"
        if op.f == "read":
            v = r.get(k)
            return op.complete("ok", [key, None if v is None else int(v)])
        if op.f == "write":
            r.set(k, int(arg))
            return op.complete("ok", op.value)
        if op.f == "cas":
            done = r.eval(_CAS, 1, k, str(int(arg[0])), str(int(arg[1])))
            if int(done) == 1:
                return op.complete("ok", op.value)
            return op.complete("fail", op.value, error="cas-mismatch")
        return op.complete("fail", op.value, error=f"bad-op: redis runs no {op.f!r}")

    def _failed(self, op: Op, error: str) -> Op:
        return op.complete("fail" if op.f == "read" else "info", op.value, error=error)

    def _status(self, op: Op) -> Op:
        import redis

        assert self.node is not None
        try:
            r = redis.Redis(self.node.address, self._rport, socket_timeout=self.timeout)
            role = _text(r.execute_command("ROLE")[0])
            r.close()
        except redis.RedisError as e:
            return op.complete("fail", None, error=str(e))
        value = {"id": self.node.name, "role": role, "system": "redis", "promise": PROMISE}
        return op.complete("ok", value)


def _text(b: Any) -> str:
    return b.decode() if isinstance(b, bytes) else str(b)


class SetOps:
    """Adds of unique integers (0, 1, 2, ...), for the ``set`` workload."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.next = 0

    def op(self, ctx: Context) -> dict[str, Any]:
        self.next += 1
        return {"f": "add", "value": self.next - 1}


def _set_generators(spec: WorkloadSpec) -> tuple[Generator, Generator | None]:
    from harness.generator import stagger

    ops = SetOps(spec)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, each_thread(lambda: once("read"))


def register() -> list[Any]:
    """The ``redis`` system (register and set workloads), the ``set`` workload and checker."""
    from harness.spec import SystemSpec
    from workloads.registry import CheckerInfo, Option, SystemInfo, WorkloadInfo, ms

    def make(spec: SystemSpec, nodes: list[Any]) -> RedisSystem:
        return RedisSystem(spec.port, nodes=nodes, options=spec.options)

    def client(spec: WorkloadSpec) -> RedisClient:
        return RedisClient(timeout=spec.timeout)

    def set_checker(**_: Any) -> Any:
        from checkers.jepsen.sets import SetChecker

        return SetChecker()

    return [
        SystemInfo(
            "redis",
            "Redis 7 (Debian redis-server): a primary, replicas and Sentinel failover; clients "
            "follow the sentinel's primary. Asynchronous replication: Redis documents that "
            "failover may lose acknowledged writes, so lost writes found are not a broken "
            "promise",
            {},
            make,
            {"register": client, "set": client},
            checkers=("promises",),
            final_ops=("status",),
            node_packages=("redis-server", "redis-sentinel"),
            options=(
                ms("down_after_ms", 1000, "Sentinel's down-after-milliseconds"),
                ms("failover_timeout_ms", 3000, "Sentinel's failover-timeout"),
                Option("appendonly", bool, False, "Redis' appendonly persistence"),
            ),
        ),
        WorkloadInfo(
            "set",
            "adds of unique integers to one set, then every thread reads it once after the "
            "final heal: which acknowledged adds are missing",
            _set_generators,
            ("set", "stats"),
            options=(),
        ),
        CheckerInfo(
            "set",
            "the final read holds every acknowledged add and nothing never attempted; lists "
            "the lost ones",
            set_checker,
        ),
    ]
