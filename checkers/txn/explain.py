"""Every anomaly in words: which transactions, each dependency and why it holds.

A cycle reads like Elle's explanations, with the evidence spelled out:

    G-single-item: a dependency cycle of 2 transactions with exactly one anti-dependency ...
    Let:
      T1 = op 1 (process 0, ok): append x 1; append x 2
      T2 = op 3 (process 0, ok): r x [1]
    Then:
      - T1 < T2 (wr): T2 read x = [1], whose last element 1 T1 appended, so T1 precedes T2 on x.
      - However, T2 < T1 (rw): T2 read x = [1], which does not include T1's append of 2 (the
        next element after 1), so T2 precedes T1 on x: a contradiction!
"""

from __future__ import annotations

import json
from typing import Any

from harness.history import Op

from ..base import Anomaly, when
from ._graph import PROCESS, REALTIME, RW, WR, WW
from .list_append import _UNKNOWN_PREFIX, INIT

__all__ = ["DESCRIPTIONS", "describe_cycle_class", "fmt_mop", "fmt_value", "to_anomaly"]

_LONG = 12  # a list longer than this is shown by its ends

_REL = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}

#: what each anomaly means, in one sentence
DESCRIPTIONS: dict[str, str] = {
    "G0": "write cycle: transactions overwrite each other's writes in a circle",
    "G1a": "aborted read: a committed transaction read a value written by a transaction that "
    "failed",
    "G1b": "intermediate read: a transaction read a value that another transaction overwrote "
    "before it committed",
    "G1c": "circular information flow: a cycle of write and read dependencies",
    "G-single-item": "a dependency cycle with exactly one read-write anti-dependency (read "
    "skew: one transaction missed another's write that it should have seen)",
    "G-nonadjacent-item": "a dependency cycle with several anti-dependencies, none next to "
    "another (snapshot isolation forbids it)",
    "G2-item": "a dependency cycle with two or more anti-dependencies, some adjacent (write "
    "skew on items)",
    "internal": "internal inconsistency: a transaction's read disagrees with its own earlier "
    "reads and writes",
    "future-read": "a transaction read a value it only writes later",
    "duplicate-elements": "a read shows the same appended element more than once",
    "incompatible-order": "two reads of one list that no single order of appends explains",
    "dirty-update": "a committed write built on the write of a transaction that failed",
    "lost-update": "two committed transactions read the same version of a key and both wrote "
    "it: one update is lost",
    "cyclic-versions": "the inferred order of versions of a key is cyclic",
    "empty-transaction-graph": "no dependency between any two transactions could be "
    "inferred, so nothing could be checked",
    "cycle-search-timeout": "the search for cycles ran out of time in a strongly connected "
    "component",
}


def describe_cycle_class(kind: str) -> str:
    for suffix, extra in (
        ("-realtime", ", using real-time order"),
        ("-process", ", using process order"),
    ):
        if kind.endswith(suffix):
            return DESCRIPTIONS.get(kind[: -len(suffix)], kind) + extra
    if kind.endswith("-cycle-exists"):
        return "a cycle the named model forbids exists in this component"
    return DESCRIPTIONS.get(kind, kind)


def fmt_value(v: Any) -> str:
    """A value as a person reads it: [1, 2], nil, "a"."""
    if v is None:
        return "nil"
    if v is INIT:
        return "[] (the initial empty list)"
    if isinstance(v, list | tuple):
        if len(v) > _LONG:  # a list read late in a run has hundreds of elements: the ends say it
            head = ", ".join(fmt_value(x) for x in v[:3])
            tail = ", ".join(fmt_value(x) for x in v[-4:])
            return f"[{head}, ... {len(v) - 7} more ..., {tail}] ({len(v)} elements)"
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return str(v)


def fmt_key(k: Any) -> str:
    """A key inside a sentence: ``x``, or ``key 7`` when the key is not a name."""
    return k if isinstance(k, str) and k.isidentifier() else f"key {fmt_value(k)}"


def key_phrase(k: Any) -> str:
    """``key x`` / ``key 7``."""
    return f"key {k}" if isinstance(k, str) and k.isidentifier() else f"key {fmt_value(k)}"


