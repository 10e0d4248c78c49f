"""Why a partition is not linearizable, in words and in data for the HTML page.

The search found the op ``r`` whose completion no node reaches with ``r`` linearized. Every
operation that completed before ``r`` can be linearized (the longest linearizable prefix),
and from every state that prefix can end in, no ordering of the operations concurrent with
``r`` leads to a state where ``r`` is possible. The explanation says exactly that, with a
linearization of the prefix, the concurrent operations, and the state each ordering reaches.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from ..base import Anomaly, when
from ._prepare import Entry
from ._search import Outcome, search
from .models import ILLEGAL, Branch, Model

__all__ = ["describe_entry", "explain"]

_MAX_ORDERINGS = 12
_MAX_PREFIX_SHOWN = 6
_MAX_LINEARIZATIONS = 8


def explain(
    model: Model,
    key: Hashable,
    entries: list[Entry],
    outcome: Outcome,
    *,
    deadline: float | None = None,
    ctx: dict[str, Any] | None = None,
) -> Anomaly:
    """The ``nonlinearizable`` anomaly for a partition the search found invalid. Without the
    nodes at the failure in ``outcome`` (a search without ``paths``), searches again for them,
    within ``deadline`` or at least two seconds. The explanation opens with one plain sentence
    (node, key, time, values: ``plain``); ``ctx``'s ``time_zero_ms`` adds the wall clock."""
    assert outcome.failed is not None
    incomplete = ""
    if not outcome.frontier:
        budget = None if deadline is None else max(deadline, time.monotonic() + 2.0)
        again = search(model, entries, deadline=budget, paths=True)
        if again.valid is False and again.failed == outcome.failed:
            outcome = again
        else:
            incomplete = "the search for the orderings stopped early: " + (again.reason or "?")
    assert outcome.failed is not None
    failed = entries[outcome.failed]
    concurrent = [entries[i] for i in outcome.concurrent]
    configs = _plainest(_distinct(model, outcome.frontier), {e.id for e in concurrent})
    orderings = _orderings(model, configs, concurrent, failed)
    text = _text(model, key, entries, failed, configs, concurrent, orderings, incomplete)
    text = plain(model, key, entries, failed, configs, ctx) + "\n" + text
    ops = [failed.invoke.to_dict()]
    if failed.completion is not None:
        ops.append(failed.completion.to_dict())
    for e in concurrent:
        ops.append(e.invoke.to_dict())
        if e.completion is not None:
            ops.append(e.completion.to_dict())
    data = {
        "key": _jsonable(key),
        "op": _op_data(model, failed),
        "concurrent": [_op_data(model, e) for e in concurrent],
        "prefix": list(configs[0][1]) if configs else [],
        "orderings": orderings,
        "linearizations": _linearizations(model, entries, configs),
        "timeline": _timeline(model, entries, failed, configs, concurrent),
        "depth": outcome.depth,
        "stats": outcome.stats,
    }
    if incomplete:
        data["frontier-incomplete"] = incomplete
    return Anomaly("nonlinearizable", text, ops, data)


def plain(
    model: Model,
    key: Hashable,
    entries: list[Entry],
    failed: Entry,
    configs: list[tuple[Any, tuple[int, ...]]],
    ctx: dict[str, Any] | None = None,
) -> str:
    """The anomaly in one sentence: "n2 returned 1 for key 19 at 21.417 s (16:43:23.430Z),
    but write 3 on n1 had completed at 21.380 s (...) and nothing concurrent sets 1: a stale
    read". The op that set the state the prefix ends in is the one the failing op missed."""
    done = failed.completion
    where = "" if key is None else f" for key {_show_key(key)}"
    node = f"{failed.invoke.node} (process {failed.process})" if failed.invoke.node else who(failed)
    what = model.describe_op(failed.f, failed.input, failed.output)
    if done is not None and done.type == "ok":
        head = f"{node} {what}{where} at {when(done.time, ctx)}"
    else:
        head = f"{node} {what}{where} (invoked at {when(failed.invoke.time, ctx)})"
    setter = _last_setter(model, entries, configs[0][1]) if configs else None
    if setter is None:
        return f"{head}, which no order of the operations before and beside it allows."
    s_done = setter.completion
    s_node = f" on {setter.invoke.node}" if setter.invoke.node else f" by {who(setter)}"
    s_what = model.describe_op(setter.f, setter.input, setter.output)
    s_when = f"had completed at {when(s_done.time, ctx)}" if s_done is not None else "had run"
    stale = failed.f == "read" and _read_earlier(model, entries, configs[0][1], failed)
    why = "a stale read" if stale else "no order of the concurrent operations allows it"
    return f"{head}, but {s_what}{s_node} {s_when}: {why}."


