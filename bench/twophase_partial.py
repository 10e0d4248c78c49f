"""Count the half-committed transactions of a two-phase commit run, from the participants'
own logs: committed at one participant, prepared but never committed at another. This is
what no-decision-log produces when a coordinator dies in the middle of its commit round, and
what the bank checker then sees as a lasting change of the total.

    python bench/twophase_partial.py results/twophase-bank/latest [more run dirs ...]

Reads ``nodes/<node>/twophase-data/participant.log`` of each run (the local backend keeps
node files in the run directory; the others copy the logs there at teardown).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patterns._runtime.durable import read_records  # noqa: E402


def half_committed(run: Path) -> tuple[int, dict[str, tuple[list[str], list[str]]]]:
    """(transactions prepared anywhere, {txn: (nodes that committed, nodes that did not)})."""
    prepared: dict[str, set[str]] = defaultdict(set)
    committed: dict[str, set[str]] = defaultdict(set)
    logs = sorted(run.glob("nodes/*/twophase-data/participant.log"))
    if not logs:
        raise SystemExit(f"{run}: no nodes/*/twophase-data/participant.log (not a twophase run?)")
    for path in logs:
        node = path.parts[-3]
        for rec in read_records(str(path)):
            kind = rec.get("t")
            if kind == "prepare":
                prepared[rec["txn"]].add(node)
            elif kind == "commit":
                committed[rec["txn"]].add(node)
    half = {
        txn: (sorted(nodes), sorted(prepared[txn] - nodes))
        for txn, nodes in committed.items()
        if prepared[txn] - nodes
    }
    return len(prepared), half


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories")
    args = p.parse_args()
    for run in args.runs:
        total, half = half_committed(run.resolve())
        print(f"{run}: {total} transactions prepared, {len(half)} half-committed")
        for txn, (yes, no) in sorted(half.items()):
            print(f"  {txn}: committed at {', '.join(yes)}; never at {', '.join(no)}")


if __name__ == "__main__":
    main()
