"""Each ZooKeeper server's own data, read through a session pinned to that server, at one zxid:
what ``ZooKeeperSystem.member_states`` gives the ``member-states`` step
(``workloads.system.MemberStates``).

One reading:

1. a session with every member, each to that one server (its address alone, so kazoo never
   moves it elsewhere), all opened before anything is read and closed after everything is:
   a session's start and end are transactions themselves, which would move the zxids the
   others are read at;
2. on each member: ``sync`` (the server catches up with the leader), ``srvr``'s ``Zxid``
   (the last transaction it applied), the whole tree but ``/zookeeper`` (the server's own
   config and quota znodes), then ``Zxid`` again: the tree is the member's data at that zxid
   only if nothing was applied while it was read, so it is read again (up to ``ATTEMPTS``
   times) until the two agree; a member whose zxid moved every time gets ``error``, and the
   harness reads again while it waits.

A member's state: ``index`` and ``at`` are that zxid (members that report one index were read
at the same point of the one transaction stream: their trees must be equal); ``revision`` is
the zxid of the last change of its data (the highest czxid, mzxid or pzxid in the tree);
``keys`` is path -> ``[mzxid, version, value]``; ``digest`` is ``tree:<sha256>`` of every path,
value, mzxid and version in path order. ZooKeeper's own data-tree digest (3.6+) is only
exposed by the admin server's ``hash`` command, which these servers do not run (a Jetty per
JVM on two cores). A member that starts no session, fails ``sync`` (not in a quorum) or does
not answer ``srvr`` gets ``error``.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workloads.system import MemberState
from workloads.zookeeper.fourletter import server_stats
from workloads.zookeeper.reconfig import admin_session

__all__ = ["ATTEMPTS", "VALUE_SHOWN", "read_members", "tree"]

#: readings of one member's tree before its zxid is taken as moving
ATTEMPTS = 3
#: characters of a value kept in the history as they are; a longer value is kept as its hash
VALUE_SHOWN = 80
#: the server's own znodes (``/zookeeper/config``, ``/zookeeper/quota``), not the test's data
OWN = "/zookeeper"


def read_members(members: dict[str, tuple[str, int]], timeout: float) -> dict[str, MemberState]:
    """One reading of ``members`` (name -> client address and port): see the module
    docstring. Never raises for a member's failure."""
    if not members:
        return {}
    opened = threading.Barrier(len(members))
    read = threading.Barrier(len(members))

    def one(endpoint: tuple[str, int]) -> MemberState:
        met = {opened: False, read: False}

        def meet(barrier: threading.Barrier, within: float) -> None:
            if not met[barrier]:
                met[barrier] = True
                _meet(barrier, within)

        try:
            with admin_session(*endpoint, timeout=timeout) as zk:
                meet(opened, 2 * timeout)
                try:
                    return _read(zk, endpoint, timeout)
                finally:
                    meet(read, 4 * timeout)  # the sessions end once every member is read
        except Exception as e:  # noqa: BLE001 - no session: the member's error
            meet(opened, 2 * timeout)
            meet(read, 4 * timeout)
            return MemberState(error=f"no session with it: {type(e).__name__} {e}".rstrip())

    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        futures = {n: pool.submit(one, ep) for n, ep in members.items()}
        return {n: f.result() for n, f in futures.items()}


def _meet(barrier: threading.Barrier, timeout: float) -> None:
    """Wait for the other members' threads at ``barrier``, at most ``timeout`` seconds; when
    one does not come in time the barrier breaks for all, who go on."""
    try:
        barrier.wait(timeout)
    except threading.BrokenBarrierError:
        pass


def _read(zk: Any, endpoint: tuple[str, int], timeout: float) -> MemberState:
    """The member's state through its pinned session ``zk`` (see the module docstring)."""
    try:
        zk.sync_async("/").get(timeout=timeout)
    except Exception as e:  # noqa: BLE001 - not in a quorum, a timeout: the member's error
        return MemberState(error=f"sync: {type(e).__name__} {e}".rstrip())
    info: dict[str, Any] = {}
    zxid = None
    for attempt in range(1, ATTEMPTS + 1):
        before = server_stats(*endpoint, timeout=timeout) or {}
        try:
            keys, revision, digest = tree(zk, timeout)
        except Exception as e:  # noqa: BLE001
            return MemberState(error=f"reading its tree: {type(e).__name__} {e}".rstrip())
        after = server_stats(*endpoint, timeout=timeout) or {}
        zxid = _zxid(after)
        info = {"mode": after.get("Mode"), "readings": attempt, "znodes": len(keys)}
        if zxid is None:
            return MemberState(error=f"no zxid from srvr: {after or 'no answer'}", info=info)
        if _zxid(before) == zxid:
            return MemberState(
                index=zxid, revision=revision, at=zxid, digest=digest, keys=keys, info=info
            )
    # still moving: not one state (the harness reads again while it waits)
    return MemberState(
        error=f"its zxid moved during each of {ATTEMPTS} readings (last 0x{zxid:x})", info=info
    )


def tree(zk: Any, timeout: float) -> tuple[dict[str, Any], int, str]:
    """Every znode the session's server has (but ``/zookeeper``'s), level by level, each
    level's requests sent at once: path -> ``[mzxid, version, value]``, the highest czxid,
    mzxid or pzxid (the zxid of the last change), and the sha256 of every path, value, mzxid
    and version in path order. A znode deleted between its parent's listing and its read is
    left out (no transaction is applied while the tree is taken, when it is one state)."""
    from kazoo.exceptions import NoNodeError

    keys: dict[str, Any] = {}
    raw: dict[str, tuple[bytes, int, int]] = {}
    last = 0
    level = ["/"]
    while level:
        gets = [(p, zk.get_async(p), zk.get_children_async(p)) for p in level]
        level = []
        for path, got, children in gets:
            try:
                data, stat = got.get(timeout=timeout)
                names = children.get(timeout=timeout)
            except NoNodeError:
                continue
            last = max(last, stat.czxid, stat.mzxid, stat.pzxid)
            if path != "/":
                value = data or b""
                raw[path] = (value, stat.mzxid, stat.version)
                keys[path] = [stat.mzxid, stat.version, _shown(value)]
            prefix = path.rstrip("/")
            level += [f"{prefix}/{c}" for c in names if f"{prefix}/{c}" != OWN]
    h = hashlib.sha256()
    for path in sorted(raw):
        value, mzxid, version = raw[path]
        for part in (path.encode(), value, str(mzxid).encode(), str(version).encode()):
            h.update(len(part).to_bytes(8, "big") + part)
    return keys, last, f"tree:{h.hexdigest()}"


def _zxid(stats: dict[str, str]) -> int | None:
    try:
        return int(stats["Zxid"], 16)
    except (KeyError, ValueError):
        return None


def _shown(value: bytes) -> str:
    text = value.decode(errors="replace")
    if len(text) <= VALUE_SHOWN:
        return text
    return f"sha256:{hashlib.sha256(value).hexdigest()} ({len(value)} bytes)"
