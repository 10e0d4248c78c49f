"""Virtual actors: single activation, each actor's state linearizable, per-sender order kept,
no message applied twice.

The history is the ``actor`` workload's: ``increment``, ``append`` and ``read`` ops whose
value is ``[actor, v]``; every completion names the message (``sender``, ``seq``) and an
``ok`` one the activation that applied it (``epoch``, ``host``) and the message's place
among the actor's messages (``n``; a read: the messages applied before it). A message was
applied (or read) between its op's invocation and completion (the controller's clock).

Rules, each an anomaly name:

``double-activation``
    Two activations of one actor processed messages at overlapping times. Evidence, in
    ``data["evidence"]``: ``overlap``, an op answered by an older epoch's activation was
    invoked after an op answered by a newer epoch's activation had completed (so the older
    activation was still processing when the newer one already was); ``epoch-two-hosts``,
    two nodes answered for one epoch; ``same-position``, two different messages were applied
    as the same message number of one actor (two activations went on from the same state).
``nonlinearizable``
    An actor's history is not linearizable against its model: a counter and an append-only
    log (``increment`` returns the new count, ``append`` the log's new length, ``read`` both).
    The search is the ``linearizable`` checker's, one partition per actor, after the
    appends of unknown outcome are settled from the reads (``_settle_appends``).
``sender-order``
    Two messages of one sender to one actor applied out of the order the sender sent them:
    ``n`` of the later one not above the earlier one's, or a read's log holding the later
    one's value before the earlier one's.
``applied-twice``
    A message applied more than once: a read's log holds one appended value twice (values
    are unique), or a read's count exceeds the increments sent to the actor before the read
    completed (those that certainly failed left out).
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeGuard

from checkers.base import Anomaly, Result, merge_valid
from checkers.linearizable import ILLEGAL, UNKNOWN, LinearizableChecker, Model
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

__all__ = ["ACTOR_MODEL", "CHECKER", "ActorChecker", "ActorOptions", "Message", "messages_of"]

UPDATES = ("increment", "append")
FS = (*UPDATES, "read")


@dataclass(frozen=True)
class ActorOptions:
    """The actor checker's options."""

    max_reports: int = option(5, "anomalies reported per rule", minimum=1)
    time_budget_s: float = option(60.0, "seconds of linearizability search", minimum=0.001)


CHECKER = CheckerInfo(
    "actor",
    "virtual actors: single activation (epochs in real time), each actor linearizable (a "
    "counter and a log), per-sender order, no message applied twice",
    lambda options: ActorChecker(options.max_reports, options.time_budget_s),
    ActorOptions,
)


# -- the model: a counter and an append-only log -----------------------------------------------


def _step(state: tuple[int, tuple[Any, ...]], f: str, input: Any, output: Any) -> Any:
    count, log = state
    if f == "increment":
        return (count + 1, log) if output is UNKNOWN or output == count + 1 else ILLEGAL
    if f == "append":
        return (count, (*log, input)) if output is UNKNOWN or output == len(log) + 1 else ILLEGAL
    if f == "read":
        if output is UNKNOWN:
            return state
        seen = dict(output) if isinstance(output, tuple) else {}
        return state if (seen.get("count"), seen.get("log")) == (count, log) else ILLEGAL
    return ILLEGAL


def _output(f: str, value: Any, completion: Op) -> Any:
    """An append's output is the log's length after it (the completion's ``len``)."""
    return completion.extra.get("len") if f == "append" else value


def _describe_state(state: tuple[int, tuple[Any, ...]]) -> str:
    return f"count {state[0]}, log {list(state[1])}"


def _describe_op(f: str, input: Any, output: Any) -> str:
    unknown = " (outcome unknown)"
    if f == "increment":
        return "increment" + (unknown if output is UNKNOWN else f" -> {output}")
    if f == "append":
        return f"append {input}" + (unknown if output is UNKNOWN else f" -> length {output}")
    seen = dict(output) if isinstance(output, tuple) else {}
    return f"read count {seen.get('count')}, log {list(seen.get('log') or ())}"


ACTOR_MODEL = Model(
    name="actor",
    step=_step,
    init=lambda initial: (0, ()),
    fs=frozenset(FS),
    reads=frozenset({"read"}),
    output=_output,
    describe_op=_describe_op,
    describe_state=_describe_state,
)
"""An actor: ``increment`` -> the new count, ``append x`` -> the log's new length, ``read``
-> ``{"count", "log"}``."""


