"""``python3 -m patterns.twophase``: run one two-phase commit node (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._runtime import parse_args, setup_logging, wait_for_signal
from .node import BUGS, TwoPhaseNode


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(
        argv,
        prog="python3 -m patterns.twophase",
        description="Two-phase commit over hash-partitioned keys (reference pattern of "
        "splitbrain).",
        bugs=BUGS,
        add_arguments=_add_arguments,
    )
    setup_logging(cfg.id, cfg.log_level)
    o = cfg.options
    node = TwoPhaseNode(
        cfg,
        lock_wait=o.lock_wait_ms / 1000,
        prepare_timeout=o.prepare_timeout_ms / 1000,
        doubt=o.doubt_ms / 1000,
        retry=o.retry_ms / 1000,
        commit_gap=o.commit_gap_ms / 1000,
    )
    node.start()
    wait_for_signal(node.stop)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lock-wait-ms",
        type=int,
        default=1000,
        help="how long a prepare waits for its locks before voting no (1000)",
    )
    p.add_argument(
        "--prepare-timeout-ms",
        type=int,
        default=1000,
        help="how long the coordinator waits for a vote or a commit acknowledgement, "
        "and then skips a peer that did not answer (1000)",
    )
    p.add_argument(
        "--doubt-ms",
        type=int,
        default=1000,
        help="how long a prepared transaction waits before asking (1000)",
    )
    p.add_argument(
        "--retry-ms",
        type=int,
        default=300,
        help="interval of in-doubt queries and commit re-sends (300)",
    )
    p.add_argument(
        "--commit-gap-ms",
        type=int,
        default=0,
        help="pause between the commit messages of one transaction, which widens "
        "the window a crash of the coordinator falls in (0)",
    )


if __name__ == "__main__":
    sys.exit(main())
