"""etcd (Debian's ``etcd-server``, 3.4) as a System, and a register Client over its v3 JSON
gateway.

``EtcdSystem`` runs one member per node (a 3- or 5-member cluster), each with its data in
``<workdir>/etcd-data`` and its log in ``<workdir>/etcd.log``; it can be killed and restarted
on its data, paused, and asked who leads (``/v3/maintenance/status``). Clients use port
``port`` (the SystemSpec's), members talk to each other on ``port + 1``; where nodes share an
address (all on one host) node i uses ``port + 2 i`` and ``port + 2 i + 1``.

``EtcdClient`` maps history ops to the gateway's JSON (keys and values base64, values are
JSON-encoded integers, keys live under ``splitbrain/``)::

    read   [k, None]    -> POST /v3/kv/range {key, serializable?}       ok [k, v or None]
    write  [k, v]       -> POST /v3/kv/put {key, value}                 ok [k, v]
    cas    [k, [a, b]]  -> POST /v3/kv/txn compare value(k) == a, then put b
                           ok if the reply says "succeeded": true; a failed compare comes
                           back without the key at all, and completes as fail
    status None         -> POST /v3/maintenance/status                 ok {id, role, term, ...}

What etcd promises (https://etcd.io/docs/v3.4/learning/api_guarantees/): every KV operation
is strictly serializable (linearizable for one key) when reads are linearizable, the
default; a ``serializable`` read is served by the member it reaches from its local state,
without consensus, and "may be stale" by design. So with ``options: {reads: serializable}``
a checker that reports stale reads has found the test asking for more than etcd promises,
not a bug in etcd; with linearizable reads, any anomaly is a broken promise. The ``promises``
checker writes this into results.json next to the verdict.

libfaketime does not reach etcd (a Go program reads the clock through the vDSO, not libc), so
clock faults do nothing to it: its suite leaves them out rather than pretend.

The same system runs two more workloads, with clients of their own: ``lock`` (its lock API
with leases, plain or fenced by the lock key's revision: ``workloads/etcd_lock.py``) and
``watch`` (watch streams, checked by ``checkers/watch.py``: ``workloads/etcd_watch.py``).
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from checkers.base import Result
from clusters.base import Node, SetupError
from harness.history import Op
from workloads.daemon import SingleDaemon, nodes_where, port_bases, wait_ready

__all__ = [
    "DAEMON",
    "ETCD_BINARY",
    "EtcdClient",
    "EtcdSystem",
    "PromisesChecker",
    "register",
    "status_completion",
]

log = logging.getLogger(__name__)

DAEMON = "etcd"
ETCD_BINARY = "/usr/bin/etcd"
KEY_PREFIX = "splitbrain/"
READ_MODES = ("linearizable", "serializable")

#: (node name, address) -> (client port, read mode), filled by EtcdSystem.configure, so that a
#: client made from a WorkloadSpec alone (as the registry makes them) finds its node's port
_NODES: dict[tuple[str, str], tuple[int, str]] = {}

PROMISES = {
    "linearizable": "etcd promises linearizable reads and writes (strict serializability) with "
    "its default read mode: an invalid verdict here is etcd breaking its documented promise "
    "(https://etcd.io/docs/v3.4/learning/api_guarantees/)",
    "serializable": "reads here are 'serializable': etcd serves them from one member's local "
    "state without consensus and documents that they may be stale; stale reads found here are "
    "the test asking for more than etcd promises, not a broken promise (writes and cas still "
    "go through Raft and are promised linearizable)",
}


class EtcdSystem(SingleDaemon):
    """System + Killable + Pausable + HasPrimaries for an etcd cluster, one member per node.

    ``options``: ``reads`` (``linearizable``, the default, or ``serializable``: how clients
    read), ``election_ms`` / ``heartbeat_ms`` (etcd's ``--election-timeout`` and
    ``--heartbeat-interval``, default 1000 / 100), ``binary`` (default ``/usr/bin/etcd``).
    Setup waits up to ``ready_timeout`` seconds for the cluster to be healthy (a leader).
    """

    daemon = DAEMON

    def __init__(
        self,
        port: int = 2379,
        *,
        nodes: Sequence[Node] | None = None,
        options: Mapping[str, Any] | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        opts = dict(options or {})
        self.reads = str(opts.pop("reads", "linearizable"))
        if self.reads not in READ_MODES:
            raise SetupError(f"etcd option 'reads' must be one of {READ_MODES}, got {self.reads!r}")
        self.election_ms = int(opts.pop("election_ms", 1000))
        self.heartbeat_ms = int(opts.pop("heartbeat_ms", 100))
        self.binary = str(opts.pop("binary", ETCD_BINARY))
        if opts:
            raise SetupError(
                f"unknown etcd option(s) {sorted(opts)}; allowed: reads, election_ms, "
                "heartbeat_ms, binary"
            )
        self.port = port
        self.ready_timeout = ready_timeout
        self._nodes: list[Node] = []
        self._ports: dict[str, tuple[int, int]] = {}
        if nodes is not None:
            self.configure(list(nodes))

    def configure(self, nodes: list[Node]) -> None:
        """Learn every member (their names and addresses make ``--initial-cluster``)."""
        bases = port_bases(nodes, self.port, 2)
        self._nodes = list(nodes)
        for n in nodes:
            base = bases[n.name]
            self._ports[n.name] = (base, base + 1)
            _NODES[(n.name, n.address)] = (base, self.reads)

    def client_port(self, node: Node) -> int:
        return self._ports[node.name][0]

    # -- System ------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Start a fresh member on an empty data directory and wait until the cluster it
        belongs to has a leader; raises SetupError otherwise."""
        if node.name not in self._ports:
            raise SetupError(
                f"EtcdSystem does not know node {node.name!r}: pass nodes= or call configure"
            )
        if shutil.which(self.binary) is None and not _exists(node, self.binary):
            raise SetupError(
                f"etcd binary {self.binary} not found on {node.name}: install Debian's "
                "etcd-server (./setup does)"
            )
        self.kill(node)
        node.exec(["rm", "-rf", self._data_dir(node)])
        node.exec(["mkdir", "-p", self._data_dir(node)])
        self._spawn(node)
        self._wait(node, "/health", lambda body: body.get("health") == "true")

    def teardown(self, node: Node) -> None:
        """Kill the member (its data and log stay on the node for inspection)."""
        self.kill(node)

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.workdir}/{DAEMON}.log"]

    # -- Killable / Pausable ------------------------------------------------------------

    def start(self, node: Node) -> None:
        """Restart the member on its data; returns once it serves HTTP (``/version``), not
        once it has a leader: the rest of the cluster may still be down or cut off."""
        self._spawn(node)
        self._wait(node, "/version", lambda body: "etcdserver" in body)

    # -- HasPrimaries -------------------------------------------------------------------

    def primaries(self, nodes: list[Node]) -> list[Node]:
        """The members whose status names themselves as leader."""

        def leads(n: Node) -> bool:
            st = member_status(n.address, self.client_port(n), timeout=0.5)
            return st is not None and st.get("role") == "leader"

        return nodes_where(nodes, leads)

    # -- helpers ------------------------------------------------------------------------

    def _spawn(self, node: Node) -> None:
        node.spawn(DAEMON, self._argv(node), env={"ETCD_UNSUPPORTED_ARCH": ""})

    def _argv(self, node: Node) -> list[str]:
        cport, pport = self._ports[node.name]
        peers = ",".join(
            f"{n.name}=http://{n.address}:{self._ports[n.name][1]}" for n in self._nodes
        )
        a = node.address
        return [
            self.binary,
            "--name", node.name,
            "--data-dir", self._data_dir(node),
            "--listen-client-urls", f"http://{a}:{cport}",
            "--advertise-client-urls", f"http://{a}:{cport}",
            "--listen-peer-urls", f"http://{a}:{pport}",
            "--initial-advertise-peer-urls", f"http://{a}:{pport}",
            "--initial-cluster", peers,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", "splitbrain",
            "--election-timeout", str(self.election_ms),
            "--heartbeat-interval", str(self.heartbeat_ms),
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]  # fmt: skip

    def _wait(self, node: Node, path: str, good: Any) -> None:
        url = f"http://{node.address}:{self.client_port(node)}{path}"

        def probe() -> str | None:
            try:
                with urllib.request.urlopen(url, timeout=1.0) as r:
                    body = json.loads(r.read())
            except (OSError, ValueError) as e:
                return str(e)
            return None if isinstance(body, dict) and good(body) else f"answered {body!r}"

        wait_ready(
            node, DAEMON, probe, timeout=self.ready_timeout, failure=f"was not ready at {url}",
            log_file=self.log_files(node)[0],
        )  # fmt: skip

    @staticmethod
    def _data_dir(node: Node) -> str:
        return f"{node.workdir}/etcd-data"


