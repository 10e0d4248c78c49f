"""What a test is expected to find, and whether its verdict met that.

A nightly job guards known bugs as well as correct code: ``etcd-serializable`` is invalid by
design (stale reads etcd documents), and a seeded-bug run exists to be caught. For such a test
"still invalid" is the pass, and "valid" the failure: the bug it guards against may no longer
be reachable (a fault that stopped working, a workload that stopped reaching the bug).

A test's ``expect`` key (``harness.spec.TestSpec``): ``valid``, ``invalid``, a list of
anomaly kinds that must all be found (an invalid run that lacks one fails: the run found
something else), or ``either``: a behaviour the system does not promise against but that a
run shows only some of the time (ZooKeeper's sync'd reads on a leader paused and resumed), so
both verdicts pass; it still fails when no verdict was reached. Without the key, a test with
seeded bugs expects ``invalid``, any other ``valid``. An unknown verdict or a setup that
failed never passes, whatever was expected.

The exit code, the terminal, JUnit, the summary and the history all judge through ``judge``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness import exits
from harness.headline import headline

__all__ = [
    "Expectation",
    "Judgement",
    "anomaly_kinds",
    "anomaly_summary",
    "expectation",
    "first_evidence_s",
    "judge",
    "judge_results",
    "verdict_word",
    "why_not_decided",
]


@dataclass(frozen=True)
class Expectation:
    """``invalid``: the test must end invalid; ``kinds``: and find each of these kinds;
    ``either``: valid and invalid both pass."""

    invalid: bool
    kinds: tuple[str, ...] = ()
    either: bool = False

    def __str__(self) -> str:
        if self.either:
            return "valid or invalid"
        if self.kinds:
            return f"invalid with {', '.join(self.kinds)}"
        return "invalid" if self.invalid else "valid"


def expectation(expect: Any, bugs: Sequence[str] = ()) -> Expectation:
    """The expectation of a test whose ``expect`` key is ``expect`` (None when absent) and
    whose seeded bugs are ``bugs``."""
    if isinstance(expect, list | tuple) and expect:
        return Expectation(True, tuple(str(k) for k in expect))
    if expect == "invalid":
        return Expectation(True)
    if expect == "valid":
        return Expectation(False)
    if expect == "either":
        return Expectation(False, either=True)
    return Expectation(bool(bugs))


@dataclass(frozen=True)
class Judgement:
    """``status``: pass, fail, unknown or setup-failed; ``exit_code``: the test's exit code
    under the expectation (0 pass, 1 fail, 2 unknown, 4 setup failed); ``reason``: why, in
    words a CI log can show."""

    status: str
    exit_code: int
    reason: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def judge(
    expected: Expectation, valid: Any, kinds: Sequence[str] = (), why: str | None = None
) -> Judgement:
    """Judge a verdict (``valid``: True, False, "unknown", or None for a failed setup) that
    found anomalies of ``kinds`` against what was ``expected``; ``why``: what the run says of
    a verdict that is unknown or a setup that failed (results.json's error)."""
    if valid is None:
        return Judgement("setup-failed", exits.SETUP_FAILED, why or "the test could not be set up")
    if valid not in (True, False):
        return Judgement(
            "unknown", exits.UNKNOWN, f"no verdict: {why or 'the checkers could not decide'}"
        )
    if expected.either:
        return Judgement("pass", exits.VALID, f"{verdict_word(valid)}, and either was expected")
    if not expected.invalid:
        if valid is True:
            return Judgement("pass", exits.VALID, "valid, as expected")
        return Judgement("fail", exits.INVALID, "invalid, but valid was expected")
    if valid is True:
        return Judgement(
            "fail",
            exits.INVALID,
            f"valid, but {expected} was expected: the bug it guards against may no longer "
            "be reachable",
        )
    missing = [k for k in expected.kinds if k not in set(kinds)]
    if missing:
        return Judgement(
            "fail",
            exits.INVALID,
            f"invalid, but {', '.join(missing)} not found (expected {expected})",
        )
    return Judgement("pass", exits.VALID, f"still {expected}, as expected")


def judge_results(
    results: Mapping[str, Any], spec: Mapping[str, Any]
) -> tuple[Expectation, Judgement]:
    """The expectation and judgement of a run from its results.json and spec.yaml (as read
    back from a run folder: ``spec["expect"]``, ``spec["system"]["bugs"]``)."""
    system = spec.get("system") if isinstance(spec.get("system"), Mapping) else {}
    assert isinstance(system, Mapping)
    bugs = system.get("bugs") or ()
    expected = expectation(spec.get("expect"), list(bugs) if isinstance(bugs, list | tuple) else ())
    valid = results.get("valid", "unknown") if results else "unknown"
    return expected, judge(expected, valid, anomaly_kinds(results), why_not_decided(results))


def why_not_decided(results: Mapping[str, Any]) -> str | None:
    """Why a run has no verdict, in a few words: its error, or the signal that interrupted it,
    or what a checker said; None when nothing says."""
    if results.get("error"):
        return str(results["error"])
    if results.get("interrupted"):
        return f"interrupted by {results.get('signal') or 'a signal'}"
    checkers = results.get("checkers")
    for name, r in checkers.items() if isinstance(checkers, Mapping) else []:
        details = r.get("details") if isinstance(r, Mapping) else None
        if isinstance(details, Mapping) and r.get("valid") not in (True, False):
            if details.get("reason"):
                return f"{name}: {details['reason']}"
    return None


def verdict_word(valid: Any) -> str:
    """valid, invalid, unknown or setup-failed."""
    if valid is None:
        return "setup-failed"
    return {True: "valid", False: "invalid"}.get(valid, "unknown")


def _anomalies(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    checkers = results.get("checkers")
    if not isinstance(checkers, Mapping):
        return []
    return [
        a
        for r in checkers.values()
        if isinstance(r, Mapping)
        for a in r.get("anomalies") or []
        if isinstance(a, Mapping)
    ]


def anomaly_kinds(results: Mapping[str, Any]) -> list[str]:
    """The distinct kinds of anomaly a results.json holds, most frequent first."""
    counts = Counter(str(a.get("name")) for a in _anomalies(results))
    return [k for k, _ in counts.most_common()]


def anomaly_summary(results: Mapping[str, Any]) -> str:
    """ "3 anomalies: G0 x2, stale x1": the kinds and counts, most severe first
    (``harness.headline``, the line the terminal and the report lead with); "no anomalies"."""
    return headline(_anomalies(results))


def first_evidence_s(results: Mapping[str, Any]) -> float | None:
    """Seconds into the run at which the first anomaly could first have been seen: for each
    anomaly the moment its last operation completed, the earliest over all (as
    bench/detection.py measures it); None without anomalies that carry times."""
    times = []
    for a in _anomalies(results):
        ts = [op["time"] for op in a.get("ops") or [] if isinstance(op, Mapping)
              and isinstance(op.get("time"), int)]  # fmt: skip
        if ts:
            times.append(max(ts) / 1e9)
    return round(min(times), 3) if times else None
