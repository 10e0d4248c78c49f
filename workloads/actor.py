"""The actor-model pattern (``patterns/actor``): its System (``ACTOR``), its Client, the
``actor`` workload (``ACTOR_WORKLOAD``, checked by the ``actor`` and ``stats`` checkers).

Every worker sends messages to actors through its node; actors rotate like the register's
keys (``keys`` in use at once, each retired after ``ops_per_key`` messages), so that each
actor's history stays small enough to check for linearizability. History values follow the
independent-key convention, ``[actor, v]``::

    increment [a, None] -> ok [a, count]                the actor's count after it
    append    [a, x]    -> ok [a, x]     (extra len)    x unique over the run; len: the log's
                                                         length after it
    read      [a, None] -> ok [a, {"count": c, "log": [x, ...]}]

Every completion carries the message's ``sender`` (``p<process>``) and ``seq`` (the
sender's sequence number, from 1); an ``ok`` one also the activation that applied it:
``epoch``, ``host``, ``n`` (its number among the actor's messages; a read: the messages
before it), ``dup`` (a copy answered from the de-duplication table) and ``via`` (the entry
node). After the final heal, every actor the test touched is read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Context, Generator, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.options import ms
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "ACTOR",
    "ACTOR_BUGS",
    "ACTOR_OPS",
    "ACTOR_WORKLOAD",
    "ActorClient",
    "ActorOps",
    "ActorOptions",
    "actor_generators",
]

ACTOR_OPS = ("increment", "append", "read")

ACTOR_BUGS = {
    "stale-directory": "a host trusts its cached directory entry: it answers once its own "
    "acceptor has a message and reads from memory; exposed by a partition that cuts a host "
    "off (shapes 'one', 'halves'): it goes on serving while the majority activates the actor "
    "elsewhere, two activations at once, and its side's acknowledged messages are lost",
    "no-dedup": "a host applies every copy of a message it receives; exposed by the pause "
    "fault (targets 'one', 'minority'): entries time out and send their messages again, and "
    "the resumed host applies each copy (a message applied twice); and by a partition that "
    "cuts an entry off from a host (shape 'one'): the copies sent into it reach the host "
    "when TCP retransmits them at the heal",
    "persist-after-reply": "a host answers at once and writes the actor's state to the "
    "acceptors later (every flush_ms); exposed by the kill fault (targets 'one', 'minority'), "
    "and a partition that cuts a host off: the next activation starts without the messages "
    "acknowledged since the last write",
}


class ActorClient(PatternClient):
    """Sends ``increment``, ``append`` and ``read`` to actors through one node; the sender is
    the worker's process, numbering its messages from 1."""

    def __init__(
        self, system: HasPorts | None = None, *, timeout: float = 2.0, port: int | None = None
    ) -> None:
        super().__init__(system, timeout=timeout, port=port)
        self.seq = 0

    def invoke(self, op: Op) -> Op:
        v = op.value
        if op.f not in ACTOR_OPS or not isinstance(v, list | tuple) or len(v) != 2:
            return op.complete(
                "fail",
                v,
                error=f"bad-op: expected increment/append/read [actor, v], got {op.f} {v!r}",
            )
        actor, arg = str(v[0]), v[1]
        self.seq += 1
        sender = f"p{op.process}"
        known = {"sender": sender, "seq": self.seq}
        req = {"type": "send", "actor": actor, "op": op.f, "arg": arg, **known}
        reply = self.request(op, req)
        if isinstance(reply, Op):
            reply.extra.update(known)
            return reply
        if not reply.get("ok"):
            done = self.failed(op, reply)
            done.extra.update(known)
            return done
        body = reply.get("value")
        problem = _reply_problem(body, actor, op.f, known)
        if problem is not None:  # the node answered; what it did is not known
            return op.complete("info", op.value, f"bad-reply: {problem}", extra=known)
        assert isinstance(body, dict)
        evidence = {k: body[k] for k in ("epoch", "host", "n", "dup", "via") if k in body}
        evidence.update(known)
        result = body["result"]
        if op.f == "append":
            return op.complete("ok", [actor, arg], extra={**evidence, "len": result})
        return op.complete("ok", [actor, result], extra=evidence)


