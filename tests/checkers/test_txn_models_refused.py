"""Consistency models the transactional checkers cannot check are refused, never "valid"
(issue #12, item 4); the session guarantees, PRAM, causal and sequential are checked, by the
causality checker the list-append and rw-register checkers call (issue #14). One table,
``CHECKABLE_MODELS``, decides; elle-cli, which checks only Elle's anomalies, has its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checkers import elle_cli
from checkers.causal.explain import DESCRIPTIONS as CAUSAL_DESCRIPTIONS
from checkers.txn import ListAppendChecker, RwRegisterChecker
from checkers.txn import models as txn_models
from checkers.txn._cycles import CYCLE_EXISTS
from checkers.txn.models import (
    ALL_MODELS,
    CAUSAL_ANOMALIES,
    CAUSAL_MODELS,
    CHECKABLE_MODELS,
    CYCLE_TYPES,
    anomalies_prohibited_by,
    canonical_model,
    friendly_model,
    is_checkable,
    validate_models,
)
from harness import registry
from harness.history import Op

ROOT = Path(__file__).resolve().parents[2]

#: The rest of the lattice: what no checker here finds, or (linearizable) only part of it.
REFUSED = ["linearizable", "1SR", "view-serializable", "session-serializable"]
#: Forbid an anomaly found here, yet ask for more: checked by those anomalies alone, a
#: history they forbid would pass (see the linearizable test below).
PARTLY_CHECKED = {"linearizable"}

#: Every anomaly type the cycle search and list_append.py / rw_register.py can report.
ELLE_REPORTED = {
    *CYCLE_TYPES,
    *(f"{m}-cycle-exists" for m, _, _ in CYCLE_EXISTS),
    "G1a",
    "G1b",
    "internal",
    "future-read",
    "lost-update",
    "dirty-update",
    "duplicate-elements",
    "incompatible-order",
    "cyclic-versions",
}
#: ... and those the causality checker reports, which list-append and rw-register merge.
REPORTED = ELLE_REPORTED | set(CAUSAL_DESCRIPTIONS)


def txns(*steps: tuple[int, list[list[Any]]]) -> list[dict[str, Any]]:
    """A history of (process, micro-ops completed) transactions, one after the other; each
    invocation has its reads unknown."""
    out: list[dict[str, Any]] = []
    for process, mops in steps:
        inv = [[m[0], m[1], None] if m[0] == "r" else m for m in mops]
        for type_, value in (("invoke", inv), ("ok", mops)):
            out.append(
                {
                    "index": len(out),
                    "time": len(out),
                    "type": type_,
                    "process": process,
                    "f": "txn",
                    "value": value,
                }
            )
    return out


A = "append"
#: The issue's history: process 0 appends 1 to x, then reads x and finds it empty.
APPEND_THEN_EMPTY_READ = txns((0, [[A, "x", 1]]), (0, [["r", "x", []]]))
#: The same for rw-register: process 0 writes 1 to x, then reads x as never written.
WRITE_THEN_EMPTY_READ = txns((0, [["w", "x", 1]]), (0, [["r", "x", None]]))

#: model -> (a history it forbids, the anomaly named, a history it allows), list-append.
CHECKED: dict[str, tuple[list[dict[str, Any]], str, list[dict[str, Any]]]] = {
    "read-your-writes": (APPEND_THEN_EMPTY_READ, "read-your-writes",
                         txns((0, [[A, "x", 1]]), (0, [["r", "x", [1]]]))),
    # process 0 reads process 1's append, then reads x as before it
    "monotonic-reads": (txns((1, [[A, "x", 1]]), (0, [["r", "x", [1]]]), (0, [["r", "x", []]])),
                        "monotonic-reads",
                        txns((1, [[A, "x", 1]]), (0, [["r", "x", []]]), (0, [["r", "x", [1]]]))),
    # process 0 appends 1 then 2; they land in the other order
    "monotonic-writes": (txns((0, [[A, "x", 1]]), (0, [[A, "x", 2]]), (1, [["r", "x", [2, 1]]])),
                         "monotonic-writes",
                         txns((0, [[A, "x", 1]]), (0, [[A, "x", 2]]), (1, [["r", "x", [1, 2]]]))),
    # process 0 reads x = [1], then appends 2 to y; process 2 sees the 2 but not the 1
    "writes-follow-reads": (
        txns((1, [[A, "x", 1]]), (0, [["r", "x", [1]]]), (0, [[A, "y", 2]]),
             (2, [["r", "y", [2]], ["r", "x", []]])),
        "writes-follow-reads",
        txns((1, [[A, "x", 1]]), (0, [["r", "x", [1]]]), (0, [[A, "y", 2]]),
             (2, [["r", "y", [2]], ["r", "x", [1]]]))),
    # process 2 sees process 0's second append, then misses its first
    "PRAM": (txns((0, [[A, "x", 1]]), (0, [[A, "y", 2]]), (2, [["r", "y", [2]]]),
                  (2, [["r", "x", []]])),
             "PRAM",
             txns((0, [[A, "x", 1]]), (0, [[A, "y", 2]]), (2, [["r", "y", [2]]]),
                  (2, [["r", "x", [1]]]))),
    # transitively: 1 reads 0's append and appends; 2 reads that, then misses 0's
    "causal": (txns((0, [[A, "x", 1]]), (1, [["r", "x", [1]]]), (1, [[A, "y", 2]]),
                    (2, [["r", "y", [2]]]), (2, [["r", "x", []]])),
               "causal",
               txns((0, [[A, "x", 1]]), (1, [["r", "x", [1]]]), (1, [[A, "y", 2]]),
                    (2, [["r", "y", [2]]]), (2, [["r", "x", [1]]]))),
    # each process appends, then misses the other's append: causal, but no single order
    "sequential": (txns((0, [[A, "x", 1]]), (1, [[A, "y", 1]]), (0, [["r", "y", []]]),
                        (1, [["r", "x", []]])),
                   "sequential",
                   txns((0, [[A, "x", 1]]), (1, [[A, "y", 1]]), (0, [["r", "y", [1]]]),
                        (1, [["r", "x", [1]]]))),
}  # fmt: skip


def _history(tmp_path: Path, ops: list[dict[str, Any]], name: str = "h.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(op) + "\n" for op in ops))
    return path


def check(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "check",
            str(path),
            *args,
            "--out",
            str(path.parent / "drawn"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def _as_ops(ops: list[dict[str, Any]]) -> list[Op]:
    return [Op.from_dict(d) for d in ops]


# -- still refused --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, checker, as_json",
    [
        *((m, "list-append", False) for m in REFUSED),
        ("strong-session-serializable,linearizable", "list-append", False),
        ("1SR", "list-append", True),
        ("view-serializable", "rw-register", False),
        ("strong-session-serializable,session-serializable", "rw-register", True),
    ],
)
def test_a_model_the_checker_cannot_check_is_refused_with_the_models_it_can(
    tmp_path: Path, model: str, checker: str, as_json: bool
) -> None:
    ops = APPEND_THEN_EMPTY_READ if checker == "list-append" else WRITE_THEN_EMPTY_READ
    r = check(
        _history(tmp_path, ops),
        "--checker",
        checker,
        "--consistency-models",
        model,
        *(["--json"] if as_json else []),
    )
    assert r.returncode == 3, r.stdout + r.stderr
    assert r.stdout == ""  # no verdict at all
    (line,) = r.stderr.splitlines()
    bad = model.split(",")[-1]
    assert f"'{bad}'" in line and "cannot be checked" in line, line
    assert "strong-session-serializable'" not in line  # only the bad one is named
    listed = line.split("checkable models: ", 1)[1].split(", ")
    assert sorted(listed, key=str.lower) == sorted(CHECKABLE_MODELS, key=str.lower)
    assert not (tmp_path / "drawn").exists()  # nothing made on bad input


@pytest.mark.parametrize("model", ["read-your-writes", "PRAM", "causal", "sequential"])
def test_elle_cli_still_refuses_the_models_elle_does_not_check(tmp_path: Path, model: str) -> None:
    # Refused before elle-cli is looked for: no jar is needed to get exit 3.
    r = check(
        _history(tmp_path, APPEND_THEN_EMPTY_READ),
        "--checker",
        "elle-cli",
        "--consistency-models",
        model,
    )
    assert r.returncode == 3, r.stdout + r.stderr
    (line,) = r.stderr.splitlines()
    assert f"'{model}' cannot be checked" in line and "no anomaly Elle can find" in line, line
    assert "splitbrain's own list-append and rw-register checkers check" in line
    listed = line.split("checkable models: ", 1)[1].split(", ")
    assert sorted(listed, key=str.lower) == sorted(elle_cli.CHECKABLE_MODELS, key=str.lower)


def test_linearizable_is_refused_because_its_checkable_part_would_pass_a_stale_read() -> None:
    """Linearizable implies sequential, which is checked; but what it adds, real-time order,
    is not. A read by another process that misses a completed append is sequential (order the
    read first) and not linearizable: a check of the sequential part would say valid."""
    stale = _as_ops(txns((0, [[A, "x", 1]]), (1, [["r", "x", []]])))
    assert ListAppendChecker(["sequential"]).check(stale, {}).valid is True
    assert ListAppendChecker(["strict-serializable"]).check(stale, {}).valid is False
    assert anomalies_prohibited_by(["linearizable"]) & REPORTED  # it does forbid "sequential"
    with pytest.raises(ValueError, match="'linearizable' cannot be checked yet: it adds real-time"):
        ListAppendChecker(["linearizable"])


def test_the_checkers_refuse_the_models_through_the_python_api_too() -> None:
    for cls in (ListAppendChecker, RwRegisterChecker):
        with pytest.raises(ValueError, match="'1SR' cannot be checked"):
            cls(consistency_models=["1SR"])
        cls(consistency_models=["PRAM"])  # checked now
    for name in ("list-append", "rw-register"):
        made(name, consistency_models=["PRAM"])
    with pytest.raises(ValueError, match="'PRAM' cannot be checked"):
        made("elle-cli", consistency_models=["PRAM"])
    with pytest.raises(ValueError, match="'causal' cannot be checked"):
        made("elle-cli", consistency_models=["serializable", "causal"])
    # elle-cli's Jepsen models take no consistency models: nothing to refuse there
    made("elle-cli", consistency_models=[], model="bank")


# -- the tables cannot drift ----------------------------------------------------------------------


def test_a_model_is_checkable_exactly_when_it_forbids_an_anomaly_the_checkers_report() -> None:
    for model in ALL_MODELS:
        forbids_reported = bool(anomalies_prohibited_by([model]) & REPORTED)
        expected = forbids_reported and friendly_model(model) not in PARTLY_CHECKED
        assert is_checkable(model) == expected, (model, forbids_reported)
    assert set(txn_models._UNCHECKED_PART) == PARTLY_CHECKED
    assert all(is_checkable(m) for m in CHECKABLE_MODELS)
    assert {canonical_model(m) for m in REFUSED}.isdisjoint(
        {canonical_model(m) for m in CHECKABLE_MODELS}
    )
    assert set(CAUSAL_MODELS) <= CHECKABLE_MODELS


def test_elle_cli_checks_a_model_exactly_when_it_forbids_an_anomaly_elle_reports() -> None:
    table = elle_cli.CHECKABLE_MODELS
    for model in ALL_MODELS:
        forbids_reported = bool(anomalies_prohibited_by([model]) & ELLE_REPORTED)
        assert is_checkable(model, table) == forbids_reported, (model, forbids_reported)
    assert CHECKABLE_MODELS - table == set(CAUSAL_MODELS)


def test_the_lattice_names_the_anomalies_as_the_causality_checker_reports_them() -> None:
    assert set(CAUSAL_DESCRIPTIONS) == CAUSAL_ANOMALIES
    for model in CAUSAL_MODELS:  # each forbids its own, and none of Elle's
        assert model in anomalies_prohibited_by([model]) or model == "causal"
        assert not anomalies_prohibited_by([model]) & ELLE_REPORTED


def test_unknown_and_uncheckable_names_are_told_apart() -> None:
    with pytest.raises(ValueError, match=r"unknown consistency model 'serialisable'"):
        validate_models(["serialisable"])
    with pytest.raises(ValueError, match=r"models '1SR', 'linearizable' cannot be checked yet"):
        validate_models(["1SR", "serializable", "linearizable"])
    assert validate_models(["PL-2", "strong-session-read-committed", "causal", "PRAM"]) == [
        "PL-2",
        "strong-session-read-committed",
        "causal",
        "PRAM",
    ]


def test_the_registered_txn_checkers_ask_only_for_checkable_models_by_default() -> None:
    """What a suite runs when it names a checker without options: the declared defaults."""
    for info in registry.checkers().values():
        for o in registry.declared(info.options):
            if o.name == "consistency_models":
                validate_models(list(o.default))
                info.make(info.options())


def made(name: str, **options: Any) -> Any:
    """The registered checker ``name`` made with ``options``, as a suite or ``check`` makes it."""
    info = registry.checkers()[name]
    return info.make(registry.parse_options(info.options, options, f"the {name} checker"))


# -- checked now ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(CHECKED))
def test_each_causal_model_finds_its_anomaly_through_the_command_line(
    tmp_path: Path, model: str
) -> None:
    bad, anomaly, ok = CHECKED[model]
    path = _history(tmp_path, bad)
    r = check(path, "--checker", "list-append", "--consistency-models", model)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith(f"{path}: INVALID ("), r.stdout
    assert f"\n  - {anomaly}: " in r.stdout, r.stdout  # named, and explained
    r = check(path, "--checker", "list-append", "--consistency-models", model, "--json")
    result = json.loads(r.stdout)
    assert result["valid"] is False
    assert anomaly in result["details"]["anomaly-types"]
    assert model in result["details"]["not"] + result["details"]["also-not"]
    assert any(a["name"] == anomaly and a["ops"] for a in result["anomalies"])
    good = _history(tmp_path, ok, "ok.jsonl")
    r = check(good, "--checker", "list-append", "--consistency-models", model)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(f"{good}: valid ("), r.stdout


@pytest.mark.parametrize(
    "model, code, word",
    [
        ("read-your-writes", 1, "INVALID"),
        ("causal", 1, "INVALID"),
        ("PRAM", 1, "INVALID"),
        # the process's own reads and writes of x are not reordered: monotonic writes holds
        ("monotonic-writes", 0, "valid"),
        ("monotonic-reads", 0, "valid"),
        ("strict-serializable", 1, "INVALID"),
        ("PL-SS", 1, "INVALID"),  # the Adya name of the same model
        # the process-order cycle search does see a session's own writes go missing
        ("strong-session-snapshot-isolation", 1, "INVALID"),
        ("strong-session-serializable", 1, "INVALID"),
        # serializability alone allows it: the read is ordered before the append
        ("serializable", 0, "valid"),
    ],
)
def test_the_issue_history_gets_a_verdict_under_each_model(
    tmp_path: Path, model: str, code: int, word: str
) -> None:
    path = _history(tmp_path, APPEND_THEN_EMPTY_READ)
    r = check(path, "--checker", "list-append", "--consistency-models", model)
    assert r.returncode == code, r.stdout + r.stderr
    assert r.stdout.startswith(f"{path}: {word} ("), r.stdout
    if model in ("read-your-writes", "causal", "PRAM"):
        assert "the session did not read its own write" in r.stdout, r.stdout


def test_the_issue_history_for_rw_register_through_the_command_line(tmp_path: Path) -> None:
    bad = _history(tmp_path, WRITE_THEN_EMPTY_READ)
    r = check(bad, "--checker", "rw-register", "--consistency-models", "read-your-writes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "\n  - read-your-writes: " in r.stdout
    ok = txns((0, [["w", "x", 1]]), (0, [["r", "x", 1]]))
    good = _history(tmp_path, ok, "ok.jsonl")
    r = check(good, "--checker", "rw-register", "--consistency-models", "causal")
    assert r.returncode == 0, r.stdout + r.stderr


def test_anomalies_named_by_the_causality_checker_can_be_asked_for(tmp_path: Path) -> None:
    path = _history(tmp_path, APPEND_THEN_EMPTY_READ)
    r = check(
        path,
        "--checker",
        "list-append",
        "--consistency-models",
        "",
        "--anomalies",
        "read-your-writes",
        "--json",
    )
    assert r.returncode == 1, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["details"]["anomaly-types"] == ["read-your-writes"]
    assert [a["name"] for a in result["anomalies"]] == ["read-your-writes"]
    # Found but not asked for: valid, as Elle says of anomalies no model forbids; it still
    # rules read-your-writes out.
    r = check(
        path,
        "--checker",
        "list-append",
        "--consistency-models",
        "",
        "--anomalies",
        "causal-cycle",
        "--json",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["valid"] is True and result["details"]["not"] == ["read-your-writes"]


def test_strict_serializable_adds_what_the_cycle_search_misses_in_a_register_history(
    tmp_path: Path,
) -> None:
    """Process 0 writes x = 1 then x = 2; process 1 reads 2, then 1. Elle's rw-register
    inference does not order a process's own writes, so no cycle shows it; the causality
    checker does (monotonic writes), and finds process 1's reads going back in time."""
    ops = txns(
        (0, [["w", "x", 1]]), (0, [["w", "x", 2]]), (1, [["r", "x", 2]]), (1, [["r", "x", 1]])
    )
    path = _history(tmp_path, ops)
    r = check(
        path, "--checker", "rw-register", "--consistency-models", "strict-serializable", "--json"
    )
    assert r.returncode == 1, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert [a["name"] for a in result["anomalies"]] == ["monotonic-reads"]
    # The cycle search alone, even with each process's order, calls it valid.
    r = check(
        path, "--checker", "rw-register", "--consistency-models", "strong-session-serializable"
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_violation_a_cycle_already_explains_is_not_listed_twice() -> None:
    """Asked for strict-serializable and causal, the issue's history is one realtime cycle
    over the same two ops as its read-your-writes case: the cycle is shown, once, and the
    guarantee is still ruled out."""
    h = _as_ops(APPEND_THEN_EMPTY_READ)
    r = ListAppendChecker(["strict-serializable", "causal"]).check(h, {})
    assert r.valid is False
    assert [a.name for a in r.anomalies] == ["G-single-item-realtime"]
    assert r.details["found"]["read-your-writes"] == 1
    assert "read-your-writes" in r.details["not"]
    # Without a cycle search that sees the process's order, the guarantee's own case shows.
    r = ListAppendChecker(["serializable", "causal"]).check(h, {})
    assert [a.name for a in r.anomalies] == ["read-your-writes"]
