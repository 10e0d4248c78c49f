"""`splitbrain run suites/crdt.yaml` end to end on the local backend, shortened to 18 s (most of
one round of its faults: a partition, a pause, a kill, a second partition): the correct
replicas are valid, every node answers a final read, and they agree."""

from __future__ import annotations

import os

import pytest
from suite_run import run_suite

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def test_the_correct_replicas_converge_through_partitions_pauses_and_a_kill(tmp_path) -> None:
    p, results = run_suite(tmp_path, "crdt", "crdt-converge", 18, "--seed", "3")
    assert p.returncode == 0, p.stdout + p.stderr
    assert results["valid"] is True
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"start-partition", "pause", "kill"} <= applied, applied
    crdt = results["checkers"]["crdt"]
    assert crdt["valid"] is True, crdt["anomalies"]
    details = crdt["details"]
    assert details["final-reads"] == 10
    assert details["g"]["adds"] > 100 and details["set"]["removes"] > 50
    # the stale-read rule judged reads whose node had been connected to a peer for its bound
    assert details["pn"]["reads-with-fresh-peers"] > 10, details["pn"]
