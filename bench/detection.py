"""The acceptance table: how often each seeded bug is caught, and how often the correct
system passes, over several seeded runs of a suite.

    python bench/detection.py [--suite suites/smoke.yaml] [--runs 5] [--valid-runs 10]
                              [--time-limit 60] [--bugs stale-read,early-ack,...]

Runs `splitbrain run` as a user does (a subprocess per run, seeds 1..N), so every run is a
real cluster with real faults; prints one line per run and a table at the end. Takes about
(runs * bugs + valid_runs) * (time_limit + 15) seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(suite: str, seed: int, time_limit: float, bug: str | None, results: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        suite,
        "--seed",
        str(seed),
        "--time-limit",
        str(time_limit),
        "--results",
        str(results),
    ]
    if bug:
        cmd += ["--bug", bug]
    t = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t
    latest = results / "latest" / "results.json"
    data = json.loads(latest.read_text()) if latest.exists() else {}
    caught = sorted(
        {a["name"] for r in data.get("checkers", {}).values() for a in r.get("anomalies", [])}
    )
    kinds = sorted({f["f"] for f in data.get("faults", []) if f.get("type") == "ok"})
    # the first evidence: for each anomaly, the moment its last op had completed (before
    # that, no checker could have seen it); the earliest over all anomalies
    evidence = [
        max(op["time"] for op in a["ops"] if isinstance(op.get("time"), int)) / 1e9
        for r in data.get("checkers", {}).values()
        for a in r.get("anomalies", [])
        if any(isinstance(op.get("time"), int) for op in a.get("ops", []))
    ]
    return {
        "bug": bug or "-",
        "seed": seed,
        "exit": p.returncode,
        "wall": wall,
        "anomalies": caught,
        "faults": kinds,
        "ops": data.get("op_counts", {}),
        "setup_s": data.get("setup_seconds"),
        "ops_per_s": data.get("ops_per_second"),
        "evidence_s": min(evidence) if evidence else None,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--suite", default="suites/smoke.yaml")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--valid-runs", type=int, default=10)
    p.add_argument("--time-limit", type=float, default=60)
    p.add_argument("--bugs", default="stale-read,early-ack,no-fsync,vote-twice")
    args = p.parse_args()
    bugs = [b for b in args.bugs.split(",") if b]
    plan = [(None, s) for s in range(1, args.valid_runs + 1)]
    plan += [(b, s) for b in bugs for s in range(1, args.runs + 1)]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for bug, seed in plan:
            r = one_run(args.suite, seed, args.time_limit, bug, Path(d) / f"{bug}-{seed}")
            rows.append(r)
            ev = "-" if r["evidence_s"] is None else f"{r['evidence_s']:.1f}s"
            print(
                f"bug={r['bug']:11s} seed={seed:2d} exit={r['exit']} wall={r['wall']:5.1f}s "
                f"ops/s={r['ops_per_s']} ok={r['ops'].get('ok')} anomalies={r['anomalies']} "
                f"evidence_at={ev} "
                f"faults={r['faults']}",
                flush=True,
            )
    print(f"\nsummary for {args.suite}, {args.time_limit:g} s runs (exit 0 valid, 1 invalid)")
    for bug in [None, *bugs]:
        mine = [r for r in rows if r["bug"] == (bug or "-")]
        want = 0 if bug is None else 1
        hits = sum(1 for r in mine if r["exit"] == want)
        what = "valid" if bug is None else "caught"
        times = sorted(r["evidence_s"] for r in mine if r["evidence_s"] is not None)
        median = f"; median first evidence at {times[len(times) // 2]:.1f}s" if times else ""
        print(f"  {bug or 'correct':11s} {what} in {hits} of {len(mine)}{median}")


if __name__ == "__main__":
    main()
