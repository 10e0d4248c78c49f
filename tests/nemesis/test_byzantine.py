"""The byzantine fault: its schedule (modes and targets in turn), the suite-time refusal of a
system or a mode that is not offered, and the nemesis against four real PBFT replicas on
127.0.0.1 (the primary made to lie and honest again, two liars for the control, teardown)."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "patterns"))

from loopback import LoopbackCluster, clusters  # noqa: E402

from harness.config import ConfigError, parse_suite  # noqa: E402
from harness.history import Op  # noqa: E402
from nemesis.byzantine import (  # noqa: E402
    BYZANTINE,
    MODES,
    ByzantineNemesis,
    ByzantineOptions,
)
from workloads.daemon import node_status  # noqa: E402
from workloads.pbft import PBFT, PbftSystem  # noqa: E402


def test_each_lie_takes_the_next_mode_and_the_next_target() -> None:
    opts = ByzantineOptions(modes=("equivocate", "silence", "replay"), targets=("primary", "two"))
    assert BYZANTINE.pick is not None
    picks = [BYZANTINE.pick(opts, turn, random.Random(0), 3.0) for turn in range(4)]
    assert picks == [
        ("start-byzantine", {"mode": "equivocate", "target": "primary"}),
        ("start-byzantine", {"mode": "silence", "target": "two"}),
        ("start-byzantine", {"mode": "replay", "target": "primary"}),
        ("start-byzantine", {"mode": "equivocate", "target": "two"}),
    ]


def test_pbft_offers_every_mode_and_a_mode_not_offered_is_named() -> None:
    assert BYZANTINE.check_offer is not None
    assert PBFT.offers["byzantine"] == MODES
    assert BYZANTINE.check_offer(ByzantineOptions(), MODES) is None
    problem = BYZANTINE.check_offer(ByzantineOptions(modes=("silence", "replay")), ("silence",))
    assert problem == "the system has no lying mode 'replay'; it offers: silence"


def _suite(system: str, modes: str) -> str:
    return (
        f"tests:\n  - name: a\n    system: {system}\n    cluster: {{nodes: 4}}\n"
        f"    workload: register\n    nemesis: {{faults: [{{name: byzantine, modes: {modes}}}]}}\n"
    )


def test_a_suite_asking_a_system_that_cannot_lie_is_refused_when_read() -> None:
    assert parse_suite(_suite("pbft", "[silence]")).tests[0].nemesis.faults[0].name == "byzantine"
    with pytest.raises(ConfigError) as e:
        parse_suite(_suite("raft", "[silence]"))
    assert "byzantine" in str(e.value) and "raft" in str(e.value) and "pbft" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_suite(_suite("pbft", "[gossip]"))
    assert "gossip" in str(e.value) and "equivocate" in str(e.value)


# -- against real replicas -------------------------------------------------------------------


class Replicas(LoopbackCluster):
    module = "pbft"


class LoopbackNode:
    """What the nemesis needs of a node: its name and address."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.address = "127.0.0.1"


class NodeList:
    def __init__(self, nodes: list[LoopbackNode]) -> None:
        self.nodes = nodes


class Ports(PbftSystem):
    """The PBFT System's ports and primaries for replicas a test started itself."""

    def __init__(self, ports: dict[str, int], nodes: list[LoopbackNode]) -> None:
        self.ports = ports
        self._nodes = nodes  # type: ignore[assignment]

    def port_of(self, node) -> int:  # type: ignore[no-untyped-def]
        return self.ports[node.name]


@pytest.mark.cluster
def test_the_primary_lies_and_is_honest_again_and_two_lie_for_the_control(tmp_path) -> None:
    with clusters(tmp_path, Replicas, ("--secret", "s")) as make:
        c = make(4)
        nodes = [LoopbackNode(n) for n in c.names]
        system = Ports(c.ports, nodes)
        nem = ByzantineNemesis(random.Random(1), system)
        nem.setup(NodeList(nodes))  # type: ignore[arg-type]

        def lying() -> dict[str, Any]:
            return {n: (node_status("127.0.0.1", p) or {}).get("lying") for n, p in c.ports.items()}

        done = nem.invoke(Op("invoke", "start-byzantine", {"mode": "silence", "target": "primary"},
                             process="nemesis"))  # fmt: skip
        assert done.type == "ok", done.error
        assert done.value == {"nodes": ["n1"], "mode": "silence", "target": "primary"}
        assert lying() == {"n1": "silence", "n2": None, "n3": None, "n4": None}
        healed = nem.invoke(Op("invoke", "stop-byzantine", None, process="nemesis"))
        assert healed.type == "ok" and healed.value == {"nodes": ["n1"], "mode": None}
        assert set(lying().values()) == {None}

        two = nem.invoke(Op("invoke", "start-byzantine", {"mode": "wrong-reply", "target": "two"},
                            process="nemesis"))  # fmt: skip
        assert two.type == "ok" and len(two.value["nodes"]) == 2 and "n1" in two.value["nodes"]
        assert sorted(v for v in lying().values() if v) == ["wrong-reply", "wrong-reply"]
        nem.teardown()
        assert set(lying().values()) == {None}
        bad = nem.invoke(Op("invoke", "start-byzantine", {"mode": "gossip"}, process="nemesis"))
        assert bad.type == "info" and "gossip" in (bad.error or "")
