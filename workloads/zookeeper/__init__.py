"""ZooKeeper (Debian's ``zookeeper``, 3.8, Java): the ``zookeeper`` system (``ZOOKEEPER``) and
its clients through kazoo.

- ``system``: ``ZooKeeperSystem``, an ensemble of one server per node, its options
  (``ZooKeeperOptions``); membership changes by dynamic reconfiguration (the ``membership``
  fault) and each member's own state (the ``members`` checker).
- ``fourletter``: ``four_letter``, ``server_mode``, ``server_zxid`` (``srvr`` and the other
  four-letter commands, no session needed).
- ``reconfig``: the superuser session, ``/zookeeper/config`` and ``reconfig`` requests.
- ``members``: every server's tree read through a session pinned to it at one zxid.
- ``client``: ``ZooKeeperClient``, the register workload (cas as a get, then a set with the
  version read), and ``bounded``, which the recipe clients use.
- ``lock``: ``ZooKeeperLockClient``, kazoo's Lock recipe, fenced or trusted as it is.
- ``queue``: ``ZooKeeperQueueClient``, kazoo's LockingQueue recipe (at-least-once).

Every client is made with the system (``SystemInfo.clients[workload](spec, options,
system)``) and asks it where its node's server listens, whether to sync before reads and its
session timeout.

What ZooKeeper promises (https://zookeeper.apache.org/doc/r3.8.0/zookeeperProgrammers.html,
"Consistency Guarantees"): writes are linearizable; reads are sequentially consistent, served
by the server a client is connected to from its own state, and ZooKeeper does not guarantee
that two clients see the same view at the same time (the internals guide: reads are not
linearizable, they may return stale data); a client that needs the latest data calls ``sync``
first. Within a session a client "will never see an older view of the system": the register
client's status claims sequential consistency and read-your-writes (``client.MODELS``), which
the ``promises`` checker checks; a process is one session (an op that finds its session
expired completes ``info``, and the runner starts a new process with a new session). So with
``options: {sync: false}`` a checker that reports stale reads has found the test asking for
more than ZooKeeper promises. With ``sync: true`` reads do what ZooKeeper
tells a client that must see the latest data to do, so an anomaly is worth a bug report;
strictly, even sync + read is not a promised linearizable read (sync is not a quorum round: a
leader about to lose its quorum, or paused and just resumed, answers it from its own state;
suites/zookeeper.yaml's zookeeper-sync-pause has found such stale reads), which the status
note says. The ``promises`` checker (``checkers/promises.py``) writes this into results.json.

Clocks: the JVM reads the wall clock through libc (``clock_gettime``), so libfaketime reaches
it and clock faults apply. ZooKeeper 3.8 measures session expiry, tick and sync timeouts with
``System.nanoTime`` (``Time.currentElapsedTime``, CLOCK_MONOTONIC), which the clock nemesis
leaves alone by default, so a stepped wall clock should not expire sessions nor depose a
leader: zookeeper-sync in suites/zookeeper.yaml injects clock faults and expects valid, and
tests/workloads/test_zookeeper.py checks a session and the leader through an hour's step.
"""

from __future__ import annotations

from harness.registry import SystemInfo
from workloads.zookeeper import client, lock, queue
from workloads.zookeeper.client import ZooKeeperClient, ZooKeeperRegisterOptions, bounded
from workloads.zookeeper.lock import ZooKeeperLockClient, ZooKeeperLockOptions, token_of
from workloads.zookeeper.queue import ZooKeeperQueueClient, ZooKeeperQueueOptions
from workloads.zookeeper.system import (
    DEFAULT_PORT,
    JAVA,
    ZOOKEEPER_JAR,
    ZooKeeperOptions,
    ZooKeeperSystem,
    four_letter,
    server_mode,
)

__all__ = [
    "JAVA",
    "ZOOKEEPER",
    "ZOOKEEPER_JAR",
    "ZooKeeperClient",
    "ZooKeeperLockClient",
    "ZooKeeperLockOptions",
    "ZooKeeperOptions",
    "ZooKeeperQueueClient",
    "ZooKeeperQueueOptions",
    "ZooKeeperRegisterOptions",
    "ZooKeeperSystem",
    "bounded",
    "four_letter",
    "server_mode",
    "token_of",
]

ZOOKEEPER = SystemInfo(
    name="zookeeper",
    description="ZooKeeper 3.8 (Debian zookeeper, Java), one server per node; register through "
    "kazoo, cas as a get then a set with the version read. Promises linearizable writes and "
    "sequentially consistent reads, and read-your-writes within a session (a process): with "
    "workload options {sync: false} reads may be stale by design, so stale reads found then "
    "are the test asking for more than ZooKeeper promises. Also kazoo's Lock recipe (lock "
    "workload, options {fencing: true|false}) and LockingQueue (queue workload, at least once)",
    make=ZooKeeperSystem.make,
    clients={"register": client.make_client, "lock": lock.make_client, "queue": queue.make_client},
    options=ZooKeeperOptions,
    client_options={
        "register": ZooKeeperRegisterOptions,
        "lock": ZooKeeperLockOptions,
        "queue": ZooKeeperQueueOptions,
    },
    default_port=DEFAULT_PORT,
    checkers=("promises", "members", "versions"),
    final_ops=("status",),
    # the server's jars and a headless JRE: Debian's zookeeper package itself would bring the
    # full default-jre (GTK, X11, Mesa: 156 packages, ~550 MB) and a log4j configuration this
    # system writes for itself
    node_packages=("libzookeeper-java", "default-jre-headless"),
    # dynamic reconfiguration: reconfig -remove / -add through a member (system.py)
    offers={"membership": ("remove", "replace")},
)
