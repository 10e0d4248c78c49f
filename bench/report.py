"""How long the failure report takes to build and to open, for a long run.

    python bench/report.py [--ops 100000] [--keep DIR]

Writes a run directory with a synthetic history of ``--ops`` lines (invocations and
completions: 10 workers on a key-value register, reads / writes / cas over 20 keys, a process
replaced after each ``info``, and a nemesis cycling partition, kill, pause and clock faults),
with one stale read planted in it. The history is checked by the real checkers
(linearizable + stats, as a test would), then:

- build: ``build_report(run_dir)``, wall time (the target: under 30 s for 100,000 ops);
- open: headless Chromium loads ``report.html`` from disk and runs its scripts; the page
  records when its charts are drawn (``performance.now()`` from navigation start), and the
  whole Chromium process is timed too, next to the same for an empty page (the target: under
  5 s).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.history import Op  # noqa: E402
from harness.report import build_report  # noqa: E402
from harness.report.browser import chromium, dump_dom  # noqa: E402
from harness.run import check_history  # noqa: E402


def synthetic_history(lines: int, seed: int = 1) -> list[dict]:
    """A history of about ``lines`` lines that is linearizable but for one stale read."""
    rng = random.Random(seed)
    workers, keys = 10, 20
    pairs = lines // 2
    # (invoke time, linearization time, invocation, completion)
    ops: list[tuple[int, int, dict[str, Any], dict[str, Any]]] = []
    clock = [0] * workers
    proc = list(range(workers))
    for n in range(pairs):
        w = n % workers
        s = clock[w] + rng.randint(1_000_000, 80_000_000)
        d = rng.randint(300_000, 40_000_000)
        k = rng.randrange(keys)
        f = rng.choice(["read", "read", "write", "cas"])
        outcome = rng.choices(["ok", "fail", "info"], [90, 8, 2])[0]
        if outcome == "info":
            d = 1_500_000_000
        inv: dict[str, Any] = {
            "type": "invoke",
            "process": proc[w],
            "f": f,
            "node": f"n{w % 5 + 1}",
        }
        if f == "read":
            inv["value"] = [k, None]
        elif f == "write":
            inv["value"] = [k, rng.randrange(5)]
        else:
            inv["value"] = [k, [rng.randrange(5), rng.randrange(5)]]
        done: dict[str, Any] = {"type": outcome, "process": proc[w], "f": f, "node": inv["node"]}
        if outcome == "info":
            done["error"] = "timeout after 1.5s"
            proc[w] += workers
        ops.append((s, s + rng.randint(0, d), inv, done | {"_end": s + d}))
        clock[w] = s + d
    # apply in linearization order so every read sees the register as it was
    state: dict[int, int | None] = {}
    stale_done = False
    for _s, _lin, inv, done in sorted(ops, key=lambda o: o[1]):
        k, v = inv["value"]
        cur = state.get(k)
        if inv["f"] == "read":
            if done["type"] == "fail":
                done["value"] = [k, None]
                done["error"] = "not-leader"
                continue
            seen = cur
            if not stale_done and done["type"] == "ok" and _s > 20e9 and cur is not None:
                seen = (cur + 1) % 5  # the planted stale read: a value never current here
                stale_done = True
            done["value"] = [k, seen]
        elif inv["f"] == "write":
            done["value"] = inv["value"]
            if done["type"] != "fail":
                state[k] = v
        else:
            old, new = v
            if done["type"] == "fail" or cur != old:
                done["type"] = "fail" if done["type"] != "info" else "info"
                done["error"] = done.get("error") or "cas-mismatch"
                if done["type"] == "info":
                    state[k] = new if cur == old else cur
            else:
                state[k] = new
            done["value"] = inv["value"]
    events: list[tuple[int, int, dict[str, Any]]] = []
    for s, _lin, inv, done in ops:
        end = done.pop("_end")
        events.append((s, 0, inv))
        events.append((end, 1, done))
    t_end = max(e[0] for e in events)
    nemesis: list[tuple[str, Any]] = [
        ("start-partition", "majorities-ring"), ("stop-partition", None),
        ("kill", "primaries"), ("start", None), ("pause", "one"), ("resume", None),
        ("bump-clock", {"nodes": "one", "delta_ms": 12000}), ("reset-clock", None),
    ]  # fmt: skip
    t, i = 2_000_000_000, 0
    while t < t_end:
        nf, nv = nemesis[i % len(nemesis)]
        events.append((t, 0, {"type": "invoke", "process": "nemesis", "f": nf, "value": nv}))
        events.append(
            (t + 50_000_000, 1, {"type": "ok", "process": "nemesis", "f": nf, "value": nv})
        )
        t += 5_000_000_000
        i += 1
    events.sort(key=lambda e: (e[0], e[1]))
    out: list[dict[str, Any]] = []
    for idx, (tm, _, ev) in enumerate(events):
        out.append({"index": idx, "time": tm, **ev})
    return out


def write_run(run_dir: Path, history: list[dict]) -> float:
    """Write the run's files as ``run_test`` would; return the checkers' seconds."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "history.jsonl").write_text(
        "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in history)
    )
    (run_dir / "spec.yaml").write_text("name: bench-register\nseed: 1\ntime_limit: 600\n")
    for n in range(1, 6):
        node = run_dir / "nodes" / f"n{n}"
        node.mkdir(parents=True, exist_ok=True)
        (node / "raft.log").write_text("started\n")
    ops = [Op.from_dict(d) for d in history]
    t = time.monotonic()
    checked = check_history(ops, ["linearizable", "stats"], run_dir, {"test": "bench"})
    seconds = time.monotonic() - t
    results = {"test": "bench-register", "suite": "bench/report.py", "seed": 1,
               "rerun": "python bench/report.py", "started": "2026-01-01T00:00:00Z",
               **checked, "interrupted": False}  # fmt: skip
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return seconds


