"""Locks with fencing tokens: mutual exclusion, tokens that only grow, a storage that turns
stale holders away.

The history is the ``lock`` workload's (``workloads/lock.py``)::

    acquire [k, None] -> ok [k, {"token": t, "lease_ms": ms}]
    release [k, None] -> ok [k, t]                  (the token of the grant released)
    write   [k, v]    -> ok / info [k, [t, v]]      (v unique over the run)
    read    [k, None] -> ok [k, [[t, v], ...]]      (the writes the storage accepted, in order)

Rules, each an anomaly name:

``mutual-exclusion``
    The acquires and releases of each lock are linearizable as a mutex (the ``mutex`` model
    of the linearizability checker). A grant is a lease: one that is not released runs out
    by itself, but never sooner than ``lease_ms`` after its acquire was invoked. So each
    grant that was not released ``ok`` is given one release of unknown outcome, invoked at
    that moment (or when its own release was invoked, if sooner): the mutex may become free
    then, and no sooner.
``token-reused`` / ``token-went-backwards``
    Every grant of a lock carries a new token, larger than the token of any grant of that
    lock acknowledged before it was asked for.
``stale-write-accepted``
    The storage of a key never accepts a write whose token is older than one it accepted
    before: a read's list of accepted writes has non-decreasing tokens, and no write is
    acknowledged after a newer token was acknowledged or read.
``acknowledged-write-lost``
    A write acknowledged by the storage is in every read of its key that starts after it.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result, when
from checkers.linearizable import LinearizableChecker
from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

__all__ = ["CHECKER", "LockChecker", "LockOptions"]


@dataclass(frozen=True)
class LockOptions:
    """The lock checker's options (``checkers: [{name: lock, drift: 0.05}]``)."""

    time_budget_s: float = option(
        60.0, "seconds the mutual-exclusion search may take", minimum=0.001
    )
    drift: float = option(
        0.01,
        "fraction by which every lease is assumed shorter (clock rates)",
        minimum=0,
        maximum=0.99,
    )
    max_reports: int = option(5, "anomalies reported per rule", minimum=1)


def _make(options: LockOptions) -> LockChecker:
    """The lock checker with ``options``."""
    return LockChecker(options.time_budget_s, options.drift, options.max_reports)


CHECKER = CheckerInfo(
    "lock",
    "locks: mutual exclusion (linearizable mutex, leases allowed to run out), fencing tokens "
    "strictly increase, the storage never accepts a stale holder's write",
    _make,
    LockOptions,
)


@dataclass
class _Pair:
    """An invocation and its completion (None: never completed)."""

    inv: Op
    comp: Op | None

    @property
    def type(self) -> str:
        return self.comp.type if self.comp is not None else "info"

    @property
    def key(self) -> Hashable:
        v = self.inv.value
        k = v[0] if isinstance(v, (list, tuple)) and v else None
        return tuple(k) if isinstance(k, list) else k

    @property
    def result(self) -> Any:
        v = self.comp.value if self.comp is not None else None
        return v[1] if isinstance(v, (list, tuple)) and len(v) == 2 else None

    @property
    def end(self) -> int:
        """The completion time, or never (for an op whose outcome is unknown)."""
        return self.comp.time if self.comp is not None and self.comp.type != "info" else _NEVER

    def ops(self) -> list[dict[str, Any]]:
        return [self.inv.to_dict()] + ([self.comp.to_dict()] if self.comp is not None else [])


_NEVER = 1 << 62


