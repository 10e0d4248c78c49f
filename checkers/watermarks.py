"""The invariants of a leader-follower log with high- and low-water marks.

A primary appends writes to a log and replicates it; the high-water mark (HWM) is the highest
index a majority holds, and only entries at or below it may be seen; the low-water mark (LWM)
is where the log was truncated, and entries at or below it may never be served again. The
history this checker reads (``workloads/leaderfollower.py``)::

    write / cas  ok, with "log_index": i      the write was acknowledged as entry i
    read-log     ok {"node", "hwm", "lwm", "entries": [[i, term, cmd], ...]}
    truncate     ok {"upto": L, "index": t}   entries <= L truncated, by entry t
    audit        ok {"node", "hwm", "lwm", "entries"}   every committed entry, after the test

The audit with the highest HWM is the final committed log. Rules, each an anomaly name:

- ``lost-acknowledged-write``: an acknowledged write is not at its index in the final log.
  The primary acknowledged an entry that a failover then dropped: it acknowledged before a
  majority held the entry (before the HWM passed it).
- ``read-beyond-hwm``: a log read returned an entry above the HWM the same reply states.
- ``uncommitted-entry-served``: a log read returned an entry that the final log does not
  hold at that index: the reader saw data that was never committed (it was above the HWM
  when it was served, whatever the reply said).
- ``truncated-entry-served``: a log read returned an entry at or below the LWM the reply
  states, or at or below a truncation the serving node had already applied (its HWM had
  reached the truncation's entry).
- ``committed-logs-diverge``: two audits disagree about an entry below both their HWMs.

The register view (reads and writes per key) is checked by the linearizability checker.
Without an audit the rules that need the final log cannot be checked: the result is then
"unknown" unless another rule already failed.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result, when
from harness.history import Op
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "WatermarksChecker", "WatermarksOptions"]


@dataclass(frozen=True)
class WatermarksOptions:
    """The watermarks checker's options."""

    max_per_rule: int = option(5, "anomalies reported per rule", minimum=1)


CHECKER = CheckerInfo(
    "watermarks",
    "leader-follower log: acknowledged entries never lost, nothing served past the high-water "
    "mark or at or below the low-water mark",
    lambda options: WatermarksChecker(options.max_per_rule),
    WatermarksOptions,
)


class WatermarksChecker:
    """Checks a ``log`` workload history; ``max_per_rule`` anomalies of each kind are kept
    (all are counted in ``details``)."""

    name = "watermarks"

    def __init__(self, max_per_rule: int = 5) -> None:
        self.max_per_rule = max_per_rule

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        ops = _Ops(history)
        found: dict[str, list[Anomaly]] = {}

        def add(a: Anomaly) -> None:
            found.setdefault(a.name, []).append(a)

        for a in _beyond_hwm(ops.reads, ctx):
            add(a)
        for a in _truncated(ops.reads, ops.truncates, ctx):
            add(a)
        reference = max(ops.audits, key=lambda p: _hwm(p[1]), default=None)
        if reference is not None:
            final = _FinalLog(reference[1])
            for a in _diverged(ops.audits, final, ctx):
                add(a)
            for a in _lost(ops.writes, final, ctx):
                add(a)
            for a in _uncommitted(ops.reads, final, ctx):
                add(a)

        details: dict[str, Any] = {
            "acknowledged_writes": len(ops.writes),
            "log_reads": len(ops.reads),
            "entries_served": sum(len(_entries(c)) for _, c in ops.reads),
            "truncations": len(ops.truncates),
            "audits": len(ops.audits),
            "counts": {name: len(v) for name, v in found.items()},
        }
        if reference is not None:
            details["final_hwm"] = _hwm(reference[1])
            details["final_log_from"] = reference[1].value.get("node") or reference[1].node
        anomalies = [a for name in sorted(found) for a in found[name][: self.max_per_rule]]
        if anomalies:
            return Result(False, anomalies, details)
        if reference is None:
            details["reason"] = (
                "no audit of the final log succeeded, so acknowledged writes and served "
                "entries could not be compared with what was committed"
            )
            return Result("unknown", [], details)
        if not ops.reads:
            details["reason"] = "no log read succeeded: nothing was served to check"
            return Result("unknown", [], details)
        return Result(True, [], details)


