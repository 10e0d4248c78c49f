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

from bisect import bisect_right
from typing import Any

from ._prepare import Prepared
from ._versions import Versions

__all__ = ["SESSION_GUARANTEES", "check_sessions"]

SESSION_GUARANTEES = (
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
)

Cases = dict[str, list[dict[str, Any]]]


def check_sessions(
    prep: Prepared, versions: Versions, guarantees: set[str], max_cases: int
) -> tuple[Cases, dict[str, int]]:
    """Cases of each violated guarantee among ``guarantees`` (at most ``max_cases`` kept
    each), and how many of each were found."""
    ryw = "read-your-writes" in guarantees
    mr = "monotonic-reads" in guarantees
    mw = "monotonic-writes" in guarantees
    wfr = "writes-follow-reads" in guarantees
    cases: Cases = {}
    counts: dict[str, int] = {}

    def add(kind: str, tid: int, k: Any, v: Any, witness: int, rel: str, **more: Any) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        lst = cases.setdefault(kind, [])
        if len(lst) < max_cases:
            c = {"txn": tid, "key": k, "value": v, "witness": witness, **more, "rel": rel}
            c["type"] = kind
            lst.append(c)

    flags = (ryw, mr, mw, wfr)
    sweep = _sweep_lists if versions.kind == "list-append" else _sweep_registers
    read_log, multi_reads = sweep(prep, versions, flags, add)
    if multi_reads:
        _wfr_seen_by_readers(prep, versions, multi_reads, read_log, add)
    return cases, counts


#: process -> key -> (txn ids, versions): each time the process's latest version read of the
#: key changed, in session order; so what the process had read when it made a write is known
ReadLog = dict[Any, dict[Any, tuple[list[int], list[Any]]]]


def _sweep_lists(
    prep: Prepared, versions: Versions, flags: tuple[bool, bool, bool, bool], add: Any
) -> tuple[ReadLog, list[int]]:
    """The pass over each session of a list-append history, where a version is a position:
    "older" is ``<``, and an unknown version (None) is skipped. Returns the read log (when
    writes-follow-reads is checked) and the txns with two reads or more, for
    ``_wfr_seen_by_readers``. The hottest loop of the checker: everything inline."""
    ryw, mr, mw, wfr = flags
    positions = versions.positions
    no_pos: dict[Any, int] = {}
    oks, reads_of, writes_of = prep.oks, prep.reads, prep.writes
    read_log: ReadLog = {}
    multi_reads: list[int] = []
    for process, ids in prep.sessions.items():
        own: dict[Any, tuple[int, int]] = {}  # key -> (latest version written, txn)
        seen: dict[Any, tuple[int, int]] = {}  # key -> (latest version read, txn)
        log = read_log[process] = {}
        for tid in ids:
            if not oks[tid]:
                continue
            rs = reads_of[tid]
            if rs:
                if wfr and len(rs) > 1:
                    multi_reads.append(tid)
                for k, v in rs:
                    if not v:
                        ver = -1
                    elif type(v) is tuple:
                        found = positions.get(k, no_pos).get(v[-1])
                        if found is None:  # an element no longest read holds: not ordered
                            continue
                        ver = found
                    else:
                        continue
                    cur = seen.get(k)
                    if ryw and (o := own.get(k)) is not None and ver < o[0]:
                        add("read-your-writes", tid, k, v, o[1], "rw")
                    elif mr and cur is not None and ver < cur[0]:
                        add("monotonic-reads", tid, k, v, cur[1], "rw")
                    if cur is None or ver >= cur[0]:
                        seen[k] = (ver, tid)
                        if wfr:
                            if (lg := log.get(k)) is None:
                                log[k] = ([tid], [ver])
                            else:
                                lg[0].append(tid)
                                lg[1].append(ver)
            ws = writes_of[tid]
            if not ws:
                continue
            # An append no read showed comes after every one shown (see Versions).
            if len(ws) == 1:
                k, v = ws[0]
                pos = positions.get(k)
                ver = 0 if pos is None else pos.get(v, len(pos))
                o = own.get(k)
                if mw and o is not None and ver < o[0]:
                    add("monotonic-writes", tid, k, v, o[1], "ww")
                elif wfr and (cur := seen.get(k)) is not None and cur[1] != tid and ver < cur[0]:
                    add("writes-follow-reads", tid, k, v, cur[1], "ww")
                if o is None or ver >= o[0]:
                    own[k] = (ver, tid)
                continue
            vers = [0 if (pos := positions.get(k)) is None else pos.get(v, len(pos)) for k, v in ws]
            for (k, v), ver in zip(ws, vers, strict=True):
                if mw and (o := own.get(k)) is not None and ver < o[0]:
                    add("monotonic-writes", tid, k, v, o[1], "ww")
                elif wfr and (cur := seen.get(k)) is not None and cur[1] != tid and ver < cur[0]:
                    add("writes-follow-reads", tid, k, v, cur[1], "ww")
            # Checked against the process's earlier writes only: a txn may write a key twice.
            for (k, _v), ver in zip(ws, vers, strict=True):
                if (o := own.get(k)) is None or ver >= o[0]:
                    own[k] = (ver, tid)
    return read_log, multi_reads


