"""Each Redis server's own keys, read from that server alone once replication has caught up:
what ``RedisSystem.member_states`` gives the ``member-states`` step
(``workloads.system.MemberStates``).

One reading:

1. every server's ``INFO replication`` at once: role, offsets, whom it follows;
2. if exactly one server is a primary, P with offset O (``master_repl_offset``), read just
   before: a replica that follows P (its ``master_host``/``master_port``, link up, the same
   replication id) and has processed O (``slave_repl_offset`` >= O) has every change P had
   made when the reading began, so its ``index`` is O; the primary's is O too. Sentinels
   publish their hello messages through the primary every 2 s, so offsets keep moving while
   no key changes: the replicas are read after the primary, and an index is "has reached O",
   not the offset of the moment. A replica that follows another server or whose link is down
   has no index (None): it has not reached the primary's stream;
3. with no primary or several (a partition's old primary not yet demoted), each primary's
   index is its own offset and the replicas have none: the members have not converged;
4. every server's keys (``SCAN``, then each by its type: a string's value, a set's sorted
   members, a list, a hash, a sorted set with scores; any other type by ``DUMP``), and the
   sha256 of them all; ``at`` is O for the members that reached it (all compared with one
   another), else the member's own offset.

A server that does not answer gets ``error``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from workloads.system import MemberState, read_each

__all__ = ["connect_once", "content", "read_members"]

_T = TypeVar("_T")


def read_members(
    members: dict[str, tuple[str, int]],
    timeout: float,
    connect: Callable[[str, int, float], Any] | None = None,
) -> dict[str, MemberState]:
    """One reading of ``members`` (name -> server address and port); ``connect(host, port,
    timeout)`` makes a redis-py client (default ``connect_once``). Never raises for a
    member's failure."""
    connect = connect or connect_once
    infos = read_each(members, lambda ep: _info(connect, ep, timeout))
    primaries = [n for n, i in infos.items() if isinstance(i, dict) and i.get("role") == "master"]
    states: dict[str, MemberState] = {}
    reached: dict[str, int | None] = {}
    notes: dict[str, str] = {}
    if len(primaries) == 1:
        p = primaries[0]
        pinfo = infos[p]
        assert isinstance(pinfo, dict)
        offset = int(pinfo.get("master_repl_offset", 0))
        reached[p] = offset
        replicas = {n: ep for n, ep in members.items() if n != p and isinstance(infos[n], dict)}
        # read after the primary: the stream it had sent when it was read has arrived
        again = read_each(replicas, lambda ep: _info(connect, ep, timeout))
        for n, info in again.items():
            infos[n] = info
            if not isinstance(info, dict):
                continue
            why = _not_following(info, members[p], str(pinfo.get("master_replid", "")))
            own = int(info.get("slave_repl_offset") or info.get("master_repl_offset") or 0)
            if why is None and own < offset:
                why = f"it has processed offset {own} of the primary's {offset}"
            reached[n] = offset if why is None else None
            if why is not None:
                notes[n] = why
    else:
        for n, info in infos.items():
            if isinstance(info, dict) and info.get("role") == "master":
                reached[n] = int(info.get("master_repl_offset", 0))
                notes[n] = f"one of {len(primaries)} primaries: {', '.join(sorted(primaries))}"
            elif isinstance(info, dict):
                reached[n] = None
                notes[n] = "no single primary to follow" if primaries else "no primary"
    readable = {n: ep for n, ep in members.items() if isinstance(infos[n], dict)}
    contents = read_each(readable, lambda ep: _try(lambda: content(connect, ep, timeout)))
    for name in members:
        info = infos[name]
        if not isinstance(info, dict):
            states[name] = MemberState(error=f"INFO replication: {info}")
            continue
        own = int(info.get("master_repl_offset", 0))
        index = reached.get(name)
        details: dict[str, Any] = {
            "role": info.get("role"),
            "master_repl_offset": own,
            "master_replid": info.get("master_replid"),
        }
        if info.get("role") != "master":
            details.update(
                following=f"{info.get('master_host')}:{info.get('master_port')}",
                link=info.get("master_link_status"),
                slave_repl_offset=info.get("slave_repl_offset"),
            )
        if name in notes:
            details["not_reached"] = notes[name]
        got = contents[name]
        at = index if index is not None else own
        if isinstance(got, str):
            states[name] = MemberState(
                index=index, revision=at, at=at, error=f"keys: {got}", info=details
            )
            continue
        keys, digest = got
        states[name] = MemberState(
            index=index, revision=at, at=at, digest=f"sha256:{digest}", keys=keys, info=details
        )
    return states


def connect_once(host: str, port: int, timeout: float) -> Any:
    """A redis-py client whose requests wait ``timeout`` and are not retried (redis-py 6 on
    retries a timeout 3 times with a backoff of up to 10 s: a paused server would hold one
    reading for tens of seconds)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host,
        port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def content(
    connect: Callable[[str, int, float], Any], endpoint: tuple[str, int], timeout: float
) -> tuple[dict[str, Any], str]:
    """Every key of the server at ``endpoint``, each as a JSON value by its type, and the
    sha256 of them all in key order."""
    r = connect(endpoint[0], endpoint[1], timeout)
    try:
        keys: dict[str, Any] = {}
        for raw in sorted(r.scan_iter(count=1000)):
            key = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            keys[key] = _value(r, raw)
    finally:
        r.close()
    text = json.dumps(keys, sort_keys=True, separators=(",", ":"))
    return keys, hashlib.sha256(text.encode()).hexdigest()


def _value(r: Any, key: Any) -> Any:
    kind = _text(r.type(key))
    if kind == "string":
        return _text(r.get(key))
    if kind == "set":
        return sorted(_text(m) for m in r.smembers(key))
    if kind == "list":
        return [_text(m) for m in r.lrange(key, 0, -1)]
    if kind == "hash":
        return {_text(k): _text(v) for k, v in sorted(r.hgetall(key).items())}
    if kind == "zset":
        return [[_text(m), s] for m, s in r.zrange(key, 0, -1, withscores=True)]
    if kind == "none":  # gone between the scan and now
        return None
    dumped = r.dump(key)
    return {"type": kind, "dump": dumped.hex() if dumped is not None else None}


def _not_following(info: dict[str, Any], primary: tuple[str, int], replid: str) -> str | None:
    """Why a replica is not in the primary's stream, or None."""
    if info.get("role") == "master":
        return "it is a primary too"
    where = (str(info.get("master_host")), int(info.get("master_port", 0) or 0))
    if where != primary:
        return f"it follows {where[0]}:{where[1]}, not the primary"
    if info.get("master_link_status") != "up":
        return f"its link to the primary is {info.get('master_link_status')}"
    if replid and info.get("master_replid") not in (replid, None):
        return f"its replication id {info.get('master_replid')} is not the primary's {replid}"
    return None


def _info(
    connect: Callable[[str, int, float], Any], endpoint: tuple[str, int], timeout: float
) -> dict[str, Any] | str:
    def read() -> dict[str, Any]:
        r = connect(endpoint[0], endpoint[1], timeout)
        try:
            return dict(r.info("replication"))
        finally:
            r.close()

    return _try(read)


def _try(read: Callable[[], _T]) -> _T | str:
    """``read()``, or what went wrong, in words (redis-py's errors, a refused connection)."""
    try:
        return read()
    except Exception as e:  # noqa: BLE001 - redis-py is imported lazily; any failure is the member's
        return f"{type(e).__name__}: {e}"


def _text(b: Any) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else str(b)
