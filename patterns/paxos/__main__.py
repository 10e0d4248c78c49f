"""``python3 -m patterns.paxos``: run one CASPaxos node (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._runtime import parse_args, setup_logging, wait_for_signal
from .node import BUGS, PaxosNode


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(
        argv,
        prog="python3 -m patterns.paxos",
        description="A CASPaxos register node (reference pattern of splitbrain).",
        bugs=BUGS,
        add_arguments=_add_arguments,
    )
    setup_logging(cfg.id, cfg.log_level)
    opts = cfg.options
    node = PaxosNode(
        cfg,
        request_timeout=opts.request_timeout_ms / 1000,
        rpc_timeout=opts.rpc_timeout_ms / 1000,
        forward=not opts.no_forward,
    )
    node.start()
    wait_for_signal(node.stop)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--request-timeout-ms", type=int, default=1000,
        help="how long a client request may take, retries included (default 1000)",
    )  # fmt: skip
    p.add_argument(
        "--rpc-timeout-ms", type=int, default=500,
        help="how long one prepare or accept waits for an acceptor (default 500)",
    )  # fmt: skip
    p.add_argument(
        "--no-forward", action="store_true",
        help="propose on the node the client asked instead of forwarding to the key's home",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
