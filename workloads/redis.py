"""Redis (Debian's ``redis-server``, 7.0) with Sentinel failover: the ``redis`` system
(``REDIS``), and its client through redis-py for the register and set workloads.

``RedisSystem`` runs, on every node, a ``redis-server`` (daemon ``redis``, the node's first
port) and a ``redis-sentinel`` (daemon ``sentinel``, the next port). The first node starts as the
primary, the others as its replicas; the sentinels (quorum: a majority of nodes) watch it
and promote a replica when a majority of them cannot reach it. Config files, data and logs
live in the node's workdir (``redis.conf``, ``sentinel.conf``, which Sentinel rewrites on a
failover, ``redis.log``, ``sentinel.log``).

A client asks the sentinel on its own node which server is the primary, before every
operation, and sends the operation there, as a Sentinel-aware application does; with the
register client option ``reads: replica``, its reads go instead to its own node's server (a
replica, unless that node is the primary now), as an application that reads from replicas
does, while writes and cas still go to the primary::

    read   [k, None]     -> GET k                      ok [k, v or None]
    write  [k, v]        -> SET k v                    ok
    cas    [k, [a, b]]   -> a Lua script: GET, compare, SET      ok, or fail (cas-mismatch)
    add    e             -> SADD splitbrain-set e      ok
    read   None          -> SMEMBERS splitbrain-set    ok [e, ...]   (``workloads/set.py``)
    status None          -> ROLE on the node's server  ok {role, system, promise, models}

Every completion an op sent to the primary names the node whose server answered (``server``);
a replica read is answered by the client's own node, the op's ``node``.

What Redis promises (https://redis.io/docs/latest/operate/oss_and_stack/management/replication/
and .../sentinel/): replication is asynchronous, so "Redis Sentinel + Redis replication does
not guarantee that acknowledged writes are retained during failures"; after a partition, the
old primary's writes are discarded when it rejoins as a replica. Lost acknowledged writes and
non-linearizable histories found under partitions are therefore what Redis documents, not a
broken promise: the ``promises`` note in results.json says so.

Replica reads: Redis claims no consistency model for them (``REPLICA_PROMISE``, ``models``
empty). "Redis uses by default asynchronous replication" (its replication page), so a replica
may not have a write its client just had acknowledged by the primary (no read-your-writes,
even with no fault); a replica cut off from its primary keeps answering "possibly with out of
date data, or the data set may just be empty if this is the first synchronization"
(redis.conf, ``replica-serve-stale-data``); and after a failover that drops
acknowledged writes, a server that had them (the old primary, or a replica ahead of the one
promoted) resynchronizes from the new primary and loses them, so even one client reading one
server can see a value and then an older one (no monotonic reads across a failover). The one
order Redis does keep, a replica applying its primary's stream in the order it was sent, holds
only while neither a failover nor a full resynchronization comes between two reads: not a
promise a test with failovers can check.

After the final heal, every server is read alone once each replica has processed the
primary's replication offset (``RedisSystem.member_states``, ``workloads/redis_members.py``),
and the ``members`` checker compares their keys: a replica that kept a write its primary does
not have (or lost one) is named with the key.

No clock faults: redis-server started under libfaketime hangs at start (a known conflict
between libfaketime's preload and jemalloc, Redis' allocator), so the suite leaves them out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from clusters.base import Node
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, option
from harness.spec import WorkloadSpec
from workloads.binary import BinarySystem, extra_args
from workloads.options import ms
from workloads.redis_members import read_members
from workloads.system import MemberState

# redis-py is imported where it is used: it is optional (./setup --tests installs it), and the
# system registers, and ``splitbrain list`` shows it, without it

__all__ = [
    "DEFAULT_PORT",
    "PROMISE",
    "READS",
    "REDIS",
    "REPLICA_PROMISE",
    "RedisClient",
    "RedisOptions",
    "RedisRegisterOptions",
    "RedisSystem",
    "make_client",
    "make_register_client",
]

log = logging.getLogger(__name__)

DEFAULT_PORT = 6379
MASTER = "splitbrain"
SET_KEY = "splitbrain-set"
SERVER, SENTINEL = "redis", "sentinel"

PROMISE = (
    "Redis replicates asynchronously and documents that Sentinel failover does not retain "
    "every acknowledged write (https://redis.io/docs/latest/operate/oss_and_stack/management/"
    "sentinel/): lost acknowledged writes and stale or impossible reads under partitions are "
    "what Redis promises, so an invalid verdict here is the test asking for more than Redis "
    "promises, not a broken promise"
)

REPLICA_PROMISE = (
    "reads here go to the client's own node's server, a replica: Redis replicates "
    "asynchronously (https://redis.io/docs/latest/operate/oss_and_stack/management/"
    "replication/), a replica cut off from its primary serves 'possibly out of date data' "
    "(replica-serve-stale-data), and a failover may drop acknowledged writes that a replica or "
    "the old primary had shown (https://redis.io/docs/latest/operate/oss_and_stack/management/"
    "sentinel/), so Redis promises replica reads none of the session guarantees: not "
    "read-your-writes (the write went to the primary), not even monotonic reads on one server "
    "across a failover; anomalies found here are the test asking for more than Redis promises"
)

#: where a register client's reads go: the primary the sentinel names, or the node's own server
READS = ("primary", "replica")

_CAS = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0
"""


