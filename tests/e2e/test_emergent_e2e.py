"""`splitbrain run suites/emergent.yaml` end to end on the local backend, shortened to 20 s (a
partition into halves and its heal, then a kill of one node and its restart):
the correct pattern is valid, every heal is followed by agreement within the bound, and the
time it took is in the result."""

from __future__ import annotations

import os

import pytest
from suite_run import run_suite

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def test_correct_emergent_leader_agrees_after_every_heal(tmp_path) -> None:
    p, results = run_suite(tmp_path, "emergent", "emergent-leader", 20, "--seed", "3")
    assert p.returncode == 0, p.stdout + p.stderr
    assert results["valid"] is True
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"kill", "start", "start-partition", "stop-partition"} <= applied
    emergent = results["checkers"]["emergent"]
    assert emergent["valid"] is True, emergent["anomalies"]
    details = emergent["details"]
    assert details["acts"] > 50 and details["views"] > 100
    heals = details["convergence"]
    assert [h["heal"] for h in heals][:1] == ["stop-partition"] and len(heals) >= 2
    assert all(h["converged_s"] is not None for h in heals)
    assert heals[0]["converged_s"] <= details["bound_s"]
