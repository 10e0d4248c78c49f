"""Emergent leader: membership by gossip with failure detection (SWIM-like), and no election:
the leader is the oldest live member, as every member's view comes to agree.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.emergent --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/emergent [--bug lead-alone ...] [--period-ms 200] \\
        [--ping-timeout-ms 100] [--indirect 2] [--suspect-ms 1000] [--rpc-timeout-ms 250]

Membership (SWIM: Das, Gupta and Motivala, 2002)
------------------------------------------------
Every node keeps a table of the members it knows: ``(incarnation, state, join)`` each, the
state alive, suspect or dead (``membership.py`` has the rules). Every protocol period
(``--period-ms``) a node probes the next live member of a shuffled round-robin order:

- a direct ``ping`` (answer within ``--ping-timeout-ms``);
- if none, a ``ping-req`` to ``--indirect`` other live members, each of which pings the
  target and reports whether it answered (a broken link is not a dead node);
- if none of them reached it either, the target becomes *suspect*; a suspicion that nobody
  refutes for ``--suspect-ms`` makes the member *dead* (a tombstone: no longer a member).

Dissemination is piggybacked: every ping, its answer and every ``ping-req`` carry the
sender's whole table (a cluster of a few nodes makes that a few hundred bytes), merged by
the override rule: the higher incarnation wins; at one incarnation, dead over suspect over
alive. Only a member raises its own incarnation: told that it is suspected or dead at its
incarnation, it refutes with incarnation + 1, which overrides the accusation everywhere it
arrives. The incarnation is durable (``<data>/emergent.json``): a restarted node comes back
above every entry of its previous life.

Finding members again: every period a node also pings one configured peer that is not a
live member in its table (dead, or never heard of). That is how a healed partition is
merged (each side's tombstones of the other are refuted on first contact), how a restarted
node joins (it also pings every peer once at start), and how a paused node that was
declared dead comes back (it refutes at its first exchange).

The leader
----------
No election: the leader is the live member (alive or suspect) with the smallest ``(join,
id)``, where ``join`` is the wall-clock millisecond at which its process started (a
refutation keeps it; a restart is a new join, so a restarted node is the youngest). As the
views converge, every node names the same leader.

A node *acts* as the leader (``act``) only when

1. its own view names it the leader, and
2. it asks every other configured peer (``who``, each within ``--rpc-timeout-ms``) and every
   peer that answers names it too (one that names another is a veto), and those that agree,
   with itself, are a majority of the live members of its view.

Within one connected side every member can be reached, so any disagreement vetoes: two nodes
cannot both act there until one of them has been removed from the others' views. Across the
sides of a partition each side can have its own acting leader (a side of two sees two
members): that is the pattern's known trade-off, not a fault (an emergent leader is
available on every side, and not unique across them).

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "view"}   -> {"ok": true, "value": {"node": "n1", "inc": 2, "leader": "n1",
                           "members": ["n1", "n2", ...], "incarnations": {"n1": 2, ...}}}
    {"type": "act"}    -> {"ok": true, "value": {"leader": "n1", "inc": 2,
                           "members": [...], "agreed": ["n1", "n3", ...]}}
                          this node acted as the leader (incarnation ``inc``: its reign)
                       -> {"ok": false, "error": "not-leader", "definite": true,
                           "leader": "n2"}: its view names another leader
                       -> {"ok": false, "error": "not-confirmed", "definite": true}: a
                           member it reached disagrees, or too few agree
    {"type": "status"} -> {"ok": true, "value": {"id", "role": "leader" | "member", "inc",
                           "leader", "members", "bugs"}}

Nodes talk with ``ping`` ``{"from", "table"}`` -> ``{"table"}``; ``ping-req`` ``{"from",
"target", "table"}`` -> ``{"ack": bool, "table"}``; ``who`` ``{"from", "table"}`` ->
``{"leader", "members", "table"}``.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``no-incarnation``
    Incarnations are never raised (and not kept across restarts): an accused node cannot
    refute. A suspect is cleared only where it answers a probe directly, and the suspicions
    the others gossip back accuse it again: it flaps, until a suspicion times out somewhere
    and it is declared dead; then it never comes back (nothing is newer than its death), not
    even restarted. After a partition heals, or a paused or restarted node comes back, the
    views never agree again. Exposed by the first heal of a kill, a pause or a partition.
``never-remove``
    A suspicion never times out: dead members are never removed, and a dead leader stays the
    leader in every view (nobody acts). Exposed by the kill fault: the killed node stays in
    every view.
``lead-alone``
    A node acts on its own view without the confirmation round. A node whose view is stale
    (the old leader right after a partition that isolated it heals, or after a pause of the
    leader) acts while the new leader acts too, in one connected side. Exposed by pausing
    the leader (``pause_targets: [primaries]``) and by partitions, at the heal.
"""

from .membership import ALIVE, DEAD, SUSPECT, Member, Membership
from .node import BUGS, NOT_CONFIRMED, EmergentNode

__all__ = [
    "ALIVE",
    "BUGS",
    "DEAD",
    "NOT_CONFIRMED",
    "SUSPECT",
    "EmergentNode",
    "Member",
    "Membership",
]
