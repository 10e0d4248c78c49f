"""The transactional checkers (checkers.txn): the Elle corpus, generated histories, and one
constructed history for each anomaly, found and explained."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from checkers.base import Result
from checkers.elle_cli import read_elle_json
from checkers.txn import ALL_ANOMALIES, ALL_MODELS, ListAppendChecker, RwRegisterChecker
from checkers.txn.models import boundary, implied_anomalies, impossible_models
from harness.formats import load_history
from harness.history import Op

CORPUS = Path("/work/shared/corpus/elle")
VERDICTS = CORPUS / "VERDICTS.tsv"


# -- the corpus ---------------------------------------------------------------------------------


def _verdict_lines() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in VERDICTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        file, expected, options, notes = (line.split("\t") + ["", "", "", ""])[:4]
        rows.append((file, expected, options, notes))
    return rows


def load(path: Path) -> list[Op]:
    return read_elle_json(path) if path.suffix == ".json" else load_history(path)


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _options(options: str) -> dict[str, Any]:
    """The checker to use and its options, from the TSV's options column."""
    if options.startswith("model="):
        return {"checker": options.split("=", 1)[1]}
    m = re.fullmatch(r"(anomalies|consistency-models)=\[(.*)\]", options.strip())
    assert m, f"cannot read options {options!r}"
    if m[1] == "anomalies":
        return {"checker": "list-append", "consistency_models": [], "anomalies": _names(m[2])}
    return {"checker": "list-append", "consistency_models": _names(m[2]), "anomalies": []}


def _alternative(names: list[str]) -> dict[str, Any]:
    if all(n in ALL_MODELS for n in names):
        return {"consistency_models": names, "anomalies": []}
    assert all(n in ALL_ANOMALIES for n in names), names
    return {"consistency_models": [], "anomalies": names}


def _claims(notes: str) -> dict[str, Any]:
    """What the notes column asserts: exact anomaly types, models ruled out, models that
    hold, anomalies named in passing, and the verdicts of the "With [...]: ..." variants."""
    main, *withs = re.split(r"\bWith\b", notes)
    claims: dict[str, Any] = {"types": [], "not": [], "holds": [], "named": [], "withs": []}
    for m in re.finditer(r"anomaly-types \[([^\]]*)\]", main):
        claims["types"] += _names(m[1])
    for m in re.finditer(r"\bnot ([\w+-]+(?:, [\w+-]+)*)", main):
        claims["not"] += [n for n in _names(m[1]) if n in ALL_MODELS]
    claims["holds"] = [m[1] for m in re.finditer(r"([\w-]+) holds", main) if m[1] in ALL_MODELS]
    rest = re.sub(r"anomaly-types \[[^\]]*\]", "", main)
    claims["named"] = [t for t in re.findall(r"[\w-]+", rest)
                       if t in ALL_ANOMALIES and t not in claims["types"]]  # fmt: skip
    for w in withs:
        head, _, outcome = w.partition(":")
        outcome = outcome.strip().rstrip(".")
        m = re.match(r"\[([^\]]*)\]", outcome)
        expect: dict[str, Any]
        if m:
            expect = {"valid": False, "types": _names(m[1])}
        else:
            word = outcome.split()[0]
            expect = {"valid": {"valid": True, "invalid": False, "unknown": "unknown"}[word],
                      "types": re.findall(r"\(([\w-]+)\)", outcome)}
        for lst in re.findall(r"\[([^\]]*)\]", head):
            claims["withs"].append((_alternative(_names(lst)), expect))
    return claims


def _check(path: Path, opts: dict[str, Any]) -> Result:
    opts = dict(opts)
    kind = opts.pop("checker")
    cls = ListAppendChecker if kind == "list-append" else RwRegisterChecker
    return cls(**opts, time_budget_s=120).check(load(path), {})


def _verdict(word: str) -> Any:
    return {"valid": True, "invalid": False, "unknown": "unknown"}[word]


@pytest.mark.parametrize("row", _verdict_lines(), ids=lambda r: r[0])
def test_every_elle_corpus_history_gets_the_reference_verdict(row: tuple[str, str, str, str]):
    file, expected, options, notes = row
    path = CORPUS / file
    result = _check(path, _options(options))
    assert result.valid == _verdict(expected), (file, result.details)
    claims = _claims(notes)
    reported = set(result.details["anomaly-types"])
    for t in claims["types"]:
        assert t in reported, (file, t, reported)
    for t in claims["named"]:
        assert t in implied_anomalies(reported), (file, t, reported)
    ruled_out = set(result.details["not"]) | set(result.details["also-not"])
    for m in claims["not"]:
        assert m in ruled_out, (file, m, result.details["not"])
    for m in claims["holds"]:
        assert m not in ruled_out, (file, m)
    for anomaly in result.anomalies:
        assert anomaly.explanation.strip()


def _with_rows() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    rows = []
    for file, _expected, options, notes in _verdict_lines():
        base = _options(options)
        for alt, expect in _claims(notes)["withs"]:
            rows.append((file, {**base, **alt}, expect))
    return rows


@pytest.mark.parametrize("row", _with_rows(), ids=lambda r: f"{r[0]}-{r[1]}")
def test_the_corpus_variants_with_other_options_get_their_verdicts(row: Any):
    file, opts, expect = row
    result = _check(CORPUS / file, opts)
    assert result.valid == expect["valid"], (file, opts, result.details)
    for t in expect["types"]:
        assert t in result.details["anomaly-types"], (file, t, result.details)


def test_the_verdicts_file_is_read_whole():
    rows = _verdict_lines()
    assert len(rows) == 21
    assert sum(len(_claims(r[3])["withs"]) for r in rows) >= 12
