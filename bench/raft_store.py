"""Throughput and latency of the reference Raft store on 5 local nodes, no faults.

    python bench/raft_store.py [--seconds 20] [--concurrency 20] [--nodes 5]

Runs a real `splitbrain run` (namespaces, 5 Raft processes, the register workload at full
speed: rate 0) and reads the ops/s and the latency quantiles per f off its history.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.history import pair_index, read_jsonl

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
suite: bench
tests:
  - name: raft-bench
    system: raft
    cluster: {{nodes: {nodes}}}
    workload: {{name: register, concurrency: {concurrency}, rate: 0, keys: 8,
               ops_per_key: 300, timeout: 2}}
    nemesis: {{faults: []}}
    time_limit: {seconds}
    checkers: [stats]
"""


def quantiles(xs: list[float]) -> str:
    xs = sorted(xs)
    if not xs:
        return "-"
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]  # noqa: E731
    return f"p50 {q(0.5):6.1f}  p95 {q(0.95):6.1f}  p99 {q(0.99):6.1f}  max {xs[-1]:6.1f} ms"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--nodes", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        suite = Path(d) / "bench.yaml"
        suite.write_text(
            SUITE.format(nodes=args.nodes, concurrency=args.concurrency, seconds=args.seconds)
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "run",
                str(suite),
                "--results",
                str(Path(d) / "r"),
            ],
            cwd=ROOT,
            check=False,
            capture_output=True,
        )
        run = Path(d) / "r" / "latest"
        results = json.loads((run / "results.json").read_text())
        history = read_jsonl(run / "history.jsonl")
    pairs = pair_index(history)
    lat: dict[str, list[float]] = {}
    ok = 0
    for i, op in enumerate(history):
        if op.type == "invoke" and op.is_client and i in pairs:
            done = history[pairs[i]]
            if done.type == "ok":
                ok += 1
                lat.setdefault(op.f, []).append((done.time - op.time) / 1e6)
    span = max(op.time for op in history) / 1e9
    print(
        f"raft store, {args.nodes} nodes, {args.concurrency} clients, {args.seconds:g}s, "
        f"setup {results.get('setup_seconds')}s"
    )
    print(f"  offered+completed: {results['op_counts']}  ok ops/s: {ok / span:.0f}")
    for f, xs in sorted(lat.items()):
        print(f"  {f:6s} {len(xs):6d} ok  {quantiles(xs)}")


if __name__ == "__main__":
    main()
