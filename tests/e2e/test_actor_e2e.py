"""`splitbrain run suites/actor.yaml` end to end on the local backend, shortened to 18 s (a
round of its faults: a partition, a kill, a pause, a kill of a minority): the correct pattern
is valid, its actors moved, and the history names every reply's activation."""

from __future__ import annotations

import os

import pytest
from suite_run import run_suite

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def test_correct_actors_are_valid_through_partitions_kills_and_pauses(tmp_path) -> None:
    p, results = run_suite(tmp_path, "actor", "actor-messages", 18, "--seed", "3")
    assert p.returncode == 0, p.stdout + p.stderr
    assert results["valid"] is True
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"start-partition", "kill", "pause"} <= applied
    actor = results["checkers"]["actor"]
    assert actor["valid"] is True
    details = actor["details"]
    assert details["messages-ok"] > 500 and details["actors-moved"] >= 1
    assert details["activations-seen"] > details["actors"]
    assert details["linearizable"]["partitions"] == details["actors"]
