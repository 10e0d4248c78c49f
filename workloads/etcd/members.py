"""Each etcd member's own state, read from that member alone, at one revision: what
``EtcdSystem.member_states`` gives the ``member-states`` step (``workloads.system.MemberStates``).

One reading:

1. every member's status (``/v3/maintenance/status``): its Raft applied index (``index``),
   its store revision (``revision``), term, leader;
2. R, the lowest revision any member answered with (every member has it);
3. every member's whole keyspace at R by a serializable range (served from the member's own
   state, never through the leader): key -> ``[mod_revision, value]``, and the sha256 of
   every key, value and mod revision in key order;
4. every member's HashKV at R, the hash etcd's own corruption check compares (it covers every
   revision the member keeps, not only the last values). etcd 3.4's JSON gateway has no
   ``/v3/maintenance/hashkv`` (it answers 404): it is asked over gRPC by ``etcdctl endpoint
   hashkv --rev R`` (Debian's etcd-client, on the controller, which reaches every member's
   client port as the clients do). When every member answered it, ``digest`` is
   ``hashkv:<hash>``; otherwise (no etcdctl, an etcdctl without ``hashkv``, a member that
   did not answer it) ``range:<sha256>`` for every member, so digests are always of one kind.

A member that does not answer its status gets ``error``; one whose range fails (R compacted
away, a timeout) keeps its index and revision, with ``error`` saying the range failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from typing import Any, TypeVar

from workloads.etcd.api import EtcdError, b64, member_status, post
from workloads.system import MemberState, read_each

__all__ = ["ETCDCTL", "VALUE_SHOWN", "hashkv", "keyspace", "read_members"]

#: etcdctl as Debian's etcd-client installs it (looked up on the PATH when not there)
ETCDCTL = "/usr/bin/etcdctl"
#: characters of a value kept in the history as they are; a longer value is kept as its hash
VALUE_SHOWN = 80

_T = TypeVar("_T")


def read_members(members: dict[str, tuple[str, int]], timeout: float) -> dict[str, MemberState]:
    """One reading of ``members`` (name -> client address and port): see the module
    docstring. Never raises for a member's failure."""
    statuses = read_each(members, lambda ep: member_status(*ep, timeout=timeout))
    revisions = [s["revision"] for s in statuses.values() if s and s.get("revision")]
    if not revisions:
        return {n: MemberState(error="no status: the member did not answer") for n in members}
    at = min(revisions)
    ranges = read_each(
        {n: ep for n, ep in members.items() if statuses[n]},
        lambda ep: _try(lambda: keyspace(*ep, at, timeout)),
    )
    hashes = read_each(
        {n: ep for n, ep in members.items() if statuses[n]},
        lambda ep: hashkv(*ep, at, timeout),
    )
    use_hashkv = all(hashes.get(n) is not None for n in ranges)
    out: dict[str, MemberState] = {}
    for name in members:
        st = statuses[name]
        if st is None:
            out[name] = MemberState(error="no status: the member did not answer")
            continue
        index = st.get("applied_index")
        info: dict[str, Any] = {
            "term": st.get("term"),
            "member_id": st.get("member_id"),
            "leader": st.get("leader"),
            "role": st.get("role"),
            "raft_index": st.get("raft_index"),
            "version": st.get("version"),
        }
        if index is None:  # before 3.4: the last index of its log is what it has
            index = st.get("raft_index")
            info["index"] = "raftIndex (this etcd reports no raftAppliedIndex)"
        got = ranges.get(name)
        hk = hashes.get(name)
        if hk is not None:
            info["hashkv"], info["compact_revision"] = hk
        if isinstance(got, str) or got is None:
            out[name] = MemberState(
                index=index,
                revision=st.get("revision"),
                at=at,
                error=f"range at revision {at}: {got or 'not read'}",
                info=info,
            )
            continue
        keys, range_digest = got
        info["range_digest"] = range_digest
        digest = f"hashkv:{hk[0]}" if use_hashkv and hk is not None else f"range:{range_digest}"
        info["digest_of"] = "HashKV over gRPC (etcdctl)" if use_hashkv else "the range's sha256"
        out[name] = MemberState(
            index=index, revision=st.get("revision"), at=at, digest=digest, keys=keys, info=info
        )
    return out


def keyspace(host: str, port: int, revision: int, timeout: float) -> tuple[dict[str, Any], str]:
    """Every key of the member at ``host:port`` at ``revision``, read serializably (from its
    own state): key -> ``[mod_revision, value]`` (a value longer than ``VALUE_SHOWN``
    characters as ``sha256:<hex> (<n> bytes)``), and the sha256 of every key, value and mod
    revision in key order. Raises EtcdError, OSError, ValueError."""
    body = {
        "key": b64("\0"),
        "range_end": b64("\0"),
        "revision": revision,
        "serializable": True,
    }
    reply = post(f"http://{host}:{port}/v3/kv/range", body, timeout)
    h = hashlib.sha256()
    keys: dict[str, Any] = {}
    kvs = sorted(reply.get("kvs") or [], key=lambda kv: _raw(kv.get("key")))
    for kv in kvs:
        k, v = _raw(kv.get("key")), _raw(kv.get("value"))
        mod = int(kv.get("mod_revision") or 0)
        for part in (k, v, str(mod).encode()):
            h.update(len(part).to_bytes(8, "big") + part)
        keys[k.decode(errors="replace")] = [mod, _shown(v)]
    return keys, h.hexdigest()


def hashkv(host: str, port: int, revision: int, timeout: float) -> tuple[int, int] | None:
    """(hash, compact revision) of the member's keyspace up to ``revision`` by HashKV, asked
    with etcdctl over gRPC; None when it cannot be had (no etcdctl, no answer)."""
    etcdctl = ETCDCTL if shutil.which(ETCDCTL) else shutil.which("etcdctl")
    if etcdctl is None:
        return None
    argv = [
        etcdctl,
        f"--endpoints=http://{host}:{port}",
        f"--command-timeout={max(timeout, 1.0):g}s",
        "endpoint",
        "hashkv",
        f"--rev={revision}",
        "-w",
        "json",
    ]
    try:
        r = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout + 5,
            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
        )
        if r.returncode != 0:
            return None
        [entry] = json.loads(r.stdout)
        reply = entry["HashKV"]
        return int(reply["hash"]), int(reply.get("compact_revision", -1))
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return None


def _try(read: Callable[[], _T]) -> _T | str:
    """``read()``, or what went wrong, in words."""
    try:
        return read()
    except (EtcdError, OSError, ValueError, KeyError, TypeError) as e:
        return f"{type(e).__name__}: {e}"


def _raw(b64text: Any) -> bytes:
    return base64.b64decode(b64text or "")


def _shown(value: bytes) -> str:
    text = value.decode(errors="replace")
    if len(text) <= VALUE_SHOWN:
        return text
    return f"sha256:{hashlib.sha256(value).hexdigest()} ({len(value)} bytes)"
