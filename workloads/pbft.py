"""The PBFT pattern (``patterns/pbft``): its System (``PBFT``), which runs the ``register``
workload through ``PbftClient``, a client that talks to every replica.

A PBFT client cannot trust one replica: up to f of them may lie. So every worker's client
opens one connection per replica and, for each op, sends the request to the primary it
believes in (``request``) and asks the backups for the result (``await``); when f+1
replicas have not answered the same result within ``retry_ms``, it sends ``request`` to
every replica (the backups forward it to the primary and start their view-change timers).
It accepts a result once f+1 replicas answered it the same (at least one of them correct)::

    read   [k, None]    -> ok [k, v]          (v: the value f+1 replicas read)
    write  [k, v]       -> ok [k, v]
    cas    [k, [a, b]]  -> ok [k, [a, b]] if it took, fail (cas-mismatch) if not
    log    None         -> ok {the replica's committed and executed requests} (its own node)

With no f+1 matching answers by the workload's ``timeout`` the op is ``info``: it may have
been executed. Completions record the request's name in the replicas' logs (``request``:
``[client, rid]``) and which replicas agreed (``by``). With the seeded bug
``first-reply`` (a bug of this client, named like the system's) it accepts the first answer.
"""

from __future__ import annotations

import errno
import json
import secrets
import select
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

from clusters.base import Node
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, option
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, node_status, nodes_where
from workloads.options import ms

__all__ = [
    "PBFT",
    "PBFT_BUGS",
    "PbftClient",
    "PbftOptions",
    "PbftSystem",
    "agreed",
]

PBFT_BUGS = {
    "quorum-2f": "quorums of 2f replicas instead of 2f+1: two quorums need not share a correct "
    "replica; exposed by an equivocating primary (byzantine mode equivocate, targets primary: "
    "one backup commits the primary's other request at the same number) and by partitions "
    "into halves",
    "view-change-drops-prepared": "a new view re-proposes nothing it was shown prepared: "
    "every number above the checkpoint becomes a null request, committed requests replaced; "
    "exposed by any view change (partition, kill or pause of the primary, byzantine silence)",
    "no-mac-check": "replicas accept messages without checking their MAC, so a lying replica "
    "speaks in the others' names; exposed by byzantine equivocate (forged prepares and "
    "commits) and forge-view-change (forged view changes that claim nothing was prepared)",
    "first-reply": "the client (workloads/pbft.py) accepts the first reply instead of f+1 "
    "matching ones; exposed by byzantine wrong-reply (a liar answers reads with a value "
    "never written)",
}

#: the lying modes the replicas take (patterns/pbft/lies.py), offered to the byzantine fault
LYING_MODES = ("equivocate", "wrong-reply", "silence", "replay", "forge-view-change")


@dataclass(frozen=True)
class PbftOptions:
    """The PBFT replicas' flags (``system.options``)."""

    request_timeout_ms: int = ms(1500, "how long a replica holds a client request for its result")
    view_timeout_ms: int = ms(
        1000, "how long a backup waits for a forwarded request before it starts a view change"
    )
    checkpoint_every: int = option(16, "executions between two checkpoints", minimum=1)


class PbftSystem(PatternSystem):
    """The pbft ``PatternSystem``: the primary is the node whose status says ``primary``;
    each run gets a fresh secret (``--secret``) the replicas derive their MAC keys from."""

    members: tuple[str, ...] = ()

    def configure(self, nodes: list[Node]) -> None:
        super().configure(nodes)
        self.members = tuple(sorted(n.name for n in nodes))
        self.addresses = {n.name: n.address for n in nodes}

    def primaries(self, nodes: list[Node]) -> list[Node]:
        """The primary most replicas name (a replica cut off in an old view still says it
        is primary; the others have moved on): one node, or none when no replica answers."""
        statuses: dict[str, dict[str, Any]] = {}

        def ask(n: Node) -> bool:
            st = node_status(n.address, self.port_of(n), timeout=0.5)
            if st is not None:
                statuses[n.name] = st
            return st is not None

        nodes_where(list(self._nodes), ask)
        named = Counter(
            (st.get("view", 0), st.get("primary")) for st in statuses.values() if st.get("primary")
        )
        if not named:
            return []
        (_, primary), _ = max(named.items(), key=lambda kv: (kv[1], kv[0][0]))
        return [n for n in nodes if n.name == primary]

    def replica_addresses(self) -> dict[str, tuple[str, int]]:
        """Every replica's (host, port), by name."""
        return {n.name: (n.address, self.port_of(n)) for n in self._nodes}


