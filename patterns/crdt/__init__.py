"""CRDTs: conflict-free replicated data types, the "automatic conflict resolution" pattern.
Every replica takes every write on its own, through any partition (no leader, no quorum);
replicas exchange their states by gossip, and a merge that is commutative, associative and
idempotent makes them converge: *strong eventual consistency*, replicas that have received
the same updates hold the same state, whatever the order and however often they got them.

Start a replica (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.crdt --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/crdt [--bug merge-sum|no-tombstones|pn-single-counter ...] \\
        [--sync-ms 200] [--rpc-timeout-ms 300] [--settle-ms 5000]

The data types (``crdts.py``)
-----------------------------
Each replica holds one of each:

- ``g``, a G-counter: each node's total of its own increments; the value is their sum. Two
  replicas merge by the per-node maximum, so an entry heard twice counts once.
- ``pn``, a PN-counter: two G-counters, increments and decrements; the value is the
  difference.
- ``set``, an add-wins observed-remove set with dots and a causal context (no tombstones
  kept): an add tags the element with a new dot; a remove drops the dots it sees; a merge
  keeps a dot both hold, or that one holds and the other has not seen yet. A remove removes
  exactly the adds it saw; an add it did not see survives it.
- ``reg``, a last-writer-wins register: the write with the greatest (wall-clock time of the
  node that took it, node id) wins. It is here to show its known failure: under clock skew a
  node whose clock is behind stamps a later write lower than an earlier one, and loses it
  (an acknowledged write that disappears in favour of an older one). The merge is correct;
  the clocks are not. It is not one of the must-pass objects (suites/crdt-lww.yaml).

Gossip: every ``--sync-ms`` a replica pushes to every peer its own counter entries (those
that changed since the peer last acknowledged them, with the totals it acknowledged), and its
whole set and register; the peer merges them and answers with its set and register, which the
first merges in turn. Each change is appended to a record log (``--data``/crdt.log) and made
durable before a reply or a gossip that shows it leaves the replica.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "add", "counter": "g" | "pn", "delta": 3}
        -> {"ok": true, "value": {"total": [increments, decrements]}}  (this node's own)
    {"type": "read", "object": "g" | "pn" | "set" | "reg"}
        -> {"ok": true, "value": 12 | [1, 5, 9] | 42}
    {"type": "set-add", "element": 7}      -> {"ok": true, "value": {"dot": ["n1", 4]}}
    {"type": "set-remove", "element": 7}   -> {"ok": true, "value": {"removed": [["n1", 4]]}}
        (the dots of the element this replica held: the adds this remove saw; [] for none)
    {"type": "write", "value": 42}         -> {"ok": true, "value": {"ts": 1765..., "node":
                                               "n1", "won": true}}  (the register)
    {"type": "settle"}      (after the final heal)
        -> {"ok": true, "value": {"values": {"g": 12, "pn": -3, "set": [...], "reg": 42},
                                  "digest": "...", "converged": true, "peers": {...}}}
           waits up to --settle-ms for every peer to report this replica's digest (it only
           waits: the gossip does the converging), then answers every object.
    {"type": "status"}  -> {"ok": true, "value": {"id", "g", "pn", "set_size", "digest",
                            "unreachable", "bugs"}}

Errors: ``bad-request`` (definite) for an unknown counter or object, a delta that is not an
integer (or negative for ``g``), an element that is not an integer or a string. No request
waits on another replica: a partitioned replica serves its clients.

Replicas talk with ``gossip`` (``from``, ``counters``: name -> ``{"t": [inc, dec], "base":
[inc, dec]}``, ``set``, ``reg``; the answer: the receiver's ``set`` and ``reg``) and
``digest``.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``merge-sum``
    A counter entry is merged by adding the increment the sender reports since the totals it
    last saw acknowledged (``t - base``) instead of taking the per-node maximum. Correct as
    long as every gossip arrives exactly once; not idempotent. A gossip whose answer is lost
    is sent again with the same base, and counts twice: a pause (the paused replica takes
    every gossip queued for it when it resumes), a partition (a gossip held by the dropped
    link arrives after the heal, then again), a kill (the restarted sender forgot what was
    acknowledged and sends everything again). Counters then read more than was ever added.
``no-tombstones``
    The OR-set merges without its causal context: every element either side holds stays. A
    removed element comes back at the next gossip from any replica that still holds it (on
    the remover itself, and in the final reads). No fault is needed; partitions let more
    replicas hold an element when it is removed.
``pn-single-counter``
    The PN-counter is kept as one entry per node, lowered by a decrement and merged by
    maximum like a G-counter's: a peer keeps the higher entry it heard before the decrement.
    Decrements are lost on every other replica, and the replicas never agree. No fault is
    needed: once a node's total has fallen below its peak, a replica that has talked to it
    for a few rounds still reads its peak, above anything it could hold (the checker's
    stale-read; a workload with more decrements than increments makes the gap grow).
"""

from .crdts import Counter, LWWRegister, ORSet, merge_entry
from .node import BUGS, COUNTERS, OBJECTS, CrdtNode

__all__ = [
    "BUGS",
    "COUNTERS",
    "OBJECTS",
    "Counter",
    "CrdtNode",
    "LWWRegister",
    "ORSet",
    "merge_entry",
]