def fmt_mop(m: Any) -> str:
    f, k, v = m
    name = k if isinstance(k, str) and k.isidentifier() else fmt_value(k)
    return f"{f} {name} {fmt_value(v)}"


def fmt_read(m: Any) -> str:
    """What a read micro-op saw: ``x = [1, 2]``."""
    return f"{fmt_key(m[1])} = {fmt_value(m[2])}"


def _txn_line(an: Any, t: int, ctx: dict[str, Any] | None = None) -> str:
    op = an.txns.ops[t]
    mops = "; ".join(fmt_mop(m) for m in an.txns.mops[t])
    return f"{op_ref(op, ctx, outcome=True)}: {mops}"


def op_ref(op: Op, ctx: dict[str, Any] | None = None, *, outcome: bool = False) -> str:
    """ "op 1307 (process 14 on n5, ok at 1.032 s (13:22:01.123Z))": which op, who ran it, on
    which node, and when it completed (with the wall clock when ``ctx`` has the run's time
    zero), so it can be found in that node's log."""
    node = f" on {op.node}" if op.node else ""
    done = f"{op.type} at" if outcome else "at"
    return f"op {op.index} (process {op.process}{node}, {done} {when(op.time, ctx)})"


def _op_dict(op: Op) -> dict[str, Any]:
    return op.to_dict()


# -- cycles -------------------------------------------------------------------------------------


def _step_text(an: Any, a: str, b: str, step: dict[str, Any]) -> str:
    t = step["type"]
    if t == "realtime":
        ia, ib = step.get("a-index"), step.get("b-index")
        return (
            f"{a} completed (op {ia}) before {b} was invoked (op {ib}), so {a} precedes "
            f"{b} in real time"
        )
    if t == "process":
        return f"process {step['process']} ran {a} before {b}, so {a} precedes {b} in its order"
    k = fmt_key(step.get("key"))
    v2 = step.get("value'")
    if an.workload == "list-append":
        if t == "wr":
            return (
                f"{b} read {k} = {fmt_value(step['read'])}, whose last element "
                f"{fmt_value(step['value'])} {a} appended, so {a} precedes {b} "
                f"on {k}"
            )
        if t == "ww":
            return (
                f"{b} appended {fmt_value(v2)} to {k} right after {a}'s append "
                f"of {fmt_value(step['value'])} (in the order every read of {k} shows), "
                f"so {a} precedes {b} on {k}"
            )
        if t == "rw":
            if step["value"] is INIT:
                return (
                    f"{a} read {k} = {fmt_value(step['read'] or [])}, which does not "
                    f"include {b}'s append of {fmt_value(v2)} (the first "
                    f"element of {k}), so {a} precedes {b} on {k}"
                )
            return (
                f"{a} read {k} = {fmt_value(step['read'])}, which does not include {b}'s "
                f"append of {fmt_value(v2)} (the next element after "
                f"{fmt_value(step['value'])}), so {a} precedes {b} on {k}"
            )
    else:
        if t == "wr":
            return (
                f"{a} wrote {k} = {fmt_value(step['value'])}, which {b} read, so {a} "
                f"precedes {b} on {k}"
            )
        if t == "ww":
            return (
                f"{a} wrote {k} = {fmt_value(step['value'])} and {b} wrote {k} = "
                f"{fmt_value(v2)}, a later version, so {a} precedes {b} on {k}"
            )
        if t == "rw":
            what = "the initial state" if step["value"] is None else "a version before that"
            return (
                f"{a} read {k} = {fmt_value(step['value'])} ({what}) and {b} wrote {k} = "
                f"{fmt_value(v2)}, a later version, so {a} precedes {b} on "
                f"{k}"
            )
    return f"{a} precedes {b} ({t})"


