"""Benchmark of the linearizability checker beside Porcupine, in one run, on the same histories.

    python bench/linearizable.py                # the side-by-side table (5 rounds)
    python bench/linearizable.py --rounds 9 --json
    python bench/linearizable.py --more         # also generated histories, an explosion, a pool

Porcupine (github.com/anishathalye/porcupine) is built from its Go source in
``../shared/anchors/porcupine`` (``SPLITBRAIN_ANCHORS`` to move it) with the Go toolchain
found on the PATH (Debian's ``golang-go``), against ``bench/porcupine_driver.go``: a child
process of this one that parses each history once and times ``CheckEvents`` on request. Each
round times both sides on each row, one after the other, the side that goes first
alternating: the 102 etcd histories in one pass, each etcd history alone (its median over
the rounds; the table gives the median history and the slowest), and kv c50-ok and c50-bad.
Wall time, and CPU time (this process' for ours, the driver's for Porcupine: every goroutine
it starts), the median over the rounds, and the ratio of the medians (ours / Porcupine's:
below 1, ours is faster). Parsing is outside the timing on both sides. Ours is the whole
``LinearizableChecker.check`` (preparation, search, the anomalies); an anomaly's explanation
is worked out when first read, as Porcupine's own (``CheckEventsVerbose``) is asked for
separately, and the row "etcd one pass, explained" reads every explanation too. The verdicts
must agree history by history. Without Go, the table has our side only and says why.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checkers.linearizable import LinearizableChecker, _native  # noqa: E402
from checkers.linearizable.generate import register_history  # noqa: E402
from harness.corpus import corpus_dir  # noqa: E402
from harness.formats import load_history  # noqa: E402
from harness.history import Op  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPUS = corpus_dir() / "porcupine"
ANCHORS = Path(os.environ.get("SPLITBRAIN_ANCHORS") or corpus_dir().parent / "anchors")
BUILD = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "splitbrain-bench"
KV_ROWS = ("c50-ok", "c50-bad")
ENGINES = ["native", "python"]  # checkers/linearizable/_native.py, and the reference


# -- Porcupine, in a child process ---------------------------------------------------------------


class Porcupine:
    """The driver built against Porcupine's source, answering one JSON request a line."""

    def __init__(self, binary: Path) -> None:
        self.proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"porcupine driver: {answer['error']}")
        return answer

    def load(self, name: str, model: str, path: Path) -> None:
        self.ask(cmd="load", name=name, model=model, path=str(path))

    def check(self, names: list[str]) -> tuple[float, float, list[bool | str]]:
        """(wall s, CPU s, verdicts) of checking ``names`` one after the other."""
        a = self.ask(cmd="check", names=names)
        verdicts = [{"ok": True, "illegal": False}.get(v, "unknown") for v in a["verdicts"]]
        return a["wall_ns"] / 1e9, a["cpu_ns"] / 1e9, verdicts

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def build_porcupine() -> tuple[Path | None, str]:
    """The driver binary (built once per source), or None and why not."""
    go = shutil.which("go")
    source = ANCHORS / "porcupine"
    if go is None:
        return None, "no Go toolchain on the PATH (Debian: apt-get install golang-go)"
    if not (source / "checker.go").is_file():
        return None, f"no Porcupine source at {source} (SPLITBRAIN_ANCHORS)"
    driver = HERE / "porcupine_driver.go"
    files = sorted(p for p in source.rglob("*.go") if not p.name.endswith("_test.go"))
    digest = hashlib.sha256()
    for p in [driver, *files]:
        digest.update(p.name.encode() + p.read_bytes())
    work = BUILD / f"porcupine-{digest.hexdigest()[:12]}"
    binary = work / "driver"
    if binary.is_file():
        return binary, ""
    shutil.rmtree(work, ignore_errors=True)
    (work / "porcupine").mkdir(parents=True)
    for p in [*files, source / "go.mod"]:
        shutil.copy(p, work / "porcupine" / p.name)
    # visualization.go embeds a folder the anchor copy leaves out; the driver never draws.
    (work / "porcupine" / "visualization").mkdir()
    (work / "porcupine" / "visualization" / "index.html").write_text("<!-- not used -->\n")
    shutil.copy(driver, work / "main.go")
    (work / "go.mod").write_text(
        "module splitbrainbench\n\ngo 1.16\n\n"
        "require github.com/anishathalye/porcupine v0.0.0\n\n"
        "replace github.com/anishathalye/porcupine => ./porcupine\n"
    )
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local"}
    env.setdefault("GOCACHE", str(BUILD / "go-cache"))
    done = subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=work, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        return None, f"go build failed: {done.stderr.strip()[:500]}"
    return binary, ""


