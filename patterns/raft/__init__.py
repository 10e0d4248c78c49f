"""Raft: a replicated, linearizable key/value store, with seeded bugs.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.raft --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/raft [--bug stale-read ...] \\
        [--heartbeat-ms 50] [--election-ms 300-600] [--request-timeout-ms 1000]

The node logs to stderr. Its durable state lives in ``--data`` (``state.json`` and
``log.bin``, see ``storage``); it recovers from it after a kill -9 at any moment.

Raft, as in the paper: terms, randomized election timeouts, majority votes with the log
up-to-date check, log replication with the consistency check and truncation of conflicting
suffixes, commit by majority only for entries of the leader's own term (a leader appends a
no-op at the start of its term), and (term, voted_for) and new log entries made durable
(fsync) before a vote or an AppendEntries is answered; membership changes one server at a
time (below). There are no snapshots and no pre-vote or check-quorum: a leader cut off from a
majority stays leader (its writes and reads time out) until it hears of a higher term. Each
node also persists the terms in which it became leader (``led_terms`` in ``status``).

Client protocol
---------------
Newline-delimited JSON over TCP, on the same port as the peers. One request at a time per
connection; the reply carries the request's ``id``::

    {"id": 7, "type": "read", "key": "x"}
    {"id": 7, "type": "write", "key": "x", "value": 3}
    {"id": 7, "type": "cas", "key": "x", "from": 1, "to": 2}
    {"id": 7, "type": "txn", "puts": [["x", 1], ["y", 2]]}
    {"id": 7, "type": "revision"}
    {"id": 7, "type": "status"}

    {"id": 7, "ok": true, "value": 3}          read: the value, null for a missing key
    {"id": 7, "ok": true, "value": null, "revision": 12}
                                               write, cas, txn: done (committed and applied);
                                               revision: the index of its log entry
    {"id": 7, "ok": true, "value": 12}         revision: the commit index, by ReadIndex
    {"id": 7, "ok": false, "error": "not-leader", "definite": true, "leader": "n2",
     "message": "..."}

A ``txn`` puts every pair in one log entry (one revision, all or nothing). Keys are strings
or integers; values are any JSON. ``cas`` compares JSON values exactly
(``1`` is not ``1.0`` nor ``true``). ``status`` is answered by the node itself::

    {"id": 7, "ok": true, "value": {"id": "n1", "role": "leader", "term": 5,
     "leader": "n1", "commit": 12, "applied": 12, "last_index": 12,
     "led_terms": [2, 5], "voters": ["n1", "n2", "n3"], "config_index": 0,
     "learners": [], "bugs": []}}

Errors (``definite: true`` means the operation certainly did not take effect):

==================  ==========  ==========================================================
error               definite    when
==================  ==========  ==========================================================
not-leader          yes         no leader is known (after waiting 0.5 s for one), or a
                                forwarded request reached a node that is not the leader
cas-mismatch        yes         the cas found another value (the message says which)
bad-request         yes         a malformed request
unavailable         yes         the leader is known but a connection to it could not be
                                opened to forward the request (nothing was sent)
timeout             no (*)      the request's deadline (``--request-timeout-ms``) passed
                                before its outcome was known
connection-lost     no (*)      forwarding: the connection to the leader broke after sending
superseded          no          the write's log entry was replaced by another leader's
                                entry on this node; it may still commit from another log
internal            no          the node raised while handling the request
==================  ==========  ==========================================================

(*) a read changes nothing, so a failed read is always reported as definite.

Watches (``watch``, ``rewatch``, ``poll``; see ``watch``): a client watches a key prefix from
a revision (a log index) and polls every committed change in order; a broken watch is
registered again, on any node, after the last revision it saw.

Reads (and ``revision``) are linearizable by ReadIndex: the leader waits until an entry of
its term is committed, notes the commit index, confirms it still leads by a round of
heartbeats that a majority acknowledges (sent after the read arrived), waits until that index
is applied and answers from its state. Reads are not written to the log.

Followers forward reads, writes and cas to the leader they know (one hop: a forwarded
request is never forwarded again) and relay its reply; a forwarding failure after the
request was sent is indefinite. A forwarded request carries ``"forwarded": "<node>"`` and
``"timeout_ms"``, what is left of the forwarding node's deadline, which the leader keeps to.

Membership changes
------------------
Single-server changes, as in the Raft thesis (ch. 4; ``membership``)::

    {"id": 7, "type": "add-server", "node": "n3", "timeout_ms": 5000}
    {"id": 7, "type": "remove-server", "node": "n3", "timeout_ms": 5000}
    {"id": 7, "ok": true, "value": {"voters": ["n1", "n2", "n3"], "index": 42}}

Sent to any node, forwarded to the leader; ``node`` must be in ``--peers`` (the addresses of
every node that may ever be a member). The configuration is a log entry (``{"op": "config",
"voters": [...]}``) in force on each node once appended, committed or not, and dropped with
its entry if a new leader truncates it; persisted with the log and so restored by a restart.
With no such entry a node is in the initial configuration: every ``--peers`` member, or none
for a node started on an empty data directory holding an empty file ``join``, to be added
(it never campaigns, as no node that is
not a voter in its own configuration does). The leader accepts a change only once an entry of
its term and the last configuration are committed (else ``change-in-progress``, definite):
one change in flight. ``add-server`` first catches the node up as a non-voting learner (the
leader replicates to it; up to 10 rounds, until one takes less than an election timeout; else
``timeout``, definite: not added), then appends the configuration with it as a voter; both
answer once the new configuration is committed, counted by its own voters (``timeout``,
indefinite, if not in time: asking again is safe, a change already made is answered ok). A
leader removing itself keeps leading, without counting itself, until the change is
committed, then steps down. Quorums (commit, votes, ReadIndex) count the voters of the node's
configuration only.

Seeded bugs (``--bug NAME``, repeatable) and the faults that expose them
-------------------------------------------------------------------------
``stale-read``
    The leader answers reads from its local state without confirming it still leads.
    Exposed by a partition that isolates the leader (or any minority holding it): the
    majority elects a new leader and accepts writes while the old one, which does not know
    it was deposed, keeps answering old values: a linearizability violation on reads.
``early-ack``
    The leader counts its own durable copy as a majority, so a write or cas is acknowledged
    (and applied) once it is in the leader's own log. Exposed by a partition isolating the
    leader (it keeps acknowledging writes that the majority's new leader overwrites), or by
    killing the leader right after acknowledgments: acknowledged writes are lost.
``no-fsync``
    Term, vote and log are written to the kernel but never fsynced (as a store that trusts
    the page cache), so a kill -9 loses nothing and a power cut loses everything the kernel
    had not yet written back. Exposed by the ``lose-unfsynced`` fault on one node at a time
    (suites/raft-lose-unfsynced.yaml): a node that acknowledged entries comes back without
    them, and with term 0 and no vote, so a new majority can form without them and
    acknowledged writes vanish. Kills alone never show it.
``vote-twice``
    A node grants its vote to any candidate of its current term whose log is up to date,
    even if it already voted in that term, so two candidates of one term can both win:
    two nodes' ``led_terms`` contain the same term; both leaders keep leading (each rejects
    the other's AppendEntries), acknowledge writes and answer reads from diverging logs.
    Needs two candidates of one term, which faults make by starting elections on nodes
    that cannot hear each other, or at the same moment: majorities-ring and bridge
    partitions (on 5 nodes in network namespaces, 60 s of rings gave 3 such terms) and
    packet loss; pausing every node, or all followers, and resuming them together (about
    half, and a third, of such rounds); the first election after all nodes start at once.
    Killing or pausing only the leader rarely does it (a split vote is needed: a few %).
``count-new-member-early``
    ``add-server`` makes the node a voter at once, without the learner phase, and the leader
    counts it as holding every entry it has sent it, acknowledged or not, for the rest of its
    term. A member added back empty then counts in the quorum before it has caught up, and
    while it cannot be reached: exposed on 3 nodes by isolating the leader that added it
    (partition shape ``leader``) after the membership fault's add: it commits alone (itself
    and the unreachable new member are two of three) while the other two elect a new leader;
    its acknowledged writes are lost at the heal. ``suites/raft-membership.yaml``.
``watch-resume-now``, ``watch-before-commit``, ``watch-rearm-late``
    The watches' bugs: a resumed watch that starts from now (a gap after a kill or a pause of
    its node), events delivered once appended rather than committed (events for writes the
    next leader replaces, when the leader is isolated), a one-shot watch re-armed by the
    next poll at the current revision (changes between two polls missed, no fault needed).
    ``watch`` describes each.
"""

from .flags import FLAGS
from .node import BUGS, LEADER, LEADER_WAIT, RaftNode

__all__ = ["BUGS", "FLAGS", "LEADER", "LEADER_WAIT", "RaftNode"]
