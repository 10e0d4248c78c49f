"""Building the Docker node image, and the Debian base under it where no image can be pulled.

``ensure_image(base)`` returns the tag of a node image (``splitbrain-node:<hash>``) built
``FROM`` a base, with iptables, iproute2, procps, libfaketime, python3, the libfaketime sleep
shim (``NODE_SHIM``, compiled on the controller, see ``clusters.clock``) and the reference
patterns (``/opt/splitbrain/patterns``). The base is, in order:

- ``base`` as given (an image present locally or pullable); ``"debootstrap"`` forces the next;
- by default ``python:3.11-slim`` if present or pullable, else
- ``splitbrain-base:<suite>-<hash>``: a minimal Debian (``debootstrap --variant=minbase``,
  bookworm by default) made from the mirror the host's apt already uses (read from
  ``/etc/apt/sources.list*``), with the node packages included, and ``docker import``-ed. It
  needs root and ``debootstrap``; the packages are downloaded by the host, so building it
  needs no network inside containers.

Both images are cached by a hash of their inputs (the Dockerfile, the base image id, the shim,
the patterns; for the Debian base: suite, mirror, architecture, packages), carried in their
tag and in the label ``splitbrain.inputs``: an unchanged input set is a lookup, a changed
pattern rebuilds only the top layers. ``force`` rebuilds both. Superseded node images are
removed. Images are labelled ``splitbrain.image`` = ``node`` / ``base``.

A third-party system's Debian packages (``ensure_image(packages=[...])``, e.g. etcd-server)
make a third kind: the Debian base, then a layer with the packages installed from ``.deb``
files the host's apt downloaded (``splitbrain-base:<package>-<hash>``, see
``clusters.image.packages``), then the same node layers, tagged
``splitbrain-node:<package>-<hash>`` and labelled ``system``. A changed pattern rebuilds only
the node layers there too; the plain node image is not touched.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusters.clock import build_shim
from clusters.image.common import (
    BASE_REPO,
    IMAGE_LABEL,
    IMAGE_REPO,
    INPUTS_LABEL,
    PACKAGES_LABEL,
    ImageError,
    Progress,
    build_lock,
    digest,
    image_id,
    new_work_dir,
    prune,
    remove_work_dir,
)
from clusters.image.packages import ensure_packages_image
from clusters.paths import NODE_PATTERNS, NODE_SHIM, NODE_WORKDIR

__all__ = [
    "DEBOOTSTRAP_BASE",
    "DEFAULT_BASE",
    "NODE_PACKAGES",
    "NODE_PYTHON",
    "Mirror",
    "ensure_image",
    "host_mirror",
    "tree_digest",
]

DEFAULT_BASE = "python:3.11-slim"
DEBOOTSTRAP_BASE = "debootstrap"
DEFAULT_SUITE = "bookworm"
NODE_PACKAGES = ("python3", "iptables", "iproute2", "procps", "libfaketime")
NODE_PYTHON = "python3"
PATTERNS_DIR = Path(__file__).resolve().parents[2] / "patterns"

# Installs only what the base lacks: a debootstrap base has everything, a slim Python image
# lacks the network tools and libfaketime. Then checks that every tool the nodes use is there.
DOCKERFILE = """\
FROM {base}
RUN set -e; need=""; \\
    command -v iptables >/dev/null || need="$need iptables"; \\
    command -v ip >/dev/null || need="$need iproute2"; \\
    command -v ps >/dev/null || need="$need procps"; \\
    ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need="$need libfaketime"; \\
    command -v python3 >/dev/null || need="$need python3"; \\
    if [ -n "$need" ]; then \\
      apt-get update && DEBIAN_FRONTEND=noninteractive \\
        apt-get install -y --no-install-recommends $need && rm -rf /var/lib/apt/lists/*; \\
    fi; \\
    for c in sh python3 iptables ip ps kill setsid timeout tail; do \\
      command -v $c >/dev/null || {{ echo "the image lacks $c" >&2; exit 1; }}; \\
    done
COPY shim.so {shim}
COPY patterns {patterns}
ENV LANG=C.UTF-8
WORKDIR {workdir}
CMD ["sleep", "infinity"]
"""


@dataclass(frozen=True)
class Mirror:
    """A Debian archive from the host's apt configuration."""

    uri: str
    suite: str
    keyring: str | None
    source: str  # the file it was read from, or "default"


def ensure_image(
    base: str | None = None,
    *,
    packages: Sequence[str] = (),
    force: bool = False,
    client: Any = None,
    progress: Progress | None = None,
    suite: str = DEFAULT_SUITE,
) -> str:
    """The tag of the node image for ``base`` (None: the default slim Python image, falling
    back to a debootstrapped Debian ``suite``; ``"debootstrap"``: that Debian), building what
    is missing or stale, or everything when ``force``. Raises ImageError saying what failed.

    With ``packages`` (Debian package names, a third-party system's), the node layers go on
    a base with those packages installed (``clusters.image.packages``), tagged
    ``splitbrain-node:<first package>-<hash>``; the default base is then the debootstrapped
    Debian, made from the host's own mirror, since the host's apt downloads the packages for
    the base's release (checked). A change to the patterns rebuilds only the node layers."""
    say = progress or _stderr
    client = client or _docker()
    with build_lock(say):
        shim = _shim_bytes()
        if packages and base is None:
            base = DEBOOTSTRAP_BASE
        base_ref, base_id = _resolve_base(client, base, force=force, suite=suite, say=say)
        if packages:
            base_ref = ensure_packages_image(client, base_ref, packages, force=force, say=say)
            found = image_id(client, base_ref)
            if found is None:
                raise ImageError(f"the image {base_ref} vanished right after it was built")
            base_id = found
        return _node_layers(client, base_ref, base_id, shim, packages, force=force, say=say)


def _node_layers(
    client: Any,
    base_ref: str,
    base_id: str,
    shim: bytes,
    packages: Sequence[str],
    *,
    force: bool,
    say: Progress,
) -> str:
    """The tag of the node layers (tools check, shim, patterns) on ``base_ref``."""
    dockerfile = DOCKERFILE.format(
        base=base_ref, shim=NODE_SHIM, patterns=NODE_PATTERNS, workdir=NODE_WORKDIR
    )
    inputs = digest([dockerfile.encode(), base_id.encode(), shim, *tree_digest(PATTERNS_DIR)])
    names = ",".join(sorted(set(packages)))
    if names:
        slug = re.sub(r"[^A-Za-z0-9_.-]", "_", names.split(",")[0])[:40]
        tag = f"{IMAGE_REPO}:{slug}-{inputs[:12]}"
    else:
        tag = f"{IMAGE_REPO}:{inputs[:12]}"
    if not force and image_id(client, tag) is not None:
        if not names:
            _tag_latest(client, tag)
        return tag
    t = time.monotonic()
    say(f"building node image {tag} from {base_ref}")
    context = _context(dockerfile, shim)
    labels = {IMAGE_LABEL: "node", INPUTS_LABEL: inputs, "splitbrain.base": base_ref}
    if names:
        labels[IMAGE_LABEL] = "system"
        labels[PACKAGES_LABEL] = names
    log_lines: list[str] = []
    for chunk in client.api.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        labels=labels,
        rm=True,
        forcerm=True,
        decode=True,
        pull=False,
        nocache=force,
    ):
        if "stream" in chunk:
            log_lines.append(chunk["stream"])
        if "error" in chunk:
            tail = "".join(log_lines[-20:])
            raise ImageError(f"building {tag} failed: {chunk['error'].strip()}\n{tail}")
    if names:
        prune(client, "system", keep=tag, packages=names)
    else:
        _tag_latest(client, tag)
        prune(client, "node", keep=tag)
    say(f"node image {tag} built in {time.monotonic() - t:.1f}s")
    return tag


def host_mirror(suite: str = DEFAULT_SUITE, root: str = "/") -> Mirror:
    """The Debian mirror the host's apt uses for ``suite`` (or, failing that, for any suite
    of a Debian archive), from ``/etc/apt/sources.list`` and ``sources.list.d/*.list`` /
    ``*.sources``; ``deb.debian.org`` when the host has none."""
    entries: list[tuple[str, list[str], list[str], str | None, str]] = []
    etc = Path(root) / "etc/apt"
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for f in files:
        for uri, suites, comps, keyring in _one_line_entries(f):
            entries.append((uri, suites, comps, keyring, str(f)))
    for f in sorted((etc / "sources.list.d").glob("*.sources")):
        for uri, suites, comps, keyring in _deb822_entries(f):
            entries.append((uri, suites, comps, keyring, str(f)))
    debian = [e for e in entries if "main" in e[2] and re.search(r"/debian/?$", e[0])]
    for uri, suites, _, keyring, src in debian:
        if suite in suites:
            return Mirror(uri.rstrip("/"), suite, _existing(keyring), src)
    for uri, _, _, keyring, src in debian:
        return Mirror(uri.rstrip("/"), suite, _existing(keyring), src)
    default_keyring = _existing("/usr/share/keyrings/debian-archive-keyring.gpg")
    return Mirror("http://deb.debian.org/debian", suite, default_keyring, "default")


# -- the base -----------------------------------------------------------------------------------


def _resolve_base(
    client: Any, base: str | None, *, force: bool, suite: str, say: Progress
) -> tuple[str, str]:
    """(reference, image id) of the base to build on."""
    if base == DEBOOTSTRAP_BASE:
        return _debootstrap_base(client, suite, force=force, say=say)
    wanted = base or DEFAULT_BASE
    found = image_id(client, wanted)
    if found is None and base is None and not force:
        # A Debian base made on an earlier fallback serves as well, without a pull attempt.
        tag = _debootstrap_tag(suite)
        found = image_id(client, tag)
        if found is not None:
            return tag, found
    if found is None:
        found, why = _pull(client, wanted)
        if found is None:
            if base is not None:
                raise ImageError(
                    f"base image {base!r} is not on this machine and cannot be pulled ({why}); "
                    f"load it (docker load), or use --base {DEBOOTSTRAP_BASE} to build a Debian "
                    f"base with debootstrap"
                )
            say(
                f"{wanted} is not here and cannot be pulled ({why}); "
                f"building a Debian {suite} base with debootstrap instead"
            )
            return _debootstrap_base(client, suite, force=force, say=say)
    return wanted, found


def _debootstrap_base(client: Any, suite: str, *, force: bool, say: Progress) -> tuple[str, str]:
    mirror = host_mirror(suite)
    arch = _dpkg_arch()
    tag = _debootstrap_tag(suite)
    inputs = tag.rpartition("-")[2]
    found = image_id(client, tag)
    if found is not None and not force:
        return tag, found
    if os.geteuid() != 0:
        raise ImageError("building the Debian base with debootstrap needs root")
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
    )
    if debootstrap is None:
        raise ImageError(
            "the Debian base (needed where no base image can be pulled, and under every "
            "system with Debian packages, such as etcd) is made with debootstrap, which is "
            "not installed; install it (apt-get install debootstrap) or run ./setup --tests"
        )
    t = time.monotonic()
    say(
        f"debootstrap: Debian {suite} ({arch}) from {mirror.uri} (as in {mirror.source}), "
        f"with {', '.join(NODE_PACKAGES)}; takes a few minutes the first time"
    )
    work = new_work_dir()
    try:
        root = work / "root"
        argv = [
            debootstrap,
            "--variant=minbase",
            "--components=main",
            f"--arch={arch}",
            f"--include={','.join(NODE_PACKAGES)}",
        ]
        if mirror.keyring:
            argv.append(f"--keyring={mirror.keyring}")
        argv += [suite, str(root), mirror.uri]
        log_path = work / "debootstrap.log"
        with open(log_path, "wb") as log:
            p = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            extra = ""
            debootstrap_log = root / "debootstrap" / "debootstrap.log"
            if debootstrap_log.exists():
                extra = "\n".join(debootstrap_log.read_text(errors="replace").splitlines()[-10:])
            raise ImageError(
                f"debootstrap exited {p.returncode}: " + "\n".join(tail) + "\n" + extra
            )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (root / junk).glob("*"):
                if f.is_file():
                    f.unlink()
        say(f"debootstrap done in {time.monotonic() - t:.0f}s; importing into Docker")
        tar = work / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(tar), "."],
            check=True,
            capture_output=True,
        )
        remove_work_dir(root)
        repo, _, tagname = tag.partition(":")
        client.api.import_image_from_file(
            str(tar),
            repository=repo,
            tag=tagname,
            changes=[
                f"LABEL {IMAGE_LABEL}=base {INPUTS_LABEL}={inputs}",
                'CMD ["sleep", "infinity"]',
                "ENV LANG=C.UTF-8",
            ],
        )
    except subprocess.CalledProcessError as e:
        raise ImageError(f"packing the root filesystem failed: {e.stderr!r}") from e
    finally:
        remove_work_dir(work)
    found = image_id(client, tag)
    if found is None:
        raise ImageError(f"docker import of {tag} did not produce an image")
    prune(client, "base", keep=tag)
    say(f"base image {tag} ready in {time.monotonic() - t:.0f}s")
    return tag, found


def _debootstrap_tag(suite: str) -> str:
    """The tag of the Debian base for ``suite``: it names a hash of the base's inputs."""
    inputs = digest(
        [
            b"debootstrap-minbase",
            suite.encode(),
            host_mirror(suite).uri.encode(),
            _dpkg_arch().encode(),
            ",".join(NODE_PACKAGES).encode(),
        ]
    )
    return f"{BASE_REPO}:{suite}-{inputs[:12]}"


# -- docker helpers -----------------------------------------------------------------------------


def _docker() -> Any:
    try:
        import docker
    except ImportError as e:
        raise ImageError("the docker Python package is not installed (pip install docker)") from e
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure here means "no usable engine"
        raise ImageError(f"cannot reach the Docker engine: {e}") from e
    return client


def _pull(client: Any, ref: str) -> tuple[str | None, str]:
    import docker.errors

    repo, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
    try:
        client.api.pull(repo, tag=tag)
    except docker.errors.APIError as e:
        return None, str(getattr(e, "explanation", None) or e).strip()[:200]
    return image_id(client, ref), ""


def _tag_latest(client: Any, tag: str) -> None:
    repo = tag.split(":")[0]
    client.api.tag(tag, repo, "latest", force=True)


def _context(dockerfile: str, shim: bytes) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", dockerfile.encode())
        _add_bytes(tar, "shim.so", shim, mode=0o755)
        for path in _tree_files(PATTERNS_DIR):
            rel = path.relative_to(PATTERNS_DIR.parent)
            _add_bytes(tar, str(rel), path.read_bytes())
    buf.seek(0)
    return buf


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


# -- inputs -------------------------------------------------------------------------------------


def _shim_bytes() -> bytes:
    path = build_shim()
    if path is None:
        raise ImageError(
            "cannot build the libfaketime sleep shim (no C compiler): install gcc (./setup does)"
        )
    return path.read_bytes()


def _tree_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def tree_digest(root: Path) -> Iterator[bytes]:
    """What identifies the files under ``root``: each one's relative path and hash, in order."""
    for p in _tree_files(root):
        yield str(p.relative_to(root)).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest()


def _dpkg_arch() -> str:
    try:
        out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except OSError:
        pass
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def _one_line_entries(f: Path) -> Iterator[tuple[str, list[str], list[str], str | None]]:
    try:
        lines = f.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        keyring = None
        m = re.match(r"deb\s+\[([^\]]*)\]\s+(.*)", line)
        rest = line[4:].strip()
        if m:
            for opt in m.group(1).split():
                if opt.startswith("signed-by="):
                    keyring = opt.split("=", 1)[1]
            rest = m.group(2)
        parts = rest.split()
        if len(parts) >= 3:
            yield parts[0], [parts[1]], parts[2:], keyring


def _deb822_entries(f: Path) -> Iterator[tuple[str, list[str], list[str], str | None]]:
    try:
        text = f.read_text()
    except OSError:
        return
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
                continue
            if ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        keyring = fields.get("signed-by") or None
        if keyring and keyring.startswith("-----"):
            keyring = None  # an inline key: debootstrap needs a file, use its default
        for uri in fields.get("uris", "").split():
            yield (
                uri,
                fields.get("suites", "").split(),
                fields.get("components", "").split(),
                (keyring),
            )


def _existing(path: str | None) -> str | None:
    return path if path and os.path.isfile(path) else None


def _stderr(line: str) -> None:
    print(f"splitbrain image: {line}", file=sys.stderr, flush=True)
