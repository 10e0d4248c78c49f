"""How fast the causality checker's session-guarantee checks are on a 1,000,000-op history.

    python bench/causal.py                        # 1,000,000 history ops, session guarantees
    python bench/causal.py --ops 200000           # a smaller history
    python bench/causal.py --models causal        # another model (PRAM, causal, ...)
    python bench/causal.py --repeat 1             # one run (default: best of 3)
    python bench/causal.py --no-file              # skip the run that reads history.jsonl

The history is generated: a list-append history of ``--ops`` history ops (lines of
history.jsonl: an invocation and a completion each, so half as many transactions) by 10
processes over 8 active keys (a key retires after 100 appends), 1-3 micro-ops per
transaction, each served by one of 5 nodes at random (clients move between nodes), executed
one at a time against one store, so it is valid under every model: the check does all of its
work. Two figures:

- check only: ``CausalChecker.check`` on the history in memory (best of ``--repeat``);
- from file: the history written to a history.jsonl, then ``read_jsonl`` (which parses and
  validates every line) plus the check, once; the read's share is printed too.

Ops per second counts history ops (lines) over the time, by wall clock and by this process's
CPU time (``time.process_time``); the machine is shared, so the load average is printed
before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checkers.causal import CausalChecker  # noqa: E402
from harness.history import Op, read_jsonl  # noqa: E402

SESSION = "read-your-writes,monotonic-reads,monotonic-writes,writes-follow-reads"


def generate(n_ops: int, seed: int = 1) -> list[Op]:
    """A valid list-append history of ``n_ops`` ops (invocations and completions)."""
    rng = random.Random(seed)
    lists: dict[int, tuple[int, ...]] = {}
    active = list(range(8))
    next_key, counter = 8, 0
    out: list[Op] = []
    while len(out) < n_ops:
        p = rng.randrange(10)
        node = f"n{rng.randrange(5) + 1}"
        mops_inv, mops_ok = [], []
        for _ in range(rng.randrange(1, 4)):
            k = rng.choice(active)
            if rng.random() < 0.5:
                counter += 1
                cur = lists.get(k, ())
                lists[k] = (*cur, counter)
                mops_inv.append(["append", k, counter])
                mops_ok.append(["append", k, counter])
                if len(lists[k]) >= 100:
                    active[active.index(k)] = next_key
                    next_key += 1
            else:
                mops_inv.append(["r", k, None])
                mops_ok.append(["r", k, list(lists.get(k, ()))])
        i = len(out)
        out.append(Op("invoke", "txn", mops_inv, p, i, i, node))
        out.append(Op("ok", "txn", mops_ok, p, i + 1, i + 1, node))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--models", default=SESSION)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-file", action="store_true", help="skip the from-file run")
    args = ap.parse_args()
    print(f"load average before: {_load()}")
    t0 = time.monotonic()
    history = generate(args.ops)
    txns = sum(1 for op in history if op.type != "invoke")
    print(f"generated {len(history):,} history ops ({txns:,} invocation/completion pairs) "
          f"in {time.monotonic() - t0:.1f} s")  # fmt: skip
    checker = CausalChecker(args.models, time_budget_s=3600)
    print(f"models: {args.models}")
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(args.repeat):
        w0, c0 = time.monotonic(), time.process_time()
        result = checker.check(history, {})
        best_wall = min(best_wall, time.monotonic() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    assert result is not None
    print(f"verdict: {result.valid}  anomalies: {len(result.anomalies)}")
    _figures(f"check only (best of {args.repeat})", len(history), txns, best_wall, best_cpu)
    if not args.no_file:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "history.jsonl"
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(op.to_json() + "\n" for op in history)
            del history  # the run below holds only what it read
            w0, c0 = time.monotonic(), time.process_time()
            read = read_jsonl(path)
            rw, rc = time.monotonic() - w0, time.process_time() - c0
            result = checker.check(read, {})
            wall, cpu = time.monotonic() - w0, time.process_time() - c0
        print(f"verdict: {result.valid}  (reading history.jsonl: {rw:.2f} s wall, "
              f"{rc:.2f} s cpu)")  # fmt: skip
        _figures("from file (read_jsonl + check, once)", len(read), txns, wall, cpu)
    print(f"load average after: {_load()}")


def _figures(what: str, ops: int, pairs: int, wall: float, cpu: float) -> None:
    print(f"{what}: {wall:.2f} s wall, {cpu:.2f} s cpu: {ops / wall:,.0f} history ops/s wall, "
          f"{ops / cpu:,.0f} history ops/s cpu ({pairs / cpu:,.0f} pairs/s cpu)")  # fmt: skip


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