# -- our side ------------------------------------------------------------------------------------


def cpu_s() -> float:
    """CPU time of this process and of its children waited for (a checker's pool)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def ours(
    jobs: list[tuple[LinearizableChecker, list[Op]]], explained: bool = False
) -> tuple[float, float, list[bool | str]]:
    """(wall s, CPU s, verdicts) of checking each history in turn."""
    gc.collect()  # outside the timing, as the driver collects before its own
    verdicts: list[bool | str] = []
    c0, t0 = cpu_s(), time.perf_counter()
    for checker, history in jobs:
        res = checker.check(history, {})
        if explained:
            for a in res.anomalies:
                _ = a.explanation
        verdicts.append(res.valid)
    return time.perf_counter() - t0, cpu_s() - c0, verdicts


# -- rounds --------------------------------------------------------------------------------------


@dataclass
class Row:
    """One row of the table: each side's wall and CPU seconds, one per round."""

    name: str
    ours_wall: list[float] = field(default_factory=list)
    ours_cpu: list[float] = field(default_factory=list)
    theirs_wall: list[float] = field(default_factory=list)
    theirs_cpu: list[float] = field(default_factory=list)
    note: str = ""

    def summary(self) -> dict[str, Any]:
        med = statistics.median
        out: dict[str, Any] = {
            "row": self.name,
            "rounds": len(self.ours_wall),
            "ours_wall_ms": round(med(self.ours_wall) * 1e3, 3),
            "ours_cpu_ms": round(med(self.ours_cpu) * 1e3, 3),
        }
        if self.theirs_wall:
            out["porcupine_wall_ms"] = round(med(self.theirs_wall) * 1e3, 3)
            out["porcupine_cpu_ms"] = round(med(self.theirs_cpu) * 1e3, 3)
            out["wall_ratio"] = round(med(self.ours_wall) / med(self.theirs_wall), 3)
            out["cpu_ratio"] = round(med(self.ours_cpu) / max(med(self.theirs_cpu), 1e-9), 3)
        if self.note:
            out["note"] = self.note
        return out


def side_by_side(
    rounds: int, porcupine: Porcupine | None, engines: list[str]
) -> tuple[list[Row], list[str]]:
    """Every row, ``rounds`` times, each of our ``engines`` and Porcupine interleaved; and the
    verdicts that differ (from Porcupine's, on any engine)."""
    etcd = sorted((CORPUS / "etcd").glob("*.log"))
    names = [f.stem for f in etcd]
    histories = {f.stem: load_history(f) for f in etcd}
    kv_paths = {n: CORPUS / "kv" / f"{n}.txt" for n in KV_ROWS}
    histories.update({n: load_history(p) for n, p in kv_paths.items()})
    jobs: dict[str, dict[str, tuple[LinearizableChecker, list[Op]]]] = {}
    for e in engines:
        cas = LinearizableChecker("cas-register", engine=e)
        kv = LinearizableChecker("kv", engine=e)
        jobs[e] = {n: (kv if n in KV_ROWS else cas, h) for n, h in histories.items()}
    if porcupine is not None:
        for f in etcd:
            porcupine.load(f.stem, "etcd", f)
        for n, p in kv_paths.items():
            porcupine.load(n, "kv", p)

    def rows(name: str, note: str = "") -> dict[str, Row]:
        return {e: Row(f"{name} [{e}]", note=note) for e in engines}

    one_pass = rows("etcd, 102 histories, one pass")
    explained = rows("etcd one pass, explained", note="ours reads every explanation")
    per_file = {n: rows(n) for n in names}
    kv_rows = {n: rows(f"kv {n}") for n in KV_ROWS}
    disagree: set[str] = set()

    def measure(row: dict[str, Row], todo: list[str], first_ours: bool, **kw: Any) -> None:
        order = engines if first_ours else engines[::-1]
        sides: list[tuple[str, Callable[[], tuple[float, float, list[bool | str]]]]] = [
            (e, partial(ours, [jobs[e][n] for n in todo], **kw)) for e in order
        ]
        if porcupine is not None:
            theirs = ("porcupine", partial(porcupine.check, todo))
            sides.insert(len(sides) if first_ours else 0, theirs)
        results = {name: side() for name, side in sides}
        for e in engines:
            w, c, v = results[e]
            row[e].ours_wall.append(w)
            row[e].ours_cpu.append(c)
            if "porcupine" in results:
                tw, tc, tv = results["porcupine"]
                row[e].theirs_wall.append(tw)
                row[e].theirs_cpu.append(tc)
                disagree.update(n for n, a, b in zip(todo, v, tv, strict=True) if a != b)

    for r in range(rounds):
        first_ours = r % 2 == 0  # and our engines in the other order when not
        measure(one_pass, names, first_ours)
        measure(explained, names, first_ours, explained=True)
        for n in names:
            measure(per_file[n], [n], first_ours)
        for n in KV_ROWS:
            measure(kv_rows[n], [n], first_ours)
    out: list[Row] = []
    for e in engines:
        out += [one_pass[e], explained[e]]
        out += _per_file_rows({n: per_file[n][e] for n in names}, e)
        out += [kv_rows[n][e] for n in KV_ROWS]
    return out, sorted(disagree)


