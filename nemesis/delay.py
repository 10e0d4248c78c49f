"""Network delay between nodes: every packet a node exchanges with its peers waits ``latency``
± ``jitter`` milliseconds (the clients' traffic from the controller is left alone, as with
partitions and loss).

Two ways to make it, chosen per node (``method``):

- ``netem``: ``tc`` on the node's interface towards its peers: a ``prio`` qdisc whose fourth
  band is a ``netem delay LATENCY JITTER``, and a ``u32`` filter per peer address sending
  what goes to the peers there. Packets the node *sends* to its peers are delayed.
- ``nfqueue``, where the kernel has no netem (this project's development machine, whose
  kernel has ``CONFIG_NETFILTER_NETLINK_QUEUE=y`` and no ``CONFIG_NET_SCH_NETEM``): an
  iptables rule in the node's own chain ``SPLITBRAIN-DELAY`` (table ``mangle``, hooked from
  ``INPUT``) queues what comes from the peers (``-j NFQUEUE --queue-num 4242
  --queue-bypass``) to ``nemesis/delayq.py``, a standard-library program the nemesis starts
  inside the node's namespace (daemon ``splitbrain-delayq``), which lets each packet go when
  its delay is over. Packets the node *receives* from its peers are delayed: held on the
  sending side, they would count against TCP's small-queue limit of the sender's socket, and
  a transfer crawls (measured: 5 MB did not get through 50 ms in 60 s when held on output;
  held on input, 20 MB took 0.95 s). Either way every round trip between the node and a peer
  takes ``latency`` (± ``jitter``) longer.

``auto`` (the default) tries netem on each node and falls back to nfqueue. A suite whose delay
fault has ``method: auto`` is refused when it is read if this machine can make neither
(``host_support``; ``splitbrain list`` says what this machine supports). A node that cannot
make the method asked for is an ``info`` completion naming it.

Ops (``f``: value -> completion value):

- ``start-delay``: ``None`` or ``{"nodes": target, "peers": target, "latency_ms": int,
  "jitter_ms": int, "distribution": "uniform"|"normal", "reorder": bool}`` (what is not given
  comes from the fault's options) -> the same keys, ``nodes`` and ``peers`` as lists of
  names, plus ``"method": {node: "netem"|"nfqueue"|"none: ..."}``. Each node of ``nodes`` has
  its links with the nodes of ``peers`` delayed (per node: peers "all", the default; per
  link: ``{"nodes": ["n1"], "peers": ["n2"]}``). A new delay replaces the one in force.

Not made: duplication. NFQUEUE gives a packet one verdict; a copy would have to be injected
again through a raw socket as if it came from the peer, and every system splitbrain tests
talks TCP, which drops a duplicated segment before the system sees it.
- ``stop-delay``: ignored -> ``"healed"``: the rules go first, then each ``delayq`` lets
  every packet it holds go at once and exits.

With jitter, nfqueue keeps the packets of a node in their order unless ``reorder`` (TCP takes
reordering for loss); netem reorders them (its own behaviour with jitter). Teardown heals and
removes the chain.
"""

from __future__ import annotations

import gzip
import os
import platform
import random
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from clusters.base import Cluster, Node
from harness.history import Op
from harness.registry import FaultInfo, OptionError, option
from nemesis._common import (
    TARGETS,
    describe_errors,
    node_names,
    nodes_of,
    on_nodes,
    pick_nodes,
    pin_nodes,
)

__all__ = [
    "CHAIN",
    "DAEMON",
    "DELAY",
    "METHODS",
    "QUEUE",
    "DelayNemesis",
    "DelayOptions",
    "host_support",
    "support_line",
]

CHAIN = "SPLITBRAIN-DELAY"
DAEMON = "splitbrain-delayq"
#: the netfilter queue number (queues are per network namespace: one per node)
QUEUE = 4242
METHODS = ("auto", "netem", "nfqueue")
DELAYQ = Path(__file__).resolve().with_name("delayq.py")