# -- the messages of a history --------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One op of the history as a message to an actor; ``epoch``, ``host``, ``n`` and
    ``result`` only for an ``ok`` completion."""

    actor: str
    f: str
    arg: Any
    invoke: Op
    complete: Op
    sender: str | None
    seq: int | None
    epoch: int | None = None
    host: str | None = None
    n: int | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.complete.type == "ok" and self.epoch is not None and self.n is not None

    @property
    def start(self) -> int:
        return self.invoke.time

    @property
    def end(self) -> int:
        return self.complete.time

    def ops(self) -> list[dict[str, Any]]:
        return [self.invoke.to_dict(), self.complete.to_dict()]

    def describe(self) -> str:
        """``append 17 from p3 (message 12), answered by n2's activation at epoch 7 as message
        40, invoked at 1.234 s, completed at 1.240 s``"""
        what = f"{self.f} {self.arg}" if self.f == "append" else self.f
        who = f" from {self.sender} (message {self.seq})" if self.sender else ""
        by = (
            f", answered by {self.host}'s activation at epoch {self.epoch} as message {self.n}"
            if self.ok
            else f", {self.complete.type}"
        )
        return f"{what}{who}{by}, invoked at {_s(self.start)}, completed at {_s(self.end)}"


def messages_of(history: list[Op]) -> list[Message]:
    """Every completed increment, append and read with a well-formed ``[actor, v]`` value, in
    the order of completion (fields the completion lacks are None)."""
    pending: dict[int | str, Op] = {}
    out: list[Message] = []
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        v = inv.value if inv is not None else None
        if inv is None or inv.f not in FS or not isinstance(v, list | tuple) or len(v) != 2:
            continue
        x = op.extra
        sender = x.get("sender") if isinstance(x.get("sender"), str) else None
        seq = x.get("seq") if _is_int(x.get("seq")) else None
        m = Message(str(v[0]), inv.f, v[1], inv, op, sender, seq)
        cv = op.value
        if op.type == "ok" and _is_int(x.get("epoch")) and _is_int(x.get("n")):
            result = cv[1] if isinstance(cv, list | tuple) and len(cv) == 2 else None
            if inv.f == "append":
                result = x.get("len")
            host = x.get("host") if isinstance(x.get("host"), str) else None
            m = Message(m.actor, m.f, m.arg, inv, op, sender, seq, x["epoch"], host, x["n"], result)
        out.append(m)
    return out


# -- the checker ---------------------------------------------------------------------------------


class ActorChecker:
    """The rules in the module docstring; ``max_reports`` caps the anomalies of each, the
    linearizability search stops at ``time_budget_s`` ("unknown")."""

    name = "actor"

    def __init__(self, max_reports: int = 5, time_budget_s: float = 60.0) -> None:
        self.max_reports = max_reports
        self.linearizable = LinearizableChecker(ACTOR_MODEL, time_budget_s=time_budget_s)

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        msgs = messages_of(history)
        by_actor: dict[str, list[Message]] = {}
        for m in msgs:
            by_actor.setdefault(m.actor, []).append(m)
        rules: dict[str, list[Anomaly]] = {
            "double-activation": [],
            "sender-order": [],
            "applied-twice": [],
        }
        appended = {m.arg: m for m in msgs if m.f == "append"}
        for actor, mine in sorted(by_actor.items()):
            rules["double-activation"] += _double_activation(actor, mine)
            rules["sender-order"] += _sender_order(actor, mine, appended)
            rules["applied-twice"] += _applied_twice(actor, mine)
        searched, inferred, dropped = _settle_appends(history, msgs)
        lin = self.linearizable.check(searched, ctx)
        anomalies: list[Anomaly] = []
        for found in rules.values():
            found.sort(key=_last_time)
            anomalies += found[: self.max_reports]
        anomalies += lin.anomalies[: self.max_reports]
        valid = merge_valid([not any(rules.values()), lin.valid])
        ok = [m for m in msgs if m.ok]
        details: dict[str, Any] = {
            "actors": len(by_actor),
            "messages-ok": len(ok),
            "activations-seen": len({(m.actor, m.epoch) for m in ok}),
            "actors-moved": sum(
                1 for a in by_actor.values() if len({m.epoch for m in a if m.ok}) > 1
            ),
            "duplicates-answered": sum(1 for m in ok if m.complete.extra.get("dup") is True),
            "counts": {name: len(found) for name, found in rules.items()},
            "appends-settled": {"seen-in-a-read": inferred, "never-seen": dropped},
            "linearizable": {k: v for k, v in lin.details.items() if k != "keys"},
        }
        if lin.valid == "unknown":
            details["reason"] = lin.details.get("reason")
        return Result(valid, anomalies, details)

    def write_artifacts(self, result: Result, directory: Path) -> list[Path]:
        """The linearizability checker's page of the actors that are not linearizable."""
        return self.linearizable.write_artifacts(result, directory)


