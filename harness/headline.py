"""The one line a failure leads with: which kinds of anomaly, how many of each, worst first
("22 anomalies: G0 x5, incompatible-order x10, G-single-item x6, G2-item x1: not even
read-uncommitted"), and the shortest example of the worst kind.

A night's failures are read by people who were not there: the terminal, JUnit and the
report's banner all start with this line, so the worst thing found is the first thing read,
whichever checker found it and in whatever order the checkers ran.

Severity, worst first, across every checker's kinds:

1. data lost or invented: an acknowledged write gone, a total changed, a value never written;
2. exclusion broken: two holders of a lock or lease, two leaders of one term;
3. transactional isolation, in Elle's hierarchy: a kind is as bad as the weakest model it rules
   out (G0 rules out read-uncommitted, so it comes before G1c, which rules out read-committed,
   before G-single-item and G2-item, repeatable-read);
4. a single object's consistency: stale reads, causal and session anomalies, missed events;
5. ordering notes: clocks that tie or run backwards, events out of order.

A kind this module does not know goes with the fourth group: never above a known loss, never
hidden below the notes.

``anomalies`` are ``checkers.base.Anomaly`` objects or their ``to_dict()`` form (as
results.json holds them); ``anomalies_of(results)`` collects them from a results.json.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

__all__ = [
    "anomalies_of",
    "by_kind",
    "describe",
    "explanation_of",
    "headline",
    "kinds_worst_first",
    "name_of",
    "severity",
    "worst_example",
]

# Groups 1, 2, 4 and 5 in their order of severity; within a group, worst first.
_LOST = (
    "lost-acknowledged-write",
    "acknowledged-write-lost",
    "lost-write",
    "lost",
    "lost-message",
    "total-changed",
    "wrong-total",
    "negative-value",
    "unexpected-key",
    "nil-balance",
    "committed-logs-diverge",
    "replicas-differ",
    "members-disagree",
    "cas-missed-write",
    "version-reused",
    "uncommitted-entry-served",
    "truncated-entry-served",
    "counter-out-of-bounds",
    "unexpected",
    "unexpected-message",
    "unknown-value",
    "duplicated",
    "duplicated-id",
)
_EXCLUSION = (
    "mutual-exclusion",
    "two-holders-one-epoch",
    "leases-overlap",
    "two-leaders-in-term",
    "stale-write-accepted",
    "stale-leader-acted",
    "token-reused",
    "token-went-backwards",
    "delivered-twice",
)
_CONSISTENCY = (
    "nonlinearizable",
    "stale",
    "long-fork",
    "sequential",
    "causal-cycle",
    "causal",
    "PRAM",
    "writes-follow-reads",
    "monotonic-writes",
    "monotonic-reads",
    "read-your-writes",
    "went-back",
    "dominated-sibling",
    "read-beyond-hwm",
    "event-for-failed-write",
    "missed-event",
    "wrong-revision",
    "split-revision",
    "watchers-disagree",
    "unknown-event",
    "event-before-start",
    "bound-violated",
    "not-recovered",
    "members-not-converged",
    "version-went-backwards",
    "cas-saw-wrong-value",
    "read-version-mismatch",
    "accepted-beyond-max-offset",
    "l-too-far-ahead",
)
_NOTES = (
    "causality-broken",
    "clock-condition",
    "not-monotonic",
    "c-not-reset",
    "c-unbounded",
    "out-of-order",
    "revision-order",
    "tie",
    "event-id-reused",
    "inconsistent-reports",
)
_GROUPS: dict[str, tuple[int, int]] = {
    kind: (group, i)
    for group, kinds in ((0, _LOST), (1, _EXCLUSION), (3, _CONSISTENCY), (4, _NOTES))
    for i, kind in enumerate(kinds)
}
_TXN = 2
_UNKNOWN_KIND = (3, len(_CONSISTENCY))


def headline(anomalies: Iterable[Any]) -> str:
    """ "22 anomalies: G0 x5, incompatible-order x10, G-single-item x6, G2-item x1: not even
    read-uncommitted": the count, each kind with its count worst first, and (when there are
    transactional kinds) the weakest isolation levels they rule out. "no anomalies" for none."""
    counts = Counter(name_of(a) for a in anomalies)
    total = sum(counts.values())
    if not total:
        return "no anomalies"
    kinds = kinds_worst_first(counts)
    listed = ", ".join(f"{k} x{counts[k]}" for k in kinds)
    line = f"{total} {'anomaly' if total == 1 else 'anomalies'}: {listed}"
    ruled_out = _ruled_out(kinds)
    return f"{line}: {ruled_out}" if ruled_out else line


def worst_example(anomalies: Iterable[Any]) -> Any | None:
    """The shortest example of the worst kind: of the anomalies of that kind, the one with the
    fewest operations, then the shortest explanation (the easiest to read first). None when
    there are none."""
    listed = list(anomalies)
    if not listed:
        return None
    worst = kinds_worst_first(name_of(a) for a in listed)[0]
    return min(
        (a for a in listed if name_of(a) == worst),
        key=lambda a: (len(_field(a, "ops") or ()), len(_field(a, "explanation") or "")),
    )


def describe(anomaly: Any) -> str:
    """One anomaly as the terminal and JUnit give it: its kind, when (relative and wall
    clock) with the faults then in force, as ``faults_in_force.annotate`` recorded it in
    ``when``, and its explanation: "G0 at 12.310-12.402 s (13:22:01.123Z-13:22:01.215Z),
    during partition halves (...): ..."."""
    when = _field(anomaly, "when")
    text = when.get("text") if isinstance(when, Mapping) else None
    head = name_of(anomaly) + (f" {text}" if text else "")
    return f"{head}: {explanation_of(anomaly)}"


