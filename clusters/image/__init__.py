"""The Docker node image: a base (a slim Python image, or a Debian root filesystem made with
debootstrap where no image can be pulled) with iptables, iproute2, procps, libfaketime, the
libfaketime sleep shim and the project's reference patterns. ``ensure_image()`` builds it once
and reuses it while its inputs stay the same; ``splitbrain image build`` calls it.

The modules depend one way: ``build`` (the node layers, the Debian base) uses ``packages`` (a
base with a system's Debian packages), and both use ``common``."""

from clusters.image.build import (
    DEBOOTSTRAP_BASE,
    DEFAULT_BASE,
    NODE_PYTHON,
    ensure_image,
    host_mirror,
)
from clusters.image.common import IMAGE_REPO, ImageError, clean_build_leftovers
from clusters.image.packages import clean_build_containers
from clusters.paths import NODE_SHIM

__all__ = [
    "DEBOOTSTRAP_BASE",
    "DEFAULT_BASE",
    "IMAGE_REPO",
    "NODE_PYTHON",
    "NODE_SHIM",
    "ImageError",
    "clean_build_containers",
    "clean_build_leftovers",
    "ensure_image",
    "host_mirror",
]