def _settle_appends(history: list[Op], msgs: list[Message]) -> tuple[list[Op], int, int]:
    """The history the linearizability search gets: each append whose outcome is unknown is
    settled from the reads. Its value is unique, so a read whose log holds it at index i
    says it happened, with the log's length i + 1 after it: it becomes an ``ok`` completion
    with that length at the end of the history (it still may take effect at any point after
    its invocation). One that no read shows is left out (linearized last it changes nothing
    a read saw, so leaving it out does not change the verdict). Without this, k such appends
    are tried in k! orders before a read rules all but one out.

    Returns (the history, how many were settled from a read, how many left out)."""
    where: dict[tuple[str, Any], int] = {}
    for r in msgs:
        if r.ok and r.f == "read" and isinstance(r.result, dict):
            for i, x in enumerate(r.result.get("log") or []):
                where.setdefault((r.actor, _hashable(x)), i)
    drop: set[int] = set()  # ids of ops left out (and of completions moved to the end)
    late: list[Op] = []
    unseen = 0
    for m in msgs:
        if m.f != "append" or m.complete.type != "info":
            continue
        at = where.get((m.actor, _hashable(m.arg)))
        drop.add(id(m.complete))
        if at is None:
            drop.add(id(m.invoke))
            unseen += 1
        else:
            late.append(replace(m.complete, type="ok", extra={**m.complete.extra, "len": at + 1}))
    if not drop:
        return history, 0, 0
    end = max((op.time for op in history), default=0)
    kept = [op for op in history if id(op) not in drop]
    return kept + [replace(op, time=end) for op in late], len(late), unseen


def _double_activation(actor: str, mine: list[Message]) -> list[Anomaly]:
    ok = [m for m in mine if m.ok]
    out: list[Anomaly] = []
    hosts: dict[int, Message] = {}
    for m in ok:
        assert m.epoch is not None
        first = hosts.setdefault(m.epoch, m)
        if first.host != m.host:
            out.append(
                _anomaly(
                    "double-activation",
                    "epoch-two-hosts",
                    f"actor {actor}: epoch {m.epoch} was answered by {first.host} "
                    f"({first.describe()}) and by {m.host} ({m.describe()}): two activations "
                    "with one epoch",
                    first,
                    m,
                )
            )
    # overlap: the newest epoch among the ops completed before each op's invocation
    by_end = sorted(ok, key=lambda m: m.end)
    ends = [m.end for m in by_end]
    newest: list[Message] = []
    for m in by_end:
        top = newest[-1] if newest else None
        assert m.epoch is not None
        newest.append(m if top is None or (top.epoch or 0) < m.epoch else top)
    reported: set[int] = set()
    for m in sorted(ok, key=lambda m: m.start):
        i = bisect.bisect_left(ends, m.start)
        if i == 0:
            continue
        newer = newest[i - 1]
        assert m.epoch is not None and newer.epoch is not None
        if newer.epoch > m.epoch and m.epoch not in reported:
            reported.add(m.epoch)
            out.append(
                _anomaly(
                    "double-activation",
                    "overlap",
                    f"actor {actor}: {m.host}'s activation at epoch {m.epoch} applied a message "
                    f"after {newer.host}'s newer activation at epoch {newer.epoch} had answered "
                    f"one: {m.describe()}; but {newer.describe()}",
                    newer,
                    m,
                )
            )
    at: dict[int, Message] = {}
    for m in ok:
        if m.f not in UPDATES:
            continue
        assert m.n is not None
        first = at.setdefault(m.n, m)
        if first is not m and (first.sender, first.seq) != (m.sender, m.seq):
            out.append(
                _anomaly(
                    "double-activation",
                    "same-position",
                    f"actor {actor}: two messages were applied as message {m.n}: "
                    f"{first.describe()}; and {m.describe()}",
                    first,
                    m,
                )
            )
    return out