@cache
def host_support() -> dict[str, tuple[bool | None, str]]:
    """For ``netem`` and ``nfqueue``: whether this machine's kernel has it (True), has not
    (False) or cannot be told (None), and why, in words. Reads /sys, /proc, the kernel's
    config and module list; changes nothing."""
    config = _kernel_config()
    return {
        "netem": _support(
            config,
            "NET_SCH_NETEM",
            loaded=os.path.exists("/sys/module/sch_netem"),
            module="sch_netem",
            what="netem",
        ),
        "nfqueue": _support(
            config,
            "NETFILTER_NETLINK_QUEUE",
            loaded=os.path.exists("/proc/net/netfilter/nfnetlink_queue"),
            module="nfnetlink_queue",
            what="NFQUEUE",
        ),
    }


def support_line() -> str:
    """What this machine can delay packets with, in words, for ``splitbrain list``."""
    s = host_support()
    return "this machine: " + "; ".join(why for _, why in s.values())


def _kernel_config() -> dict[str, str] | None:
    """The running kernel's build options (``NET_SCH_NETEM`` -> ``y``/``m``/``n``), from
    /proc/config.gz or /boot/config-<release>; None when neither can be read."""
    text: str | None = None
    try:
        with gzip.open("/proc/config.gz", "rt") as fh:
            text = fh.read()
    except OSError:
        try:
            text = Path(f"/boot/config-{platform.release()}").read_text()
        except OSError:
            return None
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line[len("CONFIG_") :].partition("=")
            out[key] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[len("# CONFIG_") : -len(" is not set")]] = "n"
    return out


def _support(
    config: dict[str, str] | None, key: str, *, loaded: bool, module: str, what: str
) -> tuple[bool | None, str]:
    if loaded:
        return True, f"{what} yes"
    setting = None if config is None else config.get(key, "n")
    if setting == "y":
        return True, f"{what} yes (built in)"
    if setting == "n":
        return False, f"no {what} (the kernel was built without CONFIG_{key})"
    try:
        listed = (
            f"/{module}.ko" in Path(f"/lib/modules/{platform.release()}/modules.dep").read_text()
        )
    except OSError:
        listed = False
    if listed:
        return True, f"{what} yes (a module)"
    if setting == "m":
        return False, f"no {what} (CONFIG_{key}=m, and this machine has no such module)"
    return None, f"{what} unknown (not loaded, and the kernel's config cannot be read)"


@dataclass(frozen=True)
class DelayOptions:
    latency_ms: int = option(100, "added to every packet between a node and its peers", minimum=0)
    jitter_ms: int = option(
        20,
        "latency varies by up to this much (uniform) or this standard deviation (normal)",
        minimum=0,
    )
    distribution: str = option("uniform", "how the jitter is drawn", choices=("uniform", "normal"))
    reorder: bool = option(False, "let a packet overtake an earlier one (nfqueue; netem always)")
    targets: tuple[str, ...] = option(
        ("all",), "which nodes each delay hits, taken in turn", choices=TARGETS
    )
    peers: tuple[str, ...] = option(
        ("all",),
        "the other end of the delayed links, taken in turn with targets: a target node's "
        "packets from these peers are delayed (per link: a start-delay value of nodes [n1], "
        "peers [n2] delays n2 -> n1 alone)",
        choices=TARGETS,
    )
    method: str = option(
        "auto",
        "netem, nfqueue, or auto (netem where the node has it, else nfqueue); auto is refused "
        "when this machine has neither",
        choices=METHODS,
    )

    def __post_init__(self) -> None:
        if self.method == "auto":
            s = host_support()
            if s["netem"][0] is False and s["nfqueue"][0] is False:
                raise OptionError(
                    "method",
                    f"the delay fault cannot be made on this machine: {s['netem'][1]}; "
                    f"{s['nfqueue'][1]} (give method: netem or nfqueue if your nodes are "
                    "other machines that have it)",
                )