@dataclass(frozen=True)
class RedisOptions:
    """``system.options`` of Redis."""

    down_after_ms: int = ms(1000, "Sentinel's down-after-milliseconds")
    failover_timeout_ms: int = ms(3000, "Sentinel's failover-timeout")
    appendonly: bool = option(False, "Redis' appendonly persistence")
    extra_args: tuple[str, ...] = extra_args()
    members_wait_s: float = option(
        30.0,
        "seconds to wait after the final heal for every replica to reach the primary's "
        "replication offset, before each server's keys are read (the members checker)",
        minimum=0,
    )


class RedisSystem(BinarySystem):
    """System + Killable + Pausable + HasPrimaries: a Redis primary, replicas and sentinels.

    ``options`` (RedisOptions): Sentinel's ``down_after_ms`` and ``failover_timeout_ms``,
    ``appendonly`` (default false: Redis' default persistence), ``extra_args`` (appended to
    redis-server's command line, e.g. ``[--maxmemory, 64mb]``; not the sentinel's) and
    ``members_wait_s`` (MemberStates: how long the harness waits after the final heal for the
    replicas to catch up before every server's keys are compared). Setup waits up to
    ``ready_timeout`` seconds for each step. A node's server and its sentinel are killed,
    paused and restarted together, as on a host that crashes or stalls.
    """

    daemons = (SERVER, SENTINEL)
    binaries = ("redis-server", "redis-sentinel")
    install_hint = "./setup --tests installs them (the docker backend's image for redis has them)"
    ports_per_node = 2
    default_port = DEFAULT_PORT
    data_dir_name = "redis-data"
    #: Sentinel rewrites its config on a failover: what it learnt is kept with the logs
    collected_files = ("sentinel.conf",)
    ready_timeout = 20.0
    options_type = RedisOptions
    options: RedisOptions

    @property
    def primary(self) -> Node:
        """The node that starts as the primary: the first."""
        return self.nodes[0]

    def config_files(self, node: Node) -> dict[str, str]:
        rport, sport = self.ports(node)
        data = self.data_dir(node)
        primary, pport = self.primary.address, self.ports(self.primary)[0]
        conf = [
            f"bind {node.address}",
            f"port {rport}",
            "protected-mode no",
            f"dir {data}",
            'save ""',
            f"appendonly {'yes' if self.options.appendonly else 'no'}",
            f"replica-announce-ip {node.address}",
            # Redis' default waits 5 s before a full sync; a replica that is not in sync yet
            # when the first fault comes would make every write so far look lost
            "repl-diskless-sync-delay 0",
        ]
        if node.name != self.primary.name:
            conf.append(f"replicaof {primary} {pport}")
        quorum = len(self.nodes) // 2 + 1
        sconf = [
            f"bind {node.address}",
            f"port {sport}",
            "protected-mode no",
            f"dir {data}",
            f"sentinel announce-ip {node.address}",
            f"sentinel monitor {MASTER} {primary} {pport} {quorum}",
            f"sentinel down-after-milliseconds {MASTER} {self.options.down_after_ms}",
            f"sentinel failover-timeout {MASTER} {self.options.failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER} {len(self.nodes)}",
        ]
        return {"redis.conf": _text_of(conf), "sentinel.conf": _text_of(sconf)}

    def argv(self, node: Node, daemon: str) -> list[str]:
        if daemon == SERVER:
            return ["redis-server", f"{node.workdir}/redis.conf"]
        return ["redis-sentinel", f"{node.workdir}/sentinel.conf"]

    def answering(self, node: Node, daemon: str) -> str | None:
        """The daemon answers PING."""
        port = self.ports(node)[0 if daemon == SERVER else 1]
        return _asking(lambda: _ping(node.address, port))

    def first_start(self, node: Node) -> None:
        """The server (primary on the first node, replica on the others), then, once the
        primary has every replica online, the sentinel, then until it knows every other
        sentinel and every replica.

        The sentinels start only once replication is up: a sentinel learns the replicas from
        the primary's INFO, which it asks for when it connects and then every 10 s, and one
        that connected before the replicas did would know none of them for 10 s; a primary
        killed then is never replaced ("-failover-abort-no-good-slave", seen in CI)."""
        self.start_daemon(node, SERVER)
        self.wait(node, SERVER, lambda: _asking(lambda: self._replicated(node)), "in sync")
        self.start_daemon(node, SENTINEL)
        self.wait(
            node, SENTINEL, lambda: _asking(lambda: self._sentinel_knows_all(node)), "in sync"
        )

    def is_primary(self, node: Node) -> bool:
        """Its server says ROLE master (after a partition, several may)."""
        import redis

        try:
            r = _connect(*self.endpoint(node))
            try:
                return _text(r.execute_command("ROLE")[0]) == "master"
            finally:
                r.close()
        except redis.RedisError:
            return False

    # -- MemberStates ------------------------------------------------------------------------

    @property
    def members_wait_s(self) -> float:
        """Seconds the harness waits for the replicas to reach the primary's offset."""
        return self.options.members_wait_s

    def member_states(self, nodes: Sequence[Node], timeout: float) -> dict[str, MemberState]:
        """Each server among ``nodes`` read alone: its replication offset against the
        primary's, and its keys (``workloads.redis_members``)."""
        return read_members({n.name: self.endpoint(n) for n in nodes}, timeout)

    def _replicated(self, node: Node) -> str | None:
        """None once the primary has every replica online (and this node, a replica, its
        link up); else what is missing."""
        want = len(self.nodes) - 1
        r, p = _connect(*self.endpoint(node)), _connect(*self.endpoint(self.primary))
        try:
            info, pinfo = r.info("replication"), p.info("replication")
        finally:
            r.close()
            p.close()
        online = sum(
            1
            for k, v in pinfo.items()
            if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
        )
        if info.get("role") != "master" and info.get("master_link_status") != "up":
            return f"link to the primary {info.get('master_link_status')}"
        if online < want:
            return f"{online} of {want} replicas online at the primary"
        return None

    def _sentinel_knows_all(self, node: Node) -> str | None:
        """None once this node's sentinel knows every other sentinel (they find each other
        through the primary, every 2 s) and every replica, so that the first fault meets a
        cluster that can fail over."""
        want = len(self.nodes) - 1
        s = _connect(node.address, self.ports(node)[1])
        try:
            peers = len(s.execute_command("SENTINEL", "SENTINELS", MASTER))
            replicas = len(s.execute_command("SENTINEL", "REPLICAS", MASTER))
        finally:
            s.close()
        if peers >= want and replicas >= want:
            return None
        return (
            f"its sentinel knows {peers} of {want} other sentinels, {replicas} of {want} replicas"
        )


