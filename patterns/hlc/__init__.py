"""Hybrid logical clocks: every event is stamped (l, c), l the largest physical time the node
has heard of, c a counter for events that share an l; happens-before implies timestamp order,
and l stays close to physical time.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.hlc --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/hlc [--bug physical-only ...] [--max-offset-ms 500] \\
        [--rpc-timeout-ms 300]

The clock (Kulkarni, Demirbas et al., "Logical Physical Clocks", 2014). ``pt`` is the node's
wall clock in microseconds (the clock the clock-skew nemesis moves):

- local or send event: ``l' = max(l, pt)``; ``c' = c + 1`` if ``l' == l``, else ``0``;
- receive of a message stamped ``(ml, mc)``: ``l' = max(l, ml, pt)``; ``c'`` is
  ``max(c, mc) + 1`` if ``l' == l == ml``, ``c + 1`` if ``l' == l``, ``mc + 1`` if
  ``l' == ml``, else ``0``.

Timestamps compare as pairs: (l, c) before (l2, c2) when ``l < l2``, or ``l == l2`` and
``c < c2``. So a node's timestamps only grow, a receive is stamped after its send, and l is
never more than the largest clock offset ahead of true time; c counts events that share an
l and is reset whenever l moves on.

The maximum-offset guard (as CockroachDB's ``--max-offset``): a message stamped more than
``--max-offset-ms`` ahead of the receiver's clock is refused (``offset-exceeded``), and the
receiver's clock does not move. A node whose clock was bumped far forward cannot then drag
the others along: its l runs ahead alone, and its messages are refused until the others'
clocks catch up. ``--max-offset-ms 0`` turns the guard off.

l never goes back across a restart: the node keeps a bound above every l it stamped durably
(``<data>/hlc.json``, written before an event above it is answered), and a restarted node
waits until its clock has passed that bound before it serves.

Every event the node stamps (and every message it refuses) is numbered (``seq``, from 1 in
each incarnation ``boot``) and kept in a journal that clients can read back, so that a checker
knows it has seen every event of a node.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``).
An event is ``{"node", "boot", "seq", "kind", "l", "c", "pt", ...}``; a send and a receive add
``msg`` (the message id ``node/boot/seq`` of its send) and ``peer``, a receive also ``ml``,
``mc`` (the stamp the message carried) and ``max_offset_ms``::

    {"type": "local"}              -> {"ok": true, "value": event}
    {"type": "send", "pick": 3}    -> {"ok": true, "value": {"to": "n4", "send": event,
                                                             "receive": event of n4}}
        the message goes to the pick-th other member (modulo their number; random without
        ``pick``), which stamps its receive before the reply comes back
                                   -> {"ok": false, "error": "offset-exceeded",
                                       "definite": true, "to": "n4", "send": event,
                                       "refused": {"seq", "kind": "refuse", "pt", "msg",
                                                   "peer", "ml", "mc", "max_offset_ms"}}
                                   -> {"ok": false, "error": "unavailable", "definite": true,
                                       "to", "send"}   the receiver could not be reached
                                   -> {"ok": false, "error": "timeout", "definite": false,
                                       "to", "send"}   it may have received the message
    {"type": "events", "since": 0, "limit": 1000}
                                   -> {"ok": true, "value": {"node", "boot", "events": [...],
                                       "last": seq, "dropped": 0, "more": false}}
        the journal from event since + 1 (events without node and boot; refusals included)
    {"type": "status"}             -> {"ok": true, "value": {"id", "boot", "l", "c", "pt",
                                       "events", "max_offset_ms", "bugs"}}

Nodes talk with ``hlc_receive`` (``msg``, ``from``, ``l``, ``c``) -> the receive event, or the
``offset-exceeded`` refusal.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``physical-only``
    Events are stamped with the physical clock alone: ``l = pt``, c only breaks ties of one
    reading. Exposed by clock faults: a node whose clock steps back (a bump back, a strobe
    flipping back, a reset after a bump forward) stamps its next events below its earlier
    ones, and a node whose clock is behind the sender's stamps a receive below its send.
``no-c-reset``
    c is not reset to 0 when l advances to a new physical reading: it counts every event the
    node ever stamped. Needs no fault: from the first event on, c is larger than the number
    of events that share its l.
``no-offset-guard``
    The maximum offset is not enforced: a message stamped further ahead than
    ``--max-offset-ms`` is accepted. Exposed by a clock fault that moves one node forward by
    more than the maximum offset (a bump forward, a strobe): its messages drag the receivers'
    l, and then everyone's, that far into the future.
"""

from .node import BUGS, OFFSET_EXCEEDED, HlcNode, now_us

__all__ = ["BUGS", "OFFSET_EXCEEDED", "HlcNode", "now_us"]