def _make(options: DelayOptions, rng: random.Random, system: object) -> DelayNemesis:
    return DelayNemesis(rng, system=system, options=options)


def _pick(options: DelayOptions, turn: int, rng: random.Random, interval: float) -> tuple[str, Any]:
    if not options.targets:
        raise ValueError("the delay fault has no targets to take (targets is empty)")
    if not options.peers:
        raise ValueError("the delay fault has no peers to take (peers is empty)")
    return "start-delay", {
        "nodes": options.targets[turn % len(options.targets)],
        "peers": options.peers[turn % len(options.peers)],
    }


def _pin(invoked: Any, done: Any) -> Any:
    """The start that delays the same links again: the nodes and the peers it chose."""
    pinned = pin_nodes(invoked, done)
    if isinstance(pinned, dict) and isinstance(done, dict) and isinstance(done.get("peers"), list):
        pinned["peers"] = list(done["peers"])
    return pinned


DELAY = FaultInfo(
    name="delay",
    description="delay the packets between nodes by a latency with jitter (tc netem where the "
    f"kernel has it, else an NFQUEUE program in each node); {support_line()}",
    make=_make,
    starts=("start-delay",),
    heal="stop-delay",
    pick=_pick,
    options=DelayOptions,
    color="rgba(0,150,136,.3)",
    heal_rank=10,
    pin=_pin,
)


# -- the nemesis ----------------------------------------------------------------------------------

# Fixed scripts; names, addresses and numbers arrive as positional arguments.
_NETEM_ON = """
dev=$(ip -o route get "$1" 2>/dev/null | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')
[ -n "$dev" ] || { echo "no route to $1" >&2; exit 3; }
tc qdisc del dev "$dev" root handle 5: 2>/dev/null
tc qdisc add dev "$dev" root handle 5: prio bands 4 priomap 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 \
  || exit 3
if [ "$4" = normal ]; then dist="distribution normal"; else dist=""; fi
tc qdisc add dev "$dev" parent 5:4 handle 50: netem delay "$2"ms "$3"ms $dist \
  || { tc qdisc del dev "$dev" root handle 5: 2>/dev/null; exit 3; }
shift 4
for p in "$@"; do
  tc filter add dev "$dev" parent 5: protocol ip prio 1 u32 match ip dst "$p"/32 flowid 5:4 \
    || exit 1
done
echo "$dev"
"""
_NETEM_OFF = """
[ -z "$1" ] || tc qdisc del dev "$1" root handle 5: 2>/dev/null
exit 0
"""
_CHAIN_ON = """
c="$1"; q="$2"; shift 2
iptables -w 5 -t mangle -N "$c" 2>/dev/null || iptables -w 5 -t mangle -F "$c" || exit 1
iptables -w 5 -t mangle -C INPUT -j "$c" 2>/dev/null \
  || iptables -w 5 -t mangle -I INPUT 1 -j "$c" || exit 1
for p in "$@"; do
  iptables -w 5 -t mangle -A "$c" -s "$p" -j NFQUEUE --queue-num "$q" --queue-bypass || exit 1
done
"""
_CHAIN_FLUSH = """
iptables -w 5 -t mangle -F "$1" 2>/dev/null
exit 0
"""
_CHAIN_REMOVE = """
while iptables -w 5 -t mangle -D INPUT -j "$1" 2>/dev/null; do :; done
iptables -w 5 -t mangle -F "$1" 2>/dev/null; iptables -w 5 -t mangle -X "$1" 2>/dev/null
exit 0
"""
# Whether queue "$1" of this namespace has a program bound (its portid is not 0).
_BOUND = """
awk -v q="$1" '$1 == q && $2 != 0 { found = 1 } END { exit !found }' \
  /proc/net/netfilter/nfnetlink_queue 2>/dev/null
"""


