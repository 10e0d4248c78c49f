"""The acceptance table: how often each seeded bug is caught, and how often the correct
system passes, over several seeded runs of a suite.

    python bench/detection.py [--suite suites/smoke.yaml] [--runs 5] [--valid-runs 10]
                              [--time-limit 60] [--bugs stale-read,early-ack,...]
                              [--first-seed 1] [--json runs.jsonl]

``--bugs``: by default, the bugs whose acceptance suite this is (``PLAN`` in
``bench/detection_table.py``). ``--json``: each run's row appended to that file as a JSON
line as soon as it ends (with the suite and the time limit), for
``bench/detection_table.py``, which builds the table of every pattern from such files.

Runs `splitbrain run` as a user does (a subprocess per run, seeds 1..N), so every run is a
real cluster with real faults; prints one line per run and a table at the end. A run of a
suite with several tests runs them all and is judged by the suite's exit code (a bug is
caught when any test is invalid; the correct system passes when every test is valid); the
table then also says, per test, how often it was invalid (valid), its median first evidence
(seconds into that test) and its median ok ops/s. A run's first evidence is its earliest
anomaly's (when the last op it needs had completed), counting the keys the linearizability
checker left undecided once it had found one invalid key: those are searched here, and the
line shows what the run itself reported when that was later. Takes about
(runs * bugs + valid_runs) * tests * (time_limit + 15) seconds.
"""

from __future__ import annotations

import argparse
import json
import os
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
    # every test of the suite wrote results/<test>/<start>/results.json (results/latest is
    # only the last one): a suite of several tests is judged on all of them
    files = [f for f in sorted(results.glob("*/*/results.json")) if f.parts[-3] != "latest"]
    per_test = {}
    for f in files:
        data = json.loads(f.read_text())
        summary = _test_summary(data)
        summary["earliest_s"] = _earliest_linearizable(f.parent, data, summary["evidence_s"])
        per_test[data.get("test", "?")] = summary
    evidence = [s["earliest_s"] for s in per_test.values() if s["earliest_s"] is not None]
    reported = [s["evidence_s"] for s in per_test.values() if s["evidence_s"] is not None]
    ok = sum(s["ok"] for s in per_test.values())
    # the verdict of the run, from its tests' results (not the exit code, which follows each
    # test's expectation: a --bug run that is invalid as expected exits 0)
    verdicts = [s["valid"] for s in per_test.values()]
    verdict = False if False in verdicts else (True if verdicts and all(verdicts) else None)
    if p.returncode < 0 and verdict is not False:
        verdict = None  # killed by a signal: the tests it had not finished have no say
    return {
        "bug": bug or "-",
        "seed": seed,
        "exit": p.returncode,
        "verdict": verdict,
        "wall": wall,
        "anomalies": sorted({a for s in per_test.values() for a in s["anomalies"]}),
        "faults": sorted({f for s in per_test.values() for f in s["faults"]}),
        "ops": {"ok": ok},
        "setup_s": max((s["setup_s"] or 0 for s in per_test.values()), default=None),
        # the tests run one after another: the run's rate is the mean of theirs
        "ops_per_s": _mean([s["ops_per_s"] or 0 for s in per_test.values()]),
        "ok_per_s": _mean([s["ok_per_s"] for s in per_test.values()]),
        "evidence_s": min(evidence) if evidence else None,
        "reported_s": min(reported) if reported else None,
        # the machine's 1-minute load average as the run ended: a busy machine slows the
        # faults and the clients, and so the first evidence
        "load": round(os.getloadavg()[0], 1),
        "tests": per_test,
        # no verdict (unknown, setup failed, a crash): what it said last, to see why
        "stderr_tail": p.stderr.splitlines()[-6:] if verdict is None else [],
    }


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 1) if xs else 0.0


def _median(xs: list[float]) -> float | None:
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def _worst(bug: str | None, runs: list[dict], times: list[float]) -> str:
    """The worst first evidence of a bug's runs: the latest one, or "missed" when a run
    showed none (a miss is worse than any time; the median above is of the caught runs)."""
    if bug is None or not runs:
        return ""
    if len(times) < len(runs):
        return f", worst missed ({len(runs) - len(times)} of {len(runs)})"
    return f", worst {times[-1]:.1f}s"


def _evidence(anomaly: dict) -> float | None:
    """When ``anomaly``'s last op had completed (before that no checker could have seen it),
    in seconds of test time; None when its ops carry no times."""
    times = [op["time"] for op in anomaly.get("ops", []) if isinstance(op.get("time"), int)]
    return max(times) / 1e9 if times else None


def _earliest_linearizable(run: Path, data: dict, reported: float | None) -> float | None:
    """The test's first evidence counting every key the linearizability checker left
    undecided. The checker stops at the first invalid key it decides, and it decides the
    smallest keys first: younger ones, whose anomalies are often later than an older key's
    (a smoke run with early-ack reported 24.2 s; its key 0 was already invalid at 2.3 s).
    Those keys are searched to the end here (``exhaustive``), with the run's model and
    semantics, and the earliest anomaly of all is the test's first evidence."""
    lin = data.get("checkers", {}).get("linearizable", {})
    keys = lin.get("details", {}).get("keys", {})
    if lin.get("valid") is not False or not any(k.get("valid") == "unknown" for k in keys.values()):
        return reported
    from checkers.linearizable.checker import LinearizableChecker
    from harness.history import read_jsonl

    details = lin["details"]
    checker = LinearizableChecker(
        details.get("model", "cas-register"),
        semantics=details.get("semantics", "splitbrain"),
        time_budget_s=60,
        exhaustive=True,
        # the reference engine: the compiled one may be rebuilt under a running benchmark
        engine="python",
    )
    result = checker.check(read_jsonl(run / "history.jsonl"), {})
    found = [t for a in result.anomalies if (t := _evidence(a.to_dict())) is not None]
    return min([*found, *([] if reported is None else [reported])], default=None)