def _sweep_registers(
    prep: Prepared, versions: Versions, flags: tuple[bool, bool, bool, bool], add: Any
) -> tuple[ReadLog, list[int]]:
    """The pass over each session of a register history: as ``_sweep_lists``, with the
    partial order of ``Versions.before`` (nil first; each process's writes in its order)."""
    ryw, mr, mw, wfr = flags
    before = versions.before
    oks, reads_of, writes_of = prep.oks, prep.reads, prep.writes
    read_log: ReadLog = {}
    multi_reads: list[int] = []
    for process, ids in prep.sessions.items():
        own: dict[Any, tuple[Any, int]] = {}  # key -> (latest version written, txn)
        seen: dict[Any, tuple[Any, int]] = {}  # key -> (latest version read, txn)
        log = read_log[process] = {}
        for tid in ids:
            if not oks[tid]:
                continue
            rs = reads_of[tid]
            if wfr and len(rs) > 1:
                multi_reads.append(tid)
            for k, ver in rs:  # a register's version is the value read
                cur = seen.get(k)
                if ryw and (o := own.get(k)) is not None and before(k, ver, o[0]):
                    add("read-your-writes", tid, k, ver, o[1], "rw")
                elif mr and cur is not None and before(k, ver, cur[0]):
                    add("monotonic-reads", tid, k, ver, cur[1], "rw")
                if ver is not None and (cur is None or not before(k, ver, cur[0])):
                    seen[k] = (ver, tid)
                    if wfr:
                        if (lg := log.get(k)) is None:
                            log[k] = ([tid], [ver])
                        else:
                            lg[0].append(tid)
                            lg[1].append(ver)
            ws = writes_of[tid]
            for k, ver in ws:
                if mw and (o := own.get(k)) is not None and before(k, ver, o[0]):
                    add("monotonic-writes", tid, k, ver, o[1], "ww")
                elif (
                    wfr
                    and (cur := seen.get(k)) is not None
                    and cur[1] != tid
                    and before(k, ver, cur[0])
                ):
                    add("writes-follow-reads", tid, k, ver, cur[1], "ww")
            # Checked against the process's earlier writes only: a txn may write a key twice.
            for k, ver in ws:
                if (o := own.get(k)) is None or not before(k, ver, o[0]):
                    own[k] = (ver, tid)
    return read_log, multi_reads


def _wfr_seen_by_readers(
    prep: Prepared, versions: Versions, tids: list[int], read_log: ReadLog, add: Any
) -> None:
    """Writes follow reads, seen from a reader: each txn of ``tids`` that reads a write W
    (of key k) and, in the same txn, reads another key k2 at a version older than the one
    W's process had read of k2 when (or before) it made W. ``read_log`` holds what every
    process had read, so a writer's process is known whatever order processes come in."""
    lists = versions.kind == "list-append"
    rv, before, writers = versions.read_version, versions.before, versions.writers
    no_writers: dict[Any, int | None] = {}
    oks, procs, reads_of = prep.oks, prep.procs, prep.reads
    for tid in tids:
        rs = reads_of[tid]
        rvs: list[tuple[Any, Any, Any]] | None = None
        for k, v in rs:
            # The writer of what was read (Versions.read_source, inline: this loop is hot).
            if lists:
                if not v or type(v) is not tuple:
                    continue
                s = writers.get(k, no_writers).get(v[-1])
            else:
                if v is None:
                    continue
                s = writers.get(k, no_writers).get(v)
            if s is None or s == tid or not oks[s]:
                continue
            log = read_log[procs[s]]
            if not log:
                continue
            if rvs is None:
                rvs = [(k2, v2, rv(k2, v2)) for k2, v2 in rs]
            for k2, v2, ver2 in rvs:
                if k2 == k or (lg := log.get(k2)) is None:
                    continue
                i = bisect_right(lg[0], s) - 1  # the last change at or before W
                if i < 0:
                    continue
                d = lg[1][i]
                if (ver2 is not None and ver2 < d) if lists else before(k2, ver2, d):
                    add("writes-follow-reads", tid, k2, v2, lg[0][i], "rw", via=s, **{"via-key": k})
