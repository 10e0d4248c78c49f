"""A distributed lock with fencing tokens (a generation clock), and a protected storage.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.lock --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/lock [--bug no-fencing ...] [--ttl-ms 1500] \\
        [--heartbeat-ms 50] [--election-ms 300-600] [--request-timeout-ms 1000]

Each node is two things on one port:

- a member of the **lock service**, a table of locks replicated by Raft (the node of
  ``patterns.raft``, reused). A grant carries a **fencing token**: the lock's generation,
  which grows by one with every grant of that lock and never goes back, because grants are
  log entries applied in the same order everywhere. A grant is a lease of ``--ttl-ms``: the
  leader hands the lock to someone else only once that much time has passed, on its own
  monotonic clock, since it applied the grant (or since it became leader, for leases it
  inherited) -- never less than the time since the grant itself.
- a share of the **protected storage**: every key has a home node (``home_of``); its
  storage keeps the writes it accepted, in order, durably (fsync), and rejects a write whose
  token is older than the highest it has accepted for that key. A holder that stalls past
  its lease (a pause, a slow network) and then writes is thus turned away once the next
  holder has written. A node forwards a client's ``write`` / ``read`` to the key's home:
  it is the holder's application server, and what delays it delays the holder.

Client protocol (newline-delimited JSON over TCP; the reply carries the request's ``id``)::

    {"type": "acquire", "key": "k1", "owner": "p7"}
        -> {"ok": true, "value": {"token": 12, "ttl_ms": 1500}}
    {"type": "release", "key": "k1", "token": 12}             -> {"ok": true, "value": null}
    {"type": "write", "key": "k1", "token": 12, "value": 40}  -> {"ok": true, "value": null}
    {"type": "read", "key": "k1"}    -> {"ok": true, "value": [[11, 38], [12, 40]]}
    {"type": "status"}               -> Raft's status, plus "locks_held"

Errors (``definite: true``: certainly not done): ``locked`` (held by another lease, yes),
``not-holder`` (a release whose token does not hold the lock, yes), ``stale-token`` (the
storage already accepted a newer token, yes), and Raft's ``not-leader``, ``timeout``,
``unavailable``, ``connection-lost``, ``superseded``.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``no-fencing``
    The storage accepts every write whatever its token (the fencing check is skipped).
    Exposed by pausing a node while one of its clients holds a lock and has a write in
    flight: the lease runs out, another client takes the lock and writes, and when the node
    resumes it delivers the old holder's write, which the storage accepts after the newer
    one. A partition between a node and a key's home delays writes the same way.
``early-grant``
    The leader acknowledges a grant (and a release) once it is in its own log, before a
    majority has it. Exposed by a partition isolating the leader: it keeps granting from a
    state the majority never sees, while the new leader grants the same locks again, with
    the same tokens, to other clients.
``term-token``
    The fencing token is the leader's term (its generation clock) instead of the lock's own
    generation: every grant of a term carries the same token, so the storage cannot tell an
    old holder from the new one. No fault is needed to see two grants with one token; a
    pause (as for ``no-fencing``) then gets a stale write accepted.
"""

from .node import BUGS, LockNode, ProtectedStorage, home_of

__all__ = ["BUGS", "LockNode", "ProtectedStorage", "home_of"]
