"""The two-phase commit pattern (``patterns/twophase``): its System (``TWOPHASE``), its Client,
and the ``list-append`` and ``bank`` workloads (``LIST_APPEND``, ``BANK``).

Every node coordinates the transactions of the clients connected to it and is a participant
for the keys that hash to it, so a transaction of a few keys usually spans several nodes.

History values::

    txn       [["append", k, v], ["r", k, None], ...]  -> ok with reads filled: ["r", k, [1, 2]]
                                                          fail: aborted (lock conflict, a vote
                                                          missing), nothing was done
    transfer  {"from": a, "to": b, "amount": n}        -> ok / fail (aborted: a conflict, or
                                                          the balance of a would go below 0)
    read      None                                     -> ok {account: balance, ...}
    status    None                                     -> ok {the node's status}

Bank accounts are the keys ``"acct-<i>"`` of the store; each starts at ``initial_balance``
(an account never written reads as that), so the total is ``accounts * initial_balance``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.base import Node
from harness.generator import Context, Generator, each_thread, once, stagger
from harness.history import Op
from harness.registry import NoOptions, SystemInfo, WorkloadInfo, option, parse_options
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import DEFAULT_PORT, PatternSystem, make_pattern
from workloads.options import ms, share
from workloads.pattern_client import PatternClient
from workloads.system import HasPorts

__all__ = [
    "BANK",
    "DEFAULT_INITIAL_BALANCE",
    "LIST_APPEND",
    "TWOPHASE",
    "TWOPHASE_BUGS",
    "BankOps",
    "BankOptions",
    "ListAppendOps",
    "ListAppendOptions",
    "TwoPhaseClient",
    "TwoPhaseOptions",
    "bank_generators",
    "list_append_generators",
]

TWOPHASE_BUGS = {
    "commit-without-all-votes": "the coordinator commits although a write-only participant "
    "voted no (lock conflict) or did not answer; that participant applies the commit when it "
    "comes, out of lock order. Shown by contention alone, and by partitions ('one', 'halves'): "
    "an unreachable participant gets the commit after the heal (G-single / G2 cycles in "
    "list-append, wrong totals or negative balances in bank)",
    "forget-prepared": "a restarted participant drops its prepared transactions and their "
    "locks; shown when a participant is killed (kill target 'majority', 'minority', 'one': "
    "its coordinators live on) between its vote and the commit of a transaction that "
    "commits: the other nodes' clients use its keys before the commit, re-sent every "
    "retry_ms, lands (bank: a read in between sees a wrong total; list-append: a read in "
    "between misses an acknowledged append, a real-time cycle)",
    "no-decision-log": "the coordinator sends commits before it logs its decision; shown when "
    "coordinators are killed (kill target 'all', 'majority') between the first and the last "
    "commit of a transaction: the participants not yet told presume abort and only part of it "
    "survives (bank: the total changes for good, told as total-changed; list-append only when "
    "one later transaction reads keys of both halves)",
}

DEFAULT_INITIAL_BALANCE = 10
#: seconds a client waits after its node refused a connection (see TwoPhaseClient.request)
REFUSED_PAUSE = 0.05


class TwoPhaseClient(PatternClient):
    """A client of ``patterns/twophase`` for the list-append and bank workloads."""

    def __init__(
        self,
        system: HasPorts | None = None,
        *,
        timeout: float = 2.0,
        port: int | None = None,
        accounts: int = 5,
        initial_balance: int = DEFAULT_INITIAL_BALANCE,
    ) -> None:
        super().__init__(system, timeout=timeout, port=port)
        self.accounts = accounts
        self.initial = initial_balance

    def request(self, op: Op, req: dict[str, Any], value: Any = None) -> dict[str, Any] | Op:
        reply = super().request(op, req, value)
        if (
            isinstance(reply, Op)
            and reply.type == "fail"
            and str(reply.error).startswith(("connection-refused", "connect-failed"))
        ):
            # the node is down: nothing was sent, so this is a cheap definite failure; without
            # a pause the worker would retry at once and, under the workload's rate, take the
            # turns of the workers whose nodes are up
            time.sleep(REFUSED_PAUSE)
        return reply

    def invoke(self, op: Op) -> Op:
        if op.f == "status":
            reply = self.request(op, {"type": "status"})
            if isinstance(reply, Op):
                return reply
            return (
                op.complete("ok", reply.get("value")) if reply.get("ok") else self.failed(op, reply)
            )
        if op.f == "txn":
            if not isinstance(op.value, list):
                return op.complete("fail", op.value, error="bad-op: a txn is a list of micro-ops")
            reply = self.request(op, {"type": "txn", "ops": [list(m) for m in op.value]})
            if isinstance(reply, Op):
                return reply
            if not reply.get("ok"):
                return self.failed(op, reply)
            done = [
                [m[0], m[1], (m[2] if m[2] is not None else [])] if m[0] == "r" else m
                for m in reply["value"]
            ]
            return op.complete("ok", done)
        if op.f == "transfer":
            v = op.value if isinstance(op.value, dict) else {}
            a, b, amount = v.get("from"), v.get("to"), v.get("amount")
            if not isinstance(amount, int) or a == b:
                return op.complete("fail", op.value, error=f"bad-op: transfer {op.value!r}")
            ops = [
                ["add", _acct(a), -amount, self.initial, 0],
                ["add", _acct(b), amount, self.initial, None],
            ]
            reply = self.request(op, {"type": "txn", "ops": ops})
            if isinstance(reply, Op):
                return reply
            return op.complete("ok", op.value) if reply.get("ok") else self.failed(op, reply)
        if op.f == "read":
            ops = [["r", _acct(i), None] for i in range(self.accounts)]
            reply = self.request(op, {"type": "txn", "ops": ops})
            if isinstance(reply, Op):
                return reply
            if not reply.get("ok"):
                return self.failed(op, reply)
            balances = {
                i: (m[2] if m[2] is not None else self.initial)
                for i, m in enumerate(reply["value"])
            }
            return op.complete("ok", balances)
        return op.complete("fail", op.value, error=f"bad-op: the twophase client has no {op.f!r}")


def _acct(i: Any) -> str:
    return f"acct-{i}"


class ListAppendOps:
    """Transactions of 1 to ``max_ops`` micro-ops (half reads, half appends of values unique
    per key) over ``spec.keys`` active keys; a key retires after ``spec.ops_per_key`` appends
    and a fresh one takes its place, which keeps lists short. ``options``:
    ``ListAppendOptions``."""

    def __init__(self, spec: WorkloadSpec, options: ListAppendOptions) -> None:
        self.max_ops = options.max_ops
        self.read_share = options.read_share
        self.ops_per_key = spec.ops_per_key
        self.active: list[int] = list(range(spec.keys))
        self.appends: dict[int, int] = dict.fromkeys(self.active, 0)
        self.next_key = spec.keys

    @property
    def keys_touched(self) -> list[int]:
        return sorted(self.appends)

    def op(self, ctx: Context) -> dict[str, Any]:
        rng = ctx.rng
        n = rng.randint(1, self.max_ops)
        keys = rng.sample(self.active, min(n, len(self.active)))
        micro: list[list[Any]] = []
        for key in keys:
            if rng.random() < self.read_share:
                micro.append(["r", key, None])
                continue
            self.appends[key] += 1
            micro.append(["append", key, self.appends[key]])
            if rng.random() < 0.3:  # read what one just appended: internal consistency
                micro.append(["r", key, None])
            if self.appends[key] >= self.ops_per_key:
                slot = self.active.index(key)
                self.active[slot] = self.next_key
                self.appends[self.next_key] = 0
                self.next_key += 1
        return {"f": "txn", "value": micro}


class _FinalListReads:
    """After the final heal: every key ever used is read, four to a transaction."""

    def __init__(self, ops: ListAppendOps) -> None:
        self.ops = ops
        self.keys: list[int] | None = None

    def op(self, ctx: Context) -> dict[str, Any] | None:
        if self.keys is None:
            self.keys = self.ops.keys_touched
        if not self.keys:
            return None
        chunk, self.keys = self.keys[:4], self.keys[4:]
        return {"f": "txn", "value": [["r", k, None] for k in chunk]}


class BankOps:
    """Transfers of 1..``max_transfer`` between two distinct accounts, and reads of every
    balance (``reads`` of the time). ``options``: ``BankOptions``."""

    def __init__(self, spec: WorkloadSpec, options: BankOptions) -> None:
        self.accounts = options.accounts
        self.max_transfer = options.max_transfer
        self.reads = options.reads

    def op(self, ctx: Context) -> dict[str, Any]:
        rng = ctx.rng
        if rng.random() < self.reads:
            return {"f": "read", "value": None}
        a, b = rng.sample(range(self.accounts), 2)
        amount = rng.randint(1, self.max_transfer)
        return {"f": "transfer", "value": {"from": a, "to": b, "amount": amount}}


def list_append_generators(
    spec: WorkloadSpec, options: ListAppendOptions
) -> tuple[Generator, Generator | None]:
    ops = ListAppendOps(spec, options)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, _FinalListReads(ops)


def bank_generators(spec: WorkloadSpec, options: BankOptions) -> tuple[Generator, Generator | None]:
    ops = BankOps(spec, options)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, each_thread(lambda: once("read"))


@dataclass(frozen=True)
class TwoPhaseOptions:
    """The two-phase commit daemon's flags (``system.options``)."""

    lock_wait_ms: int = ms(1000, "how long a prepare waits for its locks")
    prepare_timeout_ms: int = ms(1000, "how long the coordinator waits for a vote")
    doubt_ms: int = ms(1000, "how long a prepared transaction waits before asking")
    retry_ms: int = ms(300, "interval of in-doubt queries and commit re-sends")
    commit_gap_ms: int = ms(0, "pause between the commit messages of one transaction", minimum=0)


