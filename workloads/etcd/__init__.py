"""etcd (Debian's ``etcd-server``, 3.4): the ``etcd`` system (``ETCD``) and its clients.

- ``system``: ``EtcdSystem``, one member per node, and its options (``EtcdOptions``).
- ``api``: the v3 JSON gateway as the clients use it (``post``, ``b64``, ``EtcdError``,
  ``member_status``, ``status_completion``).
- ``client``: ``EtcdClient``, the register workload (read, write, cas as a txn on the value).
- ``lock``: ``EtcdLockClient``, the lock workload over etcd's lock API with leases, plain or
  fenced by the lock key's revision.
- ``watch``: the ``watch`` workload (``WATCH``) and ``EtcdWatchClient``, watch streams
  checked by ``checkers/watch.py``.
- ``members``: each member's own state after the final heal (applied index, revision, every
  key and HashKV at one revision), for the ``members`` checker (``EtcdSystem.member_states``).

Every test of etcd also gets the ``members`` checker (members that disagree after the final
heal) and the ``versions`` checker (the revisions etcd gave each write and cas, recorded by
the register client) unless its suite names its own checkers.

Every client is made with the system (``SystemInfo.clients[workload](spec, options,
system)``) and asks it where its node's member listens (``system.endpoint(node)``).

What etcd promises (https://etcd.io/docs/v3.4/learning/api_guarantees/): every KV operation
is strictly serializable (linearizable for one key) when reads are linearizable, the
default; a ``serializable`` read is served by the member it reaches from its local state,
without consensus, and "may access stale data with respect to quorum" by design. So with
``options: {reads: serializable}`` a checker that reports stale reads has found the test asking
for more than etcd promises, not a bug in etcd; with linearizable reads, any anomaly is a
broken promise. What serializable reads keep, for a client that stays on one member (each
client here talks to its node's member only): a member serves a prefix of the one Raft log,
so "a client reads the same events in the same order" (sequential consistency, in etcd
v3.3's guarantees); the register client's status claims it (``client.MODELS``), and the
``promises`` checker checks it. The ``promises``
checker (``checkers/promises.py``) writes this into results.json next to the verdict.

libfaketime does not reach etcd (a Go program reads the clock through the vDSO, not libc), so
clock faults do nothing to it: its suite leaves them out rather than pretend.
"""

from __future__ import annotations

from harness.registry import SystemInfo
from workloads.etcd import client, lock, watch
from workloads.etcd.api import EtcdError, member_status, status_completion
from workloads.etcd.client import EtcdClient, EtcdRegisterOptions
from workloads.etcd.lock import EtcdLockClient, EtcdLockOptions
from workloads.etcd.system import DEFAULT_PORT, ETCD_BINARY, READ_MODES, EtcdOptions, EtcdSystem
from workloads.etcd.watch import WATCH, EtcdWatchClient, EtcdWatchOptions, WatchOps, WatchOptions

__all__ = [
    "ETCD",
    "ETCD_BINARY",
    "READ_MODES",
    "WATCH",
    "EtcdClient",
    "EtcdError",
    "EtcdLockClient",
    "EtcdLockOptions",
    "EtcdOptions",
    "EtcdRegisterOptions",
    "EtcdSystem",
    "EtcdWatchClient",
    "EtcdWatchOptions",
    "WatchOps",
    "WatchOptions",
    "member_status",
    "status_completion",
]

ETCD = SystemInfo(
    name="etcd",
    description="etcd 3.4 (Debian etcd-server), one member per node; register over the v3 JSON "
    "gateway, cas as a txn on the value. Promises linearizable reads and writes by default; "
    "with options {reads: serializable} reads may be stale by design, so stale reads found "
    "then are the test asking for more than etcd promises. Also the lock workload (its lock "
    "API with leases; workload.options.fencing compares the lock's revision in every write) "
    "and watch (ordered, gap-free watch streams)",
    make=EtcdSystem.make,
    clients={
        "register": client.make_client,
        "lock": lock.make_client,
        "watch": watch.make_client,
    },
    options=EtcdOptions,
    client_options={
        "register": EtcdRegisterOptions,
        "lock": EtcdLockOptions,
        "watch": EtcdWatchOptions,
    },
    default_port=DEFAULT_PORT,
    checkers=("promises", "members", "versions"),
    final_ops=("status",),
    node_packages=("etcd-server",),
    unreachable={
        kind: "etcd is a Go program: it reads the clock through the vDSO, not libc, so "
        "libfaketime does not reach it and a clock fault would change nothing"
        for kind in ("clock", "drift")
    },
    offers={"membership": ("remove", "replace")},
)
