"""Versions: what the system said about each write, checked against real time and the values.

Systems that return a version with every write (etcd's revision, ZooKeeper's znode version, a
key-value store's sequence number) let a checker see what values alone hide. On one such
store a compare-and-set was accepted although another acknowledged write had come in between,
and when the overwritten value happened to equal the expected one, the value-based
(linearizable) check passed; the versions show the cas skipped a write.

A client records, as fields of the op's ``extra`` on ``ok`` completions (the op's value is the
register workload's: ``[key, v]`` for read and write, ``[key, [expected, new]]`` for cas)::

    version       write, cas: the version the write got: the key's version after it
                  (etcd: the reply header's revision, which is the key's new mod_revision;
                  ZooKeeper: the znode's stat.version after setData)
    saw_version   cas: the version of the key the compare matched, the write the cas claims
                  to follow (etcd: the key's mod_revision as the txn read it before its put;
                  ZooKeeper: the version setData was given)
    read_version  read that found the key: the version of the value read (etcd: the kv's
                  mod_revision; ZooKeeper: stat.version)

Versions of one key must grow with every write, whether they count per key (ZooKeeper: +1 a
write) or across the store (etcd). What is checked, for each key, over acknowledged (``ok``)
ops only (an ``info`` write may have happened, with a version nobody knows):

- ``version-reused``: two acknowledged writes got the same version;
- ``version-went-backwards``: a write acknowledged before another was invoked got a higher
  version than it (real time and versions disagree);
- ``cas-missed-write``: a cas that saw version s and wrote version n, while another
  acknowledged write got a version between them: the cas did not follow the write it
  claims to;
- ``cas-saw-wrong-value``: a cas whose ``saw_version`` is an acknowledged write of a value
  other than the one it compared with;
- ``read-version-mismatch``: a read whose ``read_version`` is an acknowledged write of
  another value.

Verdict: false on any anomaly; true otherwise, also when no op carries a version (then
``details.versioned`` is 0 and it says so: a note, not a verdict, for workloads whose client
records none).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from checkers.base import Anomaly, Result, when
from checkers.findings import Findings
from harness.history import Op, client_pairs
from harness.registry import CheckerInfo, NoOptions

__all__ = ["CHECKER", "MAX_PER_KIND", "VersionsChecker"]

#: anomalies kept per kind (the others are counted in ``details``)
MAX_PER_KIND = 20


@dataclass(frozen=True)
class _Write:
    inv: Op
    done: Op
    key: Any
    value: Any  # what it wrote
    version: int
    saw: int | None  # cas: the version it claims to follow
    expected: Any  # cas: the value it compared with


class VersionsChecker:
    name = "versions"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        writes: dict[Any, list[_Write]] = {}
        reads: list[tuple[Op, Op]] = []
        versioned = 0
        for inv, done in client_pairs(history):
            if done.type != "ok" or not _is_kv(done.value):
                continue
            key, arg = done.value[0], done.value[1]
            k = _hashable(key)
            if done.f in ("write", "cas") and _int(done.extra.get("version")) is not None:
                versioned += 1
                cas = done.f == "cas" and _is_kv(arg)
                writes.setdefault(k, []).append(
                    _Write(
                        inv,
                        done,
                        key,
                        arg[1] if cas else arg,
                        int(done.extra["version"]),
                        _int(done.extra.get("saw_version")) if cas else None,
                        arg[0] if cas else None,
                    )
                )
            elif done.f == "read" and _int(done.extra.get("read_version")) is not None:
                versioned += 1
                reads.append((inv, done))
        # counted in full, the first MAX_PER_KIND of each kind built
        found = Findings(MAX_PER_KIND)
        for ws in writes.values():
            _reused(ws, ctx, found)
            _backwards(ws, ctx, found)
            _cas_rules(ws, ctx, found)
        # key -> version -> the first of its writes with that version (a read names one)
        by_version: dict[Any, dict[int, _Write]] = {}
        for k, ws in writes.items():
            first = by_version[k] = {}
            for w in ws:
                first.setdefault(w.version, w)
        for inv, done in reads:
            _read_rule(inv, done, by_version.get(_hashable(done.value[0]), {}), ctx, found)
        anomalies = found.anomalies()
        counts = found.counts
        details: dict[str, Any] = {"versioned": versioned, "keys": len(writes)}
        if counts:
            details["counts"] = counts
        if versioned == 0:
            details["note"] = "no acknowledged op carried a version: nothing to check"
        return Result(False if anomalies else True, anomalies, details)


def _reused(ws: list[_Write], ctx: dict[str, Any], found: Findings) -> None:
    by_version: dict[int, _Write] = {}
    for w in ws:
        other = by_version.setdefault(w.version, w)
        if other is not w:
            if found.count("version-reused"):
                found.keep(
                    Anomaly(
                        "version-reused",
                        f"{_desc(other, ctx)} and {_desc(w, ctx)} were both acknowledged with "
                        f"version {w.version} of key {w.key!r}: every write of a key gets a "
                        "version of its own, so one of them was not applied as acknowledged (or "
                        "was applied over the other).",
                        [
                            other.inv.to_dict(),
                            other.done.to_dict(),
                            w.inv.to_dict(),
                            w.done.to_dict(),
                        ],
                        {"key": w.key, "version": w.version},
                    )
                )


def _backwards(ws: list[_Write], ctx: dict[str, Any], found: Findings) -> None:
    """Writes acknowledged before another's invocation must have lower versions."""
    by_done = sorted(ws, key=lambda w: w.done.time)
    done_times = [w.done.time for w in by_done]
    # the write of the highest version among the first i acknowledged, for each i
    best: list[_Write] = []
    for w in by_done:
        best.append(w if not best or w.version > best[-1].version else best[-1])
    for w in sorted(ws, key=lambda w: w.inv.time):
        i = bisect.bisect_left(done_times, w.inv.time)
        if i == 0:
            continue
        prior = best[i - 1]
        if prior.version > w.version:  # equal versions: version-reused
            if found.count("version-went-backwards"):
                found.keep(
                    Anomaly(
                        "version-went-backwards",
                        f"{_desc(prior, ctx)} was acknowledged with version {prior.version} of key "
                        f"{w.key!r} before {_desc(w, ctx)} was invoked, which got version "
                        f"{w.version}: a later write has a version no higher than an earlier one, "
                        "so the system's order of this key's writes is not their real-time order.",
                        [
                            prior.inv.to_dict(),
                            prior.done.to_dict(),
                            w.inv.to_dict(),
                            w.done.to_dict(),
                        ],
                        {"key": w.key, "earlier": prior.version, "later": w.version},
                    )
                )