def open_time(report: Path) -> tuple[float, float, float]:
    """(ms the page took to draw after navigation, Chromium wall s for it, for a blank page)."""
    blank = report.with_name("blank.html")
    blank.write_text("<!DOCTYPE html><title>blank</title><p>blank</p>")
    t = time.monotonic()
    dump_dom(blank.as_uri())
    base = time.monotonic() - t
    t = time.monotonic()
    dom = dump_dom(report.as_uri(), timeout=120)
    wall = time.monotonic() - t
    m = re.search(r'data-ready-ms="(\d+)"', dom)
    if m is None:
        err = re.search(r'data-render-error="([^"]*)"', dom)
        raise RuntimeError(f"the page did not finish drawing: {err.group(1) if err else '?'}")
    return float(m.group(1)), wall, base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=100_000, help="history lines (default 100000)")
    ap.add_argument("--keep", help="write the run here and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.keep) if args.keep else Path(tmp) / "run"
        t = time.monotonic()
        history = synthetic_history(args.ops)
        gen = time.monotonic() - t
        check = write_run(run_dir, history)
        verdict = json.loads((run_dir / "results.json").read_text())["valid"]
        print(f"history: {len(history):,} lines ({gen:.1f} s to make); checked in {check:.1f} s, "
              f"valid = {verdict}")  # fmt: skip
        t = time.monotonic()
        report = build_report(run_dir)
        build = time.monotonic() - t
        print(f"build:   {build:.2f} s  ({report.stat().st_size / 1e6:.1f} MB report.html)")
        if chromium() is None:
            print("open:    skipped (chromium is not installed; ./setup installs it)")
            return
        ready_ms, wall, base = open_time(report)
        print(f"open:    drawn {ready_ms / 1000:.2f} s after navigation (the page's clock); "
              f"chromium start to exit {wall:.2f} s (a blank page: {base:.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