def _last_setter(model: Model, entries: list[Entry], path: tuple[int, ...]) -> Entry | None:
    """The op of the linearized prefix ``path`` that last changed the state: the write the
    failing op should have seen."""
    states = _states_along(model, entries, path)
    prev = [_key(model, model.init(None)), *(_key(model, x) for x in states)]
    for j in range(len(path) - 1, -1, -1):
        if prev[j + 1] != prev[j]:
            return entries[path[j]]
    return None


def _read_earlier(model: Model, entries: list[Entry], path: tuple[int, ...], failed: Entry) -> bool:
    """Whether the failing read's value was the state at some earlier point of the prefix
    (the read saw the past, not a value nothing wrote)."""
    seen = {model.describe_state(x) for x in _states_along(model, entries, path)}
    seen.add(model.describe_state(model.init(None)))
    return model.describe_state(failed.output) in seen


def _plainest(
    configs: list[tuple[Any, tuple[int, ...]]], concurrent: set[int]
) -> list[tuple[Any, tuple[int, ...]]]:
    """The nodes that linearized the fewest ops concurrent with the failing one: those are
    where the prefix ends; the others are orderings of the concurrent ops from there."""
    if not configs:
        return configs
    used = [sum(1 for i in path if i in concurrent) for _s, path in configs]
    least = min(used)
    return [c for c, n in zip(configs, used, strict=True) if n == least]


def _distinct(
    model: Model, nodes: list[tuple[Any, tuple[int, ...]]]
) -> list[tuple[Any, tuple[int, ...]]]:
    """One node per distinct (state, set of ops linearized), in the order given."""
    out: list[tuple[Any, tuple[int, ...]]] = []
    seen: set[tuple[Any, frozenset[int]]] = set()
    for s, path in nodes:
        k = (_key(model, s), frozenset(path))
        if k not in seen:
            seen.add(k)
            out.append((s, path))
    return out


def describe_entry(model: Model, e: Entry) -> str:
    """``write 3 by process 2 (index 7)``: an op in words, with where to find it."""
    where = f"index {e.invoke.index}" if e.invoke.index >= 0 else "index ?"
    return f"{model.describe_op(e.f, e.input, e.output)} by {who(e)} ({where})"


def who(e: Entry) -> str:
    """``process 2``, or ``process 2 on n3`` when the history says which node it talked to."""
    node = e.invoke.node
    return f"process {e.process} on {node}" if node else f"process {e.process}"


def _text(
    model: Model,
    key: Hashable,
    entries: list[Entry],
    failed: Entry,
    configs: list[tuple[Any, tuple[int, ...]]],
    concurrent: list[Entry],
    orderings: list[dict[str, Any]],
    incomplete: str,
) -> str:
    where = "" if key is None else f"On key {_show_key(key)}: "
    lines = [f"{where}{describe_entry(model, failed)} cannot be linearized."]
    done = [e for e in entries if e.ret is not None and e.ret < (failed.ret or 0)]
    used: set[int] = set()
    if configs:
        path = configs[0][1]
        used = set(path)
        shown = path[-_MAX_PREFIX_SHOWN:]
        states = _states_along(model, entries, path)
        steps = [
            f"{describe_entry(model, entries[i])} -> {model.describe_state(s)}"
            for i, s in zip(shown, states[-len(shown) :], strict=True)
        ]
        skipped = len(path) - len(shown)
        lead = f"... {skipped} earlier, then " if skipped else ""
        lines.append(
            f"Longest linearizable prefix: the {len(done)} operations that completed before it, "
            f"for instance in this order: {lead}{'; '.join(steps) or 'nothing'}."
        )
        ends = sorted({model.describe_state(s) for s, _p in configs})
        if len(ends) == 1:
            lines.append(f"After them the state is {ends[0]}.")
        else:
            lines.append(
                f"After them the state is one of {', '.join(ends)}, depending on the order."
            )
    if concurrent:
        early = [e for e in concurrent if e.id in used]
        lines.append(
            "Concurrent with it: "
            + "; ".join(describe_entry(model, e) for e in concurrent)
            + "."
            + (
                " That prefix has already linearized "
                + "; ".join(describe_entry(model, e) for e in early)
                + "."
                if early
                else ""
            )
        )
    else:
        lines.append("No operation is concurrent with it.")
    by_origin: dict[str, list[str]] = {}
    for o in orderings[:_MAX_ORDERINGS]:
        seq = ", then ".join(o["ops"]) if o["ops"] else "none of them"
        items = by_origin.setdefault(o["from"], [])
        if f"{seq} -> {o['state']}" not in items:  # prefixes that differ only in what they
            items.append(f"{seq} -> {o['state']}")  # linearized read the same in words
    for origin, items in by_origin.items():
        lines.append(
            f"Orderings of the concurrent operations from state {origin}: " + "; ".join(items) + "."
        )
    if len(orderings) > _MAX_ORDERINGS:
        lines.append(f"(and {len(orderings) - _MAX_ORDERINGS} more orderings)")
    reached = sorted({o["state"] for o in orderings})
    what = model.describe_op(failed.f, failed.input, failed.output)
    lines.append(
        f"{what} by {who(failed)} is impossible in every state that the orderings "
        f"reach ({', '.join(reached) if reached else 'none'}): no ordering of the concurrent "
        "operations allows it, so the history is not linearizable."
    )
    if incomplete:
        lines.append(f"(The orderings listed may be incomplete: {incomplete}.)")
    return "\n".join(lines)


