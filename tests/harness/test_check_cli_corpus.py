"""Every line of every corpus VERDICTS.tsv, through the command line a user runs
(``splitbrain check``, as a subprocess): the exit code and the printed verdict, in words; with
``--json`` too for every Elle and Jepsen line (and a valid and an invalid line of each
Porcupine folder); and the Elle lines' "With [...]: verdict" variants, with ``--json``.

How a line becomes a command, per corpus (each README's columns: file, expected, then):
- ``elle``: options: ``anomalies=[A, ...]`` is list-append with no model and those anomalies,
  ``consistency-models=[M, ...]`` list-append with those models, ``model=rw-register`` the
  rw-register checker with its default model (strict-serializable, as elle-cli);
- ``jepsen``: the checker's name, and ``(group size N)`` its ``group_size`` option;
- ``porcupine``: the linearizability model (the first word), the format detected.

The subprocesses run two at a time (the machine has two cores): about 190 of them, a few
minutes on a busy machine (huge-scc.edn, 10k transactions, is the longest: a few seconds).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from checkers.txn import ALL_ANOMALIES, ALL_MODELS
from harness.corpus import corpus_dir

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

CORPUS = corpus_dir()
SETS = ("elle", "jepsen", "porcupine")
EXIT = {"valid": 0, "invalid": 1, "unknown": 2}
WORD = {"valid": "valid", "invalid": "INVALID", "unknown": "unknown"}
JSON_VALID = {"valid": True, "invalid": False, "unknown": "unknown"}


@dataclass(frozen=True)
class Case:
    """One ``splitbrain check`` run and the verdict the corpus gives it."""

    id: str
    path: Path
    args: tuple[str, ...]
    expected: str  # valid, invalid or unknown
    json: bool = False
    #: anomaly types the reference reports (elle lines), checked in the JSON output
    types: tuple[str, ...] = ()


def _rows(name: str) -> list[tuple[str, str, str, str]]:
    table = CORPUS / name / "VERDICTS.tsv"
    if not table.is_file():
        return []
    rows = []
    for line in table.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            file, expected, third, notes = (line.split("\t") + ["", "", "", ""])[:4]
            rows.append((file, expected.strip(), third.strip(), notes))
    return rows


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _elle_args(options: str) -> tuple[str, ...]:
    if options == "model=rw-register":
        return ("--checker", "rw-register")
    m = re.fullmatch(r"(anomalies|consistency-models)=\[(.*)\]", options)
    assert m, f"elle/VERDICTS.tsv: cannot read the options {options!r}"
    if m[1] == "anomalies":
        return (
            "--checker",
            "list-append",
            "--consistency-models",
            "",
            "--anomalies",
            ",".join(_names(m[2])),
        )
    return ("--checker", "list-append", "--consistency-models", ",".join(_names(m[2])))


def _elle_variant_args(base: tuple[str, ...], names: list[str]) -> tuple[str, ...]:
    """``base`` with the models or anomalies of a "With [...]" clause instead."""
    checker = base[:2]
    if all(n in ALL_MODELS for n in names):
        return (*checker, "--consistency-models", ",".join(names))
    assert all(n in ALL_ANOMALIES for n in names), names
    return (*checker, "--consistency-models", "", "--anomalies", ",".join(names))


def _elle_variants(file: str, base: tuple[str, ...], notes: str) -> list[Case]:
    """The notes' "With [X] (or [Y]): outcome" clauses, each a run of its own. An outcome is
    ``valid``, ``unknown (type)`` or ``[types]`` (invalid, with those anomaly types)."""
    out = []
    for k, clause in enumerate(re.split(r"\bWith\b", notes)[1:]):
        head, _, outcome = clause.partition(":")
        outcome = outcome.strip().rstrip(".")
        m = re.match(r"\[([^\]]*)\]", outcome)
        if m:
            expected, types = "invalid", tuple(_names(m[1]))
        else:
            expected, types = outcome.split()[0], tuple(re.findall(r"\(([\w-]+)\)", outcome))
        for j, lst in enumerate(re.findall(r"\[([^\]]*)\]", head)):
            args = _elle_variant_args(base, _names(lst))
            out.append(
                Case(
                    f"elle/{file}/with-{k}-{j}[{lst}]",
                    CORPUS / "elle" / file,
                    args,
                    expected,
                    json=True,
                    types=types,
                )
            )
    return out


def _jepsen_args(spec: str) -> tuple[str, ...]:
    name, _, rest = spec.partition(" ")
    args: tuple[str, ...] = ("--checker", name)
    m = re.search(r"group size (\d+)", rest)
    if m:
        args += ("--option", f"group_size={m[1]}")
    return args


def _cases() -> list[Case]:
    cases: list[Case] = []
    json_kinds: set[tuple[str, str, str]] = set()
    for name in SETS:
        for file, expected, third, notes in _rows(name):
            path = CORPUS / name / file
            types: tuple[str, ...] = ()
            if name == "elle":
                args = _elle_args(third)
                main = re.split(r"\bWith\b", notes)[0]
                types = tuple(
                    t
                    for m in re.finditer(r"anomaly-types \[([^\]]*)\]", main)
                    for t in _names(m[1])
                )
                cases += _elle_variants(file, args, notes)
            elif name == "jepsen":
                args = _jepsen_args(third)
            else:
                args = ("--checker", "linearizable", "--model", third.split()[0])
            assert expected in EXIT, f"{name}/VERDICTS.tsv: {file}: verdict {expected!r}"
            cases.append(Case(f"{name}/{file}", path, args, expected))
            # The linearizability checker's JSON is one code path whatever the history: its
            # first valid and first invalid line of each folder stand for the 108.
            kind = (name, file.split("/")[0], expected)
            if name != "porcupine" or kind not in json_kinds:
                json_kinds.add(kind)
                cases.append(
                    Case(f"{name}/{file}/json", path, args, expected, json=True, types=types)
                )
    return cases


CASES = _cases()


def _run(case: Case, out: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "harness.cli",
        "check",
        str(case.path),
        *case.args,
        "--out",
        str(out),
    ]
    if case.json:
        argv.append("--json")
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Runs the cases this session selected, two subprocesses at a time."""
    selected = [
        item.callspec.params["case"]  # type: ignore[attr-defined]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and "case" in getattr(getattr(item, "callspec", None), "params", {})
    ]
    root = tmp_path_factory.mktemp("drawn")
    dirs = {c.id: root / f"case{i}" for i, c in enumerate(selected)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(dirs, pool.map(lambda c: _run(c, dirs[c.id]), selected), strict=True))
    return {k: (v, dirs[k]) for k, v in done.items()}


