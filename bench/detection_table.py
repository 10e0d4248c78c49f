"""The detection table of every reference pattern: each seeded bug's runs, caught of N, with
the median and the worst first evidence, and each correct pattern's valid runs.

    python bench/detection_table.py plan                 # the suite and the bugs of each row
    python bench/detection_table.py run [--suites a,b] [--runs 5] [--valid-runs 5] \\
        [--time-limit 30] --json runs.jsonl             # bench/detection.py per suite
    python bench/detection_table.py table runs.jsonl [more.jsonl ...]

``PLAN`` names, for every reference pattern, the suite that exposes each of its seeded bugs
(the Raft store's bugs are spread over four suites: its register, power cuts, its
membership changes and its watches); ``tests/harness/test_detection_plan.py`` checks that
the plan covers every seeded bug the registry knows, so a new bug cannot be left out of the
table. ``run`` calls ``bench/detection.py`` once per suite (a subprocess, each run a real
cluster). ``table`` reads the JSON lines those runs appended (the last row of each suite,
bug and seed wins, so a run repeated after a crash replaces the first) and prints the
markdown table: per bug the runs that caught it, the median first evidence over every run (a
miss ranks after any time, so a bug missed in 3 of 5 has no median), the worst, and each
run's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: suite -> the seeded bugs it is the acceptance test of
PLAN: dict[str, tuple[str, ...]] = {
    "suites/smoke.yaml": ("stale-read", "early-ack", "vote-twice"),
    # no-fsync writes to the kernel and never syncs: no kill shows it, only a power cut
    "suites/raft-lose-unfsynced.yaml": ("no-fsync",),
    "suites/raft-membership.yaml": ("count-new-member-early",),
    "suites/raftwatch.yaml": ("watch-resume-now", "watch-before-commit", "watch-rearm-late"),
    "suites/paxos.yaml": ("forget-promise", "local-read"),
    "suites/pbft.yaml": ("quorum-2f", "view-change-drops-prepared", "no-mac-check", "first-reply"),
    "suites/election.yaml": ("double-count", "minority-quorum", "no-confirm"),
    "suites/emergent.yaml": ("no-incarnation", "never-remove", "lead-alone"),
    "suites/lock.yaml": ("no-fencing", "early-grant", "term-token"),
    "suites/lease.yaml": ("local-clock", "stale-flag"),
    "suites/leaderfollower.yaml": ("ack-before-replication", "read-past-hwm", "lwm-leader-only"),
    "suites/queue.yaml": ("redeliver-on-timeout", "unreplicated-dequeue"),
    "suites/twophase.yaml": ("commit-without-all-votes", "forget-prepared", "no-decision-log"),
    "suites/actor.yaml": ("stale-directory", "no-dedup", "persist-after-reply"),
    "suites/lamport.yaml": ("no-max", "send-no-tick", "volatile-clock"),
    "suites/hlc.yaml": ("physical-only", "no-c-reset", "no-offset-guard"),
    "suites/vclock.yaml": ("lww", "bad-merge"),
    "suites/clocksync.yaml": ("ignore-rtt", "single-source", "no-drift-bound"),
    "suites/crdt.yaml": ("merge-sum", "no-tombstones", "pn-single-counter"),
}


def run(args: argparse.Namespace) -> None:
    suites = [s for s in args.suites.split(",") if s] if args.suites else list(PLAN)
    for suite in suites:
        if suite not in PLAN:
            sys.exit(f"--suites: {suite!r} is not in the plan; allowed: {', '.join(PLAN)}")
    for suite in suites:
        cmd = [
            sys.executable,
            str(ROOT / "bench" / "detection.py"),
            "--suite",
            suite,
            "--bugs",
            ",".join(PLAN[suite]),
            "--runs",
            str(args.runs),
            "--valid-runs",
            str(args.valid_runs),
            "--time-limit",
            str(args.time_limit),
            "--first-seed",
            str(args.first_seed),
            "--json",
            str(args.json),
        ]
        print("$", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=False)


def table(paths: list[Path]) -> str:
    """The markdown table of the runs in ``paths`` (JSON lines of ``bench/detection.py``)."""
    latest: dict[tuple[str, str, int], dict] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                latest[(row["suite"], row["bug"], row["seed"])] = row
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for (suite, bug, _seed), row in sorted(latest.items(), key=lambda kv: kv[0][2]):
        by_cell[(suite, bug)].append(row)
    out = [
        "| suite | bug | caught / valid | median first evidence | worst | each run (s) | load |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = [(s, b) for s in PLAN for b in ("-", *PLAN[s])]
    order += sorted(k for k in by_cell if k not in order)
    for suite, bug in order:
        rows = by_cell.get((suite, bug))
        if not rows:
            continue
        loads = [r["load"] for r in rows]
        load = f"{min(loads):g} – {max(loads):g}"
        name = Path(suite).stem
        decided = [r for r in rows if r["verdict"] is not None]
        lost = len(rows) - len(decided)
        note = f" ({lost} without a verdict)" if lost else ""
        if bug == "-":
            valid = sum(1 for r in decided if r["verdict"] is True)
            out.append(f"| {name} | correct | valid {valid}/{len(decided)}{note} | | | | {load} |")
            continue
        caught = [r for r in decided if r["verdict"] is False]
        times = sorted(r["evidence_s"] for r in caught if r["evidence_s"] is not None)
        # the median of every run, a miss ranking after any time
        ranked = times + [float("inf")] * (len(decided) - len(times))
        mid = ranked[len(ranked) // 2] if ranked else float("inf")
        median = f"{mid:.1f} s" if mid != float("inf") else "missed"
        if len(times) < len(decided):
            worst = "missed"
        else:
            worst = f"{times[-1]:.1f} s" if times else "–"
        each = ", ".join(
            "missed" if r["verdict"] is not False or r["evidence_s"] is None
            else f"{r['evidence_s']:.1f}"
            for r in decided
        )  # fmt: skip
        out.append(
            f"| {name} | `{bug}` | {len(caught)}/{len(decided)}{note} | {median} | {worst} "
            f"| {each} | {load} |"
        )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("plan")
    r = sub.add_parser("run")
    r.add_argument("--suites", help="a comma-separated subset of the plan's suites")
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--valid-runs", type=int, default=5)
    r.add_argument("--time-limit", type=float, default=30)
    r.add_argument("--first-seed", type=int, default=1)
    r.add_argument("--json", type=Path, required=True)
    t = sub.add_parser("table")
    t.add_argument("paths", type=Path, nargs="+")
    args = p.parse_args()
    if args.cmd == "plan":
        for suite, bugs in PLAN.items():
            print(f"{suite}: {', '.join(bugs)}")
    elif args.cmd == "run":
        run(args)
    else:
        print(table(args.paths))


if __name__ == "__main__":
    main()