class LockChecker:
    """The rules in the module docstring. ``time_budget_s`` bounds the mutex search;
    ``drift`` (a fraction) shortens every lease the checker assumes, for clocks that run at
    slightly different rates; ``max_reports`` caps the anomalies of each rule."""

    name = "lock"

    def __init__(
        self, time_budget_s: float = 60.0, drift: float = 0.01, max_reports: int = 5
    ) -> None:
        self.time_budget_s = time_budget_s
        self.drift = drift
        self.max_reports = max_reports

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        pairs = _pairs(history)
        by_f: dict[str, list[_Pair]] = {}
        for p in pairs:
            by_f.setdefault(p.inv.f, []).append(p)
        acquires = [p for p in by_f.get("acquire", []) if p.type == "ok"]
        mutex, mutex_details = self._mutex(pairs, ctx)
        tokens = self._tokens(acquires, ctx)
        storage = self._storage(by_f.get("write", []), by_f.get("read", []), ctx)
        anomalies = tokens + storage + mutex  # the shortest explanations first
        details: dict[str, Any] = {
            "grants": len(acquires),
            "locks": len({p.key for p in acquires}),
            "writes-acknowledged": sum(1 for p in by_f.get("write", []) if p.type == "ok"),
            "reads": sum(1 for p in by_f.get("read", []) if p.type == "ok"),
            "mutex": mutex_details,
            "anomaly-counts": _counts(anomalies),
        }
        if anomalies:
            return Result(False, anomalies, details)
        if mutex_details.get("valid") == "unknown":
            return Result(
                "unknown",
                [],
                {
                    **details,
                    "reason": f"the mutex search did not finish: {mutex_details.get('reason')}",
                },
            )
        if not acquires:
            return Result("unknown", [], {**details, "reason": "no lock was ever granted"})
        return Result(True, [], details)

    # -- mutual exclusion ------------------------------------------------------------------

    def _mutex(self, pairs: list[_Pair], ctx: dict[str, Any]) -> tuple[list[Anomaly], dict]:
        events: list[tuple[int, int, Op]] = []  # (time, order, op) of the mutex history
        ghosts = 0
        holding: dict[int | str, tuple[_Pair, int]] = {}  # process -> (ok acquire, lease end)
        order = 0

        def add(op: Op) -> None:
            nonlocal order
            order += 1
            events.append((op.time, order, op))

        def copy(p: _Pair, op: Op, f: str) -> Op:
            return Op(op.type, f, [p.key, None], op.process, op.time, op.index, op.node, op.error)

        def ghost(key: Hashable, at: int, why: str) -> None:
            nonlocal ghosts
            ghosts += 1
            # a process id of its own: an invocation that never completes, i.e. a release
            # that may take effect at any moment from ``at`` on, or never
            add(Op("invoke", "release", [key, None], -ghosts, at, -1, None, why))

        def end_hold(process: int | str, at: int | None, why: str) -> None:
            acq, lease_end = holding.pop(process)
            ghost(acq.key, lease_end if at is None else min(at, lease_end), why)

        for p in pairs:
            f = p.inv.f
            if f not in ("acquire", "release"):
                continue
            proc = p.inv.process
            if f == "acquire":
                if proc in holding:  # a new acquire by a holder that never released
                    end_hold(proc, None, "lease ran out")
                add(copy(p, p.inv, "acquire"))
                if p.comp is not None:
                    add(copy(p, p.comp, "acquire"))
                if p.type == "ok":
                    lease = _lease_ns(p.result) * (1 - self.drift)
                    holding[proc] = (p, p.inv.time + int(lease))
                continue
            # a release: of the grant this process holds, if it holds one
            if proc not in holding or holding[proc][0].key != p.key:
                continue
            if p.type == "ok":
                holding.pop(proc)
                add(copy(p, p.inv, "release"))
                add(copy(p, p.comp, "release"))  # type: ignore[arg-type]
            elif p.type == "info":
                end_hold(proc, p.inv.time, "released or ran out")
            else:
                end_hold(proc, None, "lease ran out")
        for proc in list(holding):
            end_hold(proc, None, "lease ran out")

        events.sort(key=lambda e: (e[0], e[1]))
        mutex_history = [e[2] for e in events]
        checker = LinearizableChecker("mutex", time_budget_s=self.time_budget_s, independent=True)
        result = checker.check(mutex_history, ctx)
        details: dict[str, Any] = {"valid": result.valid, "ghost-releases": ghosts}
        if result.valid == "unknown":
            details["reason"] = result.details.get("reason")
        anomalies = []
        for a in result.anomalies[: self.max_reports]:
            key = a.data.get("key")
            first, data = _two_holders(pairs, key, self.drift, ctx, a.data.get("op"))
            text = (
                f"{first} No order of its acquires and "
                "releases, each taking effect between its invocation and its completion, "
                "keeps the lock with one holder at a time (a grant that was not released "
                "counts as free once its lease_ms had passed since its acquire was invoked, "
                "never sooner). The lock service granted a lock that was still held: look "
                "for a grant acknowledged before a majority had it (an isolated leader), a "
                "lease or session that ended while its holder still believed it held the "
                "lock (a paused or cut-off holder), or a release of another holder's grant "
                "(for a third-party system, the promises note says whether it promises "
                "mutual exclusion at all). (Below, a release of unknown outcome by a negative "
                "process is such a lease end.)\n" + a.explanation
            )
            anomalies.append(Anomaly("mutual-exclusion", text, a.ops, {**a.data, **data}))
        return anomalies, details

    # -- tokens -----------------------------------------------------------------------------

    def _tokens(self, acquires: list[_Pair], ctx: dict[str, Any]) -> list[Anomaly]:
        anomalies: list[Anomaly] = []
        by_key: dict[Hashable, list[_Pair]] = {}
        for p in acquires:
            by_key.setdefault(p.key, []).append(p)
        reused: list[Anomaly] = []
        backwards: list[Anomaly] = []
        for key, grants in by_key.items():
            seen: dict[Any, _Pair] = {}
            for p in grants:
                t = _token(p.result)
                first = seen.get(t)
                if first is None:
                    seen[t] = p
                    continue
                reused.append(
                    Anomaly(
                        "token-reused",
                        f"{_who(p)} was granted lock {key!r} with fencing token {t} at "
                        f"{when(_done(p), ctx)}, but {_who(first)} had been granted it with the "
                        f"same token {t} at {when(_done(first), ctx)}: one token for two grants. "
                        "A token must name one grant: the "
                        "storage then cannot tell the older holder from the newer one and accepts "
                        "both. Derive the token from the lock's own generation, advanced by every "
                        "grant through the replicated log, not from the leader's term or a "
                        "counter that is not replicated.",
                        first.ops() + p.ops(),
                        {"key": _plain(key), "token": t},
                    )
                )
            # real-time order: the largest token acknowledged before each acquire was invoked
            done: list[tuple[int, int, _Pair]] = []  # heap of (completion, n, grant)
            best: tuple[Any, _Pair] | None = None
            for n, p in enumerate(sorted(grants, key=lambda g: g.inv.time)):
                heapq.heappush(done, (p.comp.time, n, p))  # type: ignore[union-attr]
            pending = sorted(grants, key=lambda g: g.inv.time)
            for p in pending:
                while done and done[0][0] < p.inv.time:
                    _, _, q = heapq.heappop(done)
                    if best is None or _token(q.result) > best[0]:
                        best = (_token(q.result), q)
                t = _token(p.result)
                if best is not None and t < best[0]:
                    q = best[1]
                    backwards.append(
                        Anomaly(
                            "token-went-backwards",
                            f"{_who(p)} was granted lock {key!r} with token {t} (asked at "
                            f"{when(p.inv.time, ctx)}, granted at {when(_done(p), ctx)}), but "
                            f"{_who(q)} had already been granted it with the larger token "
                            f"{best[0]} at {when(_done(q), ctx)}: the token went backwards. "
                            "Tokens must grow with every grant, in real "
                            "time order; a token that goes back lets the storage take the newer "
                            "holder for a stale one (and the stale one for the newer). Keep the "
                            "generation in the replicated state, so that a new leader or a "
                            "restarted node continues from it.",
                            q.ops() + p.ops(),
                            {"key": _plain(key), "token": t, "earlier": best[0]},
                        )
                    )
        anomalies += reused[: self.max_reports] + backwards[: self.max_reports]
        return anomalies

    # -- storage ------------------------------------------------------------------------------

    def _storage(
        self, writes: list[_Pair], reads: list[_Pair], ctx: dict[str, Any]
    ) -> list[Anomaly]:
        by_value: dict[Any, _Pair] = {}
        for w in writes:
            v = w.inv.value[1] if isinstance(w.inv.value, (list, tuple)) else None
            by_value[_hashable(v)] = w
        stale: dict[tuple[Hashable, Any], Anomaly] = {}
        lost: list[Anomaly] = []

        def who(v: Any) -> str:
            w = by_value.get(_hashable(v))
            if w is None:
                return f"value {v!r} (no write of it in the history)"
            outcome = {"ok": "acknowledged", "info": "of unknown outcome", "fail": "refused"}
            return (
                f"value {v!r} by process {w.inv.process} via {w.inv.node} (invoked at "
                f"{when(w.inv.time, ctx)}, {outcome.get(w.type, w.type)})"
            )

        ok_reads = [r for r in reads if r.type == "ok" and isinstance(r.result, list)]
        for r in ok_reads:
            key, entries = r.key, r.result
            high: tuple[int, Any] | None = None
            for entry in entries:
                t, v = entry[0], entry[1]
                if high is not None and t < high[0] and (key, _hashable(v)) not in stale:
                    stale_w = by_value.get(_hashable(v))
                    ops = r.ops() + (stale_w.ops() if stale_w is not None else [])
                    newer_w = by_value.get(_hashable(high[1]))
                    ops += newer_w.ops() if newer_w is not None else []
                    stale[(key, _hashable(v))] = Anomaly(
                        "stale-write-accepted",
                        f"{_who(r)} read key {key!r} at {when(_done(r), ctx)} and found "
                        f"the write with token {t} ({who(v)}) accepted after one with the newer "
                        f"token {high[0]} ({who(high[1])}): the storage let a stale holder "
                        f"write. The holder of token {t} "
                        "had lost the lock to a newer holder and still got its write in: the "
                        "storage must compare every write's token with the highest it has "
                        "accepted for the key, and reject an older one (the fencing check).",
                        ops,
                        {"key": _plain(key), "token": t, "newer": high[0], "value": v},
                    )
                if high is None or t > high[0]:
                    high = (t, v)
        # an acknowledged write with an old token, after a newer one was known accepted
        per_key: dict[Hashable, list[tuple[int, int, Any, _Pair]]] = {}
        for w in writes:
            if w.type == "ok":
                t = w.result[0]
                per_key.setdefault(w.key, []).append((w.comp.time, t, w.result[1], w))  # type: ignore[union-attr]
        for r in ok_reads:
            if r.result:
                top = max(r.result, key=lambda e: e[0])
                per_key.setdefault(r.key, []).append((r.comp.time, top[0], top[1], r))  # type: ignore[union-attr]
        firsts = {k: _FirstAbove(entries) for k, entries in per_key.items()}
        for w in writes:
            if w.type != "ok":
                continue
            t, v = w.result[0], w.result[1]
            if (w.key, _hashable(v)) in stale:
                continue
            first = firsts[w.key].first(t)  # the earliest entry of a token above t
            if first is not None and first[0] < w.inv.time:
                known, newer_token, _, src = first
                stale[(w.key, _hashable(v))] = Anomaly(
                    "stale-write-accepted",
                    f"{_who(w)} had its write of {v!r} to key {w.key!r} with token {t} "
                    f"acknowledged at {when(_done(w), ctx)} (invoked at {when(w.inv.time, ctx)}), "
                    f"although the newer token {newer_token} had already been accepted for that "
                    f"key (known at {when(known, ctx)}): a stale holder's write accepted. "
                    "The storage must reject a write whose "
                    "token is older than the highest it has accepted (the fencing check).",
                    src.ops() + w.ops(),
                    {"key": _plain(w.key), "token": t, "newer": newer_token},
                )
        # acknowledged writes missing from a later read
        reads_of: dict[Hashable, list[_Pair]] = {}
        for r in ok_reads:
            reads_of.setdefault(r.key, []).append(r)
        readers = {k: _KeyReads(rs) for k, rs in reads_of.items()}
        for w in writes:
            if w.type != "ok" or len(lost) >= self.max_reports or w.key not in readers:
                continue
            entry = _hashable([w.result[0], w.result[1]])
            miss = readers[w.key].first_without(entry, w.comp.time)  # type: ignore[union-attr]
            if miss is not None:
                lost.append(
                    Anomaly(
                        "acknowledged-write-lost",
                        f"{_who(miss)} read key {w.key!r} (invoked at "
                        f"{when(miss.inv.time, ctx)}) without the write of {w.result[1]!r} with "
                        f"token {w.result[0]} that {_who(w)} had had acknowledged at "
                        f"{when(_done(w), ctx)}: an acknowledged write lost. "
                        "An acknowledged write must be durable (fsync before the reply) and "
                        "kept.",
                        w.ops() + miss.ops(),
                        {"key": _plain(w.key), "value": w.result[1]},
                    )
                )
        return list(stale.values())[: self.max_reports] + lost


