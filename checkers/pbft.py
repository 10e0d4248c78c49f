"""PBFT's own safety, from what the replicas report after the run (the ``log`` final op).

Every replica answers ``log`` with the requests it committed (``[seq, view, digest, client,
rid]``, one per commit) and executed (``[seq, digest, client, rid, fresh]``, fresh when the
request changed the state, false for a duplicate that was not executed again). The register's
results are checked for linearizability by the ``linearizable`` checker; this one checks the
agreement underneath them. Rules, each an anomaly name:

``conflicting-commit``
    Two different requests committed (or executed) at one sequence number, by two replicas
    or by one replica in two views: the replicas' orders diverge there.
``executed-twice``
    One client request changed the state at two sequence numbers (on one replica, or at
    different numbers on different replicas): it took effect more than once.

A lying replica (the ``byzantine`` fault) lies in what it sends, never in its own state or
its report (``patterns/pbft/lies.py``), so every replica's report is checked; the details
list who lied, how and when (the nemesis ops), and each anomaly says whether a replica it
names was lying at some time. No report at all is ``unknown``: nothing could be checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result, unknown
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "PbftChecker", "PbftOptions", "liars", "reports"]


@dataclass(frozen=True)
class PbftOptions:
    """The pbft checker's options."""

    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "pbft",
    "PBFT agreement: no two requests committed at one sequence number, no request executed "
    "twice (from each replica's final log report)",
    lambda options: PbftChecker(options.max_reports),
    PbftOptions,
)


def reports(history: list[Op]) -> dict[str, tuple[Op, dict[str, Any]]]:
    """Each replica's last ``log`` report, by replica id: (the op, its value)."""
    out: dict[str, tuple[Op, dict[str, Any]]] = {}
    for op in history:
        if op.f != "log" or op.type != "ok" or not isinstance(op.value, dict):
            continue
        rid = op.value.get("id")
        if isinstance(rid, str):
            out[rid] = (op, op.value)
    return out


def liars(history: list[Op]) -> list[dict[str, Any]]:
    """Every lie the nemesis started: ``{"nodes", "mode", "time"}`` (ns since the start)."""
    out = []
    for op in history:
        if op.process != NEMESIS or op.f != "start-byzantine" or op.type != "ok":
            continue
        value = op.value if isinstance(op.value, dict) else {}
        out.append({"nodes": value.get("nodes", []), "mode": value.get("mode"), "time": op.time})
    return out


class PbftChecker:
    name = "pbft"

    def __init__(self, max_reports: int = 5) -> None:
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        got = reports(history)
        lies = liars(history)
        lied = {n for lie in lies for n in lie["nodes"]}
        if not got:
            return unknown("no replica reported its log (the final log ops all failed)", lies=lies)
        # seq -> digest -> [(replica, view or None for an execution, client, rid)]
        at: dict[int, dict[str, list[tuple[str, Any, Any, Any]]]] = {}
        # (client, rid) -> seq -> replicas where it changed the state there
        fresh: dict[tuple[str, int], dict[int, list[str]]] = {}
        for replica, (_, value) in sorted(got.items()):
            for entry in value.get("committed") or []:
                if isinstance(entry, list) and len(entry) == 5:
                    seq, view, d, client, rid = entry
                    at.setdefault(seq, {}).setdefault(d, []).append((replica, view, client, rid))
            for entry in value.get("executed") or []:
                if isinstance(entry, list) and len(entry) == 5:
                    seq, d, client, rid, new = entry
                    at.setdefault(seq, {}).setdefault(d, []).append((replica, None, client, rid))
                    if new and client is not None:
                        fresh.setdefault((client, rid), {}).setdefault(seq, []).append(replica)
        ops = _request_ops(history)
        # every one counted, the first max_reports of each explained
        conflicts = [(seq, by) for seq, by in sorted(at.items()) if len(by) > 1]
        twice = [
            (who, seqs)
            for who, seqs in sorted(fresh.items(), key=lambda kv: min(kv[1]))
            if len(seqs) > 1 or any(len(set(r)) < len(r) for r in seqs.values())
        ]
        n = self.max_reports
        anomalies = [_conflict(seq, by, lied, ops) for seq, by in conflicts[:n]]
        anomalies += [_twice(who, seqs, lied, ops) for who, seqs in twice[:n]]
        details = {
            "replicas-reported": sorted(got),
            "sequence-numbers": len(at),
            "highest-executed": {r: v.get("last_exec") for r, (_, v) in sorted(got.items())},
            "state-transfers": {r: len(v.get("installs") or []) for r, (_, v) in got.items()},
            "conflicting-commits": len(conflicts),
            "executed-twice": len(twice),
            "lies": lies,
        }
        return Result(not anomalies, anomalies, details)


def _short(d: str) -> str:
    return d if d == "null" else d[:8]


def _request_ops(history: list[Op]) -> dict[tuple[Any, Any], Op]:
    """The completion of each client request, by its name in the replicas' logs."""
    out: dict[tuple[Any, Any], Op] = {}
    for op in history:
        req = op.extra.get("request")
        if not op.is_invoke and isinstance(req, list) and len(req) == 2:
            out[(req[0], req[1])] = op
    return out


def _evidence(who: list[tuple[Any, Any]], ops: dict[tuple[Any, Any], Op]) -> list[dict[str, Any]]:
    """The client ops of the requests named (their completions are when a client could
    have seen the anomaly's first effects)."""
    found = [ops[w] for w in dict.fromkeys(who) if w in ops]
    return [op.to_dict() for op in sorted(found, key=lambda o: o.time)]


def _conflict(
    seq: int,
    by: dict[str, list[tuple[str, Any, Any, Any]]],
    lied: set[str],
    ops: dict[tuple[Any, Any], Op],
) -> Anomaly:
    parts = []
    for d, who in sorted(by.items()):
        replicas = sorted({r for r, *_ in who})
        views = sorted({v for _, v, _, _ in who if v is not None})
        client, rid = who[0][2], who[0][3]
        what = "a null request" if client is None else f"request {rid} of {client}"
        where = f" in view {', '.join(map(str, views))}" if views else ""
        parts.append(f"{', '.join(replicas)} committed {what} (digest {_short(d)}){where}")
    names = sorted({r for who in by.values() for r, *_ in who})
    liars_named = sorted(set(names) & lied)
    note = f" ({', '.join(liars_named)} lied during the run)" if liars_named else ""
    requests = [(who[0][2], who[0][3]) for who in by.values() if who[0][2] is not None]
    return Anomaly(
        "conflicting-commit",
        f"sequence number {seq}: " + "; ".join(parts) + note,
        ops=_evidence(requests, ops),
        data={
            "seq": seq,
            "digests": {d: sorted({r for r, *_ in who}) for d, who in sorted(by.items())},
            "replicas-that-lied": liars_named,
        },
    )


def _twice(
    who: tuple[str, int],
    seqs: dict[int, list[str]],
    lied: set[str],
    ops: dict[tuple[Any, Any], Op],
) -> Anomaly:
    client, rid = who
    where = "; ".join(f"at {s} on {', '.join(sorted(r))}" for s, r in sorted(seqs.items()))
    return Anomaly(
        "executed-twice",
        f"request {rid} of {client} changed the state at more than one place: {where}",
        ops=_evidence([who], ops),
        data={"client": client, "rid": rid, "at": {str(s): r for s, r in seqs.items()}},
    )
