"""The fixed paths the backends use, each defined here once.

Paths on this machine (the controller), each overridable by an environment variable, read
when the path is needed (so a test or a second installation can point them elsewhere):

- ``SPLITBRAIN_RUN_DIR`` (default ``/run/splitbrain``): the prefix locks of live clusters
  (``<prefix>.lock``), the lock serializing cluster creation (``create.lock``) and node image
  builds (``image.lock``), and the records of live ssh runs (``<prefix>.ssh.json``).
  ``splitbrain clean`` only sees the runs whose controller used the same directory.
- ``SPLITBRAIN_CACHE_DIR`` (default ``/var/cache/splitbrain``): the ``.deb`` files the host's
  apt downloads for node images with a system's packages (``debs/``), kept for later builds.
- ``SPLITBRAIN_BUILD_DIR`` (default ``/var/tmp``): where node image builds make their work
  directories (``splitbrain-rootfs-*``: a debootstrapped root filesystem, downloaded
  ``.deb`` files); ``splitbrain clean`` removes those a killed build left.

A path on the ssh backend's hosts, also overridable:

- ``SPLITBRAIN_SSH_WORKDIR`` (default ``/var/tmp/splitbrain``): the root of the nodes'
  default workdirs there (``<root>/<prefix>/<node>``); a host's own ``workdir`` wins.

Paths inside the Docker node image (``clusters.image``) are part of the image, not of this
machine, and are not overridable: ``NODE_WORKDIR``, ``NODE_SHIM``, ``NODE_PATTERNS``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "BUILD_DIR_ENV",
    "CACHE_DIR_ENV",
    "NODE_PATTERNS",
    "NODE_SHIM",
    "NODE_WORKDIR",
    "RUN_DIR_ENV",
    "SSH_WORKDIR_ENV",
    "build_dir",
    "cache_dir",
    "run_dir",
    "ssh_workdir",
]

RUN_DIR_ENV = "SPLITBRAIN_RUN_DIR"
CACHE_DIR_ENV = "SPLITBRAIN_CACHE_DIR"
BUILD_DIR_ENV = "SPLITBRAIN_BUILD_DIR"
SSH_WORKDIR_ENV = "SPLITBRAIN_SSH_WORKDIR"

#: the nodes' workdir inside a container of the node image
NODE_WORKDIR = "/var/lib/splitbrain"
#: the libfaketime sleep shim inside the node image (``clusters.clock``)
NODE_SHIM = "/usr/local/lib/splitbrain/libsplitbrain-sleepfix.so"
#: the reference patterns inside the node image
NODE_PATTERNS = "/opt/splitbrain/patterns"


def run_dir() -> Path:
    """Locks and records of live runs: ``$SPLITBRAIN_RUN_DIR``, else ``/run/splitbrain``."""
    return Path(os.environ.get(RUN_DIR_ENV) or "/run/splitbrain")


def cache_dir() -> Path:
    """Downloads kept between builds: ``$SPLITBRAIN_CACHE_DIR``, else
    ``/var/cache/splitbrain``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or "/var/cache/splitbrain")


def build_dir() -> Path:
    """The parent of image build work directories: ``$SPLITBRAIN_BUILD_DIR``, else
    ``/var/tmp``."""
    return Path(os.environ.get(BUILD_DIR_ENV) or "/var/tmp")


def ssh_workdir() -> str:
    """The root of the default workdirs on ssh hosts (a path there, not here):
    ``$SPLITBRAIN_SSH_WORKDIR``, else ``/var/tmp/splitbrain``."""
    return os.environ.get(SSH_WORKDIR_ENV) or "/var/tmp/splitbrain"