def _test_summary(data: dict) -> dict:
    """One test's verdict, anomalies, faults, throughput and first evidence."""
    checkers = data.get("checkers", {}).values()
    # the first evidence: for each anomaly, the moment its last op had completed (before
    # that, no checker could have seen it); the earliest over all anomalies
    evidence = [
        t for r in checkers for a in r.get("anomalies", []) if (t := _evidence(a)) is not None
    ]
    ok = data.get("op_counts", {}).get("ok", 0)
    invokes = data.get("op_counts", {}).get("invoke", 0)
    ops_per_s = data.get("ops_per_second")
    # the run's length from its invocations and their rate (results.json has no duration)
    seconds = invokes / ops_per_s if ops_per_s else 0
    return {
        "valid": data.get("valid"),
        "anomalies": sorted({a["name"] for r in checkers for a in r.get("anomalies", [])}),
        "faults": sorted({f["f"] for f in data.get("faults", []) if f.get("type") == "ok"}),
        "ok": ok,
        "setup_s": data.get("setup_seconds"),
        "ops_per_s": ops_per_s,
        "ok_per_s": round(ok / seconds, 1) if seconds else 0.0,
        "evidence_s": min(evidence) if evidence else None,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--suite", default="suites/smoke.yaml")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--valid-runs", type=int, default=10)
    p.add_argument("--time-limit", type=float, default=60)
    p.add_argument("--bugs", help="a comma-separated list (default: the suite's, in the plan)")
    p.add_argument("--json", type=Path, help="append each run's row to this file (JSON lines)")
    p.add_argument(
        "--first-seed", type=int, default=1, help="seeds first..first+runs-1 (split a table)"
    )
    args = p.parse_args()
    if args.bugs is None:
        from detection_table import PLAN  # this folder is on the path when run as a script

        args.bugs = ",".join(PLAN.get(args.suite, ()))
    bugs = [b for b in args.bugs.split(",") if b]
    first = args.first_seed
    plan: list[tuple[str | None, int]] = [(None, s) for s in range(first, first + args.valid_runs)]
    plan += [(b, s) for b in bugs for s in range(first, first + args.runs)]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for bug, seed in plan:
            r = one_run(args.suite, seed, args.time_limit, bug, Path(d) / f"{bug}-{seed}")
            rows.append(r)
            if args.json:
                row = {"suite": args.suite, "time_limit": args.time_limit, **r}
                with args.json.open("a") as out:
                    out.write(json.dumps(row) + "\n")
            ev = "-" if r["evidence_s"] is None else f"{r['evidence_s']:.1f}s"
            if r["reported_s"] != r["evidence_s"] and r["reported_s"] is not None:
                ev += f"(reported:{r['reported_s']:.1f}s)"
            print(
                f"bug={r['bug']:11s} seed={seed:2d} valid={r['verdict']} exit={r['exit']} "
                f"wall={r['wall']:5.1f}s "
                f"ops/s={r['ops_per_s']:.1f} ok={r['ops'].get('ok')} anomalies={r['anomalies']} "
                f"evidence_at={ev} load={r['load']} "
                f"faults={r['faults']}",
                flush=True,
            )
            for line in r["stderr_tail"]:
                print(f"    stderr: {line}", flush=True)
            if len(r["tests"]) > 1:
                for name, t in r["tests"].items():
                    tev = "-" if t["earliest_s"] is None else f"{t['earliest_s']:.1f}s"
                    print(
                        f"    {name}: valid={t['valid']} ops/s={t['ops_per_s']} "
                        f"ok/s={t['ok_per_s']} anomalies={t['anomalies']} evidence_at={tev}",
                        flush=True,
                    )
    loads = [r["load"] for r in rows]
    print(
        f"\nsummary for {args.suite}, {args.time_limit:g} s runs (each run's verdict from its "
        "tests' results.json: invalid if any test is); load average as the runs ended: "
        + (f"{min(loads):g} to {max(loads):g}" if loads else "-")
    )
    for bug in [None, *bugs]:
        mine = [r for r in rows if r["bug"] == (bug or "-")]
        hits = sum(1 for r in mine if r["verdict"] is (bug is None))
        what = "valid" if bug is None else "caught"
        times = sorted(r["evidence_s"] for r in mine if r["evidence_s"] is not None)
        median = f"; median first evidence at {times[len(times) // 2]:.1f}s" if times else ""
        median += _worst(bug, mine, times)
        rates = sorted(r["ok_per_s"] for r in mine)
        okps = f"; median ok ops/s {rates[len(rates) // 2]:.1f}" if rates else ""
        undecided = sum(1 for r in mine if r["verdict"] is None)
        none = f" ({undecided} without a verdict)" if undecided else ""
        print(f"  {bug or 'correct':11s} {what} in {hits} of {len(mine)}{none}{median}{okps}")
        names = sorted({n for r in mine for n in r["tests"]})
        if len(names) > 1:  # which test saw it: a run counts once, whichever test did
            for name in names:
                tests = [r["tests"][name] for r in mine if name in r["tests"]]
                n = sum(1 for t in tests if t["valid"] is (bug is None))
                first = _median([t["earliest_s"] for t in tests if t["earliest_s"] is not None])
                evs = "" if first is None else f"; median first evidence at {first:.1f}s"
                rate = _median([t["ok_per_s"] for t in tests])
                print(
                    f"    {name}: {'valid' if bug is None else 'invalid'} in {n} of "
                    f"{len(tests)}{evs}; median ok ops/s {rate}"
                )


if __name__ == "__main__":
    main()
