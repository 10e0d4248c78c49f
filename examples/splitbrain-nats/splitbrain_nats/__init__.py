"""splitbrain-nats: NATS JetStream's key-value store under splitbrain, as a plugin package.

It registers three things, each by an entry point of ``pyproject.toml`` naming one info
object below (the entry point's name is the info's ``name``):

- the system ``nats`` (SYSTEM): a NATS cluster with JetStream, one server per node, and a
  replicated key-value bucket; it runs the built-in ``register`` workload;
- the checker ``nats-revisions`` (CHECKER): the revisions the bucket returns never go back
  for one client, and name one value each;
- the fault ``nats-pause-leader`` (FAULT): pause the leader of the bucket's stream (or the
  JetStream meta leader), as the cluster reports it.

``docs/plugins.md`` in splitbrain's repository walks through every file.
"""

from __future__ import annotations

from harness.registry import CheckerInfo, FaultInfo, SystemInfo

from splitbrain_nats import checker, client, fault
from splitbrain_nats.system import DEFAULT_PORT, NatsOptions, NatsSystem

__all__ = ["CHECKER", "FAULT", "SYSTEM"]

SYSTEM = SystemInfo(
    name="nats",
    description="a NATS JetStream cluster (Debian's nats-server), one server per node, and a "
    "key-value bucket replicated on every node",
    make=NatsSystem.make,
    clients={"register": client.make_client},
    options=NatsOptions,
    default_port=DEFAULT_PORT,
    checkers=("nats-revisions",),
    node_packages=("nats-server",),
    # refused when a suite is read, with this reason, rather than run to no effect
    unreachable={
        "clock": "nats-server is a Go program: it reads the clock through the vDSO, not libc",
        "drift": "nats-server is a Go program: it reads the clock through the vDSO, not libc",
    },
)

CHECKER = CheckerInfo(
    name="nats-revisions",
    description="the bucket's revisions never go back for one client and name one value "
    "each, and no two updates succeed over one revision",
    make=lambda options: checker.RevisionsChecker(),
)

FAULT = FaultInfo(
    name="nats-pause-leader",
    description="pause (SIGSTOP) the server leading the bucket's stream, or the JetStream meta "
    "leader, as the cluster reports it; resume it at the heal",
    make=fault.make,
    starts=("pause-nats-leader",),
    heal="resume-nats-leader",
    pick=fault.pick,
    options=fault.PauseLeaderOptions,
    color="rgba(39,170,225,.35)",
    heal_rank=0,
)
