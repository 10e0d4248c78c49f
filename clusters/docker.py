"""The Docker backend: every node is a container on a bridge network of the run's own.

What ``DockerCluster.create()`` makes, every name carrying the run's prefix (``sb`` + 6 hex)
and every object the label ``splitbrain.run=<prefix>``:

- a user-defined bridge network ``<prefix>-net`` (Linux bridge ``<prefix>-dk``) on a free /24
  of 10.214.0.0/16, checked against the host's routes and Docker's own networks. It is
  ``internal`` (Docker drops what would leave it) and each container's default route is
  deleted, so, as on the local backend, a node reaches its peers and the controller (the
  gateway, ``controller_address``) and nothing else. Docker adds and
  removes the iptables rules of its networks itself; this backend adds none on the host.
- per node a container ``<prefix>-n1``.. of the node image (``clusters.image``; with the
  system's Debian packages installed when it needs any, such as etcd's) at a fixed
  address (``.11``, ``.12``, ..), running ``sleep infinity`` under Docker's init (which
  reaps the daemons' zombies), with the capability NET_ADMIN added (iptables inside the
  container) and nothing more: not privileged. IPv6 is off, since partitions are IPv4 rules.
  Only in a test whose fault kinds need it (``node_needs``: ``fuse``, the disk faults) does a
  container get more: the device ``/dev/fuse``, the capability SYS_ADMIN (to mount it) and
  no AppArmor profile (Docker's default one forbids mount); still not privileged.

Commands run through the engine's exec API; daemons are started in a session of their own with
``setsid`` (``clusters.shell``), their logs in the node's workdir (``/var/lib/splitbrain``);
files move as tar archives (``put_archive`` / ``get_archive``). Faults are the nemesis's own:
iptables inside the container, signals to the daemon's process group, libfaketime.

``<workroot>/cluster.json`` records what was made; a live cluster holds the same prefix lock as
the local backend (``clusters.prefix``), so ``clean()`` removes the containers and networks of
dead runs only.

``BACKEND`` registers it as the ``docker`` backend (``harness.registry``).
"""

from __future__ import annotations

import fnmatch
import io
import ipaddress
import os
import posixpath
import shutil
import socket
import tarfile
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clusters.base import CommandFailed, Completed, Node, SetupError
from clusters.host import free_subnet, links, used_networks
from clusters.image import (
    NODE_PYTHON,
    clean_build_containers,
    clean_build_leftovers,
    ensure_image,
)
from clusters.paths import NODE_SHIM, NODE_WORKDIR
from clusters.prefix import PrefixLock, check_prefix, create_lock, forget, is_live, new_prefix
from clusters.shell import ExecDaemons, check_argv
from clusters.state import STATE_FILE, mark_destroyed, now, read_state, write_state
from harness.registry import BackendInfo
from harness.spec import ClusterSpec

__all__ = [
    "BACKEND",
    "MAX_NODES",
    "RUN_LABEL",
    "DockerCluster",
    "DockerNode",
    "clean",
    "docker_available",
    "docker_client",
    "make_cluster",
]

RUN_LABEL = "splitbrain.run"
NODE_LABEL = "splitbrain.node"
WORKROOT_LABEL = "splitbrain.workroot"
CONTROLLER_LABEL = "splitbrain.controller"
SUBNET_POOL = ipaddress.IPv4Network("10.214.0.0/16")
#: the nodes share one /24 with the controller's gateway address
MAX_NODES = 200
#: seconds the engine's HTTP calls may take, beyond a command's own timeout
API_SLACK = 30.0


#: what a container is given for each of the test's ``node_needs`` (``FaultInfo.node_needs``)
NEEDS: dict[str, dict[str, list[str]]] = {
    "fuse": {
        "devices": ["/dev/fuse:/dev/fuse:rwm"],
        "cap_add": ["SYS_ADMIN"],
        "security_opt": ["apparmor=unconfined"],
    },
}