@pytest.mark.skipif(not CASES, reason=f"no VERDICTS.tsv under {CORPUS}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_splitbrain_check_gives_every_corpus_line_its_reference_verdict(
    case: Case, outcomes: dict[str, tuple[subprocess.CompletedProcess[str], Path]]
) -> None:
    r, out = outcomes[case.id]
    shown = f"$ splitbrain check {case.path} {' '.join(case.args)}\n{r.stdout[-3000:]}{r.stderr}"
    assert r.returncode == EXIT[case.expected], shown
    if case.json:
        result = json.loads(r.stdout)
        assert result["valid"] == JSON_VALID[case.expected], shown
        reported = set(result["details"].get("anomaly-types", ()))
        assert set(case.types) <= reported, (case.types, reported)
        return
    first, *rest = r.stdout.splitlines()
    assert first.startswith(f"{case.path}: {WORD[case.expected]} ("), shown
    if case.expected == "invalid":
        assert any(line.startswith("  - ") for line in rest), shown  # an anomaly, explained
    drawn = [Path(line.split("drawn: ", 1)[1]) for line in rest if "drawn: " in line]
    for f in drawn:  # whatever it says it drew is there, in --out, not beside the corpus
        assert f.is_file() and f.parent == out, (f, out)


def test_every_verdicts_line_of_the_three_corpora_becomes_a_run():
    if not CASES:
        pytest.skip(f"no VERDICTS.tsv under {CORPUS}")
    ids = {c.id for c in CASES}
    for name in SETS:
        rows = _rows(name)
        assert rows, f"{CORPUS / name / 'VERDICTS.tsv'} has no lines"
        for file, *_ in rows:
            assert f"{name}/{file}" in ids, (name, file)
            if name != "porcupine":
                assert f"{name}/{file}/json" in ids, (name, file)
    porcupine_json = {c.id for c in CASES if c.json and c.id.startswith("porcupine/")}
    assert len(porcupine_json) == 4, porcupine_json  # etcd and kv, valid and invalid
    assert sum(c.id.startswith("elle/") and "/with-" in c.id for c in CASES) >= 12