class DelayNemesis:
    """Delay between nodes (see the module docstring). ``options`` gives what a ``start-delay``
    value leaves open; ``rng`` draws the targets; ``nodes`` defaults to the cluster's."""

    fs = frozenset({"start-delay", "stop-delay"})

    def __init__(
        self,
        rng: random.Random,
        nodes: Sequence[Node] | None = None,
        *,
        system: object | None = None,
        options: DelayOptions | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        self.rng = rng
        self.system = system
        self.options = options or DelayOptions(method="nfqueue")
        self.ready_timeout = ready_timeout
        self._given = list(nodes) if nodes is not None else None
        self.nodes: list[Node] = []
        #: node name -> how its delay is made now: ("netem", device) or ("nfqueue", "")
        self.active: dict[str, tuple[str, str]] = {}
        self._chained: set[str] = set()

    def setup(self, cluster: Cluster) -> None:
        """Learn the nodes; nothing is installed until the first ``start-delay``."""
        self.nodes = nodes_of(cluster, self._given)

    def invoke(self, op: Op) -> Op:
        try:
            if op.f == "start-delay":
                return self._start(op)
            if op.f == "stop-delay":
                error = describe_errors(self._heal())
                return op.complete("info" if error else "ok", "healed", error=error)
        except ValueError as e:
            return op.complete("info", op.value, error=str(e))
        return op.complete("info", op.value, error=f"delay nemesis does not handle {op.f!r}")

    def teardown(self) -> None:
        """Heal, then unhook and delete the chain on every node that had it."""
        errors = self._heal()
        chained = [n for n in self.nodes if n.name in self._chained]
        errors.update(on_nodes(chained, lambda n: _sh(n, _CHAIN_REMOVE, CHAIN)))
        self._chained -= {n.name for n in chained if n.name not in errors}
        if errors:
            raise RuntimeError(f"could not remove the delay: {describe_errors(errors)}")

    # -- ops --------------------------------------------------------------------------------

    def _start(self, op: Op) -> Op:
        v = self._value(op.value)
        targets = pick_nodes(v["nodes"], self.nodes, self.rng, system=self.system)
        peers = pick_nodes(v["peers"], self.nodes, self.rng, system=self.system)
        errors = self._heal()
        if errors:
            return op.complete("info", op.value, error=f"healing first: {describe_errors(errors)}")
        methods: dict[str, str] = {}

        def apply(node: Node) -> None:
            methods[node.name] = self._apply(node, v, peers)

        errors = on_nodes(targets, apply)
        value = {
            **v,
            "nodes": node_names(targets),
            "peers": node_names(peers),
            "method": dict(sorted(methods.items())),
        }
        error = describe_errors(errors)
        return op.complete("info" if error else "ok", value, error=error)

    def _value(self, value: Any) -> dict[str, Any]:
        o = self.options
        v: dict[str, Any] = {
            "nodes": o.targets[0] if o.targets else "all",
            "peers": o.peers[0] if o.peers else "all",
            "latency_ms": o.latency_ms,
            "jitter_ms": o.jitter_ms,
            "distribution": o.distribution,
            "reorder": o.reorder,
        }
        if value is None:
            return v
        if not isinstance(value, Mapping):
            keys = ", ".join(v)
            raise ValueError(f"expected null or a map with {keys} for start-delay, got {value!r}")
        unknown = set(value) - set(v)
        if unknown:
            raise ValueError(
                f"unknown start-delay key(s) {sorted(unknown)}; allowed: {', '.join(v)}"
            )
        v.update(value)
        for key in ("latency_ms", "jitter_ms"):
            x = v[key]
            if isinstance(x, bool) or not isinstance(x, int) or x < 0:
                raise ValueError(f"expected a whole number of ms >= 0 for {key!r}, got {x!r}")
        if v["distribution"] not in ("uniform", "normal"):
            got = v["distribution"]
            raise ValueError(f"expected uniform or normal for 'distribution', got {got!r}")
        if not isinstance(v["reorder"], bool):
            raise ValueError(f"expected true or false for 'reorder', got {v['reorder']!r}")
        return v

    def _apply(self, node: Node, v: dict[str, Any], ends: Sequence[Node]) -> str:
        """Delay what ``node`` exchanges with those of ``ends`` that are its peers; the method
        it took."""
        peers = [n.address for n in ends if n is not node and n.address != node.address]
        if not peers:
            return "none: no peer of its to delay"
        method = self.options.method
        if method in ("auto", "netem"):
            args = [peers[0], str(v["latency_ms"]), str(v["jitter_ms"]), v["distribution"]]
            r = node.exec(["sh", "-c", _NETEM_ON, "sh", *args, *peers], check=False, timeout=20)
            if r.returncode == 0:
                self.active[node.name] = ("netem", r.stdout.strip())
                return "netem"
            if method == "netem" or r.returncode != 3:
                raise RuntimeError(f"tc netem on {node.name} failed: {r.stderr.strip()[:300]}")
        self._start_delayq(node, v)
        _sh(node, _CHAIN_ON, CHAIN, str(QUEUE), *peers)
        self._chained.add(node.name)
        return "nfqueue"

    def _start_delayq(self, node: Node, v: dict[str, Any]) -> None:
        """Start ``delayq`` in ``node``'s namespace and wait until it has bound the queue."""
        python = getattr(node, "python", "python3")
        argv = [
            python, _delayq_on(node),
            "--queue", str(QUEUE),
            "--latency-ms", str(v["latency_ms"]),
            "--jitter-ms", str(v["jitter_ms"]),
            "--distribution", v["distribution"],
            "--seed", str(self.rng.randrange(1 << 30)),
        ] + (["--reorder"] if v["reorder"] else [])  # fmt: skip
        node.spawn(DAEMON, argv)
        self.active[node.name] = ("nfqueue", "")
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if node.exec(["sh", "-c", _BOUND, "sh", str(QUEUE)], check=False).returncode == 0:
                return
            if not node.alive(DAEMON):
                break
            time.sleep(0.05)
        tail = node.exec(["tail", "-n", "5", f"{node.workdir}/{DAEMON}.log"], check=False).stdout
        raise RuntimeError(f"{DAEMON} did not bind queue {QUEUE} on {node.name}: {tail.strip()}")

    def _heal(self) -> dict[str, BaseException]:
        """Undo every delay in force: rules first, then each delayq lets its packets go."""
        active = [n for n in self.nodes if n.name in self.active]

        def heal(node: Node) -> None:
            method, dev = self.active[node.name]
            if method == "netem":
                _sh(node, _NETEM_OFF, dev)
            else:
                _sh(node, _CHAIN_FLUSH, CHAIN)
                _stop_delayq(node)
            del self.active[node.name]

        return on_nodes(active, heal)


def _stop_delayq(node: Node, within: float = 5.0) -> None:
    """SIGTERM delayq (it lets its packets go and exits); SIGKILL after ``within`` s."""
    node.signal(DAEMON, signal.SIGTERM)
    deadline = time.monotonic() + within
    while node.alive(DAEMON):
        if time.monotonic() > deadline:
            node.signal(DAEMON, signal.SIGKILL)
            break
        time.sleep(0.02)


def _delayq_on(node: Node) -> str:
    """The path of ``delayq.py`` on ``node``: this checkout's where the filesystem is shared,
    else a copy in the node's workdir (copied under a temporary name, then renamed)."""
    if getattr(node, "shares_filesystem", False):
        return str(DELAYQ)
    remote = f"{node.workdir.rstrip('/')}/{DELAYQ.name}"
    tmp = f"{remote}.{os.getpid()}.{random.randrange(1 << 30)}.tmp"
    node.put(DELAYQ, tmp)
    node.exec(["mv", "-f", tmp, remote], timeout=10)
    return remote


def _sh(node: Node, script: str, *args: str) -> None:
    node.exec(["sh", "-c", script, "sh", *args], timeout=20)
