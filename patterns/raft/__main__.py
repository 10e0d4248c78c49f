"""``python3 -m patterns.raft``: run one Raft node (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._runtime import parse_args, setup_logging, wait_for_signal
from .node import BUGS, RaftNode


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(
        argv,
        prog="python3 -m patterns.raft",
        description="A Raft key/value store node (reference pattern of splitbrain).",
        bugs=BUGS,
        add_arguments=_add_arguments,
    )
    setup_logging(cfg.id, cfg.log_level)
    opts = cfg.options
    node = RaftNode(
        cfg,
        heartbeat=opts.heartbeat_ms / 1000,
        election=(opts.election_ms[0] / 1000, opts.election_ms[1] / 1000),
        request_timeout=opts.request_timeout_ms / 1000,
    )
    node.start()
    wait_for_signal(node.stop)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--heartbeat-ms", type=int, default=50, help="leader heartbeat interval")
    p.add_argument(
        "--election-ms", type=_range, default=(300, 600), metavar="MIN-MAX",
        help="randomized election timeout range (default 300-600)",
    )  # fmt: skip
    p.add_argument(
        "--request-timeout-ms", type=int, default=1000,
        help="how long a client request may wait for its outcome (default 1000)",
    )  # fmt: skip


def _range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi if sep else lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX in ms, got {text!r}") from None
    if not 0 < a <= b:
        raise argparse.ArgumentTypeError(f"expected 0 < MIN <= MAX, got {text!r}")
    return a, b


if __name__ == "__main__":
    sys.exit(main())
