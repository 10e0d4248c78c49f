"""A base image with a system's Debian packages installed (``etcd-server``, ``redis-server``..).

``ensure_packages_image(client, parent, packages)`` returns the tag of an image made from the
base image ``parent`` (``clusters.image.build`` puts the node layers on top of it) with
``packages`` installed, building it when it is missing:

1. the parent's ``/var/lib/dpkg/status`` and ``os-release`` are read from a container that
   is created and never started; the parent must be the Debian release the host's apt
   serves (its ``VERSION_CODENAME``), since the host resolves and downloads the packages;
2. the host's apt resolves ``packages`` against that status (so only what the parent lacks,
   no Recommends) and downloads the ``.deb`` files into ``deb_cache()``
   (``$SPLITBRAIN_CACHE_DIR/debs``: ``/var/cache/splitbrain/debs``), where a later build
   finds them again; a package the host's apt does not know fails here, by name;
3. a container of the parent, with no network and the ``.deb`` files bind-mounted read-only,
   installs them with ``apt-get install`` on the local files (a ``policy-rc.d`` keeps the
   packages' services from starting), checks that each package is installed, and is
   committed as ``splitbrain-base:<first package>-<hash>``. No ``.deb`` stays in the image.

The image is cached by a hash of the parent's image id and the sorted package names (carried
in its tag and the label ``splitbrain.inputs``): an unchanged parent and package list is a
lookup. Newer versions on the mirror are not looked for while the cached image exists;
``force`` rebuilds. Images are labelled ``splitbrain.image=packages`` and
``splitbrain.packages=<names, comma-separated>``.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import subprocess
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clusters.image.common import (
    BASE_REPO,
    IMAGE_LABEL,
    INPUTS_LABEL,
    PACKAGES_LABEL,
    ImageError,
    Progress,
    digest,
    image_id,
    lock_file,
    new_work_dir,
    prune,
    remove_container,
    remove_work_dir,
)
from clusters.paths import NODE_WORKDIR, cache_dir

__all__ = ["clean_build_containers", "deb_cache", "ensure_packages_image", "packages_tag"]

#: the label of install containers (value ``build``), so that clean finds a killed build's
BUILD_LABEL = IMAGE_LABEL
DEBS_IN_CONTAINER = "/tmp/splitbrain-debs"
BUILD_TIMEOUT = 1200.0
_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")

# Runs inside a container of the parent image, with no network; "$@" is the package list.
INSTALL_SCRIPT = f"""\
set -e
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
if ls {DEBS_IN_CONTAINER}/*.deb >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \\
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \\
    {DEBS_IN_CONTAINER}/*.deb
fi
rm -f /usr/sbin/policy-rc.d
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
for p in "$@"; do
  s=$(dpkg-query -W -f='${{db:Status-Status}}' "$p" 2>/dev/null || true)
  [ "$s" = installed ] || {{ echo "package $p is not installed in the image ($s)" >&2; exit 1; }}
done
"""


def deb_cache() -> Path:
    """Where the host's apt downloads the ``.deb`` files of node images, kept for later
    builds."""
    return cache_dir() / "debs"


def packages_tag(parent_id: str, packages: Sequence[str]) -> tuple[str, str]:
    """(tag, digest) of the image of ``packages`` on the image whose id is ``parent_id``."""
    names = sorted(set(packages))
    inputs = digest([b"packages-v1", parent_id.encode(), "\n".join(names).encode()])
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", names[0])[:40]
    return f"{BASE_REPO}:{slug}-{inputs[:12]}", inputs


def ensure_packages_image(
    client: Any, parent: str, packages: Sequence[str], *, force: bool, say: Progress
) -> str:
    """The tag of ``parent`` with the Debian ``packages`` installed (built if missing or when
    ``force``). Raises ImageError naming the package or the step that failed."""
    bad = [p for p in packages if not isinstance(p, str) or not _PACKAGE_RE.match(p)]
    if bad:
        raise ImageError(f"not Debian package names: {bad!r} (expected e.g. 'etcd-server')")
    names = sorted(set(packages))
    parent_id = image_id(client, parent)
    if parent_id is None:
        raise ImageError(f"the parent image {parent} is not on this machine")
    tag, inputs = packages_tag(parent_id, names)
    if not force and image_id(client, tag) is not None:
        return tag
    t = time.monotonic()
    say(f"building {tag}: {parent} with {', '.join(names)}")
    status, parent_release = _parent_files(client, parent)
    host_release = _os_release_codename(Path("/etc/os-release").read_text(errors="replace"))
    if parent_release != host_release:
        raise ImageError(
            f"cannot install {', '.join(names)} into {parent}: it is Debian "
            f"{parent_release or '(unknown)'} and this host's apt serves "
            f"{host_release or '(not Debian)'}"
            "; build the node image with `splitbrain image build --base debootstrap`, which "
            "makes it from the host's mirror"
        )
    work = new_work_dir()
    container = f"splitbrain-build-{inputs[:12]}"
    try:
        debs = _download(names, status, work, say)
        say(f"installing {len(debs)} .deb files into a container of {parent}")
        _install_and_commit(
            client,
            parent,
            names,
            work / "debs",
            container,
            tag,
            labels={IMAGE_LABEL: "packages", INPUTS_LABEL: inputs, PACKAGES_LABEL: ",".join(names)},
        )
    finally:
        remove_container(client, container)
        remove_work_dir(work)
    prune(client, "packages", keep=tag, packages=",".join(names))
    size = client.api.inspect_image(tag).get("Size", 0) / 1e6
    say(f"image {tag} built in {time.monotonic() - t:.1f}s ({size:.0f} MB)")
    return tag


def clean_build_containers(client: Any) -> list[str]:
    """Remove the install containers of killed builds (none while a build runs: it holds the
    build lock); returns a line per container removed."""
    path = lock_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []
        try:
            removed = []
            for c in client.api.containers(all=True, filters={"label": f"{BUILD_LABEL}=build"}):
                remove_container(client, c["Id"])
                removed.append(f"build container {c['Names'][0].lstrip('/')}")
            return removed
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- steps --------------------------------------------------------------------------------------


def _parent_files(client: Any, parent: str) -> tuple[bytes, str]:
    """(dpkg status, VERSION_CODENAME) of the image ``parent``, read without starting it."""
    c = client.api.create_container(parent, command=["true"], network_disabled=True)
    try:
        status = _read_file(client, c["Id"], "/var/lib/dpkg/status")
        try:  # /etc/os-release is usually a symlink to this one
            release = _read_file(client, c["Id"], "/usr/lib/os-release").decode(errors="replace")
        except ImageError:
            release = _read_file(client, c["Id"], "/etc/os-release").decode(errors="replace")
    finally:
        client.api.remove_container(c["Id"], force=True)
    return status, _os_release_codename(release)


def _download(names: list[str], status: bytes, work: Path, say: Progress) -> list[Path]:
    """Resolve ``names`` with the host's apt against the parent's dpkg ``status``, download
    the .deb files into ``deb_cache()`` and hard-link (or copy) them into ``work/debs``."""
    cache = deb_cache()
    state = work / "dpkg"
    state.mkdir()
    (state / "status").write_bytes(status)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "partial").mkdir(exist_ok=True)
    opts = [
        "-o", f"Dir::State::status={state / 'status'}",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Install-Recommends=false",
    ]  # fmt: skip
    # --print-uris leaves out what the archive directory already holds: ask with an empty one
    (work / "empty" / "partial").mkdir(parents=True)
    empty = ["-o", f"Dir::Cache::archives={work / 'empty'}/"]
    resolve = ["apt-get", "install", "-qq", "--print-uris", *opts, *empty, *names]
    try:
        uris = _apt(resolve, names, "resolving")
    except ImageError:
        # a fresh host may have no package lists yet (or old ones): refresh them once
        _apt(["apt-get", "update", "-qq"], names, "refreshing the package lists for")
        uris = _apt(resolve, names, "resolving")
    opts += ["-o", f"Dir::Cache::archives={cache}/"]
    files = [line.split()[1] for line in uris.splitlines() if line.startswith("'")]
    missing = [f for f in files if not (cache / f).is_file()]
    if missing:
        t = time.monotonic()
        download = ["apt-get", "install", "-y", "-qq", "--download-only", *opts, *names]
        _apt(download, names, "downloading")
        say(f"downloaded {len(missing)} of {len(files)} .deb files in {time.monotonic() - t:.1f}s")
    out = work / "debs"
    out.mkdir()
    debs = []
    for f in files:
        src = cache / f
        if not src.is_file():
            raise ImageError(f"apt-get did not download {f} (for {', '.join(names)}) into {cache}")
        dst = out / f
        try:
            os.link(src, dst)
        except OSError:
            dst.write_bytes(src.read_bytes())
        debs.append(dst)
    return debs


def _apt(argv: list[str], names: list[str], step: str) -> str:
    try:
        p = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"},
            timeout=BUILD_TIMEOUT,
        )
    except FileNotFoundError:
        raise ImageError(
            f"{step} {', '.join(names)} for the node image needs the host's apt-get (Debian)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ImageError(
            f"{step} {', '.join(names)} with the host's apt took over {BUILD_TIMEOUT:g}s"
        ) from None
    if p.returncode != 0:
        err = "\n".join((p.stderr or p.stdout).strip().splitlines()[-10:])
        raise ImageError(
            f"{step} {', '.join(names)} with the host's apt failed (exit {p.returncode}): {err}\n"
            "(a package the host's apt does not know or cannot fetch: check its name, and run "
            "`apt-get update` if the package lists are missing or old)"
        )
    return p.stdout


def _install_and_commit(
    client: Any,
    parent: str,
    names: list[str],
    debs: Path,
    container: str,
    tag: str,
    *,
    labels: dict[str, str],
) -> None:
    remove_container(client, container)  # a killed build's leftover
    host_config = client.api.create_host_config(
        network_mode="none", binds={str(debs): {"bind": DEBS_IN_CONTAINER, "mode": "ro"}}
    )
    client.api.create_container(
        parent,
        command=["sh", "-c", INSTALL_SCRIPT, "sh", *names],
        name=container,
        host_config=host_config,
        labels={BUILD_LABEL: "build"},
    )
    client.api.start(container)
    try:
        code = client.api.wait(container, timeout=BUILD_TIMEOUT)["StatusCode"]
    except Exception as e:  # noqa: BLE001 - a timeout or the engine gone: both end the build
        raise ImageError(f"installing {', '.join(names)} into {parent}: {e}") from e
    if code != 0:
        logs = client.api.logs(container, stdout=True, stderr=True).decode(errors="replace")
        tail = "\n".join(logs.strip().splitlines()[-25:])
        raise ImageError(
            f"installing {', '.join(names)} into a container of {parent} failed "
            f"(exit {code}); last lines:\n{tail}"
        )
    repo, _, tagname = tag.partition(":")
    changes = ['CMD ["sleep", "infinity"]', f"WORKDIR {NODE_WORKDIR}"]
    changes += [f'LABEL {k}="{v}"' for k, v in labels.items()]
    client.api.commit(container, repository=repo, tag=tagname, changes=changes)


# -- helpers ------------------------------------------------------------------------------------


def _read_file(client: Any, container: str, path: str) -> bytes:
    import docker.errors

    try:
        stream, _ = client.api.get_archive(container, path)
    except docker.errors.NotFound:
        raise ImageError(f"the image has no {path}: not a Debian image") from None
    raw = io.BytesIO(b"".join(stream))
    with tarfile.open(fileobj=raw, mode="r|") as tar:
        for member in tar:
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None:
                return f.read()
    raise ImageError(f"{path} in the image is not a file")


def _os_release_codename(text: str) -> str:
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "VERSION_CODENAME":
            return value.strip().strip('"')
    return ""
