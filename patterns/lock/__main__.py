"""``python3 -m patterns.lock``: run one lock node (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._runtime import parse_args, setup_logging, wait_for_signal
from ..raft.__main__ import _range
from .node import BUGS, LockNode


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(
        argv,
        prog="python3 -m patterns.lock",
        description="A lock service with fencing tokens and a protected storage "
        "(reference pattern of splitbrain).",
        bugs=BUGS,
        add_arguments=_add_arguments,
    )
    setup_logging(cfg.id, cfg.log_level)
    opts = cfg.options
    node = LockNode(
        cfg,
        ttl=opts.ttl_ms / 1000,
        heartbeat=opts.heartbeat_ms / 1000,
        election=(opts.election_ms[0] / 1000, opts.election_ms[1] / 1000),
        request_timeout=opts.request_timeout_ms / 1000,
        storage_timeout=opts.storage_timeout_ms / 1000,
    )
    node.start()
    wait_for_signal(node.stop)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ttl-ms", type=int, default=1500, help="lease of a grant (default 1500)")
    p.add_argument("--heartbeat-ms", type=int, default=50, help="leader heartbeat interval")
    p.add_argument(
        "--election-ms", type=_range, default=(300, 600), metavar="MIN-MAX",
        help="randomized election timeout range (default 300-600)",
    )  # fmt: skip
    p.add_argument(
        "--request-timeout-ms", type=int, default=1000,
        help="how long an acquire / release may wait for its outcome (default 1000)",
    )  # fmt: skip
    p.add_argument(
        "--storage-timeout-ms", type=int, default=1000,
        help="how long a write forwarded to the key's home may take (default 1000)",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
