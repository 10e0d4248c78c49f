"""ZooKeeper's four-letter commands (``srvr``, ``ruok``, ``mntr``...), sent on a server's client
port: how the system tells whether a server is up and in which mode, and what zxid it has
applied, without a session (which would itself be a transaction)."""

from __future__ import annotations

import socket

__all__ = ["four_letter", "server_mode", "server_stats", "server_zxid"]


def four_letter(host: str, port: int, word: str, *, timeout: float = 1.0) -> str | None:
    """A four-letter command's answer (``srvr``, ``ruok``, ...), or None if none came."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(4096)
                if not b:
                    break
                chunks.append(b)
        return b"".join(chunks).decode(errors="replace")
    except OSError:
        return None


def server_mode(host: str, port: int, *, timeout: float = 1.0) -> str | None:
    """``leader``, ``follower``, ``standalone``, ``not-serving`` (up, not in a quorum), or
    None when the server does not answer."""
    out = four_letter(host, port, "srvr", timeout=timeout)
    if out is None or not out:
        return None
    for line in out.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return "not-serving"


def server_stats(host: str, port: int, *, timeout: float = 1.0) -> dict[str, str] | None:
    """``srvr``'s answer as ``{field: value}`` (``Zxid``, ``Mode``, ``Latency min/avg/max``...),
    or None when the server does not answer."""
    out = four_letter(host, port, "srvr", timeout=timeout)
    if not out:
        return None
    stats = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            stats[key.strip()] = value.strip()
    return stats


def server_zxid(host: str, port: int, *, timeout: float = 1.0) -> int | None:
    """The last zxid the server has applied to its data (``srvr``'s ``Zxid``), or None when it
    does not answer or does not serve."""
    stats = server_stats(host, port, timeout=timeout)
    zxid = (stats or {}).get("Zxid")
    try:
        return int(zxid, 16) if zxid else None
    except ValueError:
        return None
