"""``python3 -m patterns.lease``: run one lease node (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._runtime import parse_args, setup_logging, wait_for_signal
from ..raft.__main__ import _range
from .node import BUGS, LeaseNode


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(
        argv,
        prog="python3 -m patterns.lease",
        description="A lease grantor and holder (reference pattern of splitbrain).",
        bugs=BUGS,
        add_arguments=_add_arguments,
    )
    setup_logging(cfg.id, cfg.log_level)
    o = cfg.options
    node = LeaseNode(
        cfg,
        resources=[f"r{i}" for i in range(o.resources)],
        lease=o.lease_ms / 1000,
        renew=o.renew_ms / 1000,
        margin=None if o.margin_ms is None else o.margin_ms / 1000,
        tenure=(o.tenure_ms[0] / 1000, o.tenure_ms[1] / 1000),
        rpc_timeout=o.rpc_timeout_ms / 1000,
    )
    node.start()
    wait_for_signal(node.stop)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resources", type=int, default=8, help="how many resources (r0..)")
    p.add_argument("--lease-ms", type=int, default=600, help="lease time (default 600)")
    p.add_argument("--renew-ms", type=int, default=150, help="renewal period (default 150)")
    p.add_argument(
        "--margin-ms", type=int, default=None,
        help="how much earlier than its lease a holder stops (default 30 + 2%% of the lease)",
    )  # fmt: skip
    p.add_argument(
        "--tenure-ms", type=_range, default=(500, 1500), metavar="MIN-MAX",
        help="how long a holder keeps renewing before it lets a lease lapse (default 500-1500)",
    )  # fmt: skip
    p.add_argument("--rpc-timeout-ms", type=int, default=200, help="per request to a grantor")


if __name__ == "__main__":
    sys.exit(main())
