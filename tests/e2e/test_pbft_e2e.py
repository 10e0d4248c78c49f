"""`splitbrain run suites/pbft.yaml` end to end on the local backend, shortened to 18 s (an
equivocating primary, a partition cutting the primary off, a wrong-reply liar, a kill): the
correct pattern is valid, the liars are in the history, and every replica's log agrees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from suite_run import run_suite

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def test_correct_pbft_is_valid_with_one_liar_at_a_time_partitions_and_kills(tmp_path: Path) -> None:
    p, results = run_suite(tmp_path, "pbft", "pbft-register", 18, "--seed", "3")
    assert p.returncode == 0, p.stdout + p.stderr
    assert results["valid"] is True
    applied = [f for f in results["faults"] if f["type"] == "ok"]
    lies = [f["value"]["mode"] for f in applied if f["f"] == "start-byzantine"]
    assert lies[:2] == ["equivocate", "wrong-reply"]
    assert {"start-partition", "kill"} <= {f["f"] for f in applied}
    pbft = results["checkers"]["pbft"]
    assert pbft["valid"] is True
    assert pbft["details"]["replicas-reported"] == ["n1", "n2", "n3", "n4"]
    assert pbft["details"]["sequence-numbers"] > 100
    assert results["checkers"]["linearizable"]["valid"] is True
