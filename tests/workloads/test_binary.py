"""BinarySystem on this host: a system that is one small class (a Python HTTP server per node,
a config file it serves, a health check), set up, killed, restarted, paused and asked for
by its clients' endpoint, as etcd, Redis and ZooKeeper are."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostnode import HostNode, free_base_port

from clusters.base import Node, SetupError
from harness.registry import SystemInfo, option, parse_options
from harness.spec import SystemSpec
from workloads.binary import BinarySystem, http_check
from workloads.system import HasPorts, HasPrimaries, Killable, Pausable, System


@dataclass(frozen=True)
class WebOptions:
    leader: str = option("n1", "the node that says it leads")


class WebSystem(BinarySystem):
    """Every node serves its data directory over HTTP; ``health.json`` names the node."""

    daemons = ("web",)
    binaries: tuple[str, ...] = (sys.executable,)
    ports_per_node = 2
    default_port = 18080
    ready_timeout = 20.0
    options_type = WebOptions
    options: WebOptions

    def config_files(self, node: Node) -> dict[str, str]:
        body = {"node": node.name, "leader": self.options.leader, "ports": self.ports(node)}
        return {"web-data/health.json": json.dumps(body)}

    def argv(self, node: Node, daemon: str) -> list[str]:
        host, port = self.endpoint(node)
        return [sys.executable, "-m", "http.server", str(port), "--bind", host,
                "--directory", self.data_dir(node)]  # fmt: skip

    def answering(self, node: Node, daemon: str) -> str | None:
        return http_check(self.url(node), lambda b: b.get("node") == node.name)

    def is_primary(self, node: Node) -> bool:
        return http_check(self.url(node), lambda b: b["leader"] == node.name) is None

    def url(self, node: Node) -> str:
        return "http://{}:{}/health.json".format(*self.endpoint(node))


WEB = SystemInfo("web", "a web server per node", WebSystem.make, {}, options=WebOptions)


@pytest.fixture
def web(tmp_path: Path):
    nodes = [HostNode(f"n{i}", tmp_path / f"n{i}") for i in (1, 2)]
    options: WebOptions = parse_options(WEB.options, {"leader": "n2"}, "the web system")
    system = WEB.make(SystemSpec(name="web", port=free_base_port(4)), nodes, options)
    threads = [threading.Thread(target=system.setup, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield system, nodes
    for n in nodes:
        system.teardown(n)


def test_a_binary_system_offers_every_optional_power() -> None:
    system = WebSystem(nodes=[])
    assert system.port == WebSystem.default_port
    for power in (System, Killable, Pausable, HasPrimaries, HasPorts):
        assert isinstance(system, power)


def test_setup_writes_the_config_starts_each_node_on_its_ports_and_finds_the_primary(
    web,
) -> None:
    system, nodes = web
    base = system.port
    assert [system.ports(n) for n in nodes] == [(base, base + 1), (base + 2, base + 3)]
    assert (
        system.endpoint(nodes[1])
        == ("127.0.0.1", base + 2)
        == ("127.0.0.1", system.port_of(nodes[1]))
    )
    assert all(system.answering(n, "web") is None for n in nodes)
    assert system.primaries(nodes) == [nodes[1]]
    assert system.log_files(nodes[0]) == [f"{nodes[0].workdir}/web.log"]
    health = json.loads((Path(system.data_dir(nodes[0])) / "health.json").read_text())
    assert health == {"node": "n1", "leader": "n2", "ports": [base, base + 1]}


def test_a_killed_node_stops_answering_and_starts_again_on_its_data(web) -> None:
    system, nodes = web
    system.kill(nodes[0])
    assert not nodes[0].alive("web")
    assert system.answering(nodes[0], "web") is not None
    system.start(nodes[0])
    assert system.answering(nodes[0], "web") is None
    system.pause(nodes[1])
    try:
        assert http_check(system.url(nodes[1]), timeout=0.3) is not None  # stopped: no answer
    finally:
        system.resume(nodes[1])
    assert system.answering(nodes[1], "web") is None


def test_a_node_the_system_was_not_made_with_is_an_error_not_a_default_port(tmp_path) -> None:
    system = WebSystem(18080, nodes=[HostNode("n1", tmp_path / "n1")])
    with pytest.raises(SetupError, match=r"not made with node 'n2' at 127.0.0.1; its nodes: n1"):
        system.endpoint(HostNode("n2", tmp_path / "n2"))


def test_a_missing_binary_is_named_before_anything_starts(tmp_path: Path) -> None:
    class Missing(WebSystem):
        binaries = (sys.executable, "splitbrain-no-such-binary")
        install_hint = "install it"

    node = HostNode("n1", tmp_path / "n1")
    with pytest.raises(SetupError, match="splitbrain-no-such-binary not found on n1: install it"):
        Missing(free_base_port(2), nodes=[node]).setup(node)
    assert not node.alive("web")


def test_a_daemon_that_exits_fails_setup_with_the_tail_of_its_log(tmp_path: Path) -> None:
    class Crashing(WebSystem):
        ready_timeout = 10.0

        def argv(self, node: Node, daemon: str) -> list[str]:
            return [sys.executable, "-c", "print('bad config line 3'); raise SystemExit(2)"]

    node = HostNode("n1", tmp_path / "n1")
    with pytest.raises(SetupError) as e:
        Crashing(free_base_port(2), nodes=[node]).setup(node)
    assert "web on n1 exited and was not answering" in str(e.value)
    assert "bad config line 3" in str(e.value)


pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