def _pairs(history: list[Op]) -> list[_Pair]:
    """Client invocations with their completions, in invocation order."""
    pending: dict[int | str, int] = {}
    pairs: list[_Pair] = []
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = len(pairs)
            pairs.append(_Pair(op, None))
        else:
            i = pending.pop(op.process, None)
            if i is not None:
                pairs[i].comp = op
    return pairs


def _token(result: Any) -> Any:
    return result.get("token") if isinstance(result, dict) else result


def _lease_ns(result: Any) -> int:
    ms = result.get("lease_ms") if isinstance(result, dict) else None
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return 0  # unknown lease: assume it may end at once (weakest, never a false alarm)
    return int(ms * 1_000_000)


def _plain(x: Any) -> Any:
    return list(x) if isinstance(x, tuple) else x


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def _who(p: _Pair) -> str:
    """ "n3 (process 4)": who asked, named by node first (to find in its log)."""
    return f"{p.inv.node or '?'} (process {p.inv.process})"


def _done(p: _Pair) -> int:
    """When ``p`` completed (its invocation time if it never did)."""
    return p.comp.time if p.comp is not None else p.inv.time


class _Holds:
    """How long each grant of one lock certainly held it (until its release was asked, or
    its lease ran out, whichever came first), and, for the grants in order of completion,
    whether any grant of another process acknowledged before a given one was asked for still
    held the lock when it was acknowledged: ``_two_holders`` then scans the grants only for
    the one it reports (a lock granted 10,000 times was 10,000 x 10,000 pairs, each looking
    for its release among every operation)."""

    def __init__(self, mine: list[_Pair], grants: list[_Pair], drift: float) -> None:
        by_process: dict[Any, list[_Pair]] = {}
        for r in mine:
            if r.inv.f == "release":
                by_process.setdefault(r.inv.process, []).append(r)
        releases = {p: _Releases(rs) for p, rs in by_process.items()}
        none = _Releases([])
        #: id(grant) -> (the end of its hold, the release that ended it or None)
        self.end: dict[int, tuple[int, _Pair | None]] = {}
        for a in grants:
            end = a.inv.time + int(_lease_ns(a.result) * (1 - drift))
            rel = releases.get(a.inv.process, none).first(_done(a))
            if rel is not None and rel.inv.time < end:
                end = rel.inv.time
            self.end[id(a)] = (end, rel)
        self.by_done = sorted(grants, key=_done)
        self.dones = [_done(g) for g in self.by_done]
        # for each prefix of by_done: the longest hold, and the longest of another process
        self.top: list[tuple[tuple[int, Any] | None, tuple[int, Any] | None]] = [(None, None)]
        first: tuple[int, Any] | None = None
        second: tuple[int, Any] | None = None
        for g in self.by_done:
            cand = (self.end[id(g)][0], g.inv.process)
            if first is None or cand[0] > first[0]:
                if first is not None and first[1] != cand[1]:
                    second = first
                first = cand
            elif cand[1] != first[1] and (second is None or cand[0] > second[0]):
                second = cand
            self.top.append((first, second))

    def may_overlap(self, b: _Pair) -> bool:
        """Whether a grant of another process, acknowledged by the time ``b`` was asked for,
        held the lock past ``b``'s acknowledgement."""
        first, second = self.top[bisect.bisect_right(self.dones, b.inv.time)]
        done = _done(b)
        for best in (first, second):
            if best is not None and best[1] != b.inv.process and best[0] > done:
                return True
        return False


