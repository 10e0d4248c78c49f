"""The helpers of workloads/daemon.py (ports per member, options as flags), and every reference
pattern's registration: its declared options are the daemon's own flags with the daemon's own
defaults, and its daemon starts with them."""

from __future__ import annotations

import argparse
import importlib
import signal
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from hostnode import HostNode, free_base_port

from clusters.base import SetupError
from harness.registry import SystemInfo, declared, lookup, option, parse_options
from harness.spec import SystemSpec
from workloads.daemon import PatternSystem, node_status, option_flags, port_bases

#: every reference pattern
PATTERN_SYSTEMS = [
    "raft",
    "paxos",
    "lock",
    "lease",
    "election",
    "leaderfollower",
    "queue",
    "twophase",
]


def nodes(*pairs: tuple[str, str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(name=n, address=a) for n, a in pairs]


def test_members_with_addresses_of_their_own_share_the_port() -> None:
    assert port_bases(nodes(("n1", "10.0.0.1"), ("n2", "10.0.0.2")), 2379, 2) == {
        "n1": 2379,
        "n2": 2379,
    }


def test_members_on_one_address_get_blocks_of_ports_in_turn() -> None:
    three = nodes(("n1", "127.0.0.1"), ("n2", "127.0.0.1"), ("n3", "127.0.0.1"))
    assert port_bases(three, 7000) == {"n1": 7000, "n2": 7001, "n3": 7002}
    assert port_bases(three, 2181, 3) == {"n1": 2181, "n2": 2184, "n3": 2187}


def test_two_members_of_one_name_are_refused() -> None:
    with pytest.raises(SetupError, match="node names must be unique"):
        port_bases(nodes(("n1", "10.0.0.1"), ("n1", "10.0.0.2")), 7000)


@dataclass(frozen=True)
class Flags:
    lease_ms: int = option(800, "a duration")
    gap_ms: int = option(0, "zero is a value")
    fast: bool = option(True, "a switch")
    slow: bool = option(False, "a switch left off")
    margin_ms: int | None = option(None, "None: the daemon decides")
    election_ms: str = option("300-600", "a range")


def test_an_options_instance_becomes_flags_in_field_order() -> None:
    assert option_flags(Flags()) == [
        "--lease-ms", "800", "--gap-ms", "0", "--fast", "--election-ms", "300-600",
    ]  # fmt: skip
    assert option_flags({"lease_ms": 900, "slow": False}) == ["--lease-ms", "900"]


def test_a_pattern_system_knows_only_the_ports_of_its_nodes() -> None:
    two = nodes(("n1", "127.0.0.1"), ("n2", "127.0.0.1"))
    system = PatternSystem("raft", port=7100, nodes=two)
    assert [system.port_of(n) for n in two] == [7100, 7101]
    with pytest.raises(SetupError, match="does not know node 'n9'"):
        system.port_of(SimpleNamespace(name="n9", address="127.0.0.1"))


def _pattern(name: str) -> SystemInfo:
    info = lookup(SystemInfo, name, "system")
    assert info.name == name and info.default_port == 7000
    return info


@pytest.mark.parametrize("name", PATTERN_SYSTEMS)
def test_the_declared_options_are_the_daemons_flags_with_its_defaults(name: str) -> None:
    """A declaration that drifted from the daemon would pass validation, then change the
    daemon's behaviour (every declared option is passed on, default or not) or fail setup."""
    pattern = importlib.import_module(f"patterns.{name}.__main__").PATTERN
    parser = argparse.ArgumentParser(exit_on_error=False)
    pattern.add_arguments(parser)
    info = _pattern(name)
    assert {o.name for o in declared(info.options)} == {f.dest for f in pattern.flags}
    given = parser.parse_args(option_flags(parse_options(info.options, {}, name)))
    assert vars(given) == vars(parser.parse_args([]))


@pytest.mark.parametrize("name", PATTERN_SYSTEMS)
def test_every_pattern_starts_from_its_registration_and_serves_status(name, tmp_path) -> None:
    info = _pattern(name)
    node = HostNode("n1", tmp_path / "n1")
    port = free_base_port(1)
    system = info.make(
        SystemSpec(name=name, port=port), [node], parse_options(info.options, {}, name)
    )
    try:
        system.setup(node)
        assert system.port_of(node) == port
        assert node_status(node.address, port) is not None
    finally:
        node.signal(name, signal.SIGKILL)