def make_cluster(
    spec: ClusterSpec,
    workroot: str | Path,
    node_packages: Sequence[str] = (),
    node_needs: Sequence[str] = (),
) -> DockerCluster:
    """The docker cluster a suite's ``cluster`` section describes (``nodes``, ``image``), its
    nodes' image carrying the system's Debian ``node_packages``, its containers given what
    ``node_needs`` names (``NEEDS``); makes nothing until ``create()``."""
    return DockerCluster(
        spec.nodes,
        workroot=workroot,
        image=spec.image,
        packages=node_packages,
        needs=node_needs,
    )


def docker_available() -> str | None:
    """None when a Docker engine answers; otherwise why not (for skips and messages)."""
    try:
        docker_client().ping()
    except SetupError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - any failure means "no usable engine"
        return f"the Docker engine does not answer: {e}"
    return None


class DockerNode(ExecDaemons):
    """A node that is a container; commands go through the engine's exec API."""

    def __init__(
        self, name: str, container: str, address: str, api: Any, workdir: str = NODE_WORKDIR
    ) -> None:
        self.name = name
        self.container = container  # the container's name (also a valid id for the API)
        self.address = address
        self.workdir = workdir
        #: the interpreter, the libfaketime sleep shim: both inside the node image
        self.python = NODE_PYTHON
        self.sleep_shim = NODE_SHIM
        self.shares_filesystem = False
        self._api = api

    def __repr__(self) -> str:
        return f"DockerNode({self.name!r}, {self.container!r}, {self.address!r})"

    def exec(self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True) -> Completed:
        """Run ``argv`` in the container (through ``timeout``: a command that outlives
        ``timeout`` seconds is killed and exits 124); raises CommandFailed on a non-zero exit
        when ``check``."""
        args = check_argv(argv, "argv")
        full = ["timeout", "-k", "2", f"{max(timeout, 0.1):g}", *args]
        api = (
            self._api
            if timeout + API_SLACK <= self._api.timeout
            else docker_client(timeout + 60).api
        )
        try:
            ex = api.exec_create(self.container, full, stdout=True, stderr=True, stdin=False)
            out, err = api.exec_start(ex["Id"], demux=True)
            code = api.exec_inspect(ex["Id"])["ExitCode"]
        except Exception as e:  # the engine or the container is gone
            result = Completed(tuple(args), 125, "", f"docker exec on {self.container}: {e}")
        else:
            result = Completed(
                tuple(args), int(code if code is not None else 125), _text(out), _text(err)
            )
            if result.returncode == 124:
                result = Completed(
                    result.argv, 124, result.stdout, result.stderr + f"\ntimed out after {timeout}s"
                )
        if check and result.returncode != 0:
            raise CommandFailed(self.name, result)
        return result

    def put(self, local: str | Path, remote: str) -> None:
        """Copy a file or a directory tree to ``remote`` (relative: under the workdir), as a
        tar archive; a directory merges into one that exists."""
        src = Path(local)
        if not src.exists():
            raise FileNotFoundError(f"put: {src} does not exist")
        dest = self._path(remote).rstrip("/")
        parent, base = posixpath.split(dest)
        self.exec(["mkdir", "-p", parent or "/"])
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(src), arcname=base, recursive=True)
        if not self._api.put_archive(self.container, parent or "/", buf.getvalue()):
            raise RuntimeError(f"put_archive to {self.name}:{parent} failed")

    def get(self, remote: str, local: str | Path) -> None:
        """Copy a file or a directory tree from ``remote`` (relative: under the workdir)."""
        src = self._path(remote).rstrip("/")
        dest = Path(local)
        stream, _stat = self._api.get_archive(self.container, src)
        with tempfile.TemporaryDirectory(prefix=".sb-get-", dir=_tmp_parent(dest)) as tmp:
            with tempfile.TemporaryFile() as raw:
                for chunk in stream:
                    raw.write(chunk)
                raw.seek(0)
                with tarfile.open(fileobj=raw, mode="r|") as tar:
                    tar.extractall(tmp, filter="data")
            got = Path(tmp) / posixpath.basename(src)
            if got.is_dir():
                shutil.copytree(got, dest, dirs_exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(got), dest)

    def _path(self, remote: str) -> str:
        return remote if remote.startswith("/") else posixpath.join(self.workdir, remote)


