"""The causal sweep (checkers.causal.causal) against the vector clocks it replaced, on small
random histories: the same cases, in the same order, with the same witnesses, and the same
counts. The reference is the former sweep, kept here as it was: a clock of every process
ever seen per txn, each read's newest visible write found by ``_WriteIndex``."""

from __future__ import annotations

import random
from typing import Any

import pytest

from checkers.causal import causal
from checkers.causal._prepare import Prepared, prepare
from checkers.causal._versions import Versions
from harness.history import Op


def _reference(
    prep: Prepared,
    versions: Versions,
    *,
    max_cases: int,
    reported: set[tuple[int, Any]],
    sources: list[list[int]],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """The causal check as it was before the slots (process vector clocks)."""
    procs, seqs, oks, reads_of, writes_of = prep.procs, prep.seqs, prep.oks, prep.reads, prep.writes
    index = causal._WriteIndex(prep, versions)
    cases: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, int] = {}

    def add(k: str, case: dict[str, Any]) -> None:
        counts[k] = counts.get(k, 0) + 1
        lst = cases.setdefault(k, [])
        if len(lst) < max_cases:
            case["type"] = k
            lst.append(case)

    order, cyclic = causal._order(prep, sources)
    if cyclic:
        add("causal-cycle", {"cycle": causal._cycle(prep, sources, cyclic)})
    clocks: dict[Any, dict[Any, int]] = {}
    past: dict[int, dict[Any, int]] = {}
    rv, wv = versions.read_version, versions.write_version
    for tid in order:
        q, seq = procs[tid], seqs[tid]
        clock = clocks[q] = dict(clocks.get(q, {}))
        for s in sources[tid]:
            for p, b in past[s].items():
                if clock.get(p, -1) < b:
                    clock[p] = b
        if seq:
            clock[q] = seq - 1
        if oks[tid]:
            for k, v in reads_of[tid]:
                if (tid, k) in reported:
                    continue
                w = index.violated_by_read(k, v, rv(k, v), clock)
                if w is not None:
                    add("causal", {"txn": tid, "key": k, "value": v, "witness": w, "rel": "rw"})
            if versions.kind == "list-append":
                for k, v in writes_of[tid]:
                    if (tid, k) in reported:
                        continue
                    w = index.violated_by_write(k, wv(k, v), clock)
                    if w is not None:
                        add("causal", {"txn": tid, "key": k, "value": v, "witness": w, "rel": "ww"})
        clock[q] = seq
        past[tid] = clock
    return cases, counts


def _history(rng: random.Random, lists: bool) -> list[Op]:
    """Concurrent random txns over a few keys, reads of whatever was written to the key
    (or an element or value nobody wrote, or nothing), some failed, some of unknown
    outcome (their process then carries on as a new one), some never completed. Some txns'
    writes show from their invocation on, so that two txns may read each other's (a
    causal cycle)."""
    workers = rng.randint(1, 5)
    keys = rng.randint(1, 4)
    proc = list(range(workers))
    nxt = workers
    pending: dict[int, list[list[Any]]] = {}
    early: set[int] = set()  # workers whose pending txn's writes show already
    written: dict[Any, list[Any]] = {}  # key -> values written, in order
    counter = 0
    ops: list[Op] = []

    def emit(t: str, p: int, value: Any) -> None:
        ops.append(Op(t, "txn", value, p, len(ops), len(ops)))

    for _ in range(rng.randint(1, 60)):
        w = rng.randrange(workers)
        if w not in pending:
            txn: list[list[Any]] = []
            for _ in range(rng.randint(1, 4)):
                k = rng.randrange(keys)
                if rng.random() < 0.5:
                    txn.append(["r", k, None])
                else:
                    counter += 1
                    v = counter if rng.random() < 0.9 else rng.randint(1, 3)  # a few repeats
                    txn.append(["append" if lists else "w", k, v])
            pending[w] = txn
            emit("invoke", proc[w], txn)
            if rng.random() < 0.3:
                early.add(w)
                for f, k, v in txn:
                    if f != "r":
                        written.setdefault(k, []).append(v)
            continue
        txn = pending.pop(w)
        done: list[list[Any]] = []
        shown = w in early
        early.discard(w)
        for f, k, v in txn:
            if f == "r":
                seen = written.get(k, [])
                cut = len(seen) if rng.random() < 0.7 else rng.randint(0, len(seen))
                if lists:
                    r: Any = list(seen[:cut])
                    if rng.random() < 0.05:
                        r.append(-1)  # an element nobody appended
                else:
                    r = seen[cut - 1] if cut else None
                    if rng.random() < 0.05:
                        r = -1
                done.append(["r", k, r])
            else:
                if not shown:
                    written.setdefault(k, []).append(v)
                done.append([f, k, v])
        x = rng.random()
        if x < 0.05:
            emit("fail", proc[w], txn)
        elif x < 0.2:
            emit("info", proc[w], txn)
            proc[w] = nxt
            nxt += 1
        else:
            emit("ok", proc[w], done)
    for w, txn in pending.items():
        if rng.random() < 0.5:
            emit("ok", proc[w], [[f, k, None if f == "r" else v] for f, k, v in txn])
    return ops


@pytest.mark.parametrize("lists", [True, False], ids=["list-append", "register"])
def test_the_sweep_finds_what_the_vector_clocks_found(lists: bool) -> None:
    rng = random.Random(18)
    violations = cycles = 0
    for _ in range(1500):
        history = _history(rng, lists)
        prep = prepare(history)
        versions = Versions(prep, session_write_order=True)
        sources = causal.read_sources(prep, versions)
        reads = [(t, k) for t, rs in enumerate(prep.reads) for k, _ in rs]
        reported = set(rng.sample(reads, len(reads) // 4)) if rng.random() < 0.3 else set()
        max_cases = rng.choice([1, 2, 10**9])
        got = causal.check_causal(
            prep,
            versions,
            transitive=True,
            max_cases=max_cases,
            deadline=float("inf"),
            reported=reported,
            sources=sources,
        )
        want = _reference(prep, versions, max_cases=max_cases, reported=reported, sources=sources)
        assert got == want, history
        violations += want[1].get("causal", 0)
        cycles += want[1].get("causal-cycle", 0)
    # the histories did exercise what is compared
    assert violations > 500 and cycles > 40
