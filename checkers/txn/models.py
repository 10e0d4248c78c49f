"""Consistency models, the anomalies each forbids, and what a set of anomalies rules out.

This is the lattice Elle uses (``elle.consistency-model``), written out as data: which anomaly
implies which (a G0 cycle is also a G1c cycle, a dirty update is also an aborted read), which
model implies which (strict serializable implies serializable implies repeatable read ...),
and which anomalies each model forbids directly. From those three relations:

- ``prohibited_anomalies(models, anomalies)``: every anomaly that makes a check fail;
- ``boundary(found)``: ``{"not": weakest models ruled out, "also-not": the stronger rest}``,
  Elle's ``:not`` / ``:also-not``;
- ``validate_models(models)``: the models a check may be asked for, ``CHECKABLE_MODELS``;
- ``causal_models_to_check(models, anomalies)``: what the causality checker must check for
  them (session guarantees, PRAM, causal, sequential: ``checkers.causal`` finds those
  anomalies, named as it names them, ``CAUSAL_ANOMALIES``).

Sources, as Elle cites them: Adya's thesis and "Generalized Isolation Level Definitions";
Bailis et al., "Highly Available Transactions"; Cerone, Bernardi, Gotsman, "A Framework for
Transactional Consistency Models with Atomic Visibility"; Daudjee and Salem on strong session
SI; Kleppmann's Hermitage. Like Elle, "serializable" means conflict serializable (PL-3), and
strict and strong serializable are one model (PL-SS). Unlike Elle, the session guarantees,
PRAM, causal and sequential forbid an anomaly each: the one ``checkers.causal`` reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

__all__ = [
    "ALL_ANOMALIES",
    "ALL_MODELS",
    "CAUSAL_ANOMALIES",
    "CAUSAL_MODELS",
    "ELLE_MODELS",
    "CHECKABLE_MODELS",
    "CYCLE_TYPES",
    "UNKNOWN_ANOMALIES",
    "anomalies_prohibited_by",
    "anomaly_order",
    "boundary",
    "canonical_model",
    "causal_models_to_check",
    "friendly_model",
    "implied_anomalies",
    "implied_models",
    "impossible_models",
    "is_checkable",
    "prohibited_anomalies",
    "validate_anomalies",
    "validate_models",
]

# anomaly -> the anomalies it implies (a G0 cycle is trivially a G1c cycle, and so on).
_IMPLIES: dict[str, tuple[str, ...]] = {
    "G0": ("G1c", "G0-process"),
    "G0-process": ("G1c-process", "G0-realtime"),
    "G0-realtime": ("G1c-realtime",),
    "G1a": ("G1",),
    "G1b": ("G1",),
    "G1c": ("G1", "G1c-process"),
    "G1c-process": ("G1c-realtime", "G1-process"),
    "G1c-realtime": ("G1-realtime",),
    "G1": ("G1-process",),
    "G1-process": ("G1-realtime",),
    "G-single-item": ("G-single", "G-single-item-process", "G-nonadjacent-item"),
    "G-single-item-process": ("G-single-process", "G-single-item-realtime",
                              "G-nonadjacent-item-process"),
    "G-single-item-realtime": ("G-single-realtime", "G-nonadjacent-item-realtime"),
    "G-single": ("G-nonadjacent", "GSIb", "G-single-process"),
    "G-single-process": ("G-nonadjacent-process", "G-single-realtime"),
    "G-single-realtime": ("G-nonadjacent-realtime",),
    "G-nonadjacent-item": ("G-nonadjacent", "G2-item", "G-nonadjacent-item-process"),
    "G-nonadjacent-item-process": ("G-nonadjacent-process", "G2-item-process",
                                   "G-nonadjacent-item-realtime"),
    "G-nonadjacent-item-realtime": ("G2-item-realtime", "G-nonadjacent-realtime"),
    "G-nonadjacent": ("G2", "G-nonadjacent-process"),
    "G-nonadjacent-process": ("G2-process", "G-nonadjacent-realtime"),
    "G-nonadjacent-realtime": ("G2-realtime",),
    "G2": ("G2-process",),
    "G2-item": ("G2", "G2-item-process"),
    "G2-item-process": ("G2-process", "G2-item-realtime"),
    "G2-item-realtime": ("G2-realtime",),
    "G2-process": ("G2-realtime",),
    "GSIa": ("GSI",),
    "GSIb": ("GSI",),
    # Two reads of one list that no single order of appends explains: a dirty read.
    "incompatible-order": ("G1a",),
    # A transaction that reads what it appends later is a one-transaction wr cycle.
    "future-read": ("G1c",),
    # A committed append after an aborted one: a dirty read, extended to writes.
    "dirty-update": ("G1a",),
    # Two transactions read the same version and both wrote the key (Adya's H_lu).
    "lost-update": ("write-skew", "G2-item"),
    "write-skew": ("G2",),
}  # fmt: skip

# Not implication, only "worse than": orders the cycle search so the worst is sought first.
_SEVERITY: dict[str, tuple[str, ...]] = {
    "G0": ("G1c",),
    "G0-process": ("G1c-process",),
    "G0-realtime": ("G1c-realtime",),
    "G1c": ("G-single", "G2-item"),
    "G1c-process": ("G-single-process", "G2-item-process"),
    "G1c-realtime": ("G-single-realtime", "G2-item-realtime"),
    "G2": ("G0-process",),
    "G2-process": ("G0-realtime",),
}

# Friendly names of the models that have a canonical (Adya) name.
_CANONICAL: dict[str, str] = {
    "consistent-view": "PL-2+",
    "conflict-serializable": "PL-3",
    "cursor-stability": "PL-CS",
    "forward-consistent-view": "PL-FCV",
    "monotonic-snapshot-read": "PL-MSR",
    "monotonic-view": "PL-2L",
    "read-committed": "PL-2",
    "read-uncommitted": "PL-1",
    "repeatable-read": "PL-2.99",
    "serializable": "PL-3",
    "snapshot-isolation": "PL-SI",
    "strict-serializable": "PL-SS",
    "strong-serializable": "PL-SS",
    "update-serializable": "PL-3U",
    "strong-session-read-uncommitted": "strong-session-PL-1",
    "strong-session-read-committed": "strong-session-PL-2",
    "strong-read-uncommitted": "strong-PL-1",
    "strong-read-committed": "strong-PL-2",
}
_FRIENDLY: dict[str, str] = {
    **{v: k for k, v in _CANONICAL.items()},
    "PL-3": "serializable",
    "PL-SS": "strong-serializable",  # as Elle prints it
}

# model -> the weaker models it implies (a history that satisfies the first satisfies these).
_MODEL_IMPLIES: dict[str, tuple[str, ...]] = {
    "causal-cerone": ("read-atomic",),
    "consistent-view": ("cursor-stability", "monotonic-view"),
    "conflict-serializable": ("view-serializable",),
    "cursor-stability": ("read-committed",),
    "forward-consistent-view": ("consistent-view",),
    "read-committed": ("read-uncommitted",),
    "serializable": ("repeatable-read", "update-serializable", "snapshot-isolation",
                     "view-serializable"),
    "update-serializable": ("forward-consistent-view",),
    "monotonic-atomic-view": ("read-committed",),
    "monotonic-view": ("read-committed",),
    "monotonic-snapshot-read": ("read-committed",),
    # ROLA, which PSI implementations provide, gives update atomicity (Cerone).
    "parallel-snapshot-isolation": ("causal-cerone", "update-atomic"),
    "prefix": ("causal-cerone",),
    "read-atomic": ("monotonic-atomic-view",),
    "repeatable-read": ("cursor-stability", "monotonic-atomic-view"),
    "update-atomic": ("read-atomic",),
    "session-serializable": ("1SR",),
    "snapshot-isolation": ("forward-consistent-view", "monotonic-atomic-view",
                           "monotonic-snapshot-read", "parallel-snapshot-isolation", "prefix"),
    "strict-serializable": ("serializable", "linearizable", "snapshot-isolation",
                            "strong-snapshot-isolation", "strong-session-serializable",
                            "session-serializable"),
    "strong-session-read-uncommitted": ("read-uncommitted",),
    "strong-session-read-committed": ("read-committed", "strong-session-read-uncommitted"),
    "strong-read-uncommitted": ("strong-session-read-uncommitted",),
    "strong-read-committed": ("strong-session-read-committed", "strong-read-uncommitted"),
    "strong-session-serializable": ("serializable", "strong-session-snapshot-isolation"),
    "strong-session-snapshot-isolation": ("snapshot-isolation", "strong-session-read-committed"),
    "strong-snapshot-isolation": ("strong-session-snapshot-isolation", "strong-read-committed"),
    "linearizable": ("sequential",),
    "sequential": ("causal",),
    "causal": ("writes-follow-reads", "PRAM"),
    "PRAM": ("monotonic-reads", "monotonic-writes", "read-your-writes"),
}  # fmt: skip

# model -> the anomalies it forbids directly (weaker models it implies forbid the rest).
_FORBIDS: dict[str, tuple[str, ...]] = {
    "causal-cerone": ("internal", "G1a"),
    "cursor-stability": ("G1", "G-cursor", "lost-update"),
    "monotonic-view": ("G1", "G-monotonic"),
    "monotonic-snapshot-read": ("G1", "G-MSR"),
    "consistent-view": ("G1", "G-single"),
    "forward-consistent-view": ("G1", "G-SIb"),
    "parallel-snapshot-isolation": ("internal", "G1a"),
    "serializable": ("G1", "G2", "internal", "predicate-read-miss", "PL-3-cycle-exists"),
    "read-committed": ("G1", "PL-2-cycle-exists"),
    "read-uncommitted": ("G0", "duplicate-elements", "cyclic-versions", "PL-1-cycle-exists"),
    "prefix": ("internal", "G1a"),
    # Generalized SI forbids every cycle whose rw edges are all non-adjacent (Cerone, Gotsman).
    "snapshot-isolation": ("internal", "G1", "G-SI", "G-nonadjacent", "PL-SI-cycle-exists"),
    "read-atomic": ("internal", "G1a", "future-read"),
    "repeatable-read": ("G1", "G2-item", "PL-2.99-cycle-exists", "lost-update"),
    "update-atomic": ("lost-update",),
    "strict-serializable": ("G1", "G1c-realtime", "G2-realtime", "PL-SS-cycle-exists"),
    "strong-session-read-uncommitted": ("strong-session-PL-1-cycle-exists", "G0-process"),
    "strong-session-read-committed": ("strong-session-PL-2-cycle-exists", "G1c-process"),
    "strong-read-uncommitted": ("strong-PL-1-cycle-exists", "G0-realtime"),
    "strong-read-committed": ("strong-PL-2-cycle-exists", "G1c-realtime"),
    "strong-session-snapshot-isolation": ("internal", "G1-process", "G-nonadjacent-process",
                                          "strong-session-snapshot-isolation-cycle-exists"),
    "strong-snapshot-isolation": ("internal", "G1-realtime", "G-nonadjacent-realtime",
                                  "strong-snapshot-isolation-cycle-exists"),
    "strong-session-serializable": ("G1-process", "G2-process",
                                    "strong-session-serializable-cycle-exists"),
    "update-serializable": ("G1", "G-update"),
    # Not Elle's (it forbids nothing for these): the anomalies checkers.causal reports, each
    # named as the guarantee it breaks.
    "read-your-writes": ("read-your-writes",),
    "monotonic-reads": ("monotonic-reads",),
    "monotonic-writes": ("monotonic-writes",),
    "writes-follow-reads": ("writes-follow-reads",),
    "PRAM": ("PRAM",),
    "causal": ("causal", "causal-cycle"),
    "sequential": ("sequential",),
}  # fmt: skip

#: The models checkers.causal checks, weakest first, and the anomalies it reports for them.
CAUSAL_MODELS: tuple[str, ...] = (
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
    "PRAM",
    "causal",
    "sequential",
)
CAUSAL_ANOMALIES: frozenset[str] = frozenset(a for m in CAUSAL_MODELS for a in _FORBIDS[m])

#: Anomalies that make a check "unknown" rather than false: we could not look.
UNKNOWN_ANOMALIES: frozenset[str] = frozenset({"empty-transaction-graph", "cycle-search-timeout"})

_BASE_CYCLES = ("G0", "G1c", "G-single-item", "G-nonadjacent-item", "G2-item")
#: The cycle anomalies the search can name (no predicate reads here, so no G-single / G2).
CYCLE_TYPES: tuple[str, ...] = tuple(
    f"{base}{suffix}" for base in _BASE_CYCLES for suffix in ("", "-process", "-realtime")
)


def canonical_model(model: str) -> str:
    """The canonical (Adya) name of a model, e.g. ``serializable`` -> ``PL-3``."""
    return _CANONICAL.get(model, model)


def friendly_model(model: str) -> str:
    """The friendly name of a model, e.g. ``PL-2`` -> ``read-committed``."""
    c = canonical_model(model)
    return _FRIENDLY.get(c, c)


def _canon_graph(graph: dict[str, tuple[str, ...]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for k, vs in graph.items():
        out.setdefault(canonical_model(k), set()).update(canonical_model(v) for v in vs)
    return out


_MODELS_OUT = _canon_graph(_MODEL_IMPLIES)
_MODELS_IN: dict[str, set[str]] = {}
for _m, _ws in _MODELS_OUT.items():
    for _w in _ws:
        _MODELS_IN.setdefault(_w, set()).add(_m)
_FORBIDS_C: dict[str, set[str]] = {}
for _m, _as in _FORBIDS.items():
    _FORBIDS_C.setdefault(canonical_model(_m), set()).update(_as)
_FORBIDDEN_BY: dict[str, set[str]] = {}
for _m, _as2 in _FORBIDS_C.items():
    for _a in _as2:
        _FORBIDDEN_BY.setdefault(_a, set()).add(_m)
_IMPLIED_BY: dict[str, set[str]] = {}
for _a, _bs in _IMPLIES.items():
    for _b in _bs:
        _IMPLIED_BY.setdefault(_b, set()).add(_a)

#: Every model name accepted (friendly and canonical).
ALL_MODELS: frozenset[str] = frozenset(
    {*_CANONICAL, *_CANONICAL.values(), *_MODELS_OUT, *_MODELS_IN, *_FORBIDS_C}
)
#: Every anomaly name accepted in ``anomalies=``.
ALL_ANOMALIES: frozenset[str] = frozenset(
    {
        *_IMPLIES,
        *(b for bs in _IMPLIES.values() for b in bs),
        *_FORBIDDEN_BY,
        *CYCLE_TYPES,
        *UNKNOWN_ANOMALIES,
    }
)


#: The models Elle's own anomalies decide, by friendly name: each forbids an anomaly the
#: cycle search or the inference of list-append / rw-register finds. elle-cli, which checks
#: only Elle's anomalies, can check exactly these (``checkers.elle_cli.CHECKABLE_MODELS``).
ELLE_MODELS: frozenset[str] = frozenset(
    {
        "read-uncommitted",
        "read-committed",
        "cursor-stability",
        "monotonic-view",
        "monotonic-snapshot-read",
        "monotonic-atomic-view",
        "consistent-view",
        "forward-consistent-view",
        "update-serializable",
        "repeatable-read",
        "read-atomic",
        "update-atomic",
        "causal-cerone",
        "prefix",
        "parallel-snapshot-isolation",
        "snapshot-isolation",
        "serializable",
        "conflict-serializable",
        "strict-serializable",
        "strong-serializable",
        "strong-session-read-uncommitted",
        "strong-session-read-committed",
        "strong-session-snapshot-isolation",
        "strong-session-serializable",
        "strong-read-uncommitted",
        "strong-read-committed",
        "strong-snapshot-isolation",
    }
)

#: The models the list-append and rw-register checkers can check, by friendly name (their
#: Adya names are accepted too): Elle's, by the cycle search, and (read-your-writes ..
#: sequential) the causality checker's, which they call.
#: The other models of the lattice are there only because stronger models imply them:
#: 1SR, view-serializable and session-serializable forbid no anomaly found here, so a check
#: "under" them could only ever say valid; linearizable implies sequential, but what it adds
#: (``_UNCHECKED_PART``) nothing here checks alone. Asking for one is refused. Some checkable
#: models also forbid an anomaly no checker here looks for (G-cursor, G-monotonic, G-SI,
#: G-SIb, G-MSR, G-update, predicate reads): Elle checks them the same way, by the anomalies
#: it does find.
CHECKABLE_MODELS: frozenset[str] = ELLE_MODELS | frozenset(CAUSAL_MODELS)

#: Models that forbid an anomaly found here but ask for more, which nothing here checks: a
#: check by their anomalies alone would call valid a history they forbid.
_UNCHECKED_PART: dict[str, str] = {
    "linearizable": "adds real-time order to sequential consistency (a read may not miss a "
    "write that completed before it began), which is checked only as part of "
    "strict-serializable",
}


def is_checkable(model: str, checkable: frozenset[str] = CHECKABLE_MODELS) -> bool:
    """Whether ``model`` (friendly or Adya name) is one ``checkable`` (a table of friendly
    names, by default ``CHECKABLE_MODELS``) names."""
    return canonical_model(model) in _canonical_set(checkable)


@cache
def _canonical_set(models: frozenset[str]) -> frozenset[str]:
    return frozenset(canonical_model(m) for m in models)


def implied_models(models: Iterable[str]) -> set[str]:
    """The models (friendly or Adya names) and every model they imply, by friendly name."""
    return {friendly_model(m) for m in _closure(map(canonical_model, models), _MODELS_OUT)}


def causal_models_to_check(models: Iterable[str], anomalies: Iterable[str] = ()) -> list[str]:
    """What ``checkers.causal`` must check (the strongest names from ``CAUSAL_MODELS``) for
    ``models`` and the extra ``anomalies`` asked for: the causal models they imply, and those
    forbidding an anomaly asked for. Empty when nothing there is needed.

    For transactions, sequential consistency is strong session serializability, which the
    cycle search checks itself (with process order) whenever the models imply it, as
    strict-serializable does: then only causal and the weaker ones are left to it."""
    implied = implied_models(models)
    wanted = {m for m in CAUSAL_MODELS if m in implied}
    wanted |= {m for a in anomalies if a in CAUSAL_ANOMALIES for m in _FORBIDDEN_BY[a]}
    if "sequential" in wanted and "strong-session-serializable" in implied:
        wanted = (wanted - {"sequential"}) | {"causal"}
    # The strongest suffice: the causality checker checks what they imply.
    return [
        m
        for m in CAUSAL_MODELS
        if m in wanted and not any(m in implied_models([o]) for o in wanted - {m})
    ]


def _closure(
    start: Iterable[str], edges: dict[str, set[str]] | dict[str, tuple[str, ...]]
) -> set[str]:
    seen = set(start)
    stack = list(seen)
    while stack:
        x = stack.pop()
        for y in edges.get(x, ()):
            if y not in seen:
                seen.add(y)
                stack.append(y)
    return seen


def implied_anomalies(anomalies: Iterable[str]) -> set[str]:
    """The anomalies, and every anomaly they imply."""
    return _closure(anomalies, _IMPLIES)


def _anomalies_implying(anomalies: Iterable[str]) -> set[str]:
    return _closure(anomalies, _IMPLIED_BY)


def validate_models(
    models: Iterable[str],
    checkable: frozenset[str] = CHECKABLE_MODELS,
    *,
    finder: str = "the transactional checkers",
    hint: str = "",
) -> list[str]:
    """The models, or ValueError (one line) naming every model asked for that is unknown, or
    known but not in ``checkable`` (friendly names; ``CHECKABLE_MODELS`` by default) and why,
    and the models that can be checked. ``finder`` names who finds the anomalies and ``hint``
    says where else to turn, for the message."""
    out = list(models)
    allowed = "checkable models: " + ", ".join(sorted(checkable, key=str.lower))
    unknown = [m for m in out if m not in ALL_MODELS]
    if unknown:
        raise ValueError(
            f"unknown consistency model{_s(unknown)} {_quoted(unknown)} in "
            f"'consistency_models'; {allowed}"
        )
    unchecked = [m for m in out if not is_checkable(m, checkable)]
    if unchecked:
        partly = [
            m
            for m in unchecked
            if checkable is CHECKABLE_MODELS and friendly_model(m) in _UNCHECKED_PART
        ]
        rest = [m for m in unchecked if m not in partly]
        named = len(set(unchecked)) > 1  # say which model each reason is about
        why = [
            (f"{m!r} " if named else "it ") + _UNCHECKED_PART[friendly_model(m)]
            for m in dict.fromkeys(partly)
        ]
        if rest:
            who = (f"{_quoted(rest)} " if named else "it ") + (
                "forbid" if len(set(rest)) > 1 else "forbids"
            )
            why.insert(0, f"{who} no anomaly {finder} can find, so the check could only say valid")
        raise ValueError(
            f"consistency model{_s(unchecked)} {_quoted(unchecked)} cannot be checked yet: "
            f"{'; '.join(why)}{hint}; {allowed}"
        )
    return out


def _s(names: list[str]) -> str:
    return "" if len(names) == 1 else "s"


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in dict.fromkeys(names))


def validate_anomalies(anomalies: Iterable[str]) -> list[str]:
    """The anomaly names, or ValueError naming the unknown one and the allowed names."""
    out = list(anomalies)
    for a in out:
        if a not in ALL_ANOMALIES:
            raise ValueError(
                f"unknown anomaly {a!r} in 'anomalies'; allowed: "
                + ", ".join(sorted(ALL_ANOMALIES, key=str.lower))
            )
    return out


def anomalies_prohibited_by(models: Iterable[str]) -> set[str]:
    """Every anomaly that cannot be present if all of ``models`` hold."""
    implied = _closure((canonical_model(m) for m in models), _MODELS_OUT)
    direct = {a for m in implied for a in _FORBIDS_C.get(m, ())}
    return _anomalies_implying(direct)


def prohibited_anomalies(models: Iterable[str], anomalies: Iterable[str]) -> set[str]:
    """The anomalies that make a check fail: those the models forbid, plus the requested
    anomalies and every anomaly that implies one of them."""
    return anomalies_prohibited_by(models) | _anomalies_implying(anomalies)


def impossible_models(found: Iterable[str]) -> set[str]:
    """Canonical names of every model the found anomalies rule out."""
    direct = {m for a in implied_anomalies(found) for m in _FORBIDDEN_BY.get(a, ())}
    return _closure(direct, _MODELS_IN)


def boundary(found: Iterable[str]) -> dict[str, list[str]]:
    """``{"not": [...], "also-not": [...]}``: the weakest models the anomalies rule out, and
    the other (stronger) models ruled out, by friendly name, sorted."""
    impossible = impossible_models(found)
    weakest = {
        m for m in impossible if not (_closure(_MODELS_OUT.get(m, ()), _MODELS_OUT) & impossible)
    }
    return {
        "not": sorted({friendly_model(m) for m in weakest}),
        "also-not": sorted({friendly_model(m) for m in impossible - weakest}),
    }


@cache
def _depths() -> dict[str, int]:
    """Longest chain of implication (or severity) above each anomaly: 0 for the worst."""
    edges: dict[str, set[str]] = {}
    for g in (_IMPLIES, _SEVERITY):
        for a, targets in g.items():
            edges.setdefault(a, set()).update(targets)
    nodes = set(edges) | {b for bs in edges.values() for b in bs}
    preds: dict[str, set[str]] = {n: set() for n in nodes}
    for a, bs in edges.items():
        for b in bs:
            preds[b].add(a)
    depth: dict[str, int] = {}

    def d(n: str) -> int:
        if n not in depth:
            depth[n] = 1 + max((d(p) for p in preds[n]), default=-1)
        return depth[n]

    for n in nodes:
        d(n)
    return depth


def anomaly_order(names: Iterable[str]) -> list[str]:
    """``names`` sorted worst first, as Elle orders its cycle search: by depth in the
    implication and severity graphs, then by name."""
    depth = _depths()
    return sorted(names, key=lambda n: (depth.get(n, 0), n))
