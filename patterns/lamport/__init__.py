"""Lamport clocks: every node stamps each of its events (a local event, the send of a message,
its receipt) with a logical clock, so that an event that happens before another always has
the smaller stamp, and (stamp, node) orders all events in one total order.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.lamport --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/lamport [--bug no-max ...] [--rpc-timeout-ms 500] [--reserve 1000]

The clock (Lamport, 1978)
-------------------------
Each node keeps an integer clock C, the stamp of its latest event.

- A local event ticks it: C := C + 1, and the event is stamped C.
- A send is an event: C := C + 1; the message carries the stamp C.
- A receive of a message stamped m is an event: C := max(C, m) + 1.

So along every chain of events linked by the order of events on one node and by messages
(Lamport's *happens-before*), stamps strictly grow: the clock condition. Events on one node
all have different stamps, so (C, node id) orders every event once, with no ties.

The clock survives a restart: every stamp handed out is at most a *ceiling* kept durably
in ``<data>/clock.json`` (written, fsync'd, before a stamp above it is handed out, ``--reserve``
ahead of the clock so that this is rare); a restarted node starts from the ceiling, above
everything it stamped before. The file also counts the node's *incarnations* (starts).

Every event is reported as ``{"node": "n1", "inc": 2, "seq": 17, "c": 42}``: the node, its
incarnation, the event's number in that incarnation (numbered in the order the node stamped
them: its process order) and its stamp. A message is named after its send event
(``n1.2.17``).

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "local"}           -> {"ok": true, "value": {"local": EVENT}}
    {"type": "send", "to": "n2"}
        -> {"ok": true, "value": {"to": "n2", "msg": "n1.2.17", "send": EVENT, "recv": EVENT}}
           this node sent the message and n2 received it (n2's receive event): the send
           waits for the receiver, at most --rpc-timeout-ms
        -> {"ok": false, "error": "unavailable", "definite": true, "to", "msg", "send"}
           the send event happened, the message was certainly not delivered (n2 could not be
           reached: nothing was sent to it)
        -> {"ok": false, "error": "timeout" | "connection-lost", "definite": false, "to",
           "msg", "send"}: the send event happened; n2 may have received it, or may still
        -> {"ok": false, "error": "bad-request", "definite": true}: ``to`` is not another
           member; nothing happened
    {"type": "status"}          -> {"ok": true, "value": {"id": "n1", "clock": 42, "inc": 2,
                                    "events": 17, "bugs": []}}

Nodes talk with ``{"type": "deliver", "from": "n1", "msg": "n1.2.17", "c": 42}`` ->
``{"recv": EVENT}``.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``no-max``
    A receive ticks the receiver's own clock and ignores the message's stamp. Breaks the
    clock condition on message edges: a node whose clock is behind the sender's stamps the
    receive lower than the send. No fault is needed (clocks drift apart as soon as nodes
    have had different numbers of events); partitions make the gaps larger.
``send-no-tick``
    A send stamps the message with the clock as it is, without ticking. The send then shares
    its stamp with the node's previous event: two events of one node with one stamp (a tie
    in the (C, node) order) and a process-order edge whose stamps do not grow. No fault is
    needed.
``volatile-clock``
    The clock lives in memory only: a node restarted after a kill counts again from 0, and
    stamps its new events lower than the ones it stamped before the kill. Exposed by killing
    a node (the incarnation is durable in every build, so the checker sees the restart).
"""

from .node import BUGS, LamportNode, event_id

__all__ = ["BUGS", "LamportNode", "event_id"]
