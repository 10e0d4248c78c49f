"""The two-phase commit pattern (``patterns/twophase``): its System, its Client, and the
``list-append`` and ``bank`` workloads.

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
from typing import Any

from harness.generator import Context, Generator, each_thread, once, stagger
from harness.history import Op
from harness.spec import SystemSpec, WorkloadSpec
from workloads.daemon import PatternSystem, option_flags
from workloads.lock import PatternClient

__all__ = [
    "TWOPHASE_BUGS",
    "BankOps",
    "ListAppendOps",
    "TwoPhaseClient",
    "register",
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
        timeout: float = 2.0,
        port: int | None = None,
        *,
        accounts: int = 5,
        initial_balance: int = DEFAULT_INITIAL_BALANCE,
    ) -> None:
        super().__init__(timeout=timeout, port=port)
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
            ops = [["add", _acct(a), -amount, self.initial, 0],
                   ["add", _acct(b), amount, self.initial, None]]  # fmt: skip
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
    and a fresh one takes its place, which keeps lists short. Options: ``max_ops`` (4),
    ``read_share`` (0.5)."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.max_ops = int(spec.options.get("max_ops", 4))
        self.read_share = float(spec.options.get("read_share", 0.5))
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
    balance (``reads`` of the time). Options: ``accounts`` (5), ``max_transfer`` (5),
    ``reads`` (0.3), ``initial_balance`` (10, the system's must match)."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.accounts = int(spec.options.get("accounts", 5))
        self.max_transfer = int(spec.options.get("max_transfer", 5))
        self.reads = float(spec.options.get("reads", 0.3))

    def op(self, ctx: Context) -> dict[str, Any]:
        rng = ctx.rng
        if rng.random() < self.reads:
            return {"f": "read", "value": None}
        a, b = rng.sample(range(self.accounts), 2)
        amount = rng.randint(1, self.max_transfer)
        return {"f": "transfer", "value": {"from": a, "to": b, "amount": amount}}


def list_append_generators(spec: WorkloadSpec) -> tuple[Generator, Generator | None]:
    ops = ListAppendOps(spec)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, _FinalListReads(ops)


def bank_generators(spec: WorkloadSpec) -> tuple[Generator, Generator | None]:
    ops = BankOps(spec)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, each_thread(lambda: once("read"))


def twophase_args(spec: SystemSpec) -> list[str]:
    """Daemon options from ``system.options``: lock_wait_ms, prepare_timeout_ms, doubt_ms,
    retry_ms, commit_gap_ms."""
    names = ("lock_wait_ms", "prepare_timeout_ms", "doubt_ms", "retry_ms", "commit_gap_ms")
    return option_flags(spec.options, names, "twophase")


def register() -> list[Any]:
    from workloads.registry import CheckerInfo, Option, SystemInfo, WorkloadInfo, ms, share

    def make(spec: SystemSpec, nodes: list[Any]) -> PatternSystem:
        # every node coordinates: the primaries are those with transactions in flight
        return PatternSystem("twophase", spec.bugs, spec.port, nodes=nodes,
                             extra_args=twophase_args(spec),
                             is_primary=lambda st: bool(st.get("active")))  # fmt: skip

    def list_client(spec: WorkloadSpec) -> TwoPhaseClient:
        return TwoPhaseClient(timeout=spec.timeout)

    def bank_client(spec: WorkloadSpec) -> TwoPhaseClient:
        o = spec.options
        return TwoPhaseClient(timeout=spec.timeout, accounts=int(o.get("accounts", 5)),
                              initial_balance=int(o.get("initial_balance",
                                                        DEFAULT_INITIAL_BALANCE)))  # fmt: skip

    def list_append(**opts: Any) -> Any:
        from checkers.history_checks import HISTORY_CHECKERS

        return HISTORY_CHECKERS["list-append"](**opts)

    def bank(**opts: Any) -> Any:
        from checkers.history_checks import HISTORY_CHECKERS

        return HISTORY_CHECKERS["bank"](**opts)

    return [
        SystemInfo(
            "twophase",
            "reference two-phase commit (patterns/twophase): hash-partitioned participants, "
            "every node coordinates its clients' transactions, durable decision log, "
            "presumed abort, strict two-phase locking",
            TWOPHASE_BUGS, make, {"list-append": list_client, "bank": bank_client},
            final_ops=("status",),
            options=(
                ms("lock_wait_ms", 1000, "how long a prepare waits for its locks"),
                ms("prepare_timeout_ms", 1000, "how long the coordinator waits for a vote"),
                ms("doubt_ms", 1000, "how long a prepared transaction waits before asking"),
                ms("retry_ms", 300, "interval of in-doubt queries and commit re-sends"),
                ms("commit_gap_ms", 0, "pause between the commit messages of one transaction",
                   minimum=0),
            ),
        ),
        WorkloadInfo(
            "list-append",
            "transactions of 1-4 reads and appends over rotating keys (Elle's list-append)",
            list_append_generators, ("list-append", "stats"),
            options=(
                Option("max_ops", int, 4, "micro-ops per transaction, at most", minimum=1),
                share("read_share", 0.5, "share of micro-ops that read"),
            ),
        ),
        WorkloadInfo(
            "bank",
            "transfers between accounts and reads of every balance; the total stays constant",
            bank_generators, ("bank", "stats"),
            options=(
                Option("accounts", int, 5, "how many accounts", minimum=2),
                Option("max_transfer", int, 5, "the largest amount of a transfer", minimum=1),
                share("reads", 0.3, "share of ops that read every balance"),
                Option("initial_balance", int, DEFAULT_INITIAL_BALANCE, "each account's "
                       "balance at the start", minimum=0),
            ),
        ),
        CheckerInfo(
            "list-append",
            "Elle-style isolation check of list-append transactions (checkers/txn)",
            list_append, {"consistency_models": ["strict-serializable"]},
        ),
        CheckerInfo(
            "bank",
            "transfers preserve the total of every read; no negative balance (checkers/jepsen)",
            bank, {},
        ),
    ]  # fmt: skip
