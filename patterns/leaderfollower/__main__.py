"""``python3 -m patterns.leaderfollower``: run one node of the replicated log (see the
package docstring)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .._runtime import parse_args, setup_logging, wait_for_signal
from ..raft.__main__ import _add_arguments  # the same timing options as the Raft store
from .node import BUGS, LogNode


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(
        argv,
        prog="python3 -m patterns.leaderfollower",
        description="A leader-follower replicated log node (reference pattern of splitbrain).",
        bugs=BUGS,
        add_arguments=_add_arguments,
    )
    setup_logging(cfg.id, cfg.log_level)
    opts = cfg.options
    node = LogNode(
        cfg,
        heartbeat=opts.heartbeat_ms / 1000,
        election=(opts.election_ms[0] / 1000, opts.election_ms[1] / 1000),
        request_timeout=opts.request_timeout_ms / 1000,
    )
    node.start()
    wait_for_signal(node.stop)


if __name__ == "__main__":
    sys.exit(main())