def _exists(node: Node, path: str) -> bool:
    try:
        return node.exec(["test", "-x", path], check=False).returncode == 0
    except Exception:  # noqa: BLE001
        return False


def member_status(host: str, port: int, *, timeout: float = 1.0) -> dict[str, Any] | None:
    """A member's status as ``{id, role, term, leader, member_id, version}``, or None."""
    try:
        body = _post(f"http://{host}:{port}/v3/maintenance/status", {}, timeout)
    except (OSError, ValueError):
        return None
    header = body.get("header") or {}
    member, leader = str(header.get("member_id", "")), str(body.get("leader", ""))
    term = int(header.get("raft_term", 0) or 0)
    role = "leader" if member and member == leader else "follower"
    return {
        "role": role,
        "term": term,
        "led_terms": [term] if role == "leader" else [],
        "member_id": member,
        "leader": leader,
        "version": body.get("version"),
    }


def status_completion(
    op: Op, base: str, node: str | None, timeout: float, promise: str, **extra: Any
) -> Op:
    """The completion of a ``status`` op against the member at ``base``: its status, with
    ``promise`` (what etcd promises for the workload at hand, for the ``promises`` note)."""
    host, port = base.split("//")[1].rsplit(":", 1)
    st = member_status(host, int(port), timeout=timeout)
    if st is None:
        return op.complete("fail", None, error="no-status")
    return op.complete("ok", {**st, "id": node, **extra, "system": "etcd", "promise": promise})