@dataclass(frozen=True)
class RedisRegisterOptions:
    """``workload.options`` Redis' register client reads."""

    reads: str = option(
        "primary",
        "where reads go: the primary the sentinel names, or the node's own server (a replica)",
        choices=READS,
    )


def make_client(spec: WorkloadSpec, options: NoOptions, system: RedisSystem) -> RedisClient:
    """The client of a set test (every op to the primary)."""
    return RedisClient(system, timeout=spec.timeout)


def make_register_client(
    spec: WorkloadSpec, options: RedisRegisterOptions, system: RedisSystem
) -> RedisClient:
    """The client of a register test: reads to the primary or to the node's own server."""
    return RedisClient(system, timeout=spec.timeout, reads=options.reads)


REDIS = SystemInfo(
    name="redis",
    description="Redis 7 (Debian redis-server): a primary, replicas and Sentinel failover; "
    "clients follow the sentinel's primary (register reads from the node's own server, a "
    "replica, with workload options {reads: replica}). Asynchronous replication: Redis "
    "documents that failover may lose acknowledged writes, so lost writes found are not a "
    "broken promise, and it promises replica reads no session guarantee",
    make=RedisSystem.make,
    clients={"register": make_register_client, "set": make_client},
    options=RedisOptions,
    client_options={"register": RedisRegisterOptions},
    default_port=DEFAULT_PORT,
    checkers=("promises", "members"),
    final_ops=("status",),
    node_packages=("redis-server", "redis-sentinel"),
    unreachable={
        kind: "redis-server hangs at start under libfaketime (its preload deadlocks with "
        "jemalloc, Redis' allocator), so its clock cannot be moved"
        for kind in ("clock", "drift")
    },
)


