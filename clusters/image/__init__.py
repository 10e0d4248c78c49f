"""The Docker node image: a base (a slim Python image, or a Debian root filesystem made with
debootstrap where no image can be pulled) with iptables, iproute2, procps, libfaketime, the
libfaketime sleep shim and the project's reference patterns. ``ensure_image()`` builds it once
and reuses it while its inputs stay the same; ``splitbrain image build`` calls it."""

from clusters.image.build import (
    DEBOOTSTRAP_BASE,
    DEFAULT_BASE,
    IMAGE_REPO,
    NODE_PYTHON,
    NODE_SHIM,
    ImageError,
    clean_build_leftovers,
    ensure_image,
    host_mirror,
)

__all__ = [
    "DEBOOTSTRAP_BASE",
    "DEFAULT_BASE",
    "IMAGE_REPO",
    "NODE_PYTHON",
    "NODE_SHIM",
    "ImageError",
    "clean_build_leftovers",
    "ensure_image",
    "host_mirror",
]