class EtcdClient:
    """A register Client of one etcd member over its v3 JSON gateway (urllib).

    ``reads``: ``linearizable`` or ``serializable``; None takes the mode the node's
    EtcdSystem was given. ``timeout`` bounds each request (seconds). A refused connection
    completes as ``fail`` (nothing was sent); a read that fails or times out completes as
    ``fail`` too (a read changes nothing); a write or cas that errs or times out is ``info``
    (it may have taken effect), except for errors etcd returns before proposing.
    """

    def __init__(
        self, timeout: float = 2.0, *, reads: str | None = None, port: int | None = None
    ) -> None:
        self.timeout = timeout
        self.reads = reads
        self.port = port
        self.base: str | None = None
        self.node: str | None = None

    def open(self, node: Node) -> None:
        port, mode = _NODES.get((node.name, node.address), (2379, "linearizable"))
        self.base = f"http://{node.address}:{self.port or port}"
        self.reads = self.reads or mode
        self.node = node.name

    def close(self) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        """Perform ``op`` and return its completion (see the module docstring)."""
        if self.base is None:
            raise RuntimeError("EtcdClient.invoke before open")
        if op.f == "status":
            promise = PROMISES.get(str(self.reads), "")
            return status_completion(
                op, self.base, self.node, self.timeout, promise, reads=self.reads
            )
        if not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
            return op.complete(
                "fail", op.value, error=f"bad-op: expected [key, value], got {op.value!r}"
            )
        key, arg = op.value
        k = _b64(f"{KEY_PREFIX}{key}")
        try:
            if op.f == "read":
                body: dict[str, Any] = {"key": k}
                if self.reads == "serializable":
                    body["serializable"] = True
                reply = self._post("/v3/kv/range", body)
                kvs = reply.get("kvs") or []
                value = json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None
                return op.complete("ok", [key, value])
            if op.f == "write":
                self._post("/v3/kv/put", {"key": k, "value": _b64(json.dumps(arg))})
                return op.complete("ok", op.value)
            if op.f == "cas":
                if not isinstance(arg, (list, tuple)) or len(arg) != 2:
                    return op.complete("fail", op.value, error="bad-op: cas needs [k, [a, b]]")
                reply = self._post(
                    "/v3/kv/txn",
                    {
                        "compare": [
                            {
                                "key": k,
                                "target": "VALUE",
                                "result": "EQUAL",
                                "value": _b64(json.dumps(arg[0])),
                            }
                        ],
                        "success": [{"request_put": {"key": k, "value": _b64(json.dumps(arg[1]))}}],
                    },
                )
                # the gateway leaves out false fields: a failed compare has no "succeeded"
                if reply.get("succeeded") is True:
                    return op.complete("ok", op.value)
                return op.complete("fail", op.value, error="cas-mismatch")
        except ConnectionRefusedError:
            return op.complete("fail", op.value, error="connection-refused")
        except urllib.error.URLError as e:
            if isinstance(e.reason, ConnectionRefusedError):
                return op.complete("fail", op.value, error="connection-refused")
            return self._failed(op, f"url-error: {e.reason}")
        except _EtcdError as e:
            return self._failed(op, str(e), definite=e.definite)
        except TimeoutError:
            return self._failed(op, "timeout")
        except (OSError, ValueError) as e:
            return self._failed(op, f"{type(e).__name__}: {e}")
        return op.complete(
            "fail", op.value, error=f"bad-op: etcd runs read, write, cas, status; not {op.f!r}"
        )

    def _failed(self, op: Op, error: str, *, definite: bool = False) -> Op:
        # a read has no effect, so a failed one is certainly not a completed one
        kind = "fail" if definite or op.f == "read" else "info"
        return op.complete(kind, op.value, error=error)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.base is not None
        return _post(self.base + path, body, self.timeout)


