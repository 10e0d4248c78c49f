"""CASPaxos: a linearizable register per key, built on single-decree Paxos rounds, with seeded
bugs.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.paxos --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/paxos [--bug forget-promise ...] \\
        [--request-timeout-ms 1000] [--rpc-timeout-ms 500] [--no-forward]

Every node is an acceptor for every key and a proposer. As in CASPaxos (Rystsov, 2018), a
client's read, write or cas is a function of the register's current value, and each request
is one round of Paxos on its key:

1. prepare: the proposer picks a ballot ``(counter, node id)`` above any it has seen for the
   key and asks every acceptor to promise it. An acceptor promises a ballot above its promise,
   makes the promise durable (fsync), and answers with what it accepted (ballot and value).
2. with promises from a majority, the proposer takes the value of the highest accepted ballot
   among them (null if none), applies the request's function to it, and asks the acceptors
   of that majority (as in "Paxos Made Simple") to accept the result under its ballot. An
   acceptor accepts a ballot at or above its promise, durably, before answering. The others
   keep what they accepted before, under lower ballots, which any later majority outranks.
3. with acceptances from a majority, the value is chosen and the client gets its answer.

A read writes the current value back (that is what makes it linearizable); a cas that finds
another value writes the current value back and fails with ``cas-mismatch``. A round that
does not get its majority is tried again with a higher ballot until the request's deadline,
as long as trying again cannot perform the operation twice: a write whose value some but
not a majority of acceptors took answers ``timeout`` (indefinite).

So that rounds on one key rarely compete, each key has a home node (a hash of the key over
the sorted member ids, the same on every node): other nodes forward requests on the key to
it, one hop, and propose themselves when it cannot be reached (for a second after a
failure). The home runs one round at a time per key. ``--no-forward`` turns this off.

State: ``acceptor.log`` in ``--data``, a ``RecordLog`` of ``[key, promised, accepted,
value]``; the last record of a key wins on recovery. The proposer's ballot counters are kept
in memory: after a restart it learns them again from the acceptors' rejections.

Client protocol
---------------
The Raft store's (``patterns/raft``): newline-delimited JSON over TCP, one request at a time
per connection, the reply carries the request's ``id``::

    {"id": 7, "type": "read", "key": "x"}                -> {"ok": true, "value": 3}
    {"id": 7, "type": "write", "key": "x", "value": 3}   -> {"ok": true, "value": null}
    {"id": 7, "type": "cas", "key": "x", "from": 1, "to": 2}
    {"id": 7, "type": "status"}   -> {"id": "n1", "role": "proposer", "keys": 4, "bugs": []}

Errors: ``cas-mismatch`` (definite), ``unavailable`` (definite: no round got a majority in
time, and none of ours can be chosen), ``timeout`` (indefinite: our value reached some
acceptors, or a forwarded request got no answer), ``bad-request``. A read never fails
indefinitely. There is no leader: ``status`` says ``role: proposer`` on every node.

Seeded bugs (``--bug NAME``) and the faults that expose them
--------------------------------------------------------------
``forget-promise``
    The acceptor keeps its promises in memory only (accepted ballots and values are still
    written with every accept), and checks a prepare against its promise alone, as a
    correct acceptor may. After a restart it has promised nothing, so it promises, and then
    accepts, a ballot below one it already accepted. Exposed by killing every node (or a
    majority) while clients keep working on the same keys: restarted proposers start their
    ballots from 1, restarted acceptors let them choose new values under ballots lower than
    those of values accepted before the crash by acceptors outside their majority, and the
    next round that hears one of those takes the old value back: acknowledged writes vanish
    (a linearizability violation on reads).
``local-read``
    A read is answered from the local acceptor's accepted value, without a round. An
    acceptor outside the last majority lags: exposed by any partition that leaves a node
    (or a minority) cut off while the others keep writing (shapes ``one``, ``halves``),
    whose reads then return old values (stale reads).
"""

from .node import BUGS, PaxosNode

__all__ = ["BUGS", "PaxosNode"]
