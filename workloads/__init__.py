"""Systems under test and the clients and workloads that drive them.

What a plugin's system uses from here:

- the contracts (``workloads.system``): ``System`` (setup / teardown / log_files), the
  optional ``Killable``, ``Pausable``, ``HasPrimaries``, ``HasPorts``, and ``Client`` (open
  on a node, invoke an op, close), ``OpTimeouts`` for ops that may take longer than one
  timeout;
- ``BinarySystem`` (``workloads.binary``): the base for a system that is one binary with a
  config file per node and a health check (etcd, Redis, ZooKeeper, NATS all are);
- ``AsyncClient`` (``workloads.asyncio_client``): runs a client written with ``async def``
  on an event loop of its own;
- ``PatternSystem`` (``workloads.daemon``): a reference pattern of ``patterns/`` as a System.

A client never reads module-level state: it is made with its System and asks it where to
connect (``system.port_of(node)``, ``system.endpoint(node)``).
"""

from __future__ import annotations

from workloads.asyncio_client import AsyncClient
from workloads.binary import BinarySystem
from workloads.daemon import PatternSystem
from workloads.system import (
    Client,
    HasPorts,
    HasPrimaries,
    Killable,
    OpTimeouts,
    Pausable,
    System,
)

__all__ = [
    "AsyncClient",
    "BinarySystem",
    "Client",
    "HasPorts",
    "HasPrimaries",
    "Killable",
    "OpTimeouts",
    "Pausable",
    "PatternSystem",
    "System",
]
