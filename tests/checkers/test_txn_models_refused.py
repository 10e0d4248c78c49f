"""Consistency models the transactional checkers cannot check are refused, never "valid"
(issue #12, item 4): they forbid no anomaly list-append or rw-register looks for, so a check
under them could only say valid. One table, ``CHECKABLE_MODELS``, decides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checkers.history_checks import HISTORY_CHECKERS
from checkers.txn import ListAppendChecker, RwRegisterChecker
from checkers.txn._cycles import CYCLE_EXISTS
from checkers.txn.models import (
    ALL_MODELS,
    CHECKABLE_MODELS,
    CYCLE_TYPES,
    anomalies_prohibited_by,
    canonical_model,
    is_checkable,
    validate_models,
)

ROOT = Path(__file__).resolve().parents[2]

#: Named in the issue, and the rest of the lattice that forbids nothing found here.
REFUSED = ["read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads",
           "PRAM", "causal", "sequential", "linearizable", "1SR", "view-serializable",
           "session-serializable"]  # fmt: skip

#: Every anomaly type the list-append and rw-register checkers can report: the cycles
#: (checkers/txn/_cycles.py), and those list_append.py / rw_register.py find without cycles.
REPORTED = {
    *CYCLE_TYPES,
    *(f"{m}-cycle-exists" for m, _, _ in CYCLE_EXISTS),
    "G1a", "G1b", "internal", "future-read", "lost-update", "dirty-update",
    "duplicate-elements", "incompatible-order", "cyclic-versions",
}  # fmt: skip

#: The issue's history: process 0 appends 1 to x, then reads x and finds it empty.
APPEND_THEN_EMPTY_READ = [
    {"index": 0, "time": 0, "type": "invoke", "process": 0, "f": "txn",
     "value": [["append", "x", 1]]},
    {"index": 1, "time": 1, "type": "ok", "process": 0, "f": "txn",
     "value": [["append", "x", 1]]},
    {"index": 2, "time": 2, "type": "invoke", "process": 0, "f": "txn",
     "value": [["r", "x", None]]},
    {"index": 3, "time": 3, "type": "ok", "process": 0, "f": "txn",
     "value": [["r", "x", []]]},
]  # fmt: skip
#: The same for rw-register: process 0 writes 1 to x, then reads x as never written.
WRITE_THEN_EMPTY_READ = [
    {**APPEND_THEN_EMPTY_READ[0], "value": [["w", "x", 1]]},
    {**APPEND_THEN_EMPTY_READ[1], "value": [["w", "x", 1]]},
    APPEND_THEN_EMPTY_READ[2],
    {**APPEND_THEN_EMPTY_READ[3], "value": [["r", "x", None]]},
]


def _history(tmp_path: Path, ops: list[dict[str, object]]) -> Path:
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(op) + "\n" for op in ops))
    return path


def check(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "check", str(path), *args,
         "--out", str(path.parent / "drawn")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "model, checker, as_json",
    [
        *((m, "list-append", False) for m in REFUSED),
        ("strong-session-serializable,causal", "list-append", False),
        ("read-your-writes", "list-append", True),
        ("read-your-writes", "rw-register", False),
        ("strong-session-serializable,causal", "rw-register", True),
    ],
)
def test_a_model_the_checker_cannot_check_is_refused_with_the_models_it_can(
    tmp_path: Path, model: str, checker: str, as_json: bool
) -> None:
    ops = APPEND_THEN_EMPTY_READ if checker == "list-append" else WRITE_THEN_EMPTY_READ
    r = check(_history(tmp_path, ops), "--checker", checker, "--consistency-models", model,
              *(["--json"] if as_json else []))  # fmt: skip
    assert r.returncode == 3, r.stdout + r.stderr
    assert r.stdout == ""  # no verdict at all
    (line,) = r.stderr.splitlines()
    bad = model.split(",")[-1]
    assert f"'{bad}'" in line and "cannot be checked" in line, line
    assert "strong-session-serializable'" not in line  # only the bad one is named
    listed = line.split("checkable models: ", 1)[1].split(", ")
    assert sorted(listed, key=str.lower) == sorted(CHECKABLE_MODELS, key=str.lower)
    assert not (tmp_path / "drawn").exists()  # nothing made on bad input


@pytest.mark.parametrize(
    "model, code, word",
    [
        ("strict-serializable", 1, "INVALID"),
        ("PL-SS", 1, "INVALID"),  # the Adya name of the same model
        # the process-order cycle search does see a session's own writes go missing
        ("strong-session-snapshot-isolation", 1, "INVALID"),
        ("strong-session-serializable", 1, "INVALID"),
        # serializability alone allows it: the read is ordered before the append
        ("serializable", 0, "valid"),
    ],
)
def test_the_issue_history_gets_a_verdict_under_a_model_that_is_checked(
    tmp_path: Path, model: str, code: int, word: str
) -> None:
    path = _history(tmp_path, APPEND_THEN_EMPTY_READ)
    r = check(path, "--checker", "list-append", "--consistency-models", model)
    assert r.returncode == code, r.stdout + r.stderr
    assert r.stdout.startswith(f"{path}: {word} ("), r.stdout


def test_the_checkers_refuse_the_models_through_the_python_api_too() -> None:
    for cls in (ListAppendChecker, RwRegisterChecker):
        with pytest.raises(ValueError, match="'read-your-writes' cannot be checked"):
            cls(consistency_models=["read-your-writes"])
    for name in ("list-append", "rw-register", "elle-cli"):
        with pytest.raises(ValueError, match="'PRAM' cannot be checked"):
            HISTORY_CHECKERS[name](consistency_models=["PRAM"])
    # elle-cli's Jepsen models take no consistency models: nothing to refuse there
    HISTORY_CHECKERS["elle-cli"](consistency_models=[], model="bank")


def test_a_model_is_checkable_exactly_when_it_forbids_an_anomaly_the_checkers_report() -> None:
    for model in ALL_MODELS:
        forbids_reported = bool(anomalies_prohibited_by([model]) & REPORTED)
        assert is_checkable(model) == forbids_reported, (model, forbids_reported)
    assert all(is_checkable(m) for m in CHECKABLE_MODELS)
    assert {canonical_model(m) for m in REFUSED}.isdisjoint(
        {canonical_model(m) for m in CHECKABLE_MODELS}
    )


def test_unknown_and_uncheckable_names_are_told_apart() -> None:
    with pytest.raises(ValueError, match=r"unknown consistency model 'serialisable'"):
        validate_models(["serialisable"])
    with pytest.raises(ValueError, match=r"models 'causal', 'PRAM' cannot be checked yet"):
        validate_models(["causal", "serializable", "PRAM"])
    assert validate_models(["PL-2", "strong-session-read-committed"]) == [
        "PL-2", "strong-session-read-committed"
    ]  # fmt: skip


def test_the_registered_txn_checkers_ask_only_for_checkable_models() -> None:
    """What a suite runs: the registry's checkers with their declared options (a suite names
    checkers, not models; the models are the registered options)."""
    from workloads import registry

    for info in registry.checkers().values():
        models = info.options.get("consistency_models")
        if models is not None:
            validate_models(models)
            info.make(**info.options)
