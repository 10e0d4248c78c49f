"""ZooKeeper's dynamic reconfiguration (3.5+), as the ``membership`` fault uses it.

Every server of an ensemble runs with ``reconfigEnabled=true`` and its ensemble in a dynamic
config file (``server.<id>=<address>:<quorum port>:<election port>:participant;<address>:<client
port>``), which each server rewrites as the ensemble changes. A change is the ``reconfig``
admin request (``reconfig -remove <id>`` / ``-add server.<id>=...``), sent through a session
with any member: the leader commits the new config through the old and the new quorum, and
refuses (``NewConfigNoQuorum``) a change whose new quorum is not connected and synced with it.
Reconfig is allowed only to a superuser (or with ``skipACL``, which would turn every ACL off):
each server starts with a superuser digest (``-Dzookeeper.DigestAuthenticationProvider.
superDigest``), and the admin session authenticates as that user.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "SUPER_PASSWORD",
    "SUPER_USER",
    "Ensemble",
    "admin_session",
    "kazoo_log",
    "ensemble_of",
    "read_ensemble",
    "reconfig",
    "server_line",
    "super_digest",
]

#: kazoo's own log: every dropped connection and reconnection, hundreds per chaos run; the
#: history already records what they did to the operations
kazoo_log = logging.getLogger("kazoo.splitbrain")
kazoo_log.setLevel(logging.ERROR)

SUPER_USER = "super"
#: the admin password of a test ensemble: it guards nothing but reconfig against a mistake
SUPER_PASSWORD = "splitbrain"
CONFIG_ZNODE = "/zookeeper/config"

#: server id -> its line's value (``<address>:<port>:<port>:participant;<address>:<port>``)
Ensemble = dict[int, str]


def super_digest(user: str = SUPER_USER, password: str = SUPER_PASSWORD) -> str:
    """``user:base64(sha1(user:password))``, the form the server's superDigest takes."""
    digest = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(digest).decode()}"


def server_line(
    server_id: int, address: str, quorum_port: int, election_port: int, client_port: int
) -> str:
    """The dynamic config's line for one participant, its client port included (3.5+ keeps
    client addresses in the dynamic config, not in ``clientPort``)."""
    return (
        f"server.{server_id}={address}:{quorum_port}:{election_port}:participant;"
        f"{address}:{client_port}"
    )


def ensemble_of(config: str) -> tuple[Ensemble, int | None]:
    """The servers of a config (``/zookeeper/config``'s text or a dynamic config file), and
    its version (hex in the text), if it says one."""
    servers: Ensemble = {}
    version = None
    for line in config.splitlines():
        key, _, value = line.strip().partition("=")
        if key.startswith("server."):
            servers[int(key.removeprefix("server."))] = value
        elif key == "version":
            version = int(value, 16)
    return servers, version


@contextmanager
def admin_session(host: str, port: int, *, timeout: float) -> Iterator[Any]:
    """A kazoo session with the server at ``host:port`` alone, authenticated as the
    superuser; raises (kazoo's timeout) when none starts within ``timeout`` seconds."""
    from kazoo.client import KazooClient

    zk = KazooClient(
        hosts=f"{host}:{port}",
        timeout=max(timeout, 4.0),
        randomize_hosts=False,
        logger=kazoo_log,
        auth_data=[("digest", f"{SUPER_USER}:{SUPER_PASSWORD}")],
    )
    try:
        zk.start(timeout=timeout)
        yield zk
    finally:
        try:
            zk.stop()
            zk.close()
        except Exception:  # noqa: BLE001 - a session to a dead server ends anyway
            pass


def read_ensemble(zk: Any, *, timeout: float) -> tuple[Ensemble, int | None]:
    """The ensemble as the leader last committed it: ``sync`` then ``/zookeeper/config``."""
    zk.sync_async(CONFIG_ZNODE).get(timeout=timeout)
    data, _ = zk.get_async(CONFIG_ZNODE).get(timeout=timeout)
    return ensemble_of(data.decode())


def reconfig(
    zk: Any, *, timeout: float, joining: str | None = None, leaving: str | None = None
) -> tuple[Ensemble, int | None]:
    """An incremental reconfig (``joining``: server lines, ``leaving``: ids, comma
    separated); the new ensemble. Raises kazoo's error (NewConfigNoQuorumError,
    ReconfigInProcessError, BadArgumentsError, a timeout) when it did not happen, or may not
    have."""
    data, _ = zk.reconfig_async(joining, leaving, None, -1).get(timeout=timeout)
    return ensemble_of(data.decode())