class _FirstAbove:
    """Entries (time, token, value, op) of one key: the earliest of a token above a given
    one, by bisection over the running maximum of the tokens in time order (was a scan of
    every entry for every write)."""

    def __init__(self, entries: list[tuple[int, int, Any, _Pair]]) -> None:
        self.entries = sorted(entries, key=lambda e: e[0])
        self.highest: list[int] = []
        for e in self.entries:
            self.highest.append(e[1] if not self.highest else max(self.highest[-1], e[1]))

    def first(self, token: int) -> tuple[int, int, Any, _Pair] | None:
        i = bisect.bisect_right(self.highest, token)
        return self.entries[i] if i < len(self.entries) else None


class _KeyReads:
    """The ok reads of one key, in history order, and for each entry (token, value) the reads
    that hold it: the first read after a write that misses it is found without looking
    into every later read for every write."""

    def __init__(self, reads: list[_Pair]) -> None:
        self.reads = reads
        self.times = [r.inv.time for r in reads]
        self.in_order = all(x <= y for x, y in zip(self.times, self.times[1:], strict=False))
        self.holding: dict[Any, list[int]] = {}
        for i, r in enumerate(reads):
            for e in {_hashable(e) for e in r.result}:
                self.holding.setdefault(e, []).append(i)

    def first_without(self, entry: Any, after: int) -> _Pair | None:
        """The first read (in history order) invoked after ``after`` that does not hold
        ``entry``."""
        has = self.holding.get(entry, [])
        if not self.in_order:
            held = set(has)
            return next(
                (r for i, r in enumerate(self.reads) if r.inv.time > after and i not in held),
                None,
            )
        i = bisect.bisect_right(self.times, after)
        k = bisect.bisect_left(has, i)
        while k < len(has) and has[k] == i:  # the reads that hold it, one after another
            i, k = i + 1, k + 1
        return self.reads[i] if i < len(self.reads) else None