def _cycle_anomaly(
    an: Any, kind: str, case: dict[str, Any], ctx: dict[str, Any] | None = None
) -> Anomaly:
    cyc = case["cycle"]
    txns = [a for a, _, _ in cyc]
    order: list[int] = []
    for t in txns:
        if t not in order:
            order.append(t)
    names = {t: f"T{i + 1}" for i, t in enumerate(order)}
    steps = []
    for a, b, rel in cyc:
        step = an.explain(a, b, rel)
        if step["type"] == "realtime":
            step["a-index"] = an.txns.ops[a].index
            step["b-index"] = _invoke_index(an, b)
        steps.append(step)
    lines = [
        f"{_capital(describe_cycle_class(kind))}; a cycle of {len(cyc)} dependencies "
        f"among {len(order)} transactions."
    ]
    if case.get("fallback"):
        lines.append("(Found after the search for worse cycles ran out of time.)")
    lines.append("Let:")
    lines += [f"  {names[t]} = {_txn_line(an, t, ctx)}" for t in order]
    lines.append("Then:")
    for i, ((a, b, _rel), step) in enumerate(zip(cyc, steps, strict=True)):
        text = _step_text(an, names[a], names[b], step)
        head = f"{names[a]} < {names[b]} ({step['type']})"
        if i == len(cyc) - 1:
            lines.append(f"  - However, {head}: {text}: a contradiction!")
        else:
            lines.append(f"  - {head}: {text}.")
    data = {
        "type": kind,
        "cycle": [names[t] for t in txns] + [names[txns[0]]],
        "txns": {names[t]: _op_dict(an.txns.ops[t]) | {"value": an.txns.mops[t]} for t in order},
        "steps": [
            _jsonable(s) | {"from": names[a], "to": names[b]}
            for (a, b, _), s in zip(cyc, steps, strict=True)
        ],
    }
    ops = [_op_dict(an.txns.ops[t]) for t in order]
    return Anomaly(kind, "\n".join(lines), ops, data)


def _invoke_index(an: Any, t: int) -> Any:
    return an.txns.invoke_index[t]


# -- everything else ----------------------------------------------------------------------------