def _cas_rules(ws: list[_Write], ctx: dict[str, Any], found: Findings) -> None:
    by_version = {w.version: w for w in ws}
    versions = sorted(by_version)
    for c in ws:
        if c.saw is None:
            continue
        lo = bisect.bisect_right(versions, c.saw)
        hi = bisect.bisect_left(versions, c.version)
        between = [by_version[v] for v in versions[lo:hi] if by_version[v] is not c]
        if between:
            w = between[0]
            if found.count("cas-missed-write"):
                found.keep(
                    Anomaly(
                        "cas-missed-write",
                        f"{_desc(c, ctx)} says its compare matched version {c.saw} of key "
                        f"{c.key!r} and its write got version {c.version}, but {_desc(w, ctx)} was "
                        f"acknowledged with version {w.version}, in between: the cas was accepted "
                        f"although another acknowledged write had come in after the one it "
                        f"compared with{_same_value(c, w)}.",
                        [c.inv.to_dict(), c.done.to_dict(), w.inv.to_dict(), w.done.to_dict()],
                        {
                            "key": c.key,
                            "saw_version": c.saw,
                            "version": c.version,
                            "missed": [b.version for b in between],
                        },
                    )
                )
        seen = by_version.get(c.saw)
        if seen is not None and seen is not c and seen.value != c.expected:
            if found.count("cas-saw-wrong-value"):
                found.keep(
                    Anomaly(
                        "cas-saw-wrong-value",
                        f"{_desc(c, ctx)} compared key {c.key!r} with {c.expected!r} and says it "
                        f"matched version {c.saw}, but version {c.saw} is {_desc(seen, ctx)}, "
                        f"which wrote {seen.value!r}: the cas succeeded against a value the key "
                        "did not have at the version it names.",
                        [
                            c.inv.to_dict(),
                            c.done.to_dict(),
                            seen.inv.to_dict(),
                            seen.done.to_dict(),
                        ],
                        {
                            "key": c.key,
                            "saw_version": c.saw,
                            "expected": c.expected,
                            "had": seen.value,
                        },
                    )
                )


def _read_rule(
    inv: Op, done: Op, by_version: dict[int, _Write], ctx: dict[str, Any], found: Findings
) -> None:
    r = int(done.extra["read_version"])
    w = by_version.get(r)
    value = done.value[1]
    if w is None or w.value == value or not found.count("read-version-mismatch"):
        return
    found.keep(
        Anomaly(
            "read-version-mismatch",
            f"read of key {done.value[0]!r} by process {done.process} at {when(done.time, ctx)} "
            f"returned {value!r} as version {r}, but version {r} is {_desc(w, ctx)}, which wrote "
            f"{w.value!r}: the value read is not the one the system says it is.",
            [inv.to_dict(), done.to_dict(), w.inv.to_dict(), w.done.to_dict()],
            {"key": done.value[0], "read_version": r, "read": value, "written": w.value},
        )
    )


def _desc(w: _Write, ctx: dict[str, Any]) -> str:
    what = f"cas {w.expected!r} -> {w.value!r}" if w.done.f == "cas" else f"write of {w.value!r}"
    return f"the {what} by process {w.done.process} (acknowledged at {when(w.done.time, ctx)})"


def _same_value(c: _Write, w: _Write) -> str:
    if w.value == c.expected:
        return (
            f" (the missed write wrote {w.value!r}, the value the cas expected: a check of "
            "values alone sees nothing wrong)"
        )
    return ""


def _is_kv(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return None


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _make(options: NoOptions) -> VersionsChecker:
    return VersionsChecker()


CHECKER = CheckerInfo(
    "versions",
    "the versions a system gives writes (etcd revisions, ZooKeeper znode versions): a key's "
    "acknowledged writes get increasing versions in real-time order, and each cas followed "
    "the version it claims (version-reused, cas-missed-write, ...)",
    _make,
)