# -- the history, sorted ------------------------------------------------------------------


class _Ops:
    """The pairs (invocation, ok completion) the rules need."""

    def __init__(self, history: list[Op]) -> None:
        self.writes: list[tuple[Op, Op]] = []
        self.reads: list[tuple[Op, Op]] = []
        self.truncates: list[tuple[Op, Op]] = []
        self.audits: list[tuple[Op, Op]] = []
        pending: dict[Any, Op] = {}
        for op in history:
            if not op.is_client:
                continue
            if op.type == "invoke":
                pending[op.process] = op
                continue
            inv = pending.pop(op.process, None)
            if inv is None or op.type != "ok":
                continue
            if op.f in ("write", "cas"):
                self.writes.append((inv, op))
            elif op.f == "read-log" and isinstance(op.value, dict):
                self.reads.append((inv, op))
            elif op.f == "truncate" and isinstance(op.value, dict):
                self.truncates.append((inv, op))
            elif op.f == "audit" and isinstance(op.value, dict):
                self.audits.append((inv, op))


class _FinalLog:
    """The committed log an audit returned, by index."""

    def __init__(self, audit: Op) -> None:
        self.op = audit
        self.node = audit.value.get("node") or audit.node or "?"
        self.hwm = _hwm(audit)
        self.at: dict[int, tuple[Any, Any]] = {}
        for e in _entries(audit):
            self.at[int(e[0])] = (e[1], _freeze(e[2]))

    def describe(self, index: int) -> str:
        if index > self.hwm or index not in self.at:
            return f"ends at index {self.hwm}"
        term, cmd = self.at[index]
        return f"holds {_show_cmd(cmd)} of term {term} at index {index}"


# -- the rules ------------------------------------------------------------------------------


def _lost(writes: list[tuple[Op, Op]], final: _FinalLog, ctx: dict[str, Any]) -> list[Anomaly]:
    out = []
    by_cmd = {cmd: i for i, (_, cmd) in final.at.items()}
    for inv, comp in writes:
        want = _expected_cmd(inv)
        if want is None:
            continue
        index = comp.extra.get("log_index")
        if isinstance(index, int):
            got = final.at.get(index)
            if index <= final.hwm and got is not None and got[1] == want:
                continue
        elif want in by_cmd:
            continue
        elsewhere = by_cmd.get(want)
        where = f" (it is at index {elsewhere} instead)" if elsewhere is not None else ""
        at = f" as entry {index}" if isinstance(index, int) else ""
        out.append(
            Anomaly(
                "lost-acknowledged-write",
                f"{inv.node or '?'} (process {inv.process}) had {inv.f} {_show(inv.value)} "
                f"acknowledged{at} at {_t(comp, ctx)}, but the final committed log (audit of "
                f"{final.node} at {_t(final.op, ctx)}, HWM {final.hwm}) "
                f"{final.describe(index) if isinstance(index, int) else 'does not hold it'}"
                f"{where}: an acknowledged write lost. It was lost across a failover: the primary "
                "acknowledged it before a majority held it, i.e. before the high-water mark "
                f"passed it. Look at what {inv.node or 'the node'} and the leader did around "
                f"{_t(comp, ctx)}: was the leader cut off or killed then, and did it wait for the "
                "followers' acknowledgements before answering?",
                [inv.to_dict(), comp.to_dict(), final.op.to_dict()],
                {"index": index, "final_hwm": final.hwm, "rule": "acknowledged entries survive"},
            )
        )
    return out


