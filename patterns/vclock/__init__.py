"""Vector clocks: a Dynamo-style multi-value key-value store. Every replica takes reads and
writes (no leader); concurrent writes are kept side by side as siblings, tracked by vector
clocks; replicas exchange their versions (anti-entropy) and converge after a heal.

Start a replica (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.vclock --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/vclock [--bug lww|bad-merge ...] [--sync-ms 100] \\
        [--rpc-timeout-ms 300] [--settle-ms 5000]

Versions and contexts
---------------------
Each key holds a *dotted causal container* (``versions.py``; Riak's dotted version vectors):
its siblings, each named by a *dot* ``(node, n)`` (the n-th version node made of the key),
and a *context*, the vector clock ``{node: n}`` of every dot the replica has seen.

- A read answers the siblings and the context.
- A write carries the context its client last read for the key (``{}`` if it read none). The
  replica replaces the siblings that context covers (the client saw them) and keeps the
  others beside the new version, whose dot is the replica's next. Two writes made with the
  same context are concurrent, on one replica or on two: both stay until a write that saw
  both replaces them.
- Anti-entropy: every ``--sync-ms`` a replica pushes its whole state to every peer, which
  merges it and answers with its own, which the first merges in turn. A merge keeps each
  sibling the other side also has or has not seen yet, drops the ones the other side has
  seen and replaced, and takes the element-wise maximum of the contexts. A peer that did not
  answer is tried again every round, so a healed partition is repaired within a round.
- Whole states are exchanged, never one key at a time: a replica that holds a version also
  holds everything its writer had seen, so a client that stays on one replica never reads
  back in causal time, on any key.
- Every change is appended to a record log (``--data``/versions.log) and made durable before
  a reply or a snapshot that shows it leaves the replica: a restart never forgets what a
  client was shown.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "read", "key": "k1"}
        -> {"ok": true, "value": {"values": [3, 7], "context": {"n1": 4, "n2": 2},
                                  "dots": [["n1", 4], ["n2", 2]]}}
    {"type": "write", "key": "k1", "value": 9, "context": {"n1": 4, "n2": 2}}
        -> {"ok": true, "value": {"dot": ["n1", 5], "context": {"n1": 5, "n2": 2}}}
           (the context is the one sent plus the new dot: what the client now knows)
    {"type": "settle"}      (after the final heal)
        -> {"ok": true, "value": {"values": {"k1": [9]}, "digest": "...",
                                  "converged": true, "peers": {"n2": "...", ...}}}
           waits up to --settle-ms for every peer to report this replica's digest (it only
           waits: the anti-entropy rounds do the converging), then answers every key.
    {"type": "status"}  -> {"ok": true, "value": {"id": "n1", "keys": 8, "most_siblings": 2,
                            "digest": "...", "unreachable": [], "bugs": []}}

Errors: ``bad-request`` (definite) for a key that is not a string, a write without ``value``
or a context that is not ``{node: counter}``. Reads and writes never wait on other replicas:
a partitioned replica serves its clients.

Replicas talk with ``exchange`` (``from``, ``state``: key -> ``{"e": [[node, n, value,
stamp], ...], "c": {node: n}}``; the answer is the receiver's state after the merge) and
``digest``.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``lww``
    Last writer wins by wall clock: every key keeps one version, the one with the latest
    wall-clock stamp of the replica that took it, instead of concurrent versions as siblings.
    Concurrent writes on two replicas lose one of them at the next anti-entropy round (an
    acknowledged write is dropped, and its writer reads back in causal time); under the clock
    fault a replica whose clock is behind loses even writes made after reading the newer
    version, on the replica itself.
``bad-merge``
    Anti-entropy merges the two contexts with the element-wise minimum instead of the
    maximum. A replica then forgets dots it has seen: it hands out a dot it already used (two
    writes under one name, one of which every merge drops) and takes back siblings another
    replica had replaced (a read shows a version beside the one that replaced it, or a
    version its reader had already overwritten). Exposed by anti-entropy between replicas
    whose contexts differ: concurrent writes, and most of all a partition and its heal.
"""

from .node import BUGS, VClockNode
from .versions import KeyState, merge, update

__all__ = ["BUGS", "KeyState", "VClockNode", "merge", "update"]
