"""Knossos' own histories get Knossos' verdicts, and EDN values are read as Knossos reads them.

``tests/data/knossos/`` holds histories of Knossos' corpus (``data/cas-register/good`` and
``bad``, see the README there); Knossos' tests check each with ``(cas-register 0)``, and so
does every test here, through the real command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checkers.linearizable import LinearizableChecker
from checkers.linearizable.models import MODELS, SEMANTICS
from harness.formats import default_semantics, load_history
from harness.history import Op

ROOT = Path(__file__).resolve().parents[2]
KNOSSOS = ROOT / "tests" / "data" / "knossos"
CORPUS = sorted((KNOSSOS / "cas-register").glob("*/*.edn"))


def splitbrain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_the_corpus_is_here_with_good_and_bad_histories() -> None:
    kinds = {p.parent.name for p in CORPUS}
    assert kinds == {"good", "bad"}, f"expected good/ and bad/ under {KNOSSOS / 'cas-register'}"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_splitbrain_check_gives_each_knossos_history_knossos_verdict(
    path: Path, tmp_path: Path
) -> None:
    expected = path.parent.name  # good -> valid, bad -> invalid: Knossos' test-examples
    r = splitbrain(
        "check", str(path), "--model", "cas-register", "--initial", "0", "--out", str(tmp_path)
    )
    word, code = ("valid", 0) if expected == "good" else ("INVALID", 1)
    assert r.returncode == code, r.stdout + r.stderr
    assert f"{path}: {word} (" in r.stdout
    assert "knossos semantics" in r.stdout


def test_the_multi_register_history_of_knossos_is_valid_from_x_0_y_0(tmp_path: Path) -> None:
    path = KNOSSOS / "multi-register" / "good" / "multi-register.edn"
    if not path.exists():
        pytest.skip(f"{path} not fetched")
    r = splitbrain(
        "check",
        str(path),
        "--model",
        "multi-register",
        "--initial",
        '{"x": 0, "y": 0}',
        "--out",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stdout + r.stderr


# -- reading: one vector of op maps, after a comment --------------------------------------------


def test_a_history_written_as_one_vector_after_a_comment_loads_with_each_ops_line(
    tmp_path: Path,
) -> None:
    p = tmp_path / "h.edn"
    p.write_text(
        "; a comment, as in Knossos' cas-register-bug.edn\n"
        "[{:process 0, :type :invoke, :f :write, :value 1}\n"
        " {:process 0, :type :ok, :f :write, :value 1}]\n"
    )
    ops = load_history(p)
    assert [(op.type, op.f, op.value) for op in ops] == [("invoke", "write", 1), ("ok", "write", 1)]
    bad = tmp_path / "bad.edn"
    bad.write_text("; c\n[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0}]\n")
    r = splitbrain("check", str(bad))
    assert r.returncode == 3
    assert f"{bad}:3" in r.stderr or f"{bad}, line 3" in r.stderr or "line 3" in r.stderr


def test_a_list_of_op_maps_with_comments_inside_loads_too(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_text(
        "({:type :invoke, :f :write, :value 0, :process 0}\n ; a comment\n"
        " {:type :ok, :f :write, :value 0, :process 0}\n)\n"
    )
    assert len(load_history(p)) == 2


# -- semantics ------------------------------------------------------------------------------


def _ops(*rows: tuple[int | str, str, str, object]) -> list[Op]:
    return [
        Op(type=t, f=f, value=v, process=p, time=i, index=i) for i, (p, t, f, v) in enumerate(rows)
    ]


NIL_READ = _ops(
    (0, "invoke", "write", 1),
    (0, "ok", "write", 1),
    (1, "invoke", "read", None),
    (1, "ok", "read", None),
)


@pytest.mark.parametrize("model", ["register", "cas-register"])
def test_a_nil_read_is_unknown_under_knossos_and_nil_under_splitbrain(model: str) -> None:
    knossos = LinearizableChecker(model, initial=0, semantics="knossos").check(NIL_READ, {})
    own = LinearizableChecker(model, initial=0, semantics="splitbrain").check(NIL_READ, {})
    assert knossos.valid is True
    assert own.valid is False
    assert knossos.details["semantics"] == "knossos"


def test_a_multi_register_nil_read_is_unknown_under_knossos_only() -> None:
    h = _ops(
        (0, "invoke", "txn", [["w", "x", 1]]),
        (0, "ok", "txn", [["w", "x", 1]]),
        (1, "invoke", "txn", [["r", "x", None], ["r", "y", None]]),
        (1, "ok", "txn", [["r", "x", None], ["r", "y", 2]]),
    )
    init = {"x": 0, "y": 2}
    assert LinearizableChecker("multi-register", init, semantics="knossos").check(h, {}).valid
    own = LinearizableChecker("multi-register", init, semantics="splitbrain").check(h, {})
    assert own.valid is False
    wrong = [*h[:3], Op(type="ok", f="txn", value=[["r", "x", None], ["r", "y", 3]], process=1)]
    knossos = LinearizableChecker("multi-register", init, semantics="knossos")
    assert knossos.check(wrong, {}).valid is False  # a nil read excuses only itself


@pytest.mark.parametrize("model", ["fifo-queue", "unordered-queue"])
def test_a_dequeue_of_nil_needs_a_nil_in_the_queue_under_knossos(model: str) -> None:
    deq = [(0, "invoke", "dequeue", None), (0, "ok", "dequeue", None)]
    empty = _ops(*deq)
    assert LinearizableChecker(model, semantics="splitbrain").check(empty, {}).valid is True
    assert LinearizableChecker(model, semantics="knossos").check(empty, {}).valid is False
    nil_enqueued = _ops((1, "invoke", "enqueue", None), (1, "ok", "enqueue", None), *deq)
    assert LinearizableChecker(model, semantics="knossos").check(nil_enqueued, {}).valid is True


@pytest.mark.parametrize("model", ["fifo-queue", "unordered-queue"])
def test_a_crashed_dequeue_takes_only_its_invocations_value_under_knossos(model: str) -> None:
    h = _ops(
        (0, "invoke", "enqueue", 1),
        (0, "ok", "enqueue", 1),
        (0, "invoke", "enqueue", 2),
        (0, "ok", "enqueue", 2),
        (1, "invoke", "dequeue", None),
        (1, "info", "dequeue", None),
        (2, "invoke", "dequeue", None),
        (2, "ok", "dequeue", 2),
    )
    # The crashed dequeue may have taken 1 (splitbrain); Knossos steps it with its invocation's
    # value, nil, which is in no queue here, so it took nothing and 1 is still the head.
    assert LinearizableChecker(model, semantics="splitbrain").check(h, {}).valid is True
    expected = model == "unordered-queue"  # an unordered queue may give 2 first anyway
    assert LinearizableChecker(model, semantics="knossos").check(h, {}).valid is expected


def test_every_model_knossos_has_is_read_its_way_and_the_rest_unchanged() -> None:
    differ = {name for name, m in MODELS.items() if m.under("knossos") is not m}
    assert differ == {"register", "cas-register", "multi-register", "fifo-queue", "unordered-queue"}
    assert MODELS["mutex"].under("knossos") is MODELS["mutex"]
    with pytest.raises(ValueError, match="allowed: splitbrain, knossos"):
        MODELS["register"].under("porcupine")
    assert SEMANTICS == ("splitbrain", "knossos")


# -- which semantics applies: the format's default, or --semantics -------------------------------


def _nil_read_files(tmp_path: Path) -> tuple[Path, Path]:
    edn = tmp_path / "h.edn"
    edn.write_text(
        "{:process 0, :type :invoke, :f :write, :value 1}\n"
        "{:process 0, :type :ok, :f :write, :value 1}\n"
        "{:process 1, :type :invoke, :f :read, :value nil}\n"
        "{:process 1, :type :ok, :f :read, :value nil}\n"
    )
    jsonl = tmp_path / "history.jsonl"
    rows = [
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (1, "invoke", "read", None),
        (1, "ok", "read", None),
    ]
    jsonl.write_text(
        "".join(
            json.dumps({"index": i, "time": i, "type": t, "process": p, "f": f, "value": v}) + "\n"
            for i, (p, t, f, v) in enumerate(rows)
        )
    )
    return edn, jsonl


def test_edn_defaults_to_knossos_and_jsonl_to_splitbrain_and_the_flag_overrides_both(
    tmp_path: Path,
) -> None:
    edn, jsonl = _nil_read_files(tmp_path)
    assert default_semantics(edn) == "knossos"
    assert default_semantics(jsonl) == "splitbrain"
    out = ["--model", "register", "--out", str(tmp_path)]
    assert splitbrain("check", str(edn), *out).returncode == 0
    assert splitbrain("check", str(jsonl), *out).returncode == 1
    r = splitbrain("check", str(edn), *out, "--semantics", "splitbrain")
    assert r.returncode == 1 and "splitbrain semantics" in r.stdout
    assert splitbrain("check", str(jsonl), *out, "--semantics", "knossos").returncode == 0
    assert splitbrain("check", str(edn), *out, "--format", "jsonl").returncode == 3


def test_check_help_says_which_semantics_applies_to_which_format() -> None:
    r = splitbrain("check", "--help")
    text = " ".join(r.stdout.split())
    assert r.returncode == 0
    assert "--semantics {knossos,splitbrain}" in text
    assert "knossos, the default for --format edn" in text
    assert "splitbrain, the default for jsonl and every other format" in text


def test_a_bad_semantics_is_a_usage_error_with_exit_3(tmp_path: Path) -> None:
    edn, _ = _nil_read_files(tmp_path)
    r = splitbrain("check", str(edn), "--semantics", "porcupine")
    assert r.returncode == 3
    assert "porcupine" in r.stderr
