"""``python3 -m patterns.election``: run one election node (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._runtime import parse_args, setup_logging, wait_for_signal
from ..raft.__main__ import _range
from .node import BUGS, ElectionNode


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(
        argv,
        prog="python3 -m patterns.election",
        description="A leader election node (reference pattern of splitbrain).",
        bugs=BUGS,
        add_arguments=_add_arguments,
    )
    setup_logging(cfg.id, cfg.log_level)
    o = cfg.options
    node = ElectionNode(
        cfg,
        heartbeat=o.heartbeat_ms / 1000,
        election=(o.election_ms[0] / 1000, o.election_ms[1] / 1000),
        retry=o.retry_ms / 1000,
        rpc_timeout=o.rpc_timeout_ms / 1000,
    )
    node.start()
    wait_for_signal(node.stop)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--heartbeat-ms", type=int, default=50, help="leader heartbeat interval")
    p.add_argument(
        "--election-ms", type=_range, default=(300, 600), metavar="MIN-MAX",
        help="randomized election timeout range (default 300-600)",
    )  # fmt: skip
    p.add_argument("--retry-ms", type=int, default=100, help="vote requests asked again after")
    p.add_argument("--rpc-timeout-ms", type=int, default=200, help="per request to a peer")


if __name__ == "__main__":
    sys.exit(main())
