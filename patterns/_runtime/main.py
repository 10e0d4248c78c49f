"""A pattern's entry point: its name, bugs, flags and node class, and ``serve`` to run it.

Each ``patterns/<name>/__main__.py`` declares one ``Pattern`` and hands it to ``serve``::

    PATTERN = Pattern(
        "raft", "A Raft key/value store node (reference pattern of splitbrain).",
        bugs=BUGS, flags=FLAGS, node=RaftNode,
    )
    if __name__ == "__main__":
        serve(PATTERN)

``serve`` parses the shared command line (``cli.parse_args``) plus the pattern's flags, sets
up logging, builds ``node(cfg, **keywords)`` (one keyword per flag, see ``Flag``), starts it
and waits for SIGTERM or SIGINT to stop it.

A flag is declared once, in the table, with what the node takes: ``ms("heartbeat-ms", 50,
"leader heartbeat interval", arg="heartbeat")`` reads ``--heartbeat-ms 50`` and passes
``heartbeat=0.05`` (seconds). The daemons' flags are a contract with ``workloads/daemon.py``,
which writes ``system.options`` as flags (``heartbeat_ms`` -> ``--heartbeat-ms``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from .cli import NodeConfig, parse_args, setup_logging, wait_for_signal
from .node import Node

__all__ = ["Flag", "Pattern", "count", "ms", "ms_range", "parse_ms_range", "serve", "switch"]


@dataclass(frozen=True)
class Flag:
    """One flag of a pattern's own command line and the node keyword it becomes.

    ``name`` is the flag without its dashes (``heartbeat-ms``; its value is found under
    ``heartbeat_ms``); ``parse`` reads the text given on the command line; ``arg`` is the
    node's keyword argument, given ``convert(value)``. ``switch`` flags take no value.
    """

    name: str
    default: Any
    help: str
    arg: str
    parse: Callable[[str], Any] | None = int
    convert: Callable[[Any], Any] | None = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        """The flag's attribute in the parsed options (``heartbeat_ms``)."""
        return self.name.replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add the flag to ``parser``."""
        if self.parse is None:
            parser.add_argument(f"--{self.name}", action="store_true", help=self.help)
            return
        parser.add_argument(
            f"--{self.name}",
            type=self.parse,
            default=self.default,
            metavar=self.metavar,
            help=self.help,
        )

    def keyword(self, value: Any) -> Any:
        """The node keyword's value for the flag's parsed ``value``."""
        return value if self.convert is None else self.convert(value)


def ms(name: str, default: int | None, help: str, *, arg: str) -> Flag:
    """A duration in milliseconds (an integer), passed to the node in seconds (None stays
    None: the node picks)."""
    return Flag(name, default, help, arg, int, _seconds)


def ms_range(name: str, default: tuple[int, int], help: str, *, arg: str) -> Flag:
    """A range of milliseconds written ``MIN-MAX`` (``300-600``; ``300`` is ``300-300``),
    passed to the node as a pair of seconds."""
    return Flag(name, default, help, arg, parse_ms_range, _seconds_pair, "MIN-MAX")


def count(
    name: str, default: int, help: str, *, arg: str, convert: Callable[[int], Any] | None = None
) -> Flag:
    """An integer, passed to the node as it is (or as ``convert`` makes it)."""
    return Flag(name, default, help, arg, int, convert)


def switch(name: str, help: str, *, arg: str, convert: Callable[[bool], Any] | None = None) -> Flag:
    """A flag without a value: True when given (passed as ``convert`` makes it)."""
    return Flag(name, False, help, arg, None, convert)


def parse_ms_range(text: str) -> tuple[int, int]:
    """``"300-600"`` as ``(300, 600)``; raises ``argparse.ArgumentTypeError``."""
    lo, sep, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi if sep else lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX in ms, got {text!r}") from None
    if not 0 < a <= b:
        raise argparse.ArgumentTypeError(f"expected 0 < MIN <= MAX, got {text!r}")
    return a, b


@dataclass(frozen=True)
class Pattern:
    """A reference pattern as a program: ``python3 -m patterns.<name>``.

    ``bugs`` maps each seeded bug to a one-line description (``--help`` lists them);
    ``flags`` are the pattern's own options; ``node(cfg, **keywords)`` builds its node.
    """

    name: str
    description: str
    bugs: Mapping[str, str]
    flags: Sequence[Flag]
    node: Callable[..., Node]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the pattern's own flags to ``parser``."""
        for flag in self.flags:
            flag.add_to(parser)

    def parse(self, argv: Sequence[str] | None = None) -> NodeConfig:
        """The shared options and the pattern's own (``cfg.options``); exits with status 2
        and a message naming the option on bad input."""
        return parse_args(
            argv,
            prog=f"python3 -m patterns.{self.name}",
            description=self.description,
            bugs=self.bugs,
            add_arguments=self.add_arguments,
        )

    def keywords(self, options: argparse.Namespace) -> dict[str, Any]:
        """The node's keyword arguments for the parsed ``options``."""
        return {f.arg: f.keyword(getattr(options, f.dest)) for f in self.flags}

    def make(self, cfg: NodeConfig) -> Node:
        """The node for ``cfg``, not yet started."""
        return self.node(cfg, **self.keywords(cfg.options))


def serve(pattern: Pattern, argv: Sequence[str] | None = None) -> NoReturn:
    """Run one node of ``pattern`` until SIGTERM or SIGINT, then stop it and exit 0."""
    cfg = pattern.parse(argv)
    setup_logging(cfg.id, cfg.log_level)
    node = pattern.make(cfg)
    node.start()
    wait_for_signal(node.stop)


def _seconds(value: int | None) -> float | None:
    return None if value is None else value / 1000


def _seconds_pair(value: tuple[int, int]) -> tuple[float, float]:
    return value[0] / 1000, value[1] / 1000