def _per_file_rows(per_file: dict[str, Row], engine: str) -> list[Row]:
    """The median history and the slowest, each side's by its own median over the rounds."""
    med = statistics.median
    rows = list(per_file.values())
    median = Row(f"etcd, median history [{engine}]")
    slowest = Row(f"etcd, slowest history [{engine}]")
    for r in range(len(rows[0].ours_wall)):
        median.ours_wall.append(med(x.ours_wall[r] for x in rows))
        median.ours_cpu.append(med(x.ours_cpu[r] for x in rows))
        if rows[0].theirs_wall:
            median.theirs_wall.append(med(x.theirs_wall[r] for x in rows))
            median.theirs_cpu.append(med(x.theirs_cpu[r] for x in rows))
    mine = max(rows, key=lambda x: med(x.ours_wall))
    slowest.ours_wall, slowest.ours_cpu = mine.ours_wall, mine.ours_cpu
    slowest.note = f"ours: {mine.name.split()[0]}"
    if rows[0].theirs_wall:
        theirs = max(rows, key=lambda x: med(x.theirs_wall))
        slowest.theirs_wall, slowest.theirs_cpu = theirs.theirs_wall, theirs.theirs_cpu
        on_it = med(theirs.ours_wall) * 1e3
        slowest.note += f"; Porcupine: {theirs.name.split()[0]} (ours on it {on_it:.2f} ms)"
    return [median, slowest]


def print_table(rows: list[dict[str, Any]], with_porcupine: bool) -> None:
    if with_porcupine:
        print(
            f"{'row':41} {'ours ms':>10} {'Porcupine':>10} {'ratio':>7}   "
            f"{'ours CPU':>10} {'Porc. CPU':>10} {'ratio':>7}"
        )
    else:
        print(f"{'row':41} {'ours ms':>10} {'ours CPU':>10}")
    for r in rows:
        if with_porcupine and "porcupine_wall_ms" in r:
            print(
                f"{r['row']:41} {r['ours_wall_ms']:10.3f} {r['porcupine_wall_ms']:10.3f} "
                f"{r['wall_ratio']:7.3f}   {r['ours_cpu_ms']:10.3f} "
                f"{r['porcupine_cpu_ms']:10.3f} {r['cpu_ratio']:7.3f}"
            )
        else:
            print(f"{r['row']:41} {r['ours_wall_ms']:10.3f} {r['ours_cpu_ms']:10.3f}")
        if r.get("note"):
            print(f"{'':43}({r['note']})")


