"""PBFT (Castro and Liskov, 1999): a replicated key-value register that stays correct while at
most f of its n = 3f + 1 replicas are Byzantine (crash, stay silent, or lie in any way), and
answers clients as long as 2f + 1 replicas can talk. Four replicas tolerate one faulty one.

Start a replica (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.pbft --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000,n4=10.0.0.4:7000 \\
        --data /var/lib/pbft --secret RUN-SECRET [--bug quorum-2f ...]
        [--request-timeout-ms 1500] [--view-timeout-ms 1000] [--rpc-timeout-ms 500]
        [--checkpoint-every 16] [--window 256]

The protocol (``replica.py``, a deterministic state machine)
-----------------------------------------------------------
The primary of view v is member ``v mod n`` (in name order). It gives each client request a
sequence number and sends PRE-PREPARE(v, n, digest, request); a backup that accepts it (the
view is its own, n is within its window, no other digest was pre-prepared at n in v) sends
PREPARE(v, n, d). With the pre-prepare and 2f+1 replicas vouching for (v, n, d) (the
primary's pre-prepare and 2f PREPAREs) the request is *prepared*: the replica sends
COMMIT(v, n, d), and with 2f+1 COMMITs it is *committed* and executed in sequence order.
A request a client sent before (same client, same or smaller request id) is not executed
again. Every ``--checkpoint-every`` executions a replica sends CHECKPOINT(n, state digest);
2f+1 matching make it stable: the log below is dropped, and a replica that has not executed
that far fetches the state from a peer and installs it if its digest is the one vouched for.

View change: a backup that has waited ``--view-timeout-ms`` for a request it forwarded to the
primary moves to view v+1 and sends VIEW-CHANGE(v+1, its recent checkpoint digests, P: its
prepared requests with their views, Q: the digests it pre-prepared and in which view). A
replica that hears f+1 view changes for later views joins the smallest. The new primary,
with 2f+1 view changes, sends NEW-VIEW naming them and its decision: the checkpoint f+1 of
them share, and for each number above it the prepared request that 2f+1 do not contradict
and f+1 pre-prepared (or a null request if 2f+1 prepared nothing there): a request committed
in any earlier view is re-proposed at its number. Messages carry MACs, which cannot be shown
to a third party, so a backup accepts a NEW-VIEW only if it received every view change it
names itself, and the decision over them is the one the NEW-VIEW carries (``auth.py``).

Authentication: every message between replicas carries an HMAC-SHA256 under the key of its
pair of replicas, derived from ``--secret`` (``auth.py``); a message whose MAC is wrong, or
that is not addressed to the receiver, is dropped.

Durability: every input of the state machine (peers' messages, ordered requests, timeouts,
installed states) is appended to ``<data>/inputs.log`` and made durable before anything the
replica sends because of it leaves; a restarted replica replays the log to the same state.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "request", "client": C, "rid": R, "op": {"f": "read", "key": K}}
    {"type": "request", "client": C, "rid": R, "op": {"f": "write", "key": K, "value": V}}
    {"type": "request", "client": C, "rid": R, "op": {"f": "cas", "key": K, "from": A, "to": B}}
        -> {"ok": true, "value": {"result": X, "rid": R, "view": v, "replica": "n1"}} once this
           replica executed request R of client C: X is the value read (null: never written),
           "ok" for a write, true / false for a cas (whether it took). The primary orders it;
           a backup forwards it to the primary and starts its view-change timer.
        -> {"ok": false, "error": "timeout", "definite": false}: not executed here in time
        -> {"ok": false, "error": "bad-request", "definite": true}
    {"type": "await", ...the same fields}: as ``request``, but only waits for the execution
           (the client sends ``request`` to the primary and ``await`` to the backups; when
           f+1 matching replies do not come in time it sends ``request`` to every replica).
    {"type": "log"}  -> {"ok": true, "value": {"id", "view", "low", "last_exec", "committed":
           [[seq, view, digest, client, rid], ...], "executed": [[seq, digest, client, rid,
           fresh], ...], "installs": [seq, ...]}}: every commit and execution of this run
           (fresh: the request changed the state; false: a duplicate, not executed again)
    {"type": "lie", "mode": MODE or null} -> {"ok": true, "value": {"id", "mode", "was"}}:
           the control interface of the ``byzantine`` fault (``lies.py`` says what each mode
           does: equivocate, wrong-reply, silence, replay, forge-view-change)
    {"type": "status"} -> {"id", "role" (primary, backup, view-change), "view", "primary",
           "low", "last_exec", "lying", "bugs"}

A client accepts a result once f+1 replicas answered it the same: at least one correct
replica executed it.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``quorum-2f``
    Quorums of 2f (here 2) instead of 2f+1: two quorums need not share a correct replica.
    Exposed by an equivocating primary (one backup commits its other request at the same
    number) and by partitions into halves (each side commits on its own after a view change).
``view-change-drops-prepared``
    A new view re-proposes nothing: every number above the checkpoint gets a null request, so
    a request committed before the view change is replaced. Exposed by any view change:
    partitions, kills and pauses of the primary, silence.
``no-mac-check``
    MACs are not checked: a lying replica forges messages in the others' names. Exposed by
    ``equivocate`` (forged prepares and commits for its other request) and
    ``forge-view-change`` (forged view changes claiming nothing was prepared).
``first-reply``
    The client's bug (``workloads/pbft.py``): it accepts the first reply instead of f+1
    matching ones. Exposed by a ``wrong-reply`` liar. Replicas take the flag and ignore it.
"""

from .lies import LIE_VALUE, MODES, Liar
from .node import BUGS, PbftNode
from .replica import Replica, decide_new_view

__all__ = ["BUGS", "LIE_VALUE", "MODES", "Liar", "PbftNode", "Replica", "decide_new_view"]