class DockerCluster:
    """``n`` nodes, each a container of ``image`` on a bridge network of their own.

    ``image`` defaults to the node image (``clusters.image.ensure_image()``, built if it is
    missing or stale), with the Debian ``packages`` installed when there are any (a
    third-party system's, e.g. ``etcd-server``; ignored when ``image`` is given).
    ``prefix`` names everything made (default: a fresh ``sb`` + 6 hex); ``workroot`` holds
    ``cluster.json``; ``subnet`` (a /24) overrides the free one picked from 10.214.0.0/16.
    ``needs``: what each container is given beyond NET_ADMIN, by name (``NEEDS``: ``fuse``).
    Needs access to the Docker engine, and root for the prefix lock.
    """

    def __init__(
        self,
        n: int,
        *,
        workroot: str | Path,
        prefix: str | None = None,
        image: str | None = None,
        subnet: str | None = None,
        packages: Sequence[str] = (),
        needs: Sequence[str] = (),
    ) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_NODES:
            raise ValueError(f"expected a node count from 1 to {MAX_NODES} for 'n', got {n!r}")
        unknown = sorted(set(needs) - set(NEEDS))
        if unknown:
            raise SetupError(
                f"the docker backend cannot give its containers {', '.join(unknown)} "
                f"(it gives: {', '.join(sorted(NEEDS))})"
            )
        self.needs = tuple(sorted(set(needs)))
        self.prefix = check_prefix(prefix if prefix is not None else new_prefix())
        self._prefix_lock = PrefixLock(self.prefix)
        self.n = n
        self.workroot = Path(workroot)
        self.image = image
        self.packages = tuple(packages)
        self.requested_subnet = subnet
        self.network = f"{self.prefix}-net"
        self.bridge = f"{self.prefix}-dk"
        self.subnet: ipaddress.IPv4Network | None = None
        self.controller_address: str | None = None
        self.nodes: list[Node] = []
        self._client: Any = None
        self._owner = False

    @property
    def state_file(self) -> Path:
        return self.workroot / STATE_FILE

    def create(self) -> None:
        """Make the network and the containers, and wait until each runs commands. On any
        failure removes what it made and raises SetupError."""
        if self.nodes:
            raise SetupError(f"cluster {self.prefix} is already created")
        self._client = docker_client()
        self.workroot.mkdir(parents=True, exist_ok=True)
        try:
            if self.image is None:
                self.image = ensure_image(client=self._client, packages=self.packages)
            elif _image_missing(self._client, self.image):
                raise SetupError(
                    f"image {self.image!r} is not on this machine; build the node image with "
                    f"`splitbrain image build` or leave cluster.image unset"
                )
            with create_lock():
                self._prefix_lock.hold(f"{self.workroot} docker")
                self._check_collisions()
                self._owner = True
                self.subnet = self._pick_subnet()
                hosts = list(self.subnet.hosts())
                self.controller_address = str(hosts[0])
                self._write_state()
                self._make_network()
            addresses = [str(hosts[9 + i]) for i in range(1, self.n + 1)]
            with ThreadPoolExecutor(max_workers=min(self.n, 8)) as pool:
                made = list(pool.map(self._make_node, range(1, self.n + 1), addresses))
            self.nodes = list(made)
            self._write_state()
        except BaseException as e:
            try:
                self.destroy()
            except Exception:
                pass
            if isinstance(e, SetupError):
                raise
            if isinstance(e, (OSError, RuntimeError)) or _is_docker_error(e):
                raise SetupError(f"creating docker cluster {self.prefix}: {e}") from e
            raise

    def destroy(self) -> None:
        """Remove the containers (and every process in them) and the network. Safe to call
        twice and after a partial create(); removes nothing of a prefix it never owned."""
        if not self._owner:
            self._prefix_lock.release()
            return
        client = self._client or docker_client()
        removed = _remove_prefix(client, self.prefix)
        self._prefix_lock.release()
        mark_destroyed(self.state_file, removed)

    # -- create steps -----------------------------------------------------------------------

    def _check_collisions(self) -> None:
        api = self._client.api
        taken = [
            c["Names"][0].lstrip("/")
            for c in api.containers(all=True, filters={"label": f"{RUN_LABEL}={self.prefix}"})
        ]
        taken += [
            n["Name"] for n in api.networks(names=[self.network]) if n["Name"] == self.network
        ]
        if self.bridge in links():
            taken.append(self.bridge)
        if taken:
            raise SetupError(
                f"objects of prefix {self.prefix!r} already exist: {', '.join(taken)}; "
                f"run `splitbrain clean` or choose another prefix"
            )

    def _pick_subnet(self) -> ipaddress.IPv4Network:
        used = used_networks() + _docker_subnets(self._client)
        return free_subnet(SUBNET_POOL, used, self.requested_subnet)

    def _labels(self) -> dict[str, str]:
        return {
            RUN_LABEL: self.prefix,
            WORKROOT_LABEL: str(self.workroot.resolve()),
            CONTROLLER_LABEL: f"{socket.gethostname()}:{os.getpid()}",
        }

    def _make_network(self) -> None:
        from docker.types import IPAMConfig, IPAMPool

        assert self.subnet is not None
        ipam = IPAMConfig(
            pool_configs=[IPAMPool(subnet=str(self.subnet), gateway=self.controller_address)]
        )
        self._client.api.create_network(
            self.network,
            driver="bridge",
            internal=True,
            ipam=ipam,
            labels=self._labels(),
            options={"com.docker.network.bridge.name": self.bridge},
            check_duplicate=True,
        )

    def _make_node(self, i: int, address: str) -> DockerNode:
        api = self._client.api
        name = f"{self.prefix}-n{i}"
        given: dict[str, list[str]] = {"cap_add": ["NET_ADMIN"]}
        for need in self.needs:
            for key, values in NEEDS[need].items():
                given[key] = given.get(key, []) + values
        host_config = api.create_host_config(
            **given,
            init=True,
            network_mode=self.network,
            sysctls={
                "net.ipv6.conf.all.disable_ipv6": "1",
                "net.ipv6.conf.default.disable_ipv6": "1",
            },
        )
        networking = api.create_networking_config(
            {self.network: api.create_endpoint_config(ipv4_address=address)}
        )
        assert self.image is not None
        api.create_container(
            self.image,
            command=["sleep", "infinity"],
            name=name,
            hostname=f"n{i}",
            labels={**self._labels(), NODE_LABEL: f"n{i}"},
            host_config=host_config,
            networking_config=networking,
            detach=True,
        )
        api.start(name)
        node = DockerNode(f"n{i}", name, address, api)
        deadline = time.monotonic() + 30
        while True:
            # No default route (Docker gives even internal networks one): as on the local
            # backend, a node reaches its peers and the controller, and nothing else.
            r = node.exec(
                [
                    "sh",
                    "-c",
                    'mkdir -p "$1" && { ip -4 route del default 2>/dev/null;'
                    " ! ip -4 route | grep -q ^default; }",
                    "sh",
                    node.workdir,
                ],
                timeout=10,
                check=False,
            )
            if r.returncode == 0:
                return node
            if time.monotonic() > deadline:
                raise SetupError(f"container {name} does not run commands: {r.stderr.strip()}")
            time.sleep(0.2)

    # -- state ------------------------------------------------------------------------------

    def _write_state(self) -> None:
        state = {
            "backend": "docker",
            "prefix": self.prefix,
            "created_at": read_state(self.state_file).get("created_at", now()),
            "controller_pid": os.getpid(),
            "image": self.image,
            "network": self.network,
            "bridge": self.bridge,
            "subnet": str(self.subnet),
            "controller_address": self.controller_address,
            "needs": list(self.needs),
            "nodes": [
                {
                    "name": n.name,
                    "container": getattr(n, "container", None),
                    "address": n.address,
                    "workdir": n.workdir,
                }
                for n in self.nodes
            ],
        }
        write_state(self.state_file, state)


