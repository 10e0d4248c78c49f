"""Members that disagree: after the final heal, every member's own state, compared.

Reads the one ``member-states`` op the harness records after the final heal (its contract:
``workloads.system.MemberStates``; value: member -> ``{index, revision, at, digest, keys,
error, info}``). A crash-consistency bug (a member that lost or doubled an entry and goes on
serving) is invisible to client-side checks until a client happens to read from the bad
member, and not even then once the lost write is overwritten; the members' own states show it
directly.

Anomalies:

- ``members-not-converged``: the members never reported one applied index (``index``) in the
  time the harness waited: a member stuck behind, or several primaries. Named by member and
  index.
- ``members-disagree``: members at one index that are at different revisions (each member
  off the most common revision named, with both revisions), or members read at one revision
  (``at``) whose content differs: each key that differs, named by member, key and revision,
  with the value the member has and the value the others have; a digest that differs while
  every key agrees (etcd's HashKV covers the history, not only the last values) is named too.

The reference a member is compared with is the content most members share (ties: the group
with the first member by name). Its verdict: false on any anomaly; "unknown" when the op is
missing (the run stopped before it) or members could not be read and no anomaly was found;
true when every member agrees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from checkers.base import Anomaly, Result, unknown, when
from harness.history import Op
from harness.registry import CheckerInfo, NoOptions

__all__ = ["CHECKER", "MAX_KEYS_NAMED", "MEMBER_STATES", "MembersChecker"]

MEMBER_STATES = "member-states"
#: keys named per member that disagrees (the others are counted in ``data``)
MAX_KEYS_NAMED = 10


class MembersChecker:
    name = "members"

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        op = _last_reading(history)
        if op is None:
            return unknown(
                "no member-states op in the history: the run stopped before the members were "
                "read, or the system cannot be read member by member"
            )
        states: dict[str, dict[str, Any]] = {
            str(k): v for k, v in sorted(op.value.items()) if isinstance(v, dict)
        }
        errors = {n: str(s["error"]) for n, s in states.items() if s.get("error")}
        readable = {n: s for n, s in states.items() if n not in errors}
        at = when(op.time, ctx)
        anomalies: list[Anomaly] = []
        indexes = {n: s.get("index") for n, s in readable.items()}
        converged = len(set(indexes.values())) <= 1 and None not in indexes.values()
        if len(readable) > 1 and not converged:
            anomalies.append(_not_converged(op, indexes, at))
        if converged and len(readable) > 1:
            anomalies += _revisions_differ(op, readable, at)
        anomalies += _contents_differ(op, readable, at)
        details: dict[str, Any] = {
            "members": sorted(states),
            "indexes": indexes,
            "revisions": {n: s.get("revision") for n, s in readable.items()},
            "converged": converged and op.type == "ok",
        }
        if errors:
            details["unreadable"] = errors
        if anomalies:
            return Result(False, anomalies, details)
        if errors:
            return Result(
                "unknown",
                [],
                {
                    **details,
                    "reason": "could not read "
                    + "; ".join(f"{n}: {e}" for n, e in sorted(errors.items())),
                },
            )
        if len(readable) < 2:
            return Result("unknown", [], {**details, "reason": "fewer than two members were read"})
        return Result(True, [], details)


def _last_reading(history: list[Op]) -> Op | None:
    for op in reversed(history):
        if op.f == MEMBER_STATES and op.type in ("ok", "info") and isinstance(op.value, dict):
            return op
    return None


def _not_converged(op: Op, indexes: dict[str, Any], at: str) -> Anomaly:
    groups = _groups(indexes, lambda v: v)
    listed = "; ".join(
        f"{', '.join(names)} at {_idx(v)}" for v, names in sorted(groups, key=lambda g: g[1])
    )
    return Anomaly(
        "members-not-converged",
        f"After the final heal the members never reached one applied index (read at {at}, "
        f"the last of the harness's readings): {listed}. With no fault in force and no client "
        "writing, every member applies the same stream to its end; a member left behind "
        "is stuck, or is following another primary.",
        [op.to_dict()],
        {"indexes": indexes},
    )


def _revisions_differ(op: Op, states: dict[str, dict[str, Any]], at: str) -> list[Anomaly]:
    revisions = {n: s.get("revision") for n, s in states.items()}
    groups = _groups(revisions, lambda v: v)
    if len(groups) < 2:
        return []
    ref_value, ref_names = groups[0]
    index = next(iter(states.values())).get("index")
    out = []
    for value, names in groups[1:]:
        for name in names:
            out.append(
                Anomaly(
                    "members-disagree",
                    f"{name} is at revision {_idx(value)} while {_names(ref_names)} "
                    f"{'is' if len(ref_names) == 1 else 'are'} at revision {_idx(ref_value)}, "
                    f"every member at applied index {_idx(index)} (read at {at}): members that "
                    "applied the same entries reached different revisions, so one of them "
                    "lost or doubled a change.",
                    [op.to_dict()],
                    {
                        "member": name,
                        "key": None,
                        "revision": value,
                        "others": ref_names,
                        "others_revision": ref_value,
                        "index": index,
                    },
                )
            )
    return out


def _contents_differ(op: Op, states: dict[str, dict[str, Any]], at: str) -> list[Anomaly]:
    """Members read at one ``at`` whose digest or keys differ, per member and key."""
    by_at: dict[Any, dict[str, dict[str, Any]]] = {}
    for n, s in states.items():
        if s.get("digest") is not None or s.get("keys") is not None:
            by_at.setdefault(s.get("at"), {})[n] = s
    out: list[Anomaly] = []
    for rev, members in by_at.items():
        if len(members) < 2:
            continue
        groups = _groups(members, _content_of)
        if len(groups) < 2:
            continue
        _, ref_names = groups[0]
        ref = members[ref_names[0]]
        for _, names in groups[1:]:
            for name in names:
                out += _member_differs(op, name, members[name], ref_names, ref, rev, at)
    return out


def _member_differs(
    op: Op,
    name: str,
    mine: dict[str, Any],
    ref_names: list[str],
    ref: dict[str, Any],
    rev: Any,
    at: str,
) -> list[Anomaly]:
    where = f"at revision {_idx(rev)}" if rev is not None else "in its current state"
    others = _names(ref_names)
    keys, ref_keys = mine.get("keys"), ref.get("keys")
    differing: list[str] = []
    if isinstance(keys, dict) and isinstance(ref_keys, dict):
        both = set(keys) | set(ref_keys)
        differing = sorted(
            (k for k in both if keys.get(k, _ABSENT) != ref_keys.get(k, _ABSENT)), key=str
        )
    out = []
    for k in differing[:MAX_KEYS_NAMED]:
        assert isinstance(keys, dict) and isinstance(ref_keys, dict)
        have, want = keys.get(k, _ABSENT), ref_keys.get(k, _ABSENT)
        out.append(
            Anomaly(
                "members-disagree",
                f"{name} has {_show(k, have)} {where} while {others} "
                f"{'has' if len(ref_names) == 1 else 'have'} {_show(k, want)} (read at {at}, "
                "after the final heal, each member alone): the members applied the same "
                "stream to different contents, so a client reading from "
                f"{name} sees data the others do not have.",
                [op.to_dict()],
                {
                    "member": name,
                    "key": k,
                    "revision": rev,
                    "value": None if have is _ABSENT else have,
                    "others": ref_names,
                    "others_value": None if want is _ABSENT else want,
                    "keys_differing": len(differing),
                },
            )
        )
    if len(differing) > MAX_KEYS_NAMED and out:
        out[
            -1
        ].explanation += (
            f" {len(differing) - MAX_KEYS_NAMED} more keys of {name} differ (not named)."
        )
    if not out:  # the digests differ, the keys (as read) do not
        out.append(
            Anomaly(
                "members-disagree",
                f"{name}'s digest {where} is {mine.get('digest')} while {others} "
                f"{'has' if len(ref_names) == 1 else 'have'} {ref.get('digest')} (read at "
                f"{at}), although every key read has the same value: their histories up to "
                "that revision differ (a digest such as etcd's HashKV covers every revision "
                "kept, not only the last values).",
                [op.to_dict()],
                {
                    "member": name,
                    "key": None,
                    "revision": rev,
                    "digest": mine.get("digest"),
                    "others": ref_names,
                    "others_digest": ref.get("digest"),
                },
            )
        )
    return out


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT: Any = _Absent()


def _groups(values: dict[str, Any], key: Callable[[Any], Any]) -> list[tuple[Any, list[str]]]:
    """Members grouped by ``key(value)``: (the first member's value, names), the largest
    group first (ties: the group whose first name sorts first)."""
    groups: dict[str, tuple[Any, list[str]]] = {}
    for name in sorted(values):
        k = json.dumps(key(values[name]), sort_keys=True, default=str)
        groups.setdefault(k, (values[name], []))[1].append(name)
    return sorted(groups.values(), key=lambda g: (-len(g[1]), g[1][0]))


def _content_of(state: dict[str, Any]) -> Any:
    """What two members must share to agree: the digest where there is one (equal digests are
    equal content, and the harness keeps the keys of one member only then), else the keys."""
    digest = state.get("digest")
    return digest if digest is not None else ["keys", _canon(state.get("keys"))]


def _canon(keys: Any) -> Any:
    return None if keys is None else json.dumps(keys, sort_keys=True, default=str)


def _show(key: str, content: Any) -> str:
    if content is _ABSENT:
        return f"no key {key!r}"
    text = json.dumps(content, default=str)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"key {key!r} = {text}"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _idx(v: Any) -> str:
    return "no index" if v is None else str(v)


def _make(options: NoOptions) -> MembersChecker:
    return MembersChecker()


CHECKER = CheckerInfo(
    "members",
    "after the final heal, every member read alone: they reach one applied index, and "
    "then agree on their revision and on every key at one revision (members-disagree names "
    "member, key and revision)",
    _make,
)