@dataclass(frozen=True)
class ListAppendOptions:
    """The ``list-append`` workload's options (``workload.options``)."""

    max_ops: int = option(4, "micro-ops per transaction, at most", minimum=1)
    read_share: float = share(0.5, "share of micro-ops that read")


@dataclass(frozen=True)
class BankOptions:
    """The ``bank`` workload's options (``workload.options``); its client reads ``accounts``
    and ``initial_balance`` too."""

    accounts: int = option(5, "how many accounts", minimum=2)
    max_transfer: int = option(5, "the largest amount of a transfer", minimum=1)
    reads: float = share(0.3, "share of ops that read every balance")
    initial_balance: int = option(
        DEFAULT_INITIAL_BALANCE, "each account's balance at the start", minimum=0
    )


def _active(status: dict[str, Any]) -> bool:
    return bool(status.get("active"))


def _make(spec: SystemSpec, nodes: Sequence[Node], options: TwoPhaseOptions) -> PatternSystem:
    # every node coordinates: the primaries are those with transactions in flight
    return make_pattern("twophase", spec, nodes, options, is_primary=_active)


def _list_client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> TwoPhaseClient:
    return TwoPhaseClient(system, timeout=spec.timeout)


def _bank_client(spec: WorkloadSpec, options: NoOptions, system: HasPorts) -> TwoPhaseClient:
    # the client declares no options of its own, so every key of workload.options is the
    # bank workload's (checked when the suite was read): the client reads two of them
    bank = parse_options(BankOptions, spec.options, "the bank workload")
    return TwoPhaseClient(
        system,
        timeout=spec.timeout,
        accounts=bank.accounts,
        initial_balance=bank.initial_balance,
    )


TWOPHASE = SystemInfo(
    name="twophase",
    description="reference two-phase commit (patterns/twophase): hash-partitioned "
    "participants, every node coordinates its clients' transactions, durable decision log, "
    "presumed abort, strict two-phase locking",
    make=_make,
    clients={"list-append": _list_client, "bank": _bank_client},
    bugs=TWOPHASE_BUGS,
    options=TwoPhaseOptions,
    default_port=DEFAULT_PORT,
    final_ops=("status",),
)

LIST_APPEND = WorkloadInfo(
    name="list-append",
    description="transactions of 1-4 reads and appends over rotating keys (Elle's list-append)",
    generators=list_append_generators,
    checkers=("list-append", "stats"),
    options=ListAppendOptions,
)

BANK = WorkloadInfo(
    name="bank",
    description="transfers between accounts and reads of every balance; the total stays constant",
    generators=bank_generators,
    checkers=("bank", "stats"),
    options=BankOptions,
)