def _reply_problem(body: Any, actor: str, f: str, known: dict[str, Any]) -> str | None:
    """What is wrong with an ``ok`` reply's value, or None."""
    if not isinstance(body, dict):
        return f"expected an object, got {body!r}"
    if body.get("actor") != actor or body.get("sender") != known["sender"]:
        return f"the reply is for {body.get('actor')!r} from {body.get('sender')!r}"
    if body.get("seq") != known["seq"]:
        return f"the reply is for message {body.get('seq')!r}, not {known['seq']}"
    for k in ("epoch", "n"):
        if isinstance(body.get(k), bool) or not isinstance(body.get(k), int):
            return f"{k!r} must be an integer, got {body.get(k)!r}"
    result = body.get("result")
    if f == "read":
        if not (
            isinstance(result, dict)
            and isinstance(result.get("count"), int)
            and isinstance(result.get("log"), list)
        ):
            return f"a read's result is {{count, log}}, got {result!r}"
    elif isinstance(result, bool) or not isinstance(result, int):
        return f"an {f}'s result is an integer, got {result!r}"
    return None


class ActorOps:
    """Messages to a rotating set of actors (``a0``, ``a1``, ...): ``keys`` in use at once,
    each retired after ``ops_per_key`` messages; appends carry values unique over the run."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.ops_per_key = spec.ops_per_key
        self.fs = [f for f in ACTOR_OPS if spec.mix.get(f, 0) > 0]
        self.weights = [spec.mix[f] for f in self.fs]
        self.active = list(range(spec.keys))
        self.used: dict[int, int] = dict.fromkeys(self.active, 0)
        self.next_key = spec.keys
        self.next_value = 0

    @property
    def touched(self) -> list[str]:
        return [f"a{k}" for k in sorted(self.used)]

    def op(self, ctx: Context) -> dict[str, Any]:
        slot = ctx.rng.randrange(len(self.active))
        key = self.active[slot]
        self.used[key] += 1
        if self.used[key] >= self.ops_per_key:
            self.active[slot] = self.next_key
            self.used[self.next_key] = 0
            self.next_key += 1
        f = ctx.rng.choices(self.fs, self.weights)[0]
        arg = None
        if f == "append":
            self.next_value += 1
            arg = self.next_value
        return {"f": f, "value": [f"a{key}", arg]}


class _FinalReads:
    """After the final heal, every actor the test touched is read once (by whichever worker
    asks first): a message lost at any time shows in its actor's last state."""

    def __init__(self, ops: ActorOps) -> None:
        self.ops = ops
        self.left: list[str] | None = None

    def op(self, ctx: Context) -> dict[str, Any] | None:
        if self.left is None:
            self.left = self.ops.touched
        if not self.left:
            return None
        return {"f": "read", "value": [self.left.pop(0), None]}


def actor_generators(spec: WorkloadSpec, options: NoOptions) -> tuple[Generator, Generator | None]:
    """The messages at ``spec.rate``, then one read of every actor touched."""
    ops = ActorOps(spec)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, _FinalReads(ops)


@dataclass(frozen=True)
class ActorOptions:
    """The actor daemon's flags (``system.options``)."""

    request_timeout_ms: int = ms(
        1200, "how long a client's message may take, redeliveries included"
    )
    forward_timeout_ms: int = ms(
        500, "how long one delivery to the host waits before it is sent again"
    )
    rpc_timeout_ms: int = ms(300, "how long a claim, write or fence waits for each acceptor")
    flush_ms: int = ms(250, "how often the persist-after-reply bug writes state behind")


def _make(spec: SystemSpec, nodes: Sequence[Node], options: ActorOptions) -> PatternSystem:
    return make_pattern("actor", spec, nodes, options)


def _client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> ActorClient:
    return ActorClient(system, timeout=spec.timeout)


ACTOR = SystemInfo(
    name="actor",
    description="reference virtual actors (patterns/actor): one message at a time per actor, "
    "a directory of per-actor epochs claimed at a majority, state written at a majority "
    "before each reply, activation elsewhere when a host dies or is cut off",
    make=_make,
    clients={"actor": _client},
    bugs=ACTOR_BUGS,
    options=ActorOptions,
    default_port=DEFAULT_PORT,
)

ACTOR_WORKLOAD = WorkloadInfo(
    name="actor",
    description="increment, append and read messages to rotating actors through any node; "
    "every reply names the activation (epoch, host) and the message's place; a final read of "
    "every actor",
    generators=actor_generators,
    checkers=("actor", "stats"),
    ops=ACTOR_OPS,
)
