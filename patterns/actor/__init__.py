"""Virtual actors (as in Orleans): every actor is named by a key, processes one message at a
time and keeps its state; a replicated directory says which node hosts it; messages sent to
any node are routed to the host; when the host dies or is cut off, the actor is activated
elsewhere, with a new epoch, from the state a majority kept.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.actor --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/actor [--bug no-dedup ...] [--request-timeout-ms 1200]
        [--forward-timeout-ms 500] [--rpc-timeout-ms 300] [--flush-ms 250]

The actors (``behaviour.py``)
-----------------------------
Each actor holds a counter and an append-only log: ``increment`` (the result is the new
count), ``append x`` (the log's new length), ``read`` (``{"count", "log"}``).

The directory and the state: a quorum of acceptors (``directory.py``)
--------------------------------------------------------------------
Every node is an acceptor for every actor, and keeps durably the highest activation epoch it
promised and the latest state a host wrote to it. Epochs belong to nodes (epoch ``e`` is
node ``members[e % N]``'s), so the promises are the directory: the host is the node whose
epoch a majority promised.

- **Activation** (a claim): a node picks its next epoch above every one it has heard of and
  asks every acceptor to promise it. With a majority of promises it hosts the actor, and
  starts from the newest state among their answers (highest ``(epoch, n)``; ``n`` counts the
  messages the actor has processed). Acceptors refuse a claim below their promise.
- **A message** (at the host, under the actor's lock): de-duplicated (below), applied to the
  state, then written, ``(epoch, n + 1, state, de-dup table)``, to every acceptor; the reply
  goes out once a majority accepted. An acceptor refuses a write below its promise, so a
  host whose epoch a newer claim overtook cannot complete a message any more: it learns the
  newer epoch from the refusals and deactivates. This is Paxos with ballots ``(epoch, n)``:
  the claim is phase 1, each message's write is a phase 2.
- **A read** changes nothing and is not written: the host answers once a majority confirms
  that none of them promised a newer epoch (a fence).

So at most one activation completes messages at a time (single activation), and every
acknowledged message is in the state a majority holds, which every later activation starts
from (state survives moves).

Routing and redelivery
----------------------
The node a client asked (the entry) delivers the message to the host of the newest epoch it
knows (its own directory entry and what it has heard since); a new actor goes to its home
(a hash of its name). A host that answers ``moved`` names the newer epoch: the entry sends
there. A host that cannot be reached (nothing sent) is taken over: the entry activates the
actor itself, with a newer epoch. A delivery that times out after it was sent is sent
again, to the same host, until the request's deadline (at-least-once). Every message
carries its sender and the sender's sequence number; the host keeps, per sender, the last
sequence number applied and its result (written with the state): a copy of that message
gets the first reply again (``dup``), an older one is refused (``stale-message``). So a
message is applied at most once and, per sender, in order.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "send", "actor": "a7", "op": "increment" | "append" | "read", "arg": X,
     "sender": "p3", "seq": 12}
        -> {"ok": true, "value": {"actor": "a7", "op": "append", "result": 5, "epoch": 11,
            "host": "n2", "n": 40, "sender": "p3", "seq": 12, "dup": false, "via": "n1"}}
           ``epoch`` and ``host``: the activation that applied the message (for a copy
           answered from the de-duplication table, ``dup``: the activation that answered
           it, in whose state the message stands); ``n``: its number among the actor's
           messages (a read: the messages before it); ``via``: the entry node
        -> {"ok": false, "error": "moved" | "unavailable" | "busy" | "stale-message",
            "definite": true}: not applied
        -> {"ok": false, "error": "timeout" | "moved", "definite": false}: may have been
           applied (a write reached some acceptors, or a delivery was sent and not answered)
    {"type": "status"} -> {"ok": true, "value": {"id": "n1", "active": {"a7": 11},
                           "actors": 40, "bugs": []}}

Nodes talk with ``claim`` ``{"actor", "epoch"}``, ``accept`` ``{"actor", "record"}`` and
``fence`` ``{"actor", "epoch"}`` (each answered ``granted`` and ``promised``), and forward
``send`` with ``forwarded``, ``epoch_known`` and ``timeout_ms``.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``stale-directory``
    A host trusts its cached directory entry: it answers once its own acceptor has the new
    state (the others are written in the background) and reads from memory. A partition
    that cuts the host off: it goes on serving the clients on its side while the majority
    side activates the actor anew from older state; two activations at once, and the cut-off
    side's acknowledged messages are lost at the heal.
``no-dedup``
    A host applies every copy of a message it receives. A pause of a host: the entries time
    out and send each message again, and on resume the host applies every copy (a message
    applied twice). A partition between an entry and a host does it too: the copies the
    entry sent into it are retransmitted by TCP when it heals, and each is applied.
``persist-after-reply``
    A host answers a message at once and writes the state to the acceptors later (every
    ``--flush-ms``). A kill of a host (or a partition that cuts it off) loses the messages
    it acknowledged since its last write: the next activation starts without them.
"""

from .behaviour import OPS, apply, initial
from .node import BUGS, ActorNode, host_of

__all__ = ["BUGS", "OPS", "ActorNode", "apply", "host_of", "initial"]
