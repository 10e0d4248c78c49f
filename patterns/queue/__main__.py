"""``python3 -m patterns.queue``: run one node of the replicated queue (see the package
docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._runtime import parse_args, setup_logging, wait_for_signal
from ..raft.__main__ import _add_arguments as _raft_arguments
from .node import BUGS, QueueNode


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(
        argv,
        prog="python3 -m patterns.queue",
        description="A replicated queue node (reference pattern of splitbrain).",
        bugs=BUGS,
        add_arguments=_add_arguments,
    )
    setup_logging(cfg.id, cfg.log_level)
    opts = cfg.options
    node = QueueNode(
        cfg,
        visibility=opts.visibility_ms / 1000,
        heartbeat=opts.heartbeat_ms / 1000,
        election=(opts.election_ms[0] / 1000, opts.election_ms[1] / 1000),
        request_timeout=opts.request_timeout_ms / 1000,
    )
    node.start()
    wait_for_signal(node.stop)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    _raft_arguments(p)
    p.add_argument(
        "--visibility-ms", type=int, default=1000,
        help="with --bug redeliver-on-timeout: how long a message may stay unacknowledged "
        "before it is handed out again (default 1000)",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
