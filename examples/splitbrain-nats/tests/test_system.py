"""The system's pure parts, with no cluster: ports, the config file, the options."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from clusters.base import SetupError
from harness.registry import OptionError, parse_options

from splitbrain_nats import SYSTEM
from splitbrain_nats.system import NatsOptions, NatsSystem, stream_leader


@dataclass
class FakeNode:  # what config_files and ports read of a node
    name: str
    address: str
    workdir: str = "/w"


NODES = [FakeNode("n1", "10.0.0.1"), FakeNode("n2", "10.0.0.2"), FakeNode("n3", "10.0.0.3")]


def test_every_node_gets_client_route_and_monitoring_ports_from_the_default():
    system = NatsSystem(nodes=NODES)
    assert system.ports(NODES[1]) == (4222, 4223, 4224)
    assert system.endpoint(NODES[1]) == ("10.0.0.2", 4222)


def test_the_config_names_the_node_and_routes_to_every_node():
    conf = NatsSystem(5000, nodes=NODES).config_files(NODES[0])["nats.conf"]
    assert 'server_name: "n1"' in conf and 'listen: "10.0.0.1:5000"' in conf
    assert 'http: "10.0.0.1:5002"' in conf and 'store_dir: "/w/nats-data"' in conf
    for n in NODES:
        assert f"nats-route://{n.address}:5001" in conf


def test_a_node_the_system_was_not_made_with_is_an_error_not_a_default():
    with pytest.raises(SetupError, match="not made with node 'n4'"):
        NatsSystem(nodes=NODES).ports(FakeNode("n4", "10.0.0.4"))


def test_the_bucket_is_replicated_on_every_node_up_to_five():
    assert NatsSystem(nodes=NODES).replicas == 3
    seven = [FakeNode(f"n{i}", f"10.0.0.{i}") for i in range(1, 8)]
    assert NatsSystem(nodes=seven).replicas == 5
    assert NatsSystem(nodes=NODES, options=NatsOptions(replicas=1)).replicas == 1


def test_options_are_checked_as_a_suite_would():
    assert parse_options(SYSTEM.options, {"bucket": "kv-1"}, "the nats system").bucket == "kv-1"
    with pytest.raises(OptionError, match="'bukcet'"):
        parse_options(SYSTEM.options, {"bukcet": "kv"}, "the nats system")
    with pytest.raises(OptionError, match="letters, digits"):
        parse_options(SYSTEM.options, {"bucket": "a.b"}, "the nats system")


def test_the_stream_leader_is_read_from_the_monitoring_json():
    streams = [
        {"name": "KV_other", "cluster": {"leader": "n1"}},
        {"name": "KV_splitbrain", "cluster": {"leader": "n2"}},
    ]
    jsz = {"account_details": [{"stream_detail": streams}]}
    assert stream_leader(jsz, "KV_splitbrain") == "n2"
    assert stream_leader(None, "KV_splitbrain") is None