class _Releases:
    """One process's releases of one lock, in history order."""

    def __init__(self, releases: list[_Pair]) -> None:
        self.releases = releases
        self.times = [r.inv.time for r in releases]
        self.in_order = all(x <= y for x, y in zip(self.times, self.times[1:], strict=False))

    def first(self, after: int) -> _Pair | None:
        """The first asked at or after ``after`` (by bisection when in time order, as a
        history writes them)."""
        if self.in_order:
            i = bisect.bisect_left(self.times, after)
            return self.releases[i] if i < len(self.releases) else None
        return next((r for r in self.releases if r.inv.time >= after), None)


def _two_holders(
    pairs: list[_Pair],
    key: Any,
    drift: float,
    ctx: dict[str, Any],
    failing: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The opening sentence of a mutual-exclusion anomaly of lock ``key``, and data for tools:
    the first grant acknowledged while an earlier grant certainly still held the lock (that
    grant acknowledged before this one was asked for, and neither released nor run out
    before this one was acknowledged); when the two holders are not that plain (the mutex
    search found a subtler order), the operation the search could not place (``failing``, the
    linearizability anomaly's ``op``), with its node and time."""
    mine = [p for p in pairs if _plain(p.key) == key and p.inv.f in ("acquire", "release")]
    grants = [p for p in mine if p.inv.f == "acquire" and p.type == "ok"]
    held = _Holds(mine, grants, drift)
    for b in held.by_done:
        if not held.may_overlap(b):
            continue  # no grant from another process still held the lock: skip the scan
        for a in grants:
            if a is b or a.inv.process == b.inv.process or _done(a) > b.inv.time:
                continue
            lease_ms = _lease_ns(a.result) / 1e6
            end, rel = held.end[id(a)]
            if end <= _done(b):
                continue
            released = (
                f"release asked at {when(rel.inv.time, ctx)}" if rel is not None else "not released"
            )
            sentence = (
                f"{_who(b)} was granted lock {key!r} at {when(_done(b), ctx)} (token "
                f"{_token(b.result)}) while {_who(a)} still held it (granted at "
                f"{when(_done(a), ctx)}, token {_token(a.result)}, {released}, lease "
                f"{lease_ms:g} ms from {when(a.inv.time, ctx)}): two holders."
            )
            data = {
                "holder": {"node": a.inv.node, "process": a.inv.process, "index": a.inv.index},
                "second": {"node": b.inv.node, "process": b.inv.process, "index": b.inv.index},
            }
            return sentence, data
    by_index = {p.inv.index: p for p in mine}
    stuck = by_index.get((failing or {}).get("index", -1))
    if stuck is not None:
        done = f"asked at {when(stuck.inv.time, ctx)}" + (
            f", {stuck.type} at {when(stuck.comp.time, ctx)}" if stuck.comp is not None else ""
        )
        return (
            f"{_who(stuck)} ran {stuck.inv.f} of lock {key!r} ({done}), and no order of the "
            "lock's acquires and releases before it leaves the lock free for it: two holders.",
            {},
        )
    return (
        f"Lock {key!r} was held by two clients at once: the grants overlap in no order a "
        "single holder at a time allows (see the operations below).",
        {},
    )


def _counts(anomalies: list[Anomaly]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in anomalies:
        out[a.name] = out.get(a.name, 0) + 1
    return out