def clean(prefix_glob: str = "sb*", *, include_live: bool = False) -> list[str]:
    """Remove the containers and networks that runs whose prefix matches ``prefix_glob``
    left (found by their label), and the directories of killed image builds. Runs still alive
    (their controller holds the prefix lock) are skipped unless ``include_live``. Returns a
    line per thing removed; nothing (and no error) when there is no Docker engine."""
    removed = clean_build_leftovers()
    if docker_available() is not None:
        return removed
    client = docker_client()
    removed += clean_build_containers(client)
    prefixes = {
        c["Labels"].get(RUN_LABEL, "")
        for c in client.api.containers(all=True, filters={"label": RUN_LABEL})
    }
    prefixes |= {
        n["Labels"].get(RUN_LABEL, "") for n in client.api.networks(filters={"label": RUN_LABEL})
    }
    for prefix in sorted(p for p in prefixes if p and fnmatch.fnmatchcase(p, prefix_glob)):
        if not include_live and is_live(prefix):
            continue
        removed += _remove_prefix(client, prefix)
        forget(prefix)
    return removed


# -- helpers ----------------------------------------------------------------------------------


def _remove_prefix(client: Any, prefix: str) -> list[str]:
    """Remove every container (forcibly: its processes die with it) and network labelled
    with ``prefix``; returns what it removed."""
    import docker.errors

    api = client.api
    removed: list[str] = []
    containers = api.containers(all=True, filters={"label": f"{RUN_LABEL}={prefix}"})

    def remove_container(c: dict[str, Any]) -> str | None:
        try:
            api.remove_container(c["Id"], force=True, v=True)
        except docker.errors.NotFound:
            return None
        return f"container {c['Names'][0].lstrip('/')}"

    if containers:
        with ThreadPoolExecutor(max_workers=min(len(containers), 8)) as pool:
            removed += [r for r in pool.map(remove_container, containers) if r]
    for net in api.networks(filters={"label": f"{RUN_LABEL}={prefix}"}):
        try:
            api.remove_network(net["Id"])
            removed.append(f"network {net['Name']}")
        except docker.errors.NotFound:
            pass
    return removed


