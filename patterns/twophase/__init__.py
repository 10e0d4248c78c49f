"""Two-phase commit over hash-partitioned keys (reference pattern of splitbrain).

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.twophase --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/twophase [--bug forget-prepared ...] [--lock-wait-ms 300]
        [--prepare-timeout-ms 1000] [--doubt-ms 1000] [--retry-ms 300]

Every node is a **participant** owning the keys that hash to it (``home_of``), and the
**coordinator** of the transactions its clients send it. A transaction is a list of micro-ops
(``["r", k, None]``, ``["append", k, v]``, ``["add", k, delta, initial, floor]``):

1. the coordinator sends each participant its micro-ops (``prepare``). The participant takes
   an exclusive lock on each of its keys (waiting up to ``--lock-wait-ms``; strict 2PL: the
   locks are held until the outcome is applied), evaluates the micro-ops, logs a ``prepare``
   record with the writes (fsync) and votes yes with its reads; or votes no (lock conflict,
   an ``add`` that would go below its floor) and keeps nothing;
2. with every vote yes, the coordinator logs its commit decision (fsync) and only then sends
   ``commit`` to each participant in turn, which logs the writes, applies them and unlocks;
   with any vote no or missing it aborts. The client's reply comes once every participant
   was told (acknowledged or not): an unacknowledged commit is re-sent in the background.
   A vote or an acknowledgement is awaited for ``--prepare-timeout-ms``; a peer that did not
   answer is then skipped (counted as not answering) for as long again, so that a dead or
   cut-off participant costs each transaction nothing instead of a timeout spent holding
   locks elsewhere; the background rounds keep calling it and an answer ends that.
3. **Presumed abort**: abort decisions are not logged. A participant that holds a prepared
   transaction for longer than ``--doubt-ms`` asks its coordinator (``decision``): commit
   if the decision log has it, pending if the coordinator is still collecting votes, and
   abort otherwise -- including every transaction a crashed coordinator had not decided.

Recovery: a restarted participant replays its log (store, prepared transactions with their
locks, committed transaction ids); a restarted coordinator re-sends every logged commit
whose participants have not all acknowledged it.

A participant that gets a commit for a transaction it never prepared applies the writes the
message carries (a decision is final). With a correct coordinator and durable prepares that
never happens; with the seeded bugs it does, and it makes their damage visible.

Client protocol (NDJSON over TCP)::

    {"type": "txn", "ops": [["append", 3, 7], ["r", 4, null]]}
        -> {"ok": true, "value": [["append", 3, 7], ["r", 4, [1, 7]]]}
        -> {"ok": false, "error": "aborted", "definite": true, "message": "..."}
    {"type": "status"} -> {"ok": true, "value": {"id": "n1", "role": "coordinator", ...}}

(a read of a key never written returns null.)
"""

from .node import BUGS, TwoPhaseNode, home_of

__all__ = ["BUGS", "TwoPhaseNode", "home_of"]