def _orderings(
    model: Model,
    configs: list[tuple[Any, tuple[int, ...]]],
    concurrent: list[Entry],
    failed: Entry,
) -> list[dict[str, Any]]:
    """Sequences of the concurrent ops not yet linearized, from each distinct end state of the
    prefix, with the state each reaches: the shortest first, a bounded number of them."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, frozenset[int]]] = set()
    for state, path in configs:
        used = frozenset(path)
        queue: list[tuple[Any, tuple[int, ...], frozenset[int]]] = [(state, (), used)]
        origin = model.describe_state(state)
        while queue and len(out) < 4 * _MAX_ORDERINGS:
            s, seq, linearized = queue.pop(0)
            k = (_key(model, s), linearized)
            if k in seen:
                continue
            seen.add(k)
            out.append(
                {
                    "from": origin,
                    "ops": [describe_entry(model, e) for i in seq for e in concurrent if e.id == i],
                    "ids": list(seq),
                    "state": model.describe_state(s),
                    "allows": _legal(model, s, failed),
                }
            )
            for e in concurrent:
                if e.id in linearized:
                    continue
                s2 = model.step(s, e.f, e.input, e.output)
                for s3 in _states(s2):
                    queue.append((s3, (*seq, e.id), linearized | {e.id}))
    return out


def _legal(model: Model, s: Any, e: Entry) -> bool:
    return bool(_states(model.step(s, e.f, e.input, e.output)))


def _states(result: Any) -> tuple[Any, ...]:
    if result is ILLEGAL:
        return ()
    return tuple(result) if type(result) is Branch else (result,)


def _key(model: Model, s: Any) -> Any:
    return model.hash(s) if model.hash else s


def _states_along(model: Model, entries: list[Entry], path: tuple[int, ...]) -> list[Any]:
    """The state after each op of a linearization (the first of a Branch, which is enough to
    show: any of them was accepted by the search)."""
    s = model.init(None)
    out = []
    for i in path:
        e = entries[i]
        nxt = _states(model.step(s, e.f, e.input, e.output))
        s = nxt[0] if nxt else s
        out.append(s)
    return out


def _op_data(model: Model, e: Entry) -> dict[str, Any]:
    return {
        "id": e.id,
        "process": _jsonable(e.process),
        "node": e.invoke.node,
        "index": e.invoke.index,
        "completion-index": e.completion.index if e.completion is not None else None,
        "type": e.completion.type if e.completion is not None else "pending",
        "description": model.describe_op(e.f, e.input, e.output),
    }


def _linearizations(
    model: Model, entries: list[Entry], configs: list[tuple[Any, tuple[int, ...]]]
) -> list[list[dict[str, Any]]]:
    out = []
    for _s, path in configs[:_MAX_LINEARIZATIONS]:
        states = _states_along(model, entries, path)
        out.append(
            [{"id": i, "state": model.describe_state(s)} for i, s in zip(path, states, strict=True)]
        )
    return out


def _timeline(
    model: Model,
    entries: list[Entry],
    failed: Entry,
    configs: list[tuple[Any, tuple[int, ...]]],
    concurrent: list[Entry],
    window: int = 120,
) -> list[dict[str, Any]]:
    """The ops to draw: the last ``window`` of the prefix, the failing op and those concurrent
    with it (a long history is not drawn whole)."""
    keep = {failed.id, *(e.id for e in concurrent)}
    if configs:
        keep.update(configs[0][1][-window:])
    end = failed.ret if failed.ret is not None else failed.call
    start = min(entries[i].call for i in keep)
    for e in entries:
        if e.call >= start and e.call <= end:
            keep.add(e.id)
    rows = []
    for i in sorted(keep, key=lambda i: entries[i].call):
        e = entries[i]
        rows.append(
            {
                **_op_data(model, e),
                "start": e.call,
                "end": e.ret,
            }
        )
    return rows


def _show_key(key: Hashable) -> str:
    return repr(key) if isinstance(key, str) else str(key)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, str | int | float | bool):
        return v
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    return str(v)
