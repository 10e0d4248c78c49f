"""The pure helpers of workloads/daemon.py: ports per member, options as flags."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from clusters.base import SetupError
from workloads.daemon import option_flags, port_bases


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


def test_options_become_flags_and_unknown_ones_are_refused() -> None:
    assert option_flags({"lease_ms": 800, "fast": True, "slow": False}) == [
        "--lease-ms",
        "800",
        "--fast",
    ]
    with pytest.raises(SetupError, match="has no option 'x'; its options: ttl_ms"):
        option_flags({"x": 1}, ("ttl_ms",), "lock")
