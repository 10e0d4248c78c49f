"""A replicated FIFO queue with acknowledgements, at most once, with seeded bugs.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.queue --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/queue [--bug redeliver-on-timeout ...] \\
        [--heartbeat-ms 50] [--election-ms 300-600] [--request-timeout-ms 1000] \\
        [--visibility-ms 1000]

The queue is a state machine on the Raft log (``patterns/raft``, whose node this one
extends): enqueues, dequeues and acknowledgements are log entries, answered once committed
and applied, so every node holds the same queue and a failover loses nothing acknowledged.

The contract (what the checker holds it to):

- an acknowledged enqueue is never lost: its message is delivered, or still queued, or in
  flight to a consumer;
- delivery is at most once: a dequeue hands the oldest message to one consumer, which holds
  it until it acknowledges it (``ack``); the message is never handed to anyone else, however
  long the consumer takes, nor again to the same one. A consumer that goes away for good
  leaves its messages in flight, listed by ``audit`` for an operator: the price of at most
  once (a queue that redelivers after a timeout gives at least once instead, and that is
  another contract);
- order is FIFO: messages are handed out in the order their enqueues took effect.

Client protocol
---------------
The Raft store's framing (newline-delimited JSON over TCP, one request at a time per
connection, ``id`` copied into the reply)::

    {"type": "enqueue", "value": 17}                 -> {"ok": true, "value": {"id": 42}}
    {"type": "dequeue", "consumer": "c-8f2a"}        -> {"ok": true, "value": {"id": 42,
                                                         "value": 17}}   (null: empty)
    {"type": "ack", "consumer": "c-8f2a", "ids": [42]}
        -> {"ok": true, "value": {"acked": [42], "refused": []}}
    {"type": "audit"}   -> {"node", "applied", "queue": [[id, value], ...],
                            "inflight": [[id, value, consumer], ...], "acked": 12}
    {"type": "status"}  -> the Raft status, plus "queued", "inflight", "acked"

A message's id is the index of its enqueue entry. ``ack`` is idempotent; it fails with
``not-held`` (definite) when the consumer holds none of the ids. Enqueue, dequeue and ack go
to the leader (followers forward them, one hop); ``audit`` and ``status`` are answered by
the node asked, from its applied state. Other errors are the Raft store's.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``redeliver-on-timeout``
    The leader puts a message back at the head of the queue when it has been in flight
    longer than ``--visibility-ms`` without an acknowledgement, and hands it to the next
    consumer: delivered twice. Exposed by anything that delays a consumer's ack past the
    timeout: a partition between the consumer's node and the leader (any shape), a paused
    node (pause), a killed node (kill), a leader change, or just a slow consumer.
``unreplicated-dequeue``
    The leader answers a dequeue as soon as the entry is durable in its own log, before a
    majority holds it. Exposed by cutting the leader off (partition shapes ``leader``,
    ``primaries``): it keeps handing out messages whose dequeues never commit, and the new
    leader hands the same messages out again: delivered twice.
"""

from .node import BUGS, QueueNode

__all__ = ["BUGS", "QueueNode"]