def agreed(replies: dict[str, Any], need: int) -> tuple[Any, list[str]] | None:
    """The result ``need`` replicas answered the same, with their names, or None."""
    groups: dict[str, list[str]] = {}
    for name, result in replies.items():
        groups.setdefault(json.dumps(result, sort_keys=True), []).append(name)
    for key, names in groups.items():
        if len(names) >= need:
            return json.loads(key), sorted(names)
    return None


class _Conn:
    """One non-blocking connection to a replica, one request at a time."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock: socket.socket | None = None
        self.out = b""
        self.buf = b""
        self.waiting: int | None = None  # the id of the request it waits for

    def send(self, line: bytes, req_id: int) -> None:
        """Send ``line`` on a fresh connection if this one still waits for an earlier
        reply (the replica answers in order, and the old request may be held for long)."""
        if self.sock is None or self.waiting is not None:
            self.reset()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            err = sock.connect_ex(self.address)
            if err not in (0, errno.EINPROGRESS):
                sock.close()
                return
            self.sock = sock
        self.out += line
        self.waiting = req_id

    def reset(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock, self.out, self.buf, self.waiting = None, b"", b"", None

    def flush(self) -> None:
        assert self.sock is not None
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError:
            self.reset()
            return
        self.out = self.out[sent:]

    def read(self) -> list[dict[str, Any]]:
        """The replies that arrived (the connection is reset if it broke)."""
        assert self.sock is not None
        try:
            chunk = self.sock.recv(1 << 16)
        except BlockingIOError:
            return []
        except OSError:
            self.reset()
            return []
        if not chunk:
            self.reset()
            return []
        self.buf += chunk
        out = []
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and msg.get("id") == self.waiting:
                self.waiting = None
                out.append(msg)
        return out


class PbftClient:
    """A client of every PBFT replica (see the module docstring): ``timeout`` bounds an op,
    ``retry`` is how long it waits for f+1 matching replies before it sends the request to
    every replica; ``first_reply`` is the seeded bug."""

    _ids = count(1)

    def __init__(
        self,
        system: PbftSystem,
        *,
        timeout: float = 3.0,
        retry: float = 0.5,
        first_reply: bool = False,
    ) -> None:
        self.system = system
        self.timeout = timeout
        self.retry = retry
        self.first_reply = first_reply
        self.client_id = f"c{secrets.token_hex(4)}"
        self.rid = 0
        self.view = 0
        self.node = ""
        self.conns: dict[str, _Conn] = {}
        self.members: list[str] = []

    def open(self, node: Node) -> None:
        self.node = node.name
        self.conns = {n: _Conn(a) for n, a in self.system.replica_addresses().items()}
        self.members = sorted(self.conns)

    def close(self) -> None:
        for c in self.conns.values():
            c.reset()

    def op_timeout(self, op: Op, timeout: float) -> float | None:
        return self.timeout + 1.0

    @property
    def f(self) -> int:
        return (len(self.members) - 1) // 3

    def invoke(self, op: Op) -> Op:
        if op.f == "log":
            return self._log(op)
        try:
            key, request = _op(op)
        except (TypeError, ValueError) as e:
            return op.complete("fail", op.value, error=f"bad-op: {e}")
        self.rid += 1
        got = self._submit(request)
        # the request's name as the replicas' logs have it, for the pbft checker
        extra: dict[str, Any] = {"request": [self.client_id, self.rid]}
        if isinstance(got, str):
            kind = "fail" if got.startswith("bad-request") else "info"
            return op.complete(kind, op.value, error=got, extra=extra)
        result, by = got
        extra["by"] = by
        if op.f == "read":
            return op.complete("ok", [key, result], extra=extra)
        if op.f == "cas" and result is not True:
            return op.complete("fail", op.value, error="cas-mismatch", extra=extra)
        return op.complete("ok", op.value, extra=extra)

    def _submit(self, op: dict[str, Any]) -> tuple[Any, list[str]] | str:
        """Send request ``op`` as described in the module docstring; (result, replicas that
        answered it) or the error."""
        start = time.monotonic()
        deadline = start + self.timeout
        primary = self.members[self.view % len(self.members)]
        replies: dict[str, Any] = {}
        ids: dict[str, int] = {}
        need = 1 if self.first_reply else self.f + 1

        def fire(name: str, kind: str) -> None:
            req_id = next(self._ids)
            budget = int(max(0.05, deadline - time.monotonic() - 0.1) * 1000)
            msg = {"id": req_id, "type": kind, "client": self.client_id, "rid": self.rid,
                   "op": op, "timeout_ms": budget}  # fmt: skip
            self.conns[name].send(json.dumps(msg, separators=(",", ":")).encode() + b"\n", req_id)
            ids[name] = req_id

        for name in self.members:
            fire(name, "request" if name == primary else "await")
        resent = False
        problem = "no reply"
        while True:
            now = time.monotonic()
            if now >= deadline:
                return f"no {need} matching replies in {self.timeout:g}s ({problem})"
            if not resent and now - start >= self.retry:
                resent = True
                for name in self.members:
                    if name not in replies:
                        fire(name, "request")
            socks = {c.sock: n for n, c in self.conns.items() if c.sock is not None}
            writers = [s for s, n in socks.items() if self.conns[n].out]
            wait = min(deadline, start + self.retry if not resent else deadline) - now
            try:
                readable, writable, _ = select.select(list(socks), writers, [], max(0.0, wait))
            except (OSError, ValueError):
                readable, writable = [], []
            for s in writable:
                if self.conns[socks[s]].sock is s:  # not reset meanwhile
                    self.conns[socks[s]].flush()
            for s in readable:
                name = socks[s]
                if self.conns[name].sock is not s:
                    continue
                for reply in self.conns[name].read():
                    value = reply.get("value")
                    if reply.get("id") != ids.get(name):
                        continue
                    if not reply.get("ok") or not isinstance(value, dict):
                        problem = f"{name}: {reply.get('error')}"
                        if reply.get("error") == "bad-request":
                            return f"bad-request: {reply.get('message')}"
                        continue
                    if value.get("rid") != self.rid:
                        continue
                    replies[name] = value.get("result")
                    if isinstance(value.get("view"), int):
                        self.view = max(self.view, value["view"])
            got = agreed(replies, need)
            if got is not None:
                return got

    def _log(self, op: Op) -> Op:
        """The report of this worker's own replica (a plain blocking call)."""
        host, port = self.system.replica_addresses()[self.node]
        try:
            with socket.create_connection((host, port), timeout=self.timeout) as s:
                s.settimeout(self.timeout)
                s.sendall(b'{"id":1,"type":"log"}\n')
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
            reply = json.loads(buf)
        except (OSError, ValueError) as e:
            return op.complete("fail", None, error=f"no-report: {type(e).__name__}: {e}")
        if not isinstance(reply, dict) or not reply.get("ok"):
            return op.complete("fail", None, error=f"no-report: {reply!r}"[:200])
        return op.complete("ok", reply.get("value"))


