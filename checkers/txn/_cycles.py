"""Which cycles the graph holds: per strongly connected component, first which consistency
models' subgraphs are cyclic at all ("cycle exists" anomalies, cheap), then a shortest cycle
of each named class that may be there, worst class first, skipping classes implied by one
already found (as Elle's ``elle.txn/cycle-cases-in-scc``)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from ._graph import (
    PROCESS,
    REALTIME,
    RW,
    WR,
    WW,
    Component,
    Cycle,
    SearchTimeout,
    Spec,
    any_cycle,
    components,
    cyclic_core,
    find_cycle,
    has_cycle,
)
from .models import (
    CYCLE_TYPES,
    anomalies_prohibited_by,
    anomaly_order,
    canonical_model,
    friendly_model,
    implied_anomalies,
    impossible_models,
)

__all__ = ["CYCLE_EXISTS", "classify", "find_cycles"]

#: (canonical model, relations whose subgraph must be acyclic, relation allowed only right
#: after one of those) -- a cycle there is the anomaly "<model>-cycle-exists".
CYCLE_EXISTS: tuple[tuple[str, int, int], ...] = (
    ("PL-1", WW, 0),
    ("PL-2", WW | WR, 0),
    ("PL-SI", WW | WR, RW),
    ("PL-3", WW | WR | RW, 0),
    ("strong-session-PL-1", WW | PROCESS, 0),
    ("strong-session-PL-2", WW | WR | PROCESS, 0),
    ("strong-session-snapshot-isolation", WW | WR | PROCESS, RW),
    ("strong-session-serializable", WW | WR | RW | PROCESS, 0),
    ("strong-PL-1", WW | REALTIME, 0),
    ("strong-PL-2", WW | WR | REALTIME, 0),
    ("strong-snapshot-isolation", WW | WR | REALTIME, RW),
    ("PL-SS", WW | WR | RW | REALTIME, 0),
)
_VARIANTS = {"": 0, "-process": PROCESS, "-realtime": REALTIME}


@cache
def _spec(kind: str) -> tuple[Spec, bool]:
    for suffix in ("-process", "-realtime"):
        if kind.endswith(suffix):
            base, v = kind[: -len(suffix)], _VARIANTS[suffix]
            break
    else:
        base, v = kind, 0
    if base == "G0":
        return Spec(WW, variant=v), False
    if base == "G1c":
        return Spec(WW, WR, at_least=1, variant=v), False
    if base == "G-single-item":
        return Spec(WW | WR, RW, exactly_one=True, variant=v), True
    if base == "G-nonadjacent-item":
        return Spec(WW | WR, RW, at_least=2, nonadjacent=True, variant=v), False
    if base == "G2-item":
        return Spec(WW | WR, RW, at_least=2, variant=v), False
    raise ValueError(f"no cycle search for {kind!r}")


def classify(cycle: Cycle) -> str:
    """The class of a cycle from the relations its edges were used as, as Elle names it."""
    rels = [r for _, _, r in cycle]
    n_rw = rels.count(RW)
    if n_rw == 1:
        base = "G-single-item"
    elif n_rw > 1:
        adjacent = any(a == RW and b == RW for a, b in zip(rels, rels[1:] + rels[:1], strict=True))
        base = "G2-item" if adjacent else "G-nonadjacent-item"
    elif WR in rels:
        base = "G1c"
    else:
        base = "G0"
    if REALTIME in rels:
        return base + "-realtime"
    if PROCESS in rels:
        return base + "-process"
    return base


def find_cycles(
    n: int, out: list[list[int]], deadline: float
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Anomaly type -> cases for every cycle anomaly in the graph, and statistics."""
    cases: dict[str, list[dict[str, Any]]] = {}
    core = cyclic_core(n, out)
    stats: dict[str, Any] = {"cyclic-core": len(core), "sccs": 0, "largest-scc": 0}
    if not core:
        return cases, stats
    sccs = components(core, out)
    stats["sccs"] = len(sccs)
    stats["largest-scc"] = max((c.n for c in sccs), default=0)
    for g in sccs:
        _scc_cases(g, deadline, cases)
    return cases, stats


def _scc_cases(g: Component, deadline: float, cases: dict[str, list[dict[str, Any]]]) -> None:
    present = g.present
    # Which models' subgraphs are cyclic here.
    exists: list[str] = []
    redundant: set[str] = set()
    for model, mask, ext in CYCLE_EXISTS:
        if model in redundant:
            continue
        comp = has_cycle(g, mask & present, ext & present) if mask & present else []
        if comp:
            kind = f"{model}-cycle-exists"
            cases.setdefault(kind, []).append(
                {
                    "type": kind,
                    "not": friendly_model(model),
                    "scc-size": len(comp),
                    "scc": [g.ids[x] for x in comp],
                    "subgraph": _subgraph_name(mask, ext),
                }
            )
            exists.append(model)
            redundant |= impossible_models_of(model)
    impossible = impossible_models_of(*exists) if exists else set()
    possible = {m for m, _, _ in CYCLE_EXISTS} - impossible
    cannot = set(CYCLE_TYPES) & anomalies_prohibited_by(possible)
    # Named cycles, worst first.
    searched: list[str] = []
    found_types: list[str] = []
    skip: set[str] = set()
    current = ""
    try:
        for kind in anomaly_order(CYCLE_TYPES):
            if kind in skip or kind in cannot:
                continue
            spec, single = _spec(kind)
            if spec.variant and not spec.variant & present:
                continue
            current = kind
            searched.append(kind)
            if time.monotonic() > deadline:
                raise SearchTimeout
            cyc = find_cycle(g, spec, deadline, single=single)
            if cyc is None:
                continue
            cls = classify(cyc)
            cases.setdefault(cls, []).append({"type": cls, "cycle": g.globalize(cyc)})
            found_types.append(cls)
            skip |= implied_anomalies([kind, cls])
    except SearchTimeout:
        cases.setdefault("cycle-search-timeout", []).append(
            {
                "type": "cycle-search-timeout",
                "anomaly-spec-type": current,
                "does-not-contain": [k for k in searched[:-1] if k not in found_types],
                "scc-size": g.n,
                "scc": g.ids,
            }
        )
        cyc = any_cycle(g)
        cls = classify(cyc)
        cases.setdefault(cls, []).append({"type": cls, "cycle": g.globalize(cyc), "fallback": True})


def impossible_models_of(*models: str) -> set[str]:
    """A model and every (canonical) model that implies it."""
    # A model is ruled out by the anomaly "<model>-cycle-exists"; reuse the lattice.
    return impossible_models([f"{canonical_model(m)}-cycle-exists" for m in models])


def _subgraph_name(mask: int, ext: int) -> list[Any]:
    names = [
        n
        for bit, n in (
            (WW, "ww"),
            (WR, "wr"),
            (RW, "rw"),
            (PROCESS, "process"),
            (REALTIME, "realtime"),
        )
        if mask & bit
    ]
    union: list[Any] = ["union", *names]
    return ["extension", union, "rw"] if ext else union


def deadline_after(seconds: float) -> float:
    return time.monotonic() + seconds
