"""Each anomaly in words a person can act on: which operations, processes and nodes, when
(relative, and as wall clock with the run's time zero), which values, and which order broke;
with the steps the HTML page draws as a cycle. The first sentence says it all; the lines after
it give the steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import Anomaly, when
from ..txn.explain import fmt_value, key_phrase, op_ref
from ._prepare import Prepared, Txn

__all__ = ["DESCRIPTIONS", "causal_anomaly", "sequential_anomaly"]

DESCRIPTIONS = {
    "read-your-writes": "a process read a key and did not see its own earlier write of it",
    "monotonic-reads": "a process read an older version of a key than it had read before",
    "monotonic-writes": "a process's writes of a key were ordered unlike its session order",
    "writes-follow-reads": "a write was ordered before, or seen without, what its process "
    "had read before making it",
    "PRAM": "a process did not see another process's writes in that process's order",
    "causal": "an operation missed a write in its causal past (session order plus "
    "reads-from, transitively)",
    "causal-cycle": "session order and reads-from form a cycle: an operation depends on itself",
    "sequential": "no single order of the operations respects every process's order",
}


def _who(t: Txn, ctx: dict[str, Any] | None = None) -> str:
    """ "op 5 (process 0 on n2, ok at 1.032 s (13:22:01.123Z))": which op, who ran it on
    which node, and when it completed."""
    return op_ref(t.op, ctx, outcome=True)


def _what(t: Txn) -> str:
    v = t.op.value
    if t.op.f == "txn" and isinstance(v, list):
        return "; ".join(f"{m[0]} {m[1]} {fmt_value(m[2])}" for m in v)
    return f"{t.op.f} {fmt_value(v)}"


def _moves(prep: Prepared, ts: list[Txn]) -> str:
    nodes = {t.node for t in ts if t.node}
    procs = {t.process for t in ts}
    if len(procs) == 1 and len(nodes) > 1:
        return (
            f" The session moved between nodes ({', '.join(sorted(nodes))}): the guarantee "
            "holds for the process, whatever node serves it."
        )
    return ""


def causal_anomaly(
    prep: Prepared,
    case: dict[str, Any],
    path: list[list[Any]] | None,
    ctx: dict[str, Any] | None = None,
) -> Anomaly:
    """The anomaly for one case of ``session`` / ``causal``; ``path``: for causal and PRAM,
    the steps [from, to, rel] by which the witness came before the txn."""
    kind = case["type"]
    txns = prep.txns
    if kind == "causal-cycle":
        steps = case["cycle"]
        ids = [a for a, _, _ in steps]
        lines = [
            f"  {_who(txns[a], ctx)} -> {_who(txns[b], ctx)}: "
            + ("same process, later" if r == "process" else "the second read what the first wrote")
            for a, b, r in steps
        ]
        first = txns[ids[0]]
        text = (
            f"{_who(first, ctx)}: {_what(first)} depends on itself through {len(steps)} steps "
            "of session order and reads-from: a causal cycle.\n" + "\n".join(lines)
        )
        return Anomaly(kind, text, [txns[i].op.to_dict() for i in ids], _drawing(prep, ids, steps))
    t, w = txns[case["txn"]], txns[case["witness"]]
    k, v = case["key"], case["value"]
    key = key_phrase(k) if k is not None else "the register"
    did = "read" if case["rel"] == "rw" else "wrote"
    whole = t.op.f == "txn" and isinstance(t.op.value, list) and len(t.op.value) > 1
    head = f"{_who(t, ctx)} {did} {key} = {fmt_value(v)}" + (
        f" (in {_what(t)}), " if whole else ", "
    )
    if kind == "read-your-writes":
        why = (
            f"but the same process had written {key} before, in {_who(w, ctx)}: {_what(w)}, "
            "and this read does not show it: the session did not read its own write."
        )
        steps = [[w.id, t.id, "process"], [t.id, w.id, "rw"]]
    elif kind == "monotonic-reads":
        why = (
            f"but the same process had already read a newer version of {key} in {_who(w, ctx)}: "
            f"{_what(w)}: its reads went back in time."
        )
        steps = [[w.id, t.id, "process"], [t.id, w.id, "rw"]]
    elif kind == "monotonic-writes":
        why = (
            f"but the same process wrote {key} earlier, in {_who(w, ctx)}: {_what(w)}, and that "
            "earlier write is ordered after this one: its writes took effect out of order."
        )
        steps = [[w.id, t.id, "process"], [t.id, w.id, "ww"]]
    elif kind == "writes-follow-reads" and "via" in case:
        s = txns[case["via"]]
        why = (
            f"but it also saw {_who(s, ctx)}: {_what(s)} (on {fmt_value(case['via-key'])}), "
            f"whose process had read {key} in {_who(w, ctx)}: {_what(w)} before that write: a "
            "write was seen without the reads it followed."
        )
        steps = [[w.id, s.id, "process"], [s.id, t.id, "wr"], [t.id, w.id, "rw"]]
    elif kind == "writes-follow-reads":
        why = (
            f"but the same process had read a newer version of {key} in {_who(w, ctx)}: "
            f"{_what(w)}: this write is ordered before what it followed."
        )
        steps = [[w.id, t.id, "process"], [t.id, w.id, "ww"]]
    else:  # PRAM, causal
        chain = path or [[w.id, t.id, "?"]]
        how = "; ".join(_step_words(txns, a, b, r) for a, b, r in chain)
        order = "causal order" if kind == "causal" else "that process's order of writes"
        missed = "did not see" if case["rel"] == "rw" else "is ordered before"
        why = (
            f"which {missed} the write of {_who(w, ctx)}: {_what(w)}, though that write came "
            f"before it in {order}: {how}."
        )
        steps = [*chain, [t.id, w.id, case["rel"]]]
    ids = list(dict.fromkeys([a for a, _, _ in steps]))
    text = head + why + _moves(prep, [txns[i] for i in ids])
    return Anomaly(kind, text, [txns[i].op.to_dict() for i in ids], _drawing(prep, ids, steps))


def _step_words(txns: Sequence[Txn], a: int, b: int, r: str) -> str:
    ta, tb = txns[a], txns[b]
    if r == "process":
        return f"op {ta.op.index} then op {tb.op.index} in process {ta.process}"
    return f"op {tb.op.index} (process {tb.process}) read what op {ta.op.index} wrote"


def _drawing(prep: Prepared, ids: list[int], steps: list[list[Any]]) -> dict[str, Any]:
    names = {t: f"T{i + 1}" for i, t in enumerate(ids)}
    txns = prep.txns
    return {
        "cycle": [names[t] for t in ids],
        "steps": [
            {"from": names[a], "to": names[b], "type": r}
            for a, b, r in steps
            if a in names and b in names
        ],
        "txns": {names[t]: txns[t].op.to_dict() for t in ids},
    }


def sequential_anomaly(outcome: Any, model: Any, ctx: dict[str, Any] | None = None) -> Anomaly:
    """The anomaly for one key with no sequentially consistent order."""
    key = "the register" if outcome.key is None else key_phrase(outcome.key)
    desc = model.describe_op
    if outcome.cycle:
        return _write_cycle_anomaly(outcome, model, key, ctx)
    tail = outcome.placed[-5:]
    shown = "; ".join(f"{desc(e.f, e.input, e.output)} (process {e.process})" for e in tail)
    stuck = "\n".join(
        f"  - {_entry(e, ctx)}: {desc(e.f, e.input, e.output)}" for e in outcome.stuck
    )
    lead = ""
    if outcome.stuck:
        e0 = outcome.stuck[0]
        lead = (
            f"{_entry(e0, ctx)}: {desc(e0.f, e0.input, e0.output)} fits no single order of the "
            f"operations on {key} that respects every process's order: not sequentially "
            "consistent. "
        )
    text = lead + (
        f"{_cap(DESCRIPTIONS['sequential']) if lead else DESCRIPTIONS['sequential']} on {key}: "
        "the longest order found places "
        f"{len(outcome.placed)} of its {outcome.total} operations"
        + (f" (ending: {shown})" if shown else "")
        + f", after which the state is {model.describe_state(outcome.state)} and no "
        f"process's next operation can follow it:\n{stuck}"
    )
    ops = [e.invoke.to_dict() for e in outcome.stuck]
    return Anomaly(
        "sequential", text, ops, {"key": outcome.key, "state": model.describe_state(outcome.state)}
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _entry(e: Any, ctx: dict[str, Any] | None) -> str:
    """A sequential search entry as ``op_ref`` names an op: its completion (or invocation)."""
    return op_ref(e.completion or e.invoke, ctx, outcome=e.completion is not None)


def _write_cycle_anomaly(
    outcome: Any, model: Any, key: str, ctx: dict[str, Any] | None = None
) -> Anomaly:
    """A key whose writes (each of its own value) were forced into a cycle by the processes'
    orders: each step in words, with the two ops that force it."""
    desc = model.describe_op

    def op(e: Any) -> str:
        index = e.completion.index if e.completion else e.invoke.index
        at = when((e.completion or e.invoke).time, ctx)
        return f"op {index} (at {at}): {desc(e.f, e.input, e.output)}"

    def value(v: Any) -> str:
        return "the initial value" if v is None else f"the write of {model.describe_state(v)}"

    lines, ops = [], []
    for why, a, b in outcome.cycle:
        if why is None:
            lines.append(f"  - {value(a)} comes before every write, so before {value(b)}")
            continue
        first, second = why
        node = f" on node {first.invoke.node}" if first.invoke.node else ""
        if a == b:
            lines.append(
                f"  - process {first.process}{node} read the value before it wrote it: "
                f"{op(first)}, then {op(second)}"
            )
        else:
            lines.append(
                f"  - process {first.process}{node}: {op(first)}, then {op(second)}: so "
                f"{value(a)} comes before {value(b)} (a read shows the latest write before it)"
            )
        ops += [first.invoke.to_dict(), second.invoke.to_dict()]
    steps = [w for w, _, _ in outcome.cycle if w is not None]
    said = [
        f"process {a.process}{f' on {a.invoke.node}' if a.invoke.node else ''} ran {op(a)}, "
        f"then {op(b)}"
        for a, b in steps[:3]
    ]
    lead = (
        "; ".join(said)[:1].upper()
        + "; ".join(said)[1:]
        + (f"; and {len(steps) - 3} more steps" if len(steps) > 3 else "")
        + f": no single order of the writes to {key} fits every process's order (the writes "
        "form a cycle), so the history is not sequentially consistent. "
        if said
        else ""
    )
    text = lead + (
        f"{_cap(DESCRIPTIONS['sequential'])} on {key}: each write has its own value, so every read "
        f"names the write it saw, and the processes' orders force the writes into a cycle:\n"
        + "\n".join(lines)
    )
    return Anomaly("sequential", text, ops, {"key": outcome.key, "cycle": len(outcome.cycle)})
