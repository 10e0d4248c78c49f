"""`splitbrain run suites/raft-membership.yaml` end to end on the local backend, shortened to
14 s (one round of its faults: a member removed and added back empty, the leader isolated, a
kill): the Raft store stays linearizable while its membership changes, and the membership
ops took effect. (The changes themselves are tested on loopback in
tests/patterns/test_raft_membership.py; bench/README.md has the seeded bug's detection.)"""

from __future__ import annotations

import os

import pytest
from suite_run import run_suite

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local cluster needs root"),
]


def test_raft_stays_linearizable_while_a_member_is_removed_and_added_back(tmp_path) -> None:
    p, results = run_suite(tmp_path, "raft-membership", "raft-membership", 14, "--seed", "1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert results["valid"] is True, results["checkers"]
    done = {f["f"] for f in results["faults"] if f["type"] == "ok"}
    assert {"remove-member", "add-member", "start-partition", "kill"} <= done, done
