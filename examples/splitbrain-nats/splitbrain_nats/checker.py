"""The ``nats-revisions`` checker: what the revisions the bucket returned say on their own.

The client records, in each completed register op, the revision JetStream gave it
(``op.extra["revision"]``: the stream sequence of the value read or written; 0 for a read
that found no value). Three properties must hold whatever the faults:

- ``revision-went-back``: one process (a client thread between two ``info``s, which talks to
  one server) never sees a key's revision go backwards: a read returns at least the
  revision the process last saw for that key, and a write gets a newer one.
- ``revision-reused``: a revision names one value of one key: two ops that report the same
  revision agree on the key and the value.
- ``two-updates-over-one-revision``: a cas writes only over the revision it read
  (``op.extra["over"]``), and once it has, that revision is no longer the key's last: two ok
  cas over the same revision of a key mean JetStream let both through (a lost update; NATS
  before 2.9.21 checks the expected revision before replication, not with it:
  nats-io/nats-server#4320).
"""

from __future__ import annotations

from typing import Any

from checkers.base import Anomaly, Result
from harness.history import Op

__all__ = ["RevisionsChecker"]


class RevisionsChecker:
    """Checker (``checkers.base``) of the revisions in a register history of NATS."""

    name = "nats-revisions"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        #: (process, key) -> the op with the highest revision that process saw on the key
        last: dict[tuple[Any, Any], Op] = {}
        #: revision -> the first op that reported it
        named: dict[int, Op] = {}
        #: (key, revision) -> the first ok cas that wrote over it
        over: dict[tuple[Any, int], Op] = {}
        anomalies: list[Anomaly] = []
        checked = 0
        for op in history:
            rev = op.extra.get("revision") if op.type == "ok" else None
            if not isinstance(rev, int) or not isinstance(op.value, list | tuple):
                continue
            checked += 1
            key, value = op.value[0], _value_after(op)
            seen = last.get((op.process, key))
            if seen is not None:
                before = seen.extra["revision"]
                if rev < before or (rev == before and op.f != "read"):
                    anomalies.append(_went_back(op, seen, key))
            if seen is None or rev >= seen.extra["revision"]:
                last[(op.process, key)] = op
            base = op.extra.get("over") if op.f == "cas" else None
            if isinstance(base, int):
                first_over = over.setdefault((key, base), op)
                if first_over is not op:
                    anomalies.append(_two_over_one(op, first_over, key, base))
            if rev == 0:
                continue
            first = named.setdefault(rev, op)
            if first is not op and (first.value[0], _value_after(first)) != (key, value):
                anomalies.append(_reused(op, first, rev))
        details = {"ops_with_revisions": checked}
        if anomalies:
            return Result(False, anomalies, details)
        if checked == 0:
            return Result("unknown", [], {**details, "reason": "no ok op carries a revision"})
        return Result(True, [], details)


def _value_after(op: Op) -> Any:
    """The key's value at the op's revision: what a read saw, a write or a cas wrote."""
    arg = op.value[1]
    return arg[1] if op.f == "cas" and isinstance(arg, list | tuple) else arg


def _went_back(op: Op, seen: Op, key: Any) -> Anomaly:
    rev, before = op.extra["revision"], seen.extra["revision"]
    return Anomaly(
        "revision-went-back",
        f"process {op.process} saw key {key} at revision {before} ({seen.f}), then its "
        f"{op.f} got revision {rev}: a client that stays on one server must never see a "
        "key's history go backwards (a stale leader, or a server that lost writes).",
        [seen.to_dict(), op.to_dict()],
        {"process": op.process, "key": key, "revisions": [before, rev]},
    )


def _reused(op: Op, first: Op, rev: int) -> Anomaly:
    return Anomaly(
        "revision-reused",
        f"revision {rev} was reported for key {first.value[0]} = {_value_after(first)!r} "
        f"({first.f}) and for key {op.value[0]} = {_value_after(op)!r} ({op.f}): a revision "
        "is one message of the stream, so two servers stored different messages under it.",
        [first.to_dict(), op.to_dict()],
        {"revision": rev},
    )


def _two_over_one(op: Op, first: Op, key: Any, base: int) -> Anomaly:
    revs = [first.extra["revision"], op.extra["revision"]]
    return Anomaly(
        "two-updates-over-one-revision",
        f"two cas ops on key {key} both succeeded over revision {base}: {first.value[1]} "
        f"(written as revision {revs[0]}) and {op.value[1]} (as revision {revs[1]}). An "
        f"update names the revision it expects to be the key's last; after the first, "
        f"{base} no longer was, so the second had to be refused: an update was lost.",
        [first.to_dict(), op.to_dict()],
        {"key": key, "over": base, "revisions": revs},
    )
