"""`splitbrain run suites/raftwatch.yaml` end to end on the local backend, shortened to 18 s
(one round of its faults: the leader cut off, a kill, a pause, a partition): the Raft store's
watches are valid, every watcher caught up after the heal, and at least one watch was
registered again (rewatch) after a broken connection. (The seeded bugs' mechanisms are
tested on loopback in tests/patterns/test_raft_watch.py; bench/README.md has their
detection.)"""

from __future__ import annotations

import json
import os

import pytest
from suite_run import run_suite

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def test_raft_watches_are_valid_through_partitions_kills_and_pauses(tmp_path) -> None:
    p, results = run_suite(tmp_path, "raftwatch", "raft-watch", 18, "--seed", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    applied = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"kill", "start-partition", "pause"} <= applied
    watch = results["checkers"]["watch"]
    assert watch["valid"] is True, watch["anomalies"]
    details = watch["details"]
    assert details["writes-acknowledged"] > 200
    assert len(details["watchers"]) == 5
    assert all(w["caught_up"] for w in details["watchers"].values())
    history = next(f for f in (tmp_path / "results").glob("raft-watch/*/history.jsonl"))
    polls = [json.loads(line) for line in history.read_text().splitlines()]
    restarts = [op["value"].get("restarts", 0) for op in polls if op["f"] == "catch-up"]
    assert max(restarts) >= 1  # a broken watch was registered again and missed nothing
