"""The session guarantees, checked per process in one pass over its operations.

For each process (a session: the same process on whatever node), in session order:

- read-your-writes: a read of a key shows every earlier write of the process to that key;
- monotonic reads: a read of a key is never older than an earlier read of it by the process;
- monotonic writes: the process's writes of a key are ordered as it made them;
- writes follow reads: a write of the process is ordered after the versions it read before,
  of the same key; and a transaction that sees the write (reads the key it wrote, at its
  version or later) sees, in the same transaction, at least those versions of other keys.

"Older" is what ``Versions.before`` knows: list positions, or nil before any write for
registers (and each process's own write order, when monotonic writes is among the models).
Each check costs a dictionary look-up per read or write: the pass is linear in the history.
Only ``ok`` operations are checked: an ``info`` one may not have happened.
"""

from __future__ import annotations

from typing import Any

from ._prepare import Prepared
from ._versions import Versions

__all__ = ["SESSION_GUARANTEES", "check_sessions"]

SESSION_GUARANTEES = ("read-your-writes", "monotonic-reads", "monotonic-writes",
                      "writes-follow-reads")  # fmt: skip

Cases = dict[str, list[dict[str, Any]]]


def check_sessions(prep: Prepared, versions: Versions, guarantees: set[str],
                   max_cases: int) -> tuple[Cases, dict[str, int]]:  # fmt: skip
    """Cases of each violated guarantee among ``guarantees`` (at most ``max_cases`` kept
    each), and how many of each were found."""
    ryw = "read-your-writes" in guarantees
    mr = "monotonic-reads" in guarantees
    mw = "monotonic-writes" in guarantees
    wfr = "writes-follow-reads" in guarantees
    cases: Cases = {}
    counts: dict[str, int] = {}
    txns = prep.txns
    before = versions.before
    rv, wv, source = versions.read_version, versions.write_version, versions.read_source
    deps: dict[int, dict[Any, tuple[Any, int]]] = {}  # txn -> what its process had read

    def add(kind: str, case: dict[str, Any]) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        lst = cases.setdefault(kind, [])
        if len(lst) < max_cases:
            case["type"] = kind
            lst.append(case)

    for ids in prep.sessions.values():
        own: dict[Any, tuple[Any, int]] = {}  # key -> (latest version written, txn)
        seen: dict[Any, tuple[Any, int]] = {}  # key -> (latest version read, txn)
        shared = False  # ``seen`` is some txn's deps: copy before changing it
        for tid in ids:
            t = txns[tid]
            if not t.ok:
                continue
            reads = [(k, v, rv(k, v)) for k, v in t.reads]
            for k, v, ver in reads:
                if ryw and k in own and before(k, ver, own[k][0]):
                    add(
                        "read-your-writes",
                        {"txn": tid, "key": k, "value": v, "witness": own[k][1], "rel": "rw"},
                    )
                elif mr and k in seen and before(k, ver, seen[k][0]):
                    add(
                        "monotonic-reads",
                        {"txn": tid, "key": k, "value": v, "witness": seen[k][1], "rel": "rw"},
                    )
                if wfr and len(reads) > 1:
                    s = source(k, v)
                    d = deps.get(s) if s is not None else None
                    if d:
                        for k2, v2, ver2 in reads:
                            if k2 != k and k2 in d and before(k2, ver2, d[k2][0]):
                                add("writes-follow-reads", {
                                    "txn": tid, "key": k2, "value": v2, "witness": d[k2][1],
                                    "via": s, "via-key": k, "rel": "rw"})  # fmt: skip
            for k, _v, ver in reads:
                if ver is None:
                    continue
                cur = seen.get(k)
                if cur is None or not before(k, ver, cur[0]):
                    if shared:
                        seen, shared = dict(seen), False
                    seen[k] = (ver, tid)
            for k, v in t.writes:
                ver = wv(k, v)
                if mw and k in own and before(k, ver, own[k][0]):
                    add(
                        "monotonic-writes",
                        {"txn": tid, "key": k, "value": v, "witness": own[k][1], "rel": "ww"},
                    )
                elif wfr and k in seen and seen[k][1] != tid and before(k, ver, seen[k][0]):
                    add(
                        "writes-follow-reads",
                        {"txn": tid, "key": k, "value": v, "witness": seen[k][1], "rel": "ww"},
                    )
            for k, v in t.writes:
                ver = wv(k, v)
                if ver is None and versions.kind == "list-append":
                    continue
                cur = own.get(k)
                if cur is None or not before(k, ver, cur[0]):
                    own[k] = (ver, tid)
            if wfr and t.writes and seen:
                deps[tid] = seen
                shared = True
    return cases, counts