class RedisClient:
    """Talks to whichever server the sentinel on its node names as primary (see the module
    docstring). ``timeout`` bounds each request; ``reads``: ``primary`` or ``replica`` (a
    register read goes to the node's own server). Errors the server returns before doing
    anything (READONLY on a replica, a refused connection) complete as ``fail``; a timeout or
    a dropped connection during a write is ``info``; a failed read is ``fail``."""

    def __init__(
        self, system: RedisSystem, *, timeout: float = 2.0, reads: str = "primary"
    ) -> None:
        if reads not in READS:
            raise ValueError(f"reads must be one of {', '.join(READS)}, got {reads!r}")
        self.system = system
        self.timeout = timeout
        self.reads = reads
        self.node: Node | None = None
        self.server: tuple[str, int] | None = None
        self._sentinel: Any = None
        self._servers: dict[tuple[str, int], Any] = {}
        #: server endpoint -> its node's name, for the ``server`` field of completions
        self._names: dict[tuple[str, int], str] = {}

    def open(self, node: Node) -> None:
        self.server = self.system.endpoint(node)
        sentinel = self.system.ports(node)[1]
        self.node = node
        self._names = {self.system.endpoint(n): n.name for n in self.system.nodes}
        self._sentinel = _connect(node.address, sentinel, self.timeout)

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        """How long the runner lets ``op`` run: it asks the sentinel, then the primary, and
        either may need a connection first (each step bounded by ``timeout``)."""
        return 2 * self.timeout if op.f == "status" else 4 * self.timeout

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
        served: dict[str, Any] | None = None
        if self.reads == "replica" and op.f == "read" and op.value is not None:
            assert self.server is not None
            host, port = self.server  # the node's own server: the op's node answers
        else:
            try:
                addr = self._sentinel.execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
            except redis.RedisError as e:
                return op.complete("fail", op.value, error=f"no-primary: sentinel: {e}")
            if not addr:
                return op.complete("fail", op.value, error="no-primary")
            host, port = _text(addr[0]), int(addr[1])
            served = {"server": self._names.get((host, port), f"{host}:{port}")}
        r = self._servers.get((host, port))
        if r is None:
            r = self._servers[(host, port)] = _connect(host, port, self.timeout)
        try:
            done = self._do(r, op)
            return done if served is None else replace(done, extra={**done.extra, **served})
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
        if not isinstance(op.value, list | tuple) or len(op.value) != 2:
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

        assert self.node is not None and self.server is not None
        try:
            r = _connect(*self.server, self.timeout)
            role = _text(r.execute_command("ROLE")[0])
            r.close()
        except redis.RedisError as e:
            return op.complete("fail", None, error=str(e))
        replica = self.reads == "replica"
        value = {
            "id": self.node.name,
            "role": role,
            "system": "redis",
            "promise": REPLICA_PROMISE if replica else PROMISE,
            # replica reads: none claimed (see the module docstring); the primary's: the
            # suite's linearizable and set checkers already find what failover loses
            "models": [],
        }
        return op.complete("ok", value)


def _connect(host: str, port: int, timeout: float = 0.5) -> Any:
    """A redis-py connection (made on first use) whose requests and connect wait ``timeout``."""
    import redis

    return redis.Redis(host, port, socket_timeout=timeout, socket_connect_timeout=timeout)


def _ping(host: str, port: int) -> None:
    r = _connect(host, port)
    try:
        r.ping()
    finally:
        r.close()


def _asking(check: Callable[[], str | None]) -> str | None:
    """``check()``, or the error redis-py raised, as ``BinarySystem.wait`` reads it."""
    import redis

    try:
        return check()
    except redis.RedisError as e:
        return str(e) or type(e).__name__


def _text(b: Any) -> str:
    return b.decode() if isinstance(b, bytes) else str(b)


def _text_of(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