class _EtcdError(Exception):
    def __init__(self, message: str, definite: bool) -> None:
        super().__init__(message)
        self.definite = definite


# gRPC codes etcd returns before a request reaches Raft: InvalidArgument, FailedPrecondition
# (e.g. "etcdserver: not capable"), ResourceExhausted ("too many requests"), Unauthenticated
_DEFINITE_CODES = {3, 9, 8, 16}


def _post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            reply = json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            err = json.loads(e.read())
        except (OSError, ValueError):
            err = {}
        code = int(err.get("code", -1)) if isinstance(err, dict) else -1
        msg = (err.get("error") or err.get("message")) if isinstance(err, dict) else None
        raise _EtcdError(f"http {e.code}: {msg or e.reason}", code in _DEFINITE_CODES) from None
    if not isinstance(reply, dict):
        raise ValueError(f"etcd answered {reply!r}")
    return reply


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class PromisesChecker:
    """Not a check but a note: what the system under test promises, read from the ``status``
    ops its clients performed at the end (their value carries ``promise``), so results.json
    says whether an invalid verdict is a broken promise or the test asking for more. It never
    changes the verdict; with no status to read it says so."""

    name = "promises"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        notes: dict[str, str] = {}
        for op in history:
            if op.f == "status" and op.type == "ok" and isinstance(op.value, dict):
                p = op.value.get("promise")
                if p:
                    notes.setdefault(str(op.value.get("system", "system")), str(p))
        if not notes:
            return Result(True, [], {"promise": "no node reported what its system promises"})
        return Result(True, [], {"promises": notes})


def register() -> list[Any]:
    """The ``etcd`` system (register, lock and watch workloads) and the ``promises`` note."""
    from harness.spec import SystemSpec, WorkloadSpec
    from workloads.registry import CheckerInfo, Option, SystemInfo, ms

    def make(spec: SystemSpec, nodes: list[Any]) -> EtcdSystem:
        # the SystemSpec's default port (7000) is the reference patterns'; etcd keeps it
        return EtcdSystem(spec.port, nodes=nodes, options=spec.options)

    def client(spec: WorkloadSpec) -> EtcdClient:
        reads = spec.options.get("reads")
        return EtcdClient(timeout=spec.timeout, reads=reads)

    def lock_client(spec: WorkloadSpec) -> Any:
        from workloads.etcd_lock import make_client

        return make_client(spec)

    def watch_client(spec: WorkloadSpec) -> Any:
        from workloads.etcd_watch import make_client

        return make_client(spec)

    return [
        SystemInfo(
            "etcd",
            "etcd 3.4 (Debian etcd-server), one member per node; register over the v3 JSON "
            "gateway, cas as a txn on the value. Promises linearizable reads and writes by "
            "default; with options {reads: serializable} reads may be stale by design, so "
            "stale reads found then are the test asking for more than etcd promises. Also the "
            "lock workload (its lock API with leases; workload.options.fencing compares the "
            "lock's revision in every write) and watch (ordered, gap-free watch streams)",
            {},
            make,
            {"register": client, "lock": lock_client, "watch": watch_client},
            checkers=("promises",),
            final_ops=("status",),
            node_packages=("etcd-server",),
            options=(
                Option("reads", str, "linearizable", "how clients read", choices=READ_MODES),
                ms("election_ms", 1000, "etcd's --election-timeout"),
                ms("heartbeat_ms", 100, "etcd's --heartbeat-interval"),
                Option("binary", str, ETCD_BINARY, "the etcd executable on every node"),
            ),
            client_options={
                "register": (
                    Option(
                        "reads",
                        str,
                        None,
                        "how clients read (default: the system's)",
                        choices=READ_MODES,
                    ),
                ),
                "lock": (
                    Option("fencing", bool, False, "compare the lock's revision in every write"),
                    Option("lease_ttl", int, 2, "seconds of the lock's lease", minimum=1),
                    ms("hold_ms", 0, "how long a holder holds the lock", minimum=0),
                ),
                "watch": (
                    Option(
                        "stall",
                        float,
                        3.0,
                        "seconds without a message after which a watch stream is re-created",
                        minimum=0,
                    ),
                    Option(
                        "catch_up_s",
                        float,
                        20.0,
                        "seconds a watcher may take to catch up after the heal",
                        minimum=0,
                    ),
                ),
            },  # fmt: skip
        ),
        CheckerInfo(
            "promises",
            "a note, never a verdict: what the system under test promises (from its status), "
            "so an invalid result reads as a broken promise or as a test asking for more",
            lambda **_: PromisesChecker(),
        ),
    ]
