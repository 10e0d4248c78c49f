"""The leader-follower replicated log (``patterns/leaderfollower``): its System
(``LEADERFOLLOWER``), its Client and the ``log`` workload (``LOG``).

The ``log`` workload mixes register operations on the log's key/value view (``read`` and
``write`` of unique values, Jepsen's ``[key, v]`` values, so the linearizability checker
takes them per key) with reads of the log itself on whichever node a worker talks to
(``read-log``: the head or the tail of what that node may show) and truncations that move
the low-water mark (``truncate``). After the final heal every worker reads the keys still in
use and asks its node for an ``audit`` of the committed log. Ops::

    write     [k, v]           -> ok [k, v], with "log_index": the entry's index
    read      [k, None]        -> ok [k, v]
    read-log  ["tail", 8]      -> ok {"node", "hwm", "lwm", "entries": [[i, term, cmd], ...]}
    truncate  100 (keep)       -> ok {"upto": L, "index": t}
    audit     None             -> ok {"node", "hwm", "lwm", "entries": every committed entry}

Options (``workload.options``, ``LogOptions``): ``count`` entries per log read (8), ``keep``
entries a truncation keeps below the HWM (100). The mix may weigh ``read``, ``write``,
``cas``, ``read-log`` and ``truncate``. The system runs the ``register`` workload too, with the
Raft client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Context, Generator, each_thread, once, seq, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo, option
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.pattern_client import PatternClient
from workloads.raft import RaftOptions, register_client
from workloads.register import final_reads
from workloads.system import HasPorts

__all__ = [
    "LEADERFOLLOWER",
    "LF_BUGS",
    "LOG",
    "LogClient",
    "LogOps",
    "LogOptions",
    "log_generators",
]

LF_BUGS = {
    "ack-before-replication": "the primary acknowledges a write once it is in its own log, "
    "before a majority has it; shown when the leader is cut off (partition shapes 'leader', "
    "'primaries') or killed ('primaries'): acknowledged entries lost across the failover",
    "read-past-hwm": "a node serves log reads past its high-water mark; shown whenever entries "
    "are in flight (reads report entries above the HWM they state), and by isolating the "
    "leader (shape 'leader'): served entries that were never committed",
    "lwm-leader-only": "followers never move their low-water mark; shown by any follower read "
    "of the log's head after a truncation, and after a failover (shape 'leader', kill "
    "'primaries') by the new leader: truncated entries served",
}


class LogOps:
    """Generator of the ``log`` workload's ops over rotating keys; written values are unique
    (a counter), so each acknowledged write names one log entry."""

    def __init__(self, spec: WorkloadSpec, options: LogOptions) -> None:
        allowed = {"read", "write", "cas", "read-log", "truncate"}
        unknown = sorted(set(spec.mix) - allowed)
        if unknown:
            raise ValueError(
                f"the log workload has no op {', '.join(unknown)} in 'mix'; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        self.fs = [f for f, w in spec.mix.items() if w > 0]
        self.weights = [spec.mix[f] for f in self.fs]
        self.ops_per_key = spec.ops_per_key
        self.values = spec.values
        self.count = options.count
        self.keep = options.keep
        self.active: list[int] = list(range(spec.keys))
        self.used: dict[int, int] = dict.fromkeys(self.active, 0)
        self.next_key = spec.keys
        self.next_value = 0

    @property
    def keys_touched(self) -> list[int]:
        return sorted(self.used)

    def op(self, ctx: Context) -> dict[str, Any]:
        rng = ctx.rng
        f = rng.choices(self.fs, self.weights)[0]
        if f == "read-log":
            return {"f": f, "value": [rng.choice(["head", "tail"]), self.count]}
        if f == "truncate":
            return {"f": f, "value": self.keep}
        key = self._key(rng)
        if f == "read":
            return {"f": f, "value": [key, None]}
        if f == "cas":
            # from a recent value: most cas find another, some succeed
            hi = max(self.next_value, 1)
            return {"f": f, "value": [key, [rng.randrange(max(0, hi - 10), hi), self._fresh()]]}
        return {"f": "write", "value": [key, self._fresh()]}

    def _fresh(self) -> int:
        self.next_value += 1
        return self.next_value

    def _key(self, rng: Any) -> int:
        slot = rng.randrange(len(self.active))
        key = self.active[slot]
        self.used[key] += 1
        if self.used[key] >= self.ops_per_key:
            self.active[slot] = self.next_key
            self.used[self.next_key] = 0
            self.next_key += 1
        return key


class LogClient(PatternClient):
    """The log's requests over a pattern connection (see the module docstring for the ops);
    like the Raft client, a timeout or a broken connection after sending raises (``info``)."""

    def invoke(self, op: Op) -> Op:
        try:
            req = _request(op)
        except (TypeError, ValueError) as e:
            return op.complete("fail", op.value, error=f"bad-op: {e}")
        try:
            self.ensure_connected()
        except ConnectionRefusedError:
            return op.complete("fail", op.value, error="connection-refused")
        except OSError as e:
            return op.complete("fail", op.value, error=f"connect-failed: {e}")
        reply = self.call(req)
        if reply.get("ok") is not True:
            return self.failed(op, reply)
        value = reply.get("value")
        if op.f == "read":
            return op.complete("ok", [op.value[0], value])
        if op.f in ("write", "cas"):
            index = value.get("index") if isinstance(value, dict) else None
            extra = {"log_index": index} if isinstance(index, int) else None
            return op.complete("ok", op.value, extra=extra)
        return op.complete("ok", value)


def _request(op: Op) -> dict[str, Any]:
    v = op.value
    if op.f in ("read", "write", "cas"):
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise ValueError(f"expected [key, value], got {v!r}")
        if op.f == "read":
            return {"type": "read", "key": v[0]}
        if op.f == "write":
            return {"type": "write", "key": v[0], "value": v[1]}
        if not isinstance(v[1], (list, tuple)) or len(v[1]) != 2:
            raise ValueError(f"a cas needs [key, [from, to]], got {v!r}")
        return {"type": "cas", "key": v[0], "from": v[1][0], "to": v[1][1]}
    if op.f == "read-log":
        where, count = v if isinstance(v, (list, tuple)) and len(v) == 2 else ("tail", 8)
        return {"type": "read-log", "from": where, "count": count}
    if op.f == "truncate":
        return {"type": "truncate", "keep": v if isinstance(v, int) else 100}
    if op.f in ("audit", "status"):
        return {"type": op.f}
    raise ValueError(
        f"the log has no op {op.f!r}; it runs read, write, cas, read-log, truncate, audit, status"
    )


def log_generators(spec: WorkloadSpec, options: LogOptions) -> tuple[Generator, Generator | None]:
    """The main generator, and the final one: read every key in use, then an audit per
    worker."""
    ops = LogOps(spec, options)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, seq([final_reads(ops), each_thread(lambda: once("audit"))])  # type: ignore[arg-type]


@dataclass(frozen=True)
class LogOptions:
    """The ``log`` workload's options (``workload.options``)."""

    count: int = option(8, "entries per log read", minimum=1)
    keep: int = option(100, "entries a truncation keeps below the HWM", minimum=0)


def _make(spec: SystemSpec, nodes: Sequence[Node], options: RaftOptions) -> PatternSystem:
    return make_pattern("leaderfollower", spec, nodes, options)


def _log_client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> LogClient:
    return LogClient(system, timeout=spec.timeout)


LEADERFOLLOWER = SystemInfo(
    name="leaderfollower",
    description="reference leader-follower replicated log (patterns/leaderfollower): a primary "
    "replicates writes; high-water mark bounds what is visible, low-water mark what is kept; "
    "failover by election",
    make=_make,
    clients={"log": _log_client, "register": register_client},
    bugs=LF_BUGS,
    options=RaftOptions,  # the daemon takes the Raft store's timing options
    default_port=DEFAULT_PORT,
    checkers=("leaders",),
    final_ops=("status",),
)

LOG = WorkloadInfo(
    name="log",
    description="writes of unique values, linearizable reads, log reads on any node (head and "
    "tail), truncations; a final audit of the committed log",
    generators=log_generators,
    checkers=("watermarks", "linearizable", "stats"),
    options=LogOptions,
    ops=("read", "write", "cas", "read-log", "truncate"),
)
