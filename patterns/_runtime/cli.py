"""The command line every reference pattern shares, logging, and the process's main loop.

::

    python3 -m patterns.<name> --id n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=HOST:PORT,n3=HOST:PORT --data DIR [--bug NAME ...]
        [--log-level info] [pattern-specific options]

``--peers`` lists every member, this node included (if it is missing it is added with the
``--listen`` address). ``--bug`` may be repeated; an unknown name is an error that lists
the pattern's bugs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from .wire import parse_address

__all__ = ["NodeConfig", "parse_args", "setup_logging", "wait_for_signal"]


@dataclass(frozen=True)
class NodeConfig:
    """A node's identity, addresses, data directory and seeded bugs, from the command line."""

    id: str
    listen: tuple[str, int]
    #: every member, this node included, by id
    peers: dict[str, tuple[str, int]]
    data: str
    bugs: frozenset[str]
    log_level: str = "info"
    #: the pattern's own options, as parsed by its ``add_arguments``
    options: argparse.Namespace = field(default_factory=argparse.Namespace)

    @property
    def others(self) -> dict[str, tuple[str, int]]:
        """Every member but this node."""
        return {n: a for n, a in self.peers.items() if n != self.id}


def parse_args(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str = "",
    bugs: Mapping[str, str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> NodeConfig:
    """Parse the shared options (and a pattern's own, added by ``add_arguments``).

    ``bugs`` maps each seeded bug's name to a one-line description (shown by ``--help``).
    Exits with status 2 and a message naming the option on bad input, as argparse does.
    """
    known = dict(bugs or {})
    epilog = "seeded bugs:\n" + "\n".join(f"  {k}: {v}" for k, v in known.items()) if known else ""
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--id", required=True, help="this node's id, e.g. n1")
    p.add_argument("--listen", required=True, help="HOST:PORT to serve peers and clients on")
    p.add_argument("--peers", default="", help="n1=HOST:PORT,n2=HOST:PORT,... (all members)")
    p.add_argument("--data", required=True, help="directory for durable state")
    p.add_argument(
        "--bug",
        action="append",
        default=[],
        metavar="NAME",
        help="turn on a seeded bug (repeatable)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    if add_arguments is not None:
        add_arguments(p)
    ns = p.parse_args(argv)

    try:
        listen = parse_address(ns.listen)
    except ValueError as e:
        p.error(f"--listen: {e}")
    peers: dict[str, tuple[str, int]] = {}
    for item in filter(None, (s.strip() for s in ns.peers.split(","))):
        name, eq, addr = item.partition("=")
        if not eq or not name:
            p.error(f"--peers: expected NAME=HOST:PORT, got {item!r}")
        if name in peers:
            p.error(f"--peers: {name!r} is listed twice")
        try:
            peers[name] = parse_address(addr)
        except ValueError as e:
            p.error(f"--peers: {name}: {e}")
    peers.setdefault(ns.id, listen)
    unknown = sorted(set(ns.bug) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        p.error(f"--bug: unknown bug(s) {', '.join(unknown)}; this pattern has: {allowed}")
    shared = {"id", "listen", "peers", "data", "bug", "log_level"}
    options = argparse.Namespace(**{k: v for k, v in vars(ns).items() if k not in shared})
    return NodeConfig(
        id=ns.id,
        listen=listen,
        peers=peers,
        data=ns.data,
        bugs=frozenset(ns.bug),
        log_level=ns.log_level,
        options=options,
    )


def setup_logging(node_id: str, level: str = "info") -> None:
    """Log to stderr as ``2024-05-01T12:00:00.123Z n1 INFO raft: message``.

    Timestamps are the wall clock, in UTC: under clock-skew faults they move with the
    process's faked clock, which is what one wants when reading a node's log.
    """
    fmt = f"%(asctime)s.%(msecs)03dZ {node_id} %(levelname)s %(name)s: %(message)s"
    formatter = logging.Formatter(fmt, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def wait_for_signal(on_stop: Callable[[], None] | None = None) -> NoReturn:
    """Block the main thread until SIGTERM or SIGINT, run ``on_stop``, exit with status 0.

    SIGKILL needs no handling: that is the crash the durable state is built for.
    """
    stop = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        logging.getLogger("main").info("got %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    while not stop.wait(1.0):
        pass
    if on_stop is not None:
        on_stop()
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)  # daemon threads blocked in sockets need not be joined