def _beyond_hwm(reads: list[tuple[Op, Op]], ctx: dict[str, Any]) -> list[Anomaly]:
    out = []
    for inv, comp in reads:
        hwm = _hwm(comp)
        above = [e for e in _entries(comp) if int(e[0]) > hwm]
        if not above:
            continue
        node = comp.value.get("node") or comp.node or "?"
        out.append(
            Anomaly(
                "read-beyond-hwm",
                f"{node} answered a read-log by process {inv.process} at {_t(comp, ctx)} with "
                f"{_count(above, 'entry', 'entries')} above the high-water mark {hwm} that the "
                f"same reply states (indices {_span(above)}): entries served before they were "
                "committed. Entries above the HWM are not yet "
                "on a majority and may be replaced after a failover, so no node may serve them: "
                "the read path must stop at the HWM the node knows (a follower's is the "
                "leader's commit index from its last heartbeat), not at the end of its log.",
                [inv.to_dict(), comp.to_dict()],
                {"node": node, "hwm": hwm, "indices": [int(e[0]) for e in above]},
            )
        )
    return out


def _uncommitted(
    reads: list[tuple[Op, Op]], final: _FinalLog, ctx: dict[str, Any]
) -> list[Anomaly]:
    out = []
    for inv, comp in reads:
        bad = []
        for e in _entries(comp):
            i = int(e[0])
            if final.at.get(i) != (e[1], _freeze(e[2])) or i > final.hwm:
                bad.append(e)
        if not bad:
            continue
        node = comp.value.get("node") or comp.node or "?"
        first = bad[0]
        out.append(
            Anomaly(
                "uncommitted-entry-served",
                f"{node} answered a read-log by process {inv.process} at {_t(comp, ctx)} with "
                f"{_show_cmd(_freeze(first[2]))} of term {first[1]} at index {first[0]}"
                f"{f' (and {len(bad) - 1} more)' if len(bad) > 1 else ''}, but the final committed "
                f"log (audit of {final.node} at {_t(final.op, ctx)}, HWM {final.hwm}) "
                f"{final.describe(int(first[0]))}: an entry served that was never committed. "
                "The entry was never committed: it was above the high-water mark when it was "
                f"served (the reply said HWM {_hwm(comp)}), and a failover replaced it. Readers "
                "must only see entries at or below the HWM, which a majority holds.",
                [inv.to_dict(), comp.to_dict(), final.op.to_dict()],
                {"node": node, "indices": [int(e[0]) for e in bad], "final_hwm": final.hwm},
            )
        )
    return out


def _truncated(
    reads: list[tuple[Op, Op]], truncates: list[tuple[Op, Op]], ctx: dict[str, Any]
) -> list[Anomaly]:
    # Truncations by the index of their entry, with the highest LWM any of them set up to
    # there: a node whose HWM reached entry t had applied every truncation up to t.
    marks = sorted(
        (int(c.value["index"]), int(c.value["upto"]), inv, c)
        for inv, c in truncates
        if isinstance(c.value.get("index"), int) and isinstance(c.value.get("upto"), int)
    )
    indices = [m[0] for m in marks]
    best: list[tuple[int, Op, Op] | None] = []
    top: tuple[int, Op, Op] | None = None
    for _, upto, inv, c in marks:
        if top is None or upto > top[0]:
            top = (upto, inv, c)
        best.append(top)
    out = []
    for inv, comp in reads:
        hwm, lwm = _hwm(comp), _lwm(comp)
        k = bisect_right(indices, hwm)
        applied = best[k - 1] if k else None
        floor = max(lwm, applied[0] if applied else 0)
        below = [e for e in _entries(comp) if int(e[0]) <= floor]
        if not below:
            continue
        node = comp.value.get("node") or comp.node or "?"
        if below[0][0] <= lwm:
            why = f"at or below the low-water mark {lwm} that the same reply states"
            ops = [inv.to_dict(), comp.to_dict()]
        else:
            assert applied is not None
            upto, tinv, tcomp = applied
            why = (
                f"at or below {upto}, where truncate by process {tinv.process} moved the "
                f"low-water mark at {_t(tcomp, ctx)} with entry {tcomp.value['index']}; this "
                "node's "
                f"HWM ({hwm}) had passed that entry, so it had applied the truncation (its "
                f"reply says LWM {lwm})"
            )
            ops = [tinv.to_dict(), tcomp.to_dict(), inv.to_dict(), comp.to_dict()]
        out.append(
            Anomaly(
                "truncated-entry-served",
                f"{node} answered a read-log by process {inv.process} at {_t(comp, ctx)} with "
                f"{_count(below, 'entry', 'entries')} (indices {_span(below)}) {why}: truncated "
                "entries served again. Truncated entries must never be served again: every node "
                "must move its low-water mark "
                "when it applies the truncation entry (followers too, and a new leader after a "
                "failover), and reads must start above it.",
                ops,
                {
                    "node": node,
                    "hwm": hwm,
                    "lwm": lwm,
                    "floor": floor,
                    "indices": [int(e[0]) for e in below],
                },
            )
        )
    return out