def docker_client(timeout: float = 600.0) -> Any:
    """A client of the Docker engine (``docker.DockerClient``) whose calls may take
    ``timeout`` seconds; raises SetupError when the package or the engine is missing."""
    try:
        import docker
    except ImportError as e:
        raise SetupError("the docker Python package is not installed (pip install docker)") from e
    try:
        return docker.from_env(timeout=int(timeout), max_pool_size=32)
    except Exception as e:  # noqa: BLE001 - DockerException and friends: no engine
        raise SetupError(f"cannot reach the Docker engine: {e}") from e


def _docker_subnets(client: Any) -> list[ipaddress.IPv4Network]:
    nets = []
    for n in client.api.networks():
        for cfg in (n.get("IPAM") or {}).get("Config") or []:
            try:
                net = ipaddress.ip_network(cfg.get("Subnet", ""), strict=False)
            except ValueError:
                continue
            if isinstance(net, ipaddress.IPv4Network):
                nets.append(net)
    return nets


def _image_missing(client: Any, image: str) -> bool:
    import docker.errors

    try:
        client.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return True
    return False


def _is_docker_error(e: BaseException) -> bool:
    try:
        import docker.errors
    except ImportError:
        return False
    return isinstance(e, docker.errors.DockerException)


def _tmp_parent(dest: Path) -> str:
    parent = dest.parent if dest.parent.exists() else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    return str(parent)


def _text(data: bytes | None) -> str:
    return data.decode(errors="replace") if data else ""


BACKEND = BackendInfo(
    name="docker",
    description="a container per node, of the node image (clusters/image), on a network of the "
    "run's own",
    make=make_cluster,
    clean=clean,
    max_nodes=MAX_NODES,
)
