"""Commands on this machine (the controller's host) and what its network already uses.

``run`` runs a host command (``ip``, ``iptables``) detached from the terminal's process group;
``links`` and ``used_networks`` say which interface names and IPv4 networks are taken, and
``free_subnet`` picks a /24 none of them overlaps, for a backend's bridge.
"""

from __future__ import annotations

import ipaddress
import json
import random
import shlex
import signal
import subprocess
from collections.abc import Sequence

from clusters.base import Completed, SetupError

__all__ = ["detached", "free_subnet", "links", "run", "used_networks"]


def run(argv: list[str], *, check: bool = True, timeout: float = 30.0) -> Completed:
    """Run ``argv`` on this machine to its end (``detached``); raises SetupError on a non-zero
    exit when ``check``."""
    p = detached(argv, timeout)
    result = Completed(tuple(argv), p.returncode, p.stdout, p.stderr)
    if check and p.returncode != 0:
        raise SetupError(f"`{shlex.join(argv)}` exited {p.returncode}: {p.stderr.strip()[:500]}")
    return result


def detached(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end, its output captured, in a process group of its own: a
    terminal's Ctrl-C reaches the controller, which decides; it must not kill the
    `iptables -F` that is healing a partition or cut a teardown short. Raises
    subprocess.TimeoutExpired after ``timeout`` seconds.

    The child joins its own group only after the fork, with every signal blocked until just
    before it runs ``argv`` (CPython's vfork path): a Ctrl-C sent to the controller's group
    in between is held, then kills the child, before ``argv`` has run (a second Ctrl-C
    during a teardown killed the `iptables -F` of a heal this way, exit -2). Nothing here
    sends those signals to a command (a timeout kills with SIGKILL), so a command that dies
    of SIGINT, SIGTERM or SIGHUP is run again, once."""
    for attempt in (1, 2):
        p = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
        if p.returncode not in _TERMINAL_SIGNALS or attempt == 2:
            break
    return p


#: how a command that a terminal's or a supervisor's signal killed exits
_TERMINAL_SIGNALS = (-signal.SIGINT, -signal.SIGTERM, -signal.SIGHUP)


def links() -> list[str]:
    """The names of this machine's network interfaces."""
    out = run(["ip", "-j", "link", "show"], check=False).stdout.strip()
    return [entry["ifname"] for entry in json.loads(out or "[]")]


def used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host routes or has an address in (all routing tables)."""
    nets: list[ipaddress.IPv4Network] = []
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for r in routes:
        dst = r.get("dst", "")
        if dst in ("", "default") or r.get("type") in ("broadcast",):
            continue
        try:
            net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv4Network) and not net.is_loopback:
            nets.append(net)
    addrs = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    for link in addrs:
        for a in link.get("addr_info", []):
            net = ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
            if isinstance(net, ipaddress.IPv4Network) and not net.is_loopback:
                nets.append(net)
    return nets


def free_subnet(
    pool: ipaddress.IPv4Network,
    used: Sequence[ipaddress.IPv4Network],
    requested: str | None = None,
) -> ipaddress.IPv4Network:
    """The /24 ``requested`` if it overlaps nothing ``used``, or else a random /24 of ``pool``
    that overlaps nothing used; raises SetupError when there is none (or ``requested`` is not
    a free IPv4 /24)."""
    if requested is not None:
        asked = ipaddress.ip_network(requested, strict=True)
        if not isinstance(asked, ipaddress.IPv4Network) or asked.prefixlen != 24:
            raise SetupError(f"expected an IPv4 /24 for 'subnet', got {requested}")
        clash = [str(u) for u in used if u.overlaps(asked)]
        if clash:
            raise SetupError(f"subnet {asked} overlaps {', '.join(clash)} on this host")
        return asked
    candidates = list(pool.subnets(new_prefix=24))
    random.SystemRandom().shuffle(candidates)
    for candidate in candidates:
        if not any(u.overlaps(candidate) for u in used):
            return candidate
    raise SetupError(f"no free /24 left in {pool}")