def _op(op: Op) -> tuple[Any, dict[str, Any]]:
    """The key and the replicated op of a register op; ValueError for one it cannot map."""
    if not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
        raise ValueError(f"expected [key, value], got {op.value!r}")
    key, arg = op.value
    if op.f == "read":
        return key, {"f": "read", "key": key}
    if op.f == "write":
        return key, {"f": "write", "key": key, "value": arg}
    if op.f == "cas":
        if not isinstance(arg, (list, tuple)) or len(arg) != 2:
            raise ValueError(f"a cas needs [key, [from, to]], got {op.value!r}")
        return key, {"f": "cas", "key": key, "from": arg[0], "to": arg[1]}
    raise ValueError(f"pbft has no op {op.f!r}; it runs read, write, cas, log")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: PbftOptions) -> PbftSystem:
    port = DEFAULT_PORT if spec.port is None else spec.port
    return PbftSystem(
        "pbft",
        spec.bugs,
        port,
        nodes=nodes,
        options=options,
        extra_args=["--secret", secrets.token_hex(16)],
        is_primary=lambda st: st.get("role") == "primary",
    )


def _client(spec: WorkloadSpec, options: NoOptions, system: PbftSystem) -> PbftClient:
    return PbftClient(system, timeout=spec.timeout, first_reply="first-reply" in system.bugs)


PBFT = SystemInfo(
    name="pbft",
    description="reference PBFT key-value register (patterns/pbft): 3f+1 replicas, correct "
    "with f Byzantine ones; the client accepts f+1 matching replies",
    make=_make,
    clients={"register": _client},
    bugs=PBFT_BUGS,
    options=PbftOptions,
    default_port=DEFAULT_PORT,
    checkers=("pbft",),
    final_ops=("log",),
    offers={"byzantine": LYING_MODES},
)
