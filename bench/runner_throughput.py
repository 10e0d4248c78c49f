"""How many operations per second the runner records with a client that does nothing.

    python bench/runner_throughput.py [--seconds 5] [--threads 10]

Every op is an invocation and a completion, each a flushed line of history.jsonl, drawn from a
mix generator through the runner's lock, exactly as in a real test; only the client is empty.
Jepsen's interpreter records about 18,000 ops/s on its own benchmark. The CPU time per op (of
this process, every thread) is the figure to compare on a busy machine: the others' load
adds wall time, much less CPU time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.generator import mix, repeat, time_limit
from harness.history import Journal, Op
from harness.runner import Runner, Worker


class NoopClient:
    def invoke(self, op: Op) -> Op:
        return op.complete("ok", op.value)

    def close(self) -> None:
        pass


def measure(seconds: float, threads: int) -> tuple[int, float, float]:
    """(ops recorded, wall seconds, CPU seconds of this process) of one run."""
    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic_ns()
        journal = Journal(Path(d) / "history.jsonl", lambda: time.monotonic_ns() - t0)
        gen = time_limit(seconds, mix([repeat("read", ["k", None]), repeat("write", ["k", 1])]))
        workers = [Worker(f"n{i % 5}", NoopClient) for i in range(threads)]
        runner = Runner(gen, journal, workers, seed=1)
        start, cpu = time.monotonic(), time.process_time()
        runner.run()
        elapsed, cpu = time.monotonic() - start, time.process_time() - cpu
        journal.close()
        ops = sum(1 for o in journal.ops if o.type == "invoke")
        return ops, elapsed, cpu


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--threads", type=int, nargs="*", default=[1, 10, 50])
    args = p.parse_args()
    for n in args.threads:
        ops, elapsed, cpu = measure(args.seconds, n)
        print(
            f"threads={n:3d}  ops={ops:8d}  {ops / elapsed:9.0f} ops/s "
            f"({2 * ops / elapsed:9.0f} history lines/s), "
            f"{cpu * 1e6 / max(ops, 1):5.1f} us CPU per op"
        )


if __name__ == "__main__":
    main()
