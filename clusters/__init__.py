"""Node backends: the contracts (Node, Cluster, NetworkControl), the local backend (network
namespaces on this machine) and per-node clock offsets (libfaketime)."""

from clusters.base import Cluster, CommandFailed, Completed, NetworkControl, Node, SetupError
from clusters.clock import faketime_env
from clusters.local import LocalCluster, LocalNode

__all__ = [
    "Cluster",
    "CommandFailed",
    "Completed",
    "LocalCluster",
    "LocalNode",
    "NetworkControl",
    "Node",
    "SetupError",
    "faketime_env",
]