def to_anomaly(
    an: Any, kind: str, case: dict[str, Any], ctx: dict[str, Any] | None = None
) -> Anomaly:
    """One case of an anomaly as an ``Anomaly``: a name, an explanation (each op with its
    process, node and time: with the wall clock when ``ctx`` has the run's time zero), the
    ops involved, and the case's data."""
    if "cycle" in case:
        return _cycle_anomaly(an, kind, case, ctx)
    txns = an.txns
    ops: list[dict[str, Any]] = []

    def op_of(t: int) -> str:
        op = txns.ops[t]
        ops.append(_op_dict(op))
        return op_ref(op, ctx)

    def failed(op: Op) -> str:
        ops.append(_op_dict(op))
        return op_ref(op, ctx)

    d = describe_cycle_class(kind)
    if kind == "G1a":
        reader = op_of(case["txn"])
        w = failed(case["writer"])
        text = (
            f"{reader} read {fmt_read(case['mop'])}; element {fmt_value(case['element'])} "
            f"was written by {w}, which failed: the read saw an aborted write"
        )
    elif kind == "G1b":
        reader = op_of(case["txn"])
        wt = case.get("writer-txn")
        w = op_of(wt) if wt is not None else failed(case["writer"])
        text = (
            f"{reader} read {fmt_read(case['mop'])}; {fmt_value(case['element'])} was an "
            f"intermediate write of {w}, which wrote the key again afterwards"
        )
    elif kind == "internal":
        who = op_of(case["txn"])
        exp = case["expected"]
        if isinstance(exp, list) and exp and exp[0] is _UNKNOWN_PREFIX:
            shown = "[..., " + ", ".join(fmt_value(x) for x in exp[1:]) + "]"
        else:
            shown = fmt_value(exp)
        text = (
            f"{who} read {fmt_read(case['mop'])}, but its own earlier micro-ops "
            f"({'; '.join(fmt_mop(m) for m in txns.mops[case['txn']])}) imply it should "
            f"read {shown}"
        )
        case = {**case, "expected": _jsonable(exp)}
    elif kind == "future-read":
        who = op_of(case["txn"])
        text = (
            f"{who} read {fmt_read(case['mop'])}, which includes "
            f"{fmt_value(case['element'])}, an element the same transaction appends "
            "later"
        )
    elif kind == "duplicate-elements":
        who = op_of(case["txn"])
        dups = ", ".join(f"{fmt_value(e)} ({c} times)" for e, c in case["duplicates"].items())
        text = f"{who} read {fmt_read(case['mop'])}: elements appear more than once: {dups}"
        case = {**case, "duplicates": [[e, c] for e, c in case["duplicates"].items()]}
    elif kind == "incompatible-order":
        a, b = case["values"]
        ra, rb = (op_of(t) for t in case["txns"])
        i = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), 0)
        text = (
            f"{key_phrase(case['key'])} was read as {_around(a, i)} (by {ra}) and as "
            f"{_around(b, i)} (by {rb}): they differ at position {i + 1}, so the first is not a "
            "prefix of the second, and no single order of appends explains both reads"
        )
    elif kind == "dirty-update":
        f = failed(case["failed"])
        t = op_of(case["txn"])
        text = (
            f"{key_phrase(case['key'])}: {t} committed an append that follows, in the "
            f"version order {fmt_value(case['values'])}, the append of {f}, which failed: "
            "it built on state that never existed"
        )
    elif kind == "lost-update":
        whos = [op_of(t) for t in case["txns"]]
        n = "both" if len(whos) == 2 else f"all {len(whos)}"
        text = (
            f"{', '.join(whos[:-1])} and {whos[-1]} {n} read {key_phrase(case['key'])} = "
            f"{fmt_value(case['value'])}, then wrote it, and committed: all but one of "
            "these updates is lost"
        )
    elif kind == "cyclic-versions":
        text = (
            f"{key_phrase(case['key'])}: the versions {fmt_value(case['scc'])} each "
            f"precede one another (sources: {', '.join(case['sources'])})"
        )
    elif kind == "empty-transaction-graph":
        text = (
            f"no dependency could be inferred between any two of the {case['txns']} "
            "transactions (no read saw another transaction's write, and no order was "
            "requested), so the history says nothing checkable"
        )
    elif kind == "cycle-search-timeout":
        absent = case["does-not-contain"]
        before = (
            f"; before that it had looked for {', '.join(absent)} and found none" if absent else ""
        )
        text = (
            f"the search for {case['anomaly-spec-type']} cycles in a component of "
            f"{case['scc-size']} transactions ran out of time{before}. Whatever it did not "
            "search for makes the verdict unknown, unless something found rules the "
            "history out"
        )
        case = {k: v for k, v in case.items() if k != "scc"} | {
            "scc": [txns.ops[t].index for t in case["scc"][:200]]
        }
    elif kind.endswith("-cycle-exists"):
        idx = [txns.ops[t].index for t in case["scc"]]
        text = (
            f"the {_subgraph_words(case['subgraph'])} among "
            f"{case['scc-size']} transactions (ops {', '.join(map(str, idx[:20]))}"
            f"{', ...' if len(idx) > 20 else ''}) form a cycle, which {case['not']} "
            "forbids; the search did not name a specific cycle"
        )
        case = {**case, "scc": idx}
    else:
        text = kind
    data = _jsonable(
        {
            k: v
            for k, v in case.items()
            if k not in ("txn", "txns", "writer", "failed", "writer-txn")
        }
    )
    return Anomaly(kind, f"{_capital(d)}. {_capital(text)}.", ops, data)


def _around(v: Any, i: int) -> str:
    """A long list read shown around position ``i`` (where two reads part ways)."""
    if not isinstance(v, list | tuple) or len(v) <= _LONG:
        return fmt_value(v)
    lo, hi = max(0, i - 2), min(len(v), i + 3)
    inner = ", ".join(fmt_value(x) for x in v[lo:hi])
    return f"[{'..., ' if lo else ''}{inner}{', ...' if hi < len(v) else ''}] ({len(v)} elements)"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _subgraph_words(sg: list[Any]) -> str:
    """``["union", "ww", "wr"]`` -> "ww and wr edges"; an extension adds the rw edges that
    directly follow one of those."""
    if sg and sg[0] == "extension":
        return f"{_subgraph_words(sg[1])}, with {sg[2]} edges each right after one of them,"
    names = [str(x) for x in sg[1:]]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{joined} edges"


def _jsonable(v: Any) -> Any:
    if v is INIT:
        return "init"
    if v is _UNKNOWN_PREFIX:
        return "..."
    if isinstance(v, dict):
        return {
            (k if isinstance(k, str) else json.dumps(_jsonable(k))): _jsonable(x)
            for k, x in v.items()
        }
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, Op):
        return v.to_dict()
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return repr(v)