def _sender_order(actor: str, mine: list[Message], appended: dict[Any, Message]) -> list[Anomaly]:
    out: list[Anomaly] = []
    sent: dict[str, list[Message]] = {}
    for m in mine:
        if m.ok and m.f in UPDATES and m.sender is not None and m.seq is not None:
            sent.setdefault(m.sender, []).append(m)
    for sender, ms in sent.items():
        ms.sort(key=lambda m: m.seq or 0)
        for a, b in zip(ms, ms[1:], strict=False):
            assert a.n is not None and b.n is not None
            if b.seq != a.seq and b.n <= a.n:
                out.append(
                    _anomaly(
                        "sender-order",
                        "positions",
                        f"actor {actor}: {sender}'s message {b.seq} was applied as message "
                        f"{b.n}, not after its message {a.seq} (message {a.n}): "
                        f"{a.describe()}; then {b.describe()}",
                        a,
                        b,
                    )
                )
    for r in mine:
        if not (r.ok and r.f == "read" and isinstance(r.result, dict)):
            continue
        last: dict[str, Message] = {}
        for x in r.result.get("log") or []:
            w = appended.get(x)
            if w is None or w.sender is None or w.seq is None or w.actor != actor:
                continue
            prev = last.get(w.sender)
            if prev is not None and prev.seq is not None and w.seq < prev.seq:
                out.append(
                    _anomaly(
                        "sender-order",
                        "log",
                        f"actor {actor}: a read's log holds {w.sender}'s value {w.arg} "
                        f"(message {w.seq}) after its value {prev.arg} (message {prev.seq}): "
                        f"{r.describe()} read {r.result.get('log')}",
                        prev,
                        w,
                        r,
                    )
                )
                break
            last[w.sender] = w
    return out


def _applied_twice(actor: str, mine: list[Message]) -> list[Anomaly]:
    out: list[Anomaly] = []
    incs = sorted(m.start for m in mine if m.f == "increment" and m.complete.type != "fail")
    for r in mine:
        if not (r.ok and r.f == "read" and isinstance(r.result, dict)):
            continue
        log = r.result.get("log") or []
        twice = sorted((x for x, k in Counter(map(_hashable, log)).items() if k > 1), key=repr)
        if twice:
            out.append(
                _anomaly(
                    "applied-twice",
                    "log",
                    f"actor {actor}: a read's log holds {twice[0]!r} "
                    f"{log.count(twice[0])} times, appended once: {r.describe()} read {log}",
                    r,
                    value=twice[0],
                )
            )
            continue
        count = r.result.get("count")
        sent = bisect.bisect_left(incs, r.end)
        if _is_int(count) and count > sent:
            out.append(
                _anomaly(
                    "applied-twice",
                    "count",
                    f"actor {actor}: a read found count {count}, but only {sent} increments "
                    f"had been sent to it (not counting failed ones) by the time it completed: "
                    f"{r.describe()}",
                    r,
                    value=count,
                )
            )
    return out


def _anomaly(name: str, evidence: str, text: str, *msgs: Message, value: Any = None) -> Anomaly:
    ops = [d for m in msgs for d in m.ops()]
    data: dict[str, Any] = {
        "evidence": evidence,
        "actor": msgs[0].actor,
        "messages": [
            {
                "f": m.f,
                "arg": m.arg,
                "sender": m.sender,
                "seq": m.seq,
                "epoch": m.epoch,
                "host": m.host,
                "n": m.n,
                "op": m.complete.index,
            }
            for m in msgs
        ],
    }
    if value is not None:
        data["value"] = value
    return Anomaly(name, text, ops, data)


def _last_time(a: Anomaly) -> int:
    return max((op.get("time") or 0 for op in a.ops), default=0)


def _hashable(x: Any) -> Any:
    return repr(x) if isinstance(x, list | dict) else x


def _is_int(n: Any) -> TypeGuard[int]:
    return isinstance(n, int) and not isinstance(n, bool)


def _s(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"
