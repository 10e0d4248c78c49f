"""Leader and followers with high- and low-water marks: a replicated log, with seeded bugs.

Start a node (working directory: the directory that holds ``patterns/``)::

    python3 -m patterns.leaderfollower --id n1 --listen 0.0.0.0:7000 \\
        --peers n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000 \\
        --data /var/lib/log [--bug read-past-hwm ...] \\
        [--heartbeat-ms 50] [--election-ms 300-600] [--request-timeout-ms 1000]

One node leads (the primary) and appends every write to its log; it replicates the log to
the followers, and fails over when it is lost: the leader election, replication and
durability are the Raft store's (``patterns/raft``, whose node this one extends). The
patterns on top, as in Joshi's "Patterns of Distributed Systems":

- high-water mark (HWM): the highest index a majority holds (Raft's commit index). Only
  entries at or below it are visible: a write is acknowledged once the HWM passes its
  entry, and the register state is built from entries below it. Followers learn the HWM
  from the leader's heartbeats, so a follower's HWM trails the leader's but is never ahead
  of it; an entry below any node's HWM is in every future leader's log.
- low-water mark (LWM): entries at or below it are truncated (retired, as a log retention
  or compaction would): never served again. It moves through the log (a ``truncate`` entry)
  so every node moves it at the same index. This reference keeps the truncated entries on
  disk, since without snapshots a lagging follower may still need them; only reads stop.
- failover: when the leader is lost the followers elect a new one, whose log holds every
  entry below the old HWM; entries above it may be lost, which is why they are invisible.

Client protocol
---------------
The Raft store's (newline-delimited JSON over TCP, one request at a time per connection,
``id`` copied into the reply), with these requests::

    {"type": "write", "key": "x", "value": 3}   -> {"ok": true, "value": {"index": 42}}
    {"type": "read", "key": "x"}                 -> {"ok": true, "value": 3}
    {"type": "cas", "key": "x", "from": 3, "to": 4}   -> {"value": {"index": 43}}
    {"type": "read-log", "from": "tail", "count": 8}
        -> {"ok": true, "value": {"node": "n2", "hwm": 57, "lwm": 20,
            "entries": [[50, 3, ["w", "x", 3]], ..., [57, 3, ["t", 20]]]}}
    {"type": "truncate", "keep": 100}   -> {"ok": true, "value": {"upto": 140, "index": 241}}
    {"type": "audit"}    -> every committed entry, truncated ones included, with hwm, lwm
    {"type": "status"}   -> the Raft status, plus "hwm" and "lwm"

Writes, cas, register reads and truncations go to the leader (followers forward them, one
hop); register reads are linearizable (ReadIndex). ``read-log`` is answered by the node
asked, from its own log: ``from: "tail"`` gives the newest visible entries, ``"head"`` the
oldest ones kept; entries are ``[index, term, command]`` with the command as
``["w", key, value]``, ``["c", key, from, to]``, ``["t", upto]`` (a truncation) or ``["n"]``
(a new leader's no-op). ``truncate`` moves the LWM to ``HWM - keep`` (never back) and
answers once the truncation entry is committed and applied, with its ``index``: a node
whose HWM is at least that index has moved its LWM too. ``audit`` is for checkers after a
test, not for clients. Errors are the Raft store's.

Seeded bugs (``--bug NAME``) and the faults that expose them
------------------------------------------------------------
``ack-before-replication``
    The primary acknowledges a write as soon as the entry is durable in its own log, before
    any follower has it. Exposed by cutting the leader off (partition shapes ``leader``,
    ``primaries``): it keeps acknowledging writes that never reach a majority; the others
    elect a new leader, and on healing the old leader's entries are replaced: acknowledged
    entries lost across the failover. Killing the leader right after an acknowledgement
    shows it too.
``read-past-hwm``
    ``read-log`` returns everything the node holds, up to its last index rather than its
    HWM. The node's reply shows entries above the HWM it reports whenever entries are in
    flight (no fault needed); a partition that isolates the leader, or the leader with one
    follower, makes them entries that are later replaced: readers saw data that was never
    committed.
``lwm-leader-only``
    Only the node that leads when a truncation entry is applied moves its LWM; followers
    skip it, taking it for the leader's housekeeping. Follower reads of the head of the log
    serve truncated entries (no fault needed), and after a failover (partition ``leader``,
    kill ``primaries``) the new leader does too.
"""

from .node import BUGS, LogNode

__all__ = ["BUGS", "LogNode"]
