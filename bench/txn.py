"""How fast the list-append checker is, and how much memory it takes, as histories grow.

    python bench/txn.py                         # huge-scc.edn, then 10k, 100k, 1M txns
    python bench/txn.py --sizes 10000,100000    # fewer sizes
    python bench/txn.py --models serializable   # another consistency model
    python bench/txn.py --repeat 1              # one run per case (default: best of 3)
    python bench/txn.py --cli 100000            # `splitbrain check` of it, end to end

Each case runs in a fresh process: it loads (huge-scc.edn, Elle's 10,254-transaction history
with one large strongly connected component) or generates (a strict serializable history:
5 concurrent processes over 8 active keys, 1-4 micro-ops per transaction, 2% failed and 1%
indeterminate transactions) the history, then times ``ListAppendChecker.check`` alone. Memory
is the process's resident set: before the check (the history itself) and its peak. Each check
runs ``--repeat`` times; the best wall time and the best CPU time are shown, because other
work on the machine inflates wall time (the load average is printed too). Transactions per
second counts every transaction in the history (ok, info and failed), over the best wall time.
Elle reports 100,000-160,000 transactions per second on a 24-core machine.

``--cli N`` writes the generated history of N transactions as jsonl (what a run writes) and
times ``splitbrain check FILE --checker list-append`` in a fresh process, ``--repeat`` times:
starting Python, imports, parsing and the check, end to end (wall, and the child's user and
system CPU), with the load average before each run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.corpus import corpus_dir  # noqa: E402

HUGE = corpus_dir() / "elle" / "list-append" / "huge-scc.edn"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--huge", default=str(HUGE), help="huge-scc.edn ('' to skip)")
    ap.add_argument("--models", default="strict-serializable")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one", nargs=2, metavar=("KIND", "ARG"), help=argparse.SUPPRESS)
    ap.add_argument("--cli", type=int, metavar="N", help="time `splitbrain check` of N txns")
    args = ap.parse_args()
    if args.cli:
        _cli(args.cli, args.repeat)
        return
    if args.one:
        print(json.dumps(_measure(args.one[0], args.one[1], args.models, args.repeat)))
        return
    cases = ([("edn", args.huge)] if args.huge else []) + [
        ("generated", s) for s in args.sizes.split(",") if s
    ]
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"checker: list-append, models: {args.models}, python {sys.version.split()[0]}, "
          f"load average {load}, best of {args.repeat}")  # fmt: skip
    print(f"{'history':<22}{'txns':>10}{'ops':>11}{'wall s':>8}{'cpu s':>7}{'txn/s':>10}"
          f"{'RSS before MB':>15}{'peak MB':>9}  verdict")  # fmt: skip
    for kind, arg in cases:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            kind,
            arg,
            "--models",
            args.models,
            "--repeat",
            str(args.repeat),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{kind} {arg}: failed: {out.stderr.strip()[-500:]}")
            continue
        r = json.loads(out.stdout)
        name = Path(arg).name if kind == "edn" else f"generated {int(arg):,}"
        print(f"{name:<22}{r['txns']:>10,}{r['ops']:>11,}{r['check_s']:>8.2f}{r['cpu_s']:>7.2f}"
              f"{r['txns'] / r['check_s']:>10,.0f}{r['rss_before_mb']:>15.0f}"
              f"{r['peak_mb']:>9.0f}  {r['valid']} {r['types']}")  # fmt: skip


def _measure(kind: str, arg: str, models: str, repeat: int) -> dict[str, object]:
    from checkers.txn import ListAppendChecker

    if kind == "edn":
        from harness.formats import load_history

        history = load_history(arg)
    else:
        from checkers.txn.generate import list_append_history

        history = list_append_history(int(arg), seed=1)
    rss_before = _rss_mb()
    checker = ListAppendChecker(models.split(","), time_budget_s=600)
    walls, cpus = [], []
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        result = checker.check(history, {})
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    txns = sum(1 for op in history if op.type != "invoke" and op.f == "txn")
    return {"txns": txns, "ops": len(history), "check_s": min(walls), "cpu_s": min(cpus),
            "rss_before_mb": rss_before,
            "peak_mb": peak, "valid": result.valid,
            "types": result.details.get("anomaly-types", result.details.get("reason"))}  # fmt: skip


def _cli(n: int, repeat: int) -> None:
    """Write N generated transactions as history.jsonl, then time `splitbrain check` of it."""
    import tempfile

    from checkers.txn.generate import list_append_history

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        with open(path, "wb") as fh:
            for op in list_append_history(n, seed=1):
                fh.write(op.to_line())
        size = path.stat().st_size / 1e6
        cmd = [sys.executable, "-m", "harness.cli", "check", str(path), "--checker", "list-append"]
        print(f"splitbrain check of {n:,} transactions ({size:.1f} MB): {' '.join(cmd[1:4])} ...")
        for _ in range(max(1, repeat)):
            load = Path("/proc/loadavg").read_text().split()[0]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            said = out.stdout.strip()
            verdict = said.splitlines()[0] if said else out.stderr[-200:]
            print(f"  {wall:.2f} s wall, {user:.2f} s user + {system:.2f} s system CPU, "
                  f"load {load}: {verdict.split(': ', 1)[-1]}")  # fmt: skip


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