def explanation_of(anomaly: Any) -> str:
    """The anomaly's explanation without its kind repeated in front of it (results written
    before the checkers stopped doing so said "G-single-item: G-single-item: ...")."""
    text = str(_field(anomaly, "explanation") or "").strip()
    prefix = name_of(anomaly) + ":"
    while text.startswith(prefix):
        text = text[len(prefix) :].lstrip()
    return text


def kinds_worst_first(kinds: Iterable[str]) -> list[str]:
    """The distinct kinds, worst first (see the module docstring)."""
    return sorted(set(kinds), key=severity)


def by_kind(anomalies: Iterable[Any]) -> dict[str, list[Any]]:
    """The anomalies grouped by kind, the kinds worst first, each kind's in their order."""
    groups: dict[str, list[Any]] = {}
    for a in anomalies:
        groups.setdefault(name_of(a), []).append(a)
    return {k: groups[k] for k in kinds_worst_first(groups)}


@cache
def severity(kind: str) -> tuple[int, int, str]:
    """The sort key of a kind: lower is worse."""
    if kind in _GROUPS:
        group, i = _GROUPS[kind]
        return (group, i, kind)
    rank = _txn_rank(kind)
    if rank is not None:
        return (_TXN, rank, kind)
    return (*_UNKNOWN_KIND, kind)


def anomalies_of(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every anomaly of a results.json (``{"checkers": {name: {"anomalies": [...]}}}``), each
    a dict with its checker's name added as ``checker``, in the checkers' order."""
    out: list[dict[str, Any]] = []
    for checker, r in (results.get("checkers") or {}).items():
        for a in (r or {}).get("anomalies") or ():
            out.append({**a, "checker": checker})
    return out


def name_of(anomaly: Any) -> str:
    """An anomaly's kind, from an Anomaly or its dict."""
    return str(_field(anomaly, "name"))


def _field(anomaly: Any, key: str) -> Any:
    if isinstance(anomaly, Mapping):
        return anomaly.get(key)
    return getattr(anomaly, key, None)


def _txn_kinds() -> tuple[frozenset[str], frozenset[str]]:
    # imported here: a report or a summary of a run without transactions need not load Elle's
    # lattice (checkers.txn imports the whole transactional checker)
    from checkers.txn.models import ALL_ANOMALIES, CAUSAL_ANOMALIES, UNKNOWN_ANOMALIES

    return ALL_ANOMALIES, CAUSAL_ANOMALIES | UNKNOWN_ANOMALIES


@cache
def _txn_rank(kind: str) -> int | None:
    """How weak the weakest model ``kind`` rules out is (the number of models that model
    implies, itself included: read-uncommitted 1, read-committed 2, repeatable-read 5...), then
    Elle's own order as the tie-break; None for a kind outside Elle's lattice."""
    from checkers.txn.models import anomaly_order, implied_models, impossible_models

    known, other = _txn_kinds()
    if kind not in known or kind in other:
        return None
    ruled_out = impossible_models([kind])
    weakest = min((len(implied_models([m])) for m in ruled_out), default=1000)
    order = anomaly_order(known - other)
    return weakest * 1000 + order.index(kind)


def _ruled_out(kinds: list[str]) -> str:
    """ "not even read-uncommitted", "not read-committed", or "" (no transactional kinds)."""
    txn = [k for k in kinds if _txn_rank(k) is not None]
    if not txn:
        return ""
    from checkers.txn.models import boundary

    weakest = boundary(txn)["not"]
    if not weakest:
        return ""
    if "read-uncommitted" in weakest:
        return "not even read-uncommitted"
    return "not " + " or ".join(weakest)