# -- more: generated histories, an explosion, a pool -----------------------------------------------


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """The best wall time of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def generated(repeat: int) -> None:
    print(f"== generated linearizable histories (best of {repeat}) ==")
    shapes = [
        dict(ops=2000, processes=5, info_rate=0.05, keys=0),
        dict(ops=5000, processes=10, info_rate=0.05, keys=0),
        dict(ops=5000, processes=20, info_rate=0.0, keys=0),
        dict(ops=5000, processes=20, info_rate=0.05, keys=0),
        dict(ops=20000, processes=20, info_rate=0.05, keys=10),
        dict(ops=50000, processes=50, info_rate=0.05, keys=20),
    ]
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
    t = time.perf_counter()
    res = checker.check(h, {})
    ms = (time.perf_counter() - t) * 1000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"time budget {budget:.1f} s: {res.valid} after {ms:.0f} ms: {res.details.get('reason')}; "
        f"peak RSS {rss / 1024:.0f} MB"
    )
    checker = LinearizableChecker("kv", time_budget_s=60, max_nodes=200_000)
    t = time.perf_counter()
    res = checker.check(h, {})
    ms = (time.perf_counter() - t) * 1000
    print(f"memory bound 200000 nodes: {res.valid} after {ms:.0f} ms: {res.details.get('reason')}")


def explosive_history(n: int) -> list[Op]:
    """``n`` appends and a put of "" all concurrent, then a read of a value no order of them
    makes: every ordering must be ruled out (the put keeps kv's dead_end from seeing it)."""
    ops: list[Op] = [Op("invoke", "put", ["k", ""], n + 1)]
    for p in range(n):
        ops.append(Op("invoke", "append", ["k", f"<{p}>"], p))
    for p in range(n):
        ops.append(Op("ok", "append", ["k", f"<{p}>"], p))
    ops.append(Op("ok", "put", ["k", ""], n + 1))
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
        one = best_ms(partial(LinearizableChecker("cas-register").check, h, {}), repeat)
        two = best_ms(partial(LinearizableChecker("cas-register", workers=2).check, h, {}), repeat)
        print(
            f"{shape['ops']} ops, {shape['keys']} keys: 1 process {one:.0f} ms, "
            f"2 workers {two:.0f} ms (x{one / two:.2f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds of every row (default 5)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--more", action="store_true", help="generated histories, explosion, pool")
    ap.add_argument(
        "--engine",
        choices=("both", *ENGINES),
        default="both",
        help="our engine(s) to time: the compiled one, the Python one, or both (default; "
        "the compiled one only when it is built)",
    )
    args = ap.parse_args()
    engines = ENGINES[:] if args.engine == "both" else [args.engine]
    if not _native.available():
        if args.engine == "native":
            sys.exit(f"no native engine: {_native.why_not()}")
        engines = ["python"]
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS}; set SPLITBRAIN_CORPUS")
    binary, why = build_porcupine()
    porcupine = Porcupine(binary) if binary is not None else None
    load_before = os.getloadavg()
    try:
        rows, disagree = side_by_side(args.rounds, porcupine, engines)
    finally:
        if porcupine is not None:
            porcupine.close()
    load_after = os.getloadavg()
    summary = [r.summary() for r in rows]
    header = {
        "python": sys.version.split()[0],
        "cores": os.cpu_count(),
        "rounds": args.rounds,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "porcupine": "measured" if porcupine is not None else f"not measured: {why}",
        "engines": engines,
        "native": "built" if _native.available() else _native.why_not(),
        "verdicts_differ": disagree,
    }
    if args.json:
        print(json.dumps({**header, "rows": summary}, indent=1))
    else:
        print(
            f"python {header['python']}, {header['cores']} cores, {args.rounds} rounds, "
            f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
        )
        if porcupine is None:
            print(f"Porcupine not measured: {why}; our side only.")
        if not _native.available():
            print(f"our compiled engine not measured: {_native.why_not()}")
        print_table(summary, porcupine is not None)
        if porcupine is not None:
            n = len(list((CORPUS / "etcd").glob("*.log"))) + len(KV_ROWS)
            print(
                f"verdicts: {n - len(disagree)} of {n} histories agree"
                + (f"; differ: {', '.join(disagree)}" if disagree else "")
            )
    if args.more:
        generated(3)
        exploding(2.0)
        pool(3)
    if disagree:
        sys.exit(1)


if __name__ == "__main__":
    main()
