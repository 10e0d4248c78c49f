"""Benchmark of the linearizability checker: the Porcupine corpus, generated histories, an
exploding search, and whether a process pool helps.

    python bench/linearizable.py            # everything (about a minute on 2 cores)
    python bench/linearizable.py --quick    # fewer repetitions, no large histories

Times are the full ``LinearizableChecker.check`` (preparation, search, and the explanation
of an invalid result), the best of ``--repeat`` runs, since other work on a shared machine
only ever adds time. Porcupine's figures (Go, one pass, same corpus, 2 cores) are quoted
from the issue: etcd 454 ms in total, median 0.09 ms, slowest etcd_002 173 ms; kv c50-ok
169 ms, c50-bad 21 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checkers.linearizable import LinearizableChecker  # noqa: E402
from checkers.linearizable.generate import register_history  # noqa: E402
from harness.corpus import corpus_dir  # noqa: E402
from harness.formats import load_history  # noqa: E402
from harness.history import Op  # noqa: E402

CORPUS = corpus_dir()
PORCUPINE = {
    "etcd-total": 454.0,
    "etcd-median": 0.09,
    "etcd-max": 173.0,
    "c50-ok": 169.0,
    "c50-bad": 21.0,
}


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """The best wall time of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def check(model: str, history: list[Op], **kw: object) -> Callable[[], object]:
    checker = LinearizableChecker(model, **kw)  # type: ignore[arg-type]
    return lambda: checker.check(history, {})


def corpus(repeat: int) -> None:
    root = CORPUS / "porcupine"
    if not root.is_dir():
        print(f"corpus not found at {root}; set SPLITBRAIN_CORPUS")
        return
    print(f"== Porcupine corpus (best of {repeat}) ==")
    etcd = sorted((root / "etcd").glob("*.log"))
    times = {f.name: best_ms(check("cas-register", load_history(f)), repeat) for f in etcd}
    total = sum(times.values())
    median = statistics.median(times.values())
    slowest = max(times, key=times.__getitem__)
    ratio = total / PORCUPINE["etcd-total"]
    print(
        f"etcd: {len(etcd)} histories, {total:.0f} ms in total "
        f"(Porcupine {PORCUPINE['etcd-total']:.0f} ms: ratio {ratio:.2f}), "
        f"median {median:.2f} ms (Porcupine {PORCUPINE['etcd-median']}), "
        f"slowest {slowest} {times[slowest]:.1f} ms "
        f"(Porcupine etcd_002 {PORCUPINE['etcd-max']:.0f}; "
        f"ours etcd_002 {times.get('etcd_002.log', float('nan')):.1f})"
    )
    for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"):
        h = load_history(root / "kv" / f"{name}.txt")
        ms = best_ms(check("kv", h), repeat)
        ref = PORCUPINE.get(name)
        extra = f" (Porcupine {ref:.0f} ms: ratio {ms / ref:.2f})" if ref else ""
        print(f"kv {name}: {len(h)} events, {ms:.1f} ms{extra}")


def generated(repeat: int, quick: bool) -> None:
    print(f"== generated linearizable histories (best of {repeat}) ==")
    shapes = [
        dict(ops=2000, processes=5, info_rate=0.05, keys=0),
        dict(ops=5000, processes=10, info_rate=0.05, keys=0),
        dict(ops=5000, processes=20, info_rate=0.0, keys=0),
        dict(ops=5000, processes=20, info_rate=0.05, keys=0),
        dict(ops=20000, processes=20, info_rate=0.05, keys=10),
    ]
    if not quick:
        shapes.append(dict(ops=50000, processes=50, info_rate=0.05, keys=20))
    for shape in shapes:
        h = register_history(1, **shape)  # type: ignore[arg-type]
        checker = LinearizableChecker("cas-register", time_budget_s=60)
        res = checker.check(h, {})
        ms = best_ms(partial(checker.check, h, {}), repeat)
        info = sum(1 for o in h if o.type == "info")
        print(
            f"{shape['ops']} ops, {shape['processes']} clients, {shape['keys'] or 1} key(s), "
            f"{info} info: {res.valid} in {ms:.0f} ms "
            f"({ms * 1000 / shape['ops']:.0f} us/op)"
        )


def exploding(budget: float) -> None:
    print("== a search that explodes ends in unknown ==")
    h = explosive_history(14)
    checker = LinearizableChecker("kv", time_budget_s=budget)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    res = checker.check(h, {})
    ms = (time.perf_counter() - t) * 1000
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"time budget {budget:.1f} s: {res.valid} after {ms:.0f} ms: {res.details.get('reason')}; "
        f"peak RSS {after / 1024:.0f} MB (was {before / 1024:.0f} MB)"
    )
    checker = LinearizableChecker("kv", time_budget_s=60, max_nodes=200_000)
    t = time.perf_counter()
    res = checker.check(h, {})
    ms = (time.perf_counter() - t) * 1000
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"memory bound 200000 nodes: {res.valid} after {ms:.0f} ms: {res.details.get('reason')}; "
        f"peak RSS {after / 1024:.0f} MB"
    )


def explosive_history(n: int) -> list[Op]:
    """``n`` appends all concurrent, then a read of a value no order of them makes: every
    ordering of the appends must be ruled out (n! of them, less what the memo saves)."""
    ops: list[Op] = []
    for p in range(n):
        ops.append(Op("invoke", "append", ["k", f"<{p}>"], p))
    for p in range(n):
        ops.append(Op("ok", "append", ["k", f"<{p}>"], p))
    ops.append(Op("invoke", "get", ["k", None], n))
    ops.append(Op("ok", "get", ["k", "never"], n))
    for i, op in enumerate(ops):
        op.index = op.time = i
    return ops


def pool(repeat: int) -> None:
    print(f"== a process pool for partitions (best of {repeat}) ==")
    for shape in (
        dict(ops=20000, processes=20, info_rate=0.05, keys=10),
        dict(ops=50000, processes=50, info_rate=0.05, keys=20),
    ):
        h = register_history(2, **shape)  # type: ignore[arg-type]
        one = best_ms(check("cas-register", h), repeat)
        two = best_ms(check("cas-register", h, workers=2), repeat)
        print(
            f"{shape['ops']} ops, {shape['keys']} keys: 1 process {one:.0f} ms, "
            f"2 workers {two:.0f} ms (x{one / two:.2f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeat = 2 if args.quick else args.repeat
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    corpus(repeat)
    generated(1 if args.quick else 3, args.quick)
    exploding(2.0)
    pool(1 if args.quick else 3)


if __name__ == "__main__":
    main()
