"""``extra_args`` of a BinarySystem's options: appended to its first daemon's command line
(the real process gets them), not to the others', and typed when a suite gives them."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostnode import HostNode, free_base_port

from clusters.base import Node
from harness.registry import OptionError, option, parse_options
from workloads.binary import BinarySystem, extra_args, http_check


@dataclass(frozen=True)
class ServeOptions:
    extra_args: tuple[str, ...] = extra_args()
    other: int = option(1, "an option that is not a flag")


class ServeSystem(BinarySystem):
    """A Python HTTP server per node, serving its data directory; its address to bind comes
    only from ``extra_args`` in the test below."""

    daemons = ("serve", "helper")
    ports_per_node = 1
    ready_timeout = 20.0
    options_type = ServeOptions
    options: ServeOptions

    def argv(self, node: Node, daemon: str) -> list[str]:
        if daemon == "helper":
            return [sys.executable, "-c", "import time; time.sleep(60)"]
        return [sys.executable, "-m", "http.server", str(self.endpoint(node)[1])]

    def answering(self, node: Node, daemon: str) -> str | None:
        if daemon == "helper":
            return None
        return http_check("http://{}:{}/".format(*self.endpoint(node)))


def test_the_first_daemon_gets_the_extra_args_and_the_others_do_not() -> None:
    options = parse_options(ServeOptions, {"extra_args": ["--bind", "127.0.0.1"]}, "serve")
    node = HostNode("n1", Path("/tmp/unused-serve"))
    system = ServeSystem(7000, nodes=[node], options=options)
    assert system.command(node, "serve")[-2:] == ["--bind", "127.0.0.1"]
    assert system.command(node, "helper") == system.argv(node, "helper")
    assert ServeSystem(7000, nodes=[node]).command(node, "serve") == system.argv(node, "serve")


def test_a_suite_gives_extra_args_as_a_list_of_strings() -> None:
    with pytest.raises(OptionError, match="extra_args"):
        parse_options(ServeOptions, {"extra_args": "--bind 127.0.0.1"}, "serve")
    with pytest.raises(OptionError, match="extra_args"):
        parse_options(ServeOptions, {"extra_args": ["--snapshot-count", 100]}, "serve")


def test_the_daemon_runs_with_its_extra_args(tmp_path: Path) -> None:
    node = HostNode("n1", tmp_path / "n1")
    options = parse_options(ServeOptions, {"extra_args": ["--bind", "127.0.0.1"]}, "serve")
    system = ServeSystem(free_base_port(1), nodes=[node], options=options)
    system.setup(node)
    try:
        pid = node.procs["serve"].pid
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[-3:-1] == [b"--bind", b"127.0.0.1"]
        assert http_check("http://{}:{}/".format(*system.endpoint(node))) is None
    finally:
        system.teardown(node)