def _diverged(audits: list[tuple[Op, Op]], final: _FinalLog, ctx: dict[str, Any]) -> list[Anomaly]:
    out = []
    for _inv, comp in audits:
        if comp is final.op:
            continue
        for e in _entries(comp):
            i = int(e[0])
            if i <= final.hwm and final.at.get(i) != (e[1], _freeze(e[2])):
                node = comp.value.get("node") or comp.node or "?"
                out.append(
                    Anomaly(
                        "committed-logs-diverge",
                        f"{node}'s audit at {_t(comp, ctx)} (HWM {_hwm(comp)}) holds "
                        f"{_show_cmd(_freeze(e[2]))} of term {e[1]} at index {i}, but "
                        f"{final.node}'s audit at {_t(final.op, ctx)} (HWM {final.hwm}) "
                        f"{final.describe(i)}: committed logs diverge. Both say the entry is "
                        "committed, and "
                        "committed entries are the same on every node: one of them counted an "
                        "entry as committed without a majority holding it.",
                        [comp.to_dict(), final.op.to_dict()],
                        {"index": i, "nodes": [node, final.node]},
                    )
                )
                break
    return out


# -- helpers -----------------------------------------------------------------------------------


def _entries(op: Op) -> list[list[Any]]:
    v = op.value.get("entries") if isinstance(op.value, dict) else None
    return [e for e in v if isinstance(e, list) and len(e) == 3] if isinstance(v, list) else []


def _hwm(op: Op) -> int:
    v = op.value.get("hwm") if isinstance(op.value, dict) else None
    return v if isinstance(v, int) else 0


def _lwm(op: Op) -> int:
    v = op.value.get("lwm") if isinstance(op.value, dict) else None
    return v if isinstance(v, int) else 0


def _expected_cmd(inv: Op) -> Any:
    v = inv.value
    if not isinstance(v, list) or len(v) != 2:
        return None
    if inv.f == "write":
        return _freeze(["w", v[0], v[1]])
    if inv.f == "cas" and isinstance(v[1], list) and len(v[1]) == 2:
        return _freeze(["c", v[0], v[1][0], v[1][1]])
    return None


def _freeze(v: Any) -> Any:
    return tuple(_freeze(x) for x in v) if isinstance(v, list | tuple) else v


def _show_cmd(cmd: Any) -> str:
    if not isinstance(cmd, tuple) or not cmd:
        return repr(cmd)
    kind, rest = cmd[0], cmd[1:]
    if kind == "w" and len(rest) == 2:
        return f"the write of {rest[1]!r} to key {rest[0]!r}"
    if kind == "c" and len(rest) == 3:
        return f"the cas of key {rest[0]!r} from {rest[1]!r} to {rest[2]!r}"
    if kind == "t" and len(rest) == 1:
        return f"a truncation up to {rest[0]}"
    if kind == "n":
        return "a leader's no-op"
    return repr(list(cmd))


def _show(v: Any) -> str:
    return repr(v).replace("None", "nil")


def _t(op: Op, ctx: dict[str, Any]) -> str:
    """When ``op`` happened, relative and (with the run's time zero) as wall clock."""
    return when(op.time, ctx)


def _count(items: list[Any], one: str, many: str) -> str:
    return f"1 {one}" if len(items) == 1 else f"{len(items)} {many}"


def _span(entries: list[list[Any]]) -> str:
    lo, hi = int(entries[0][0]), int(entries[-1][0])
    return str(lo) if lo == hi else f"{lo}..{hi}"
