"""Leader election: terms, majority votes, heartbeats, and leader actions confirmed by a
majority (Raft's election, without a log).

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.election --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/election [--bug double-count ...] \\
        [--heartbeat-ms 50] [--election-ms 300-600] [--retry-ms 100] [--rpc-timeout-ms 200]

- **Terms.** Every node keeps a term, a number that only grows, and the vote it gave in it
  (``state.json``, written with fsync before any answer depends on it). A node that hears of
  a later term adopts it and becomes a follower.
- **Elections.** A follower that hears no leader for a random election timeout starts a new
  term as a candidate, votes for itself and asks every other node for its vote, asking
  again every ``--retry-ms`` those that have not answered. A node grants one vote per term,
  to the first candidate that asks. A candidate with a majority of distinct voters (itself
  included) is the leader of that term: at most one per term, since two majorities share a
  node, who votes once. It records the term in ``led_terms`` (durably) and sends heartbeats
  every ``--heartbeat-ms``.
- **Acting.** A client's ``act`` is a leader action: the leader performs it only after a
  majority has acknowledged, after the request arrived, a heartbeat of its term (each node
  of that majority then has not moved on to a later term). A deposed leader that does not
  know it yet cannot gather that majority, so no action of an older term follows an action
  of a newer one.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "act"}     -> {"ok": true, "value": {"term": 7, "leader": "n2"}}
                        -> {"ok": false, "error": "not-leader", "definite": true, "leader": "n3"}
                        -> {"ok": false, "error": "not-confirmed", "definite": true}
    {"type": "status"}  -> {"ok": true, "value": {"id": "n2", "role": "leader", "term": 7,
                            "leader": "n2", "voted_for": "n2", "led_terms": [3, 7], "bugs": []}}

Peers talk with ``request_vote`` (``term``, ``candidate`` -> ``term``, ``granted``) and
``heartbeat`` (``term``, ``leader`` -> ``term``, ``ack``).

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``double-count``
    The candidate counts the votes it is granted rather than the nodes that granted them,
    and asks every node again on each retry, voters included: a voter asked twice (it grants
    the same candidate again, as it should) counts twice. Exposed by a partition that
    leaves a candidate with fewer than a majority (halves: 2 of 5, bridge): it wins with
    itself and one voter counted twice, while the other side elects a leader of the same
    term; or by two candidates splitting the votes of one term.
``minority-quorum``
    The quorum is ``len(nodes) // 2`` (the ``+ 1`` forgotten): two of five nodes elect a
    leader and confirm its actions. Exposed by a partition into halves: both sides elect a
    leader, often of the same term, and both act, the older term after the newer.
``no-confirm``
    A leader acts on its own belief that it leads, without a majority confirming its term.
    Exposed by a partition isolating the leader (shape 'leader'): the majority elects a new
    leader, which acts in the next term, while the old one goes on acting in its own.
"""

from .node import BUGS, ElectionNode

__all__ = ["BUGS", "ElectionNode"]
