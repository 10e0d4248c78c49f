"""The elle-cli bridge (checkers.elle_cli): not configured, the export round trip through the
project's EDN reader, reading elle-cli's output (JSON, EDN, text) and anomaly files, running a
stand-in program in place of java, and -- when a jar is present -- elle-cli itself."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from checkers.elle_cli import (
    ENV_VAR,
    ElleCliChecker,
    ElleCliError,
    ElleCliNotConfigured,
    analysis_to_result,
    export_history,
    find_jar,
    parse_output,
    run_elle_cli,
)
from checkers.txn import ListAppendChecker, RwRegisterChecker
from harness import registry
from harness.corpus import corpus_dir
from harness.formats import load_history, read_elle_json
from harness.history import Op

CORPUS = corpus_dir()


def load(path: Path) -> list[Op]:
    return read_elle_json(path) if path.suffix == ".json" else load_history(path)


def _g1c() -> list[Op]:
    return load(CORPUS / "elle/list-append/G1c.edn")


# -- not configured ------------------------------------------------------------------------------


def test_without_a_jar_the_bridge_says_it_is_not_configured(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    r = ElleCliChecker().check(_g1c(), {})
    assert r.valid == "unknown"
    assert "not configured" in r.details["reason"] and ENV_VAR in r.details["reason"]
    with pytest.raises(ElleCliNotConfigured, match=ENV_VAR):
        find_jar()
    with pytest.raises(ElleCliNotConfigured):
        run_elle_cli("history.edn", model="list-append")
    info = registry.checkers()["elle-cli"]
    r = info.make(info.options()).check(_g1c(), {})
    assert r.valid == "unknown" and ENV_VAR in r.details["reason"]


def test_a_jar_that_does_not_exist_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope.jar"))
    with pytest.raises(ElleCliError, match="nope.jar.*does not exist"):
        find_jar()
    r = ElleCliChecker().check(_g1c(), {})
    assert r.valid == "unknown" and "does not exist" in r.details["reason"]


# -- the export ----------------------------------------------------------------------------------

ROUND_TRIP = [
    "elle/list-append/G1c.edn",
    "elle/list-append/paper-example.json",
    "elle/list-append/dirty-update-indirect.edn",
    "elle/rw-register/rw-register.json",
    "jepsen/bank.json",
    "jepsen/bank.edn",
    "jepsen/set_full.json",
    "jepsen/counter.edn",
    "jepsen/long-fork.edn",
]


def _fields(op: Op) -> tuple[Any, ...]:
    return (op.index, op.time, op.type, op.process, op.f, op.value, op.error, op.extra)


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_the_edn_export_reads_back_the_same_history(name: str, tmp_path: Path):
    history = load(CORPUS / name)
    path = export_history(history, tmp_path / "h.edn")
    back = load_history(path, "edn")
    assert [_fields(op) for op in back] == [_fields(op) for op in history]


def test_the_export_keeps_strings_keys_nemesis_ops_and_errors(tmp_path: Path):
    history = [
        Op("invoke", "txn", [["append", "x", 1], ["r", "a b", None]], 0, 10, 0),
        Op("info", "start-partition", "majority", "nemesis", 11, 1),
        Op("ok", "txn", [["append", "x", 1], ["r", "a b", ['q"uote', 2]]], 0, 12, 2),
        Op("invoke", "transfer", {"from": 1, "to": 2, "amount": 5}, 1, 13, 3),
        Op("info", "transfer", {"from": 1, "to": 2, "amount": 5}, 1, 14, 4, error="timed out"),
    ]
    edn_text = export_history(history, tmp_path / "h.edn").read_text()
    assert ":f :txn" in edn_text and '[:append "x" 1]' in edn_text
    assert ":from 1" in edn_text and ":process :nemesis" in edn_text
    back = load_history(tmp_path / "h.edn", "edn")
    assert [_fields(op) for op in back] == [_fields(op) for op in history]
    back = read_elle_json(export_history(history, tmp_path / "h.json", "json"))
    assert [_fields(op) for op in back] == [_fields(op) for op in history if op.is_client]


# -- elle-cli's output ---------------------------------------------------------------------------

# The shape elle-cli prints with --output json (keys as in its test data: valid?, anomaly-types,
# anomalies by type, each cycle with its ops and steps, not, also-not).
JSON_OUTPUT = {
    "valid?": False,
    "anomaly-types": ["G1c"],
    "anomalies": {
        "G1c": [
            {
                "cycle": [
                    {
                        "index": 3,
                        "time": -1,
                        "type": "ok",
                        "process": 1,
                        "f": None,
                        "value": [["append", 1, 2], ["append", 2, 1]],
                    },
                    {
                        "index": 1,
                        "time": -1,
                        "type": "ok",
                        "process": 0,
                        "f": None,
                        "value": [["append", 1, 1], ["r", 2, [1]]],
                    },
                    {
                        "index": 3,
                        "time": -1,
                        "type": "ok",
                        "process": 1,
                        "f": None,
                        "value": [["append", 1, 2], ["append", 2, 1]],
                    },
                ],
                "steps": [
                    {"type": "wr", "key": 2, "value": 1, "a-mop-index": 1, "b-mop-index": 1},
                    {
                        "type": "ww",
                        "key": 1,
                        "value": 1,
                        "value'": 2,
                        "a-mop-index": 0,
                        "b-mop-index": 0,
                    },
                ],
                "type": "G1c",
            }
        ]
    },
    "not": ["read-committed"],
    "also-not": ["serializable", "snapshot-isolation", "strong-serializable"],
}

# The same analysis as older elle-cli versions pprint it, in EDN.
EDN_OUTPUT = """{:valid? false,
 :anomaly-types (:G1c),
 :anomalies
 {:G1c
  [{:cycle
    [{:index 3, :time -1, :type :ok, :process 1, :value [[:append 1 2] [:append 2 1]]}
     {:index 1, :time -1, :type :ok, :process 0, :value [[:append 1 1] [:r 2 [1]]]}
     {:index 3, :time -1, :type :ok, :process 1, :value [[:append 1 2] [:append 2 1]]}],
    :steps
    ({:type :wr, :key 2, :value 1, :a-mop-index 1, :b-mop-index 1}
     {:type :ww, :key 1, :value 1, :value' 2, :a-mop-index 0, :b-mop-index 0}),
    :type :G1c}]},
 :not #{:read-committed},
 :also-not #{:serializable :snapshot-isolation :strong-serializable}}
"""

# What Elle writes to <directory>/G1c.txt for that cycle (elle.core/write-cycles!).
G1C_TXT = """G1c #0
Let:
  T1 = {:index 3, :time -1, :type :ok, :process 1, :value [[:append 1 2] [:append 2 1]]}
  T2 = {:index 1, :time -1, :type :ok, :process 0, :value [[:append 1 1] [:r 2 [1]]]}

Then:
  - T1 < T2, because T2 observed T1's append of 1 to key 2.
  - However, T2 < T1, because T1 appended 2 after T2 appended 1 to 1: a contradiction!"""


def test_the_json_analysis_is_read_even_after_log_lines():
    out = (
        "INFO [2024-01-01 00:00:00,000] main - elle.txn Checking SCC\n"
        + json.dumps(JSON_OUTPUT, indent=1)
        + "\n"
    )
    valid, analysis = parse_output(out, "h.edn")
    assert valid is False and analysis is not None
    assert analysis["anomaly-types"] == ["G1c"] and analysis["not"] == ["read-committed"]


def test_the_edn_analysis_of_older_versions_is_read_as_the_json_one():
    valid, analysis = parse_output(EDN_OUTPUT)
    assert valid is False and analysis is not None
    assert analysis["anomaly-types"] == ["G1c"]
    assert analysis["anomalies"]["G1c"][0]["steps"][1]["value'"] == 2
    _, from_json = parse_output(json.dumps(JSON_OUTPUT))
    a = analysis_to_result(valid, analysis, {}, model="list-append")
    b = analysis_to_result(False, from_json, {}, model="list-append")
    assert a.details["not"] == b.details["not"] == ["read-committed"]
    assert a.details["anomaly-types"] == b.details["anomaly-types"]
    assert [x.explanation for x in a.anomalies] == [x.explanation for x in b.anomalies]


@pytest.mark.parametrize(
    "line,valid",
    [
        ("h.edn \t true", True),
        ("h.edn\tfalse", False),
        ("h.edn \t :unknown", "unknown"),
        ("/tmp/x/h.edn \t unknown", "unknown"),
    ],
)
def test_the_text_verdict_line_is_read(line: str, valid: Any):
    assert parse_output(f"some log line\n{line}\n", "/tmp/x/h.edn") == (valid, None)


def test_the_edn_reader_takes_quotes_records_tags_and_escapes():
    text = (
        '{:valid? :unknown, :op #jepsen.history.Op{:index 1, :value "a \\"b\\"\\n"}, '
        ':a\' #inst "2024-01-01", :k [1 -2 3.5 nil true], :s #{:x}, ;; comment\n :n 7N}'
    )
    valid, analysis = parse_output(text)
    assert valid == "unknown"
    assert analysis == {
        "valid?": "unknown",
        "op": {"index": 1, "value": 'a "b"\n'},
        "a'": "2024-01-01",
        "k": [1, -2, 3.5, None, True],
        "s": ["x"],
        "n": 7,
    }


def test_output_without_a_verdict_is_no_verdict():
    assert parse_output("Exception in thread main java.lang.Error\n\tat foo\n") == (None, None)
    assert parse_output("") == (None, None)


def test_elles_anomaly_file_explains_each_case():
    r = analysis_to_result(False, JSON_OUTPUT, {"G1c.txt": G1C_TXT}, model="list-append")
    (a,) = r.anomalies
    assert a.name == "G1c" and a.explanation.startswith("G1c #0")
    assert "a contradiction!" in a.explanation
    assert [op["index"] for op in a.ops] == [3, 1]
    assert r.valid is False and r.details["engine"] == "elle-cli"
    assert r.details["anomaly-types"] == ["G1c"] and r.details["not"] == ["read-committed"]


def test_without_the_file_a_case_is_explained_from_its_data():
    r = analysis_to_result(False, JSON_OUTPUT, {}, model="list-append")
    (a,) = r.anomalies
    assert "op 3 (process 1, ok) -> op 1 (process 0, ok)" in a.explanation
    assert "wr on key 2" in a.explanation and "ww on key 1 (1 -> 2)" in a.explanation


def test_a_jepsen_model_analysis_becomes_one_anomaly():
    analysis = {
        "valid?": False,
        "read-count": 2,
        "error-count": 1,
        "first-error": {
            "type": "negative-value",
            "negative": [-1],
            "op": {"index": 3, "type": "ok", "f": "read", "process": 0},
        },
        "errors": {"negative-value": {"count": 1}},
    }
    r = analysis_to_result(False, analysis, {}, model="bank")
    (a,) = r.anomalies
    assert a.name == "bank" and "negative-value" in a.explanation and a.ops[0]["index"] == 3


# -- a stand-in for java -------------------------------------------------------------------------

FAKE_JAVA = """\
#!{python}
# Stands in for `java -jar elle-cli.jar ...`: records its arguments and the history it was
# given, writes an anomaly file, prints a canned analysis, as elle-cli does.
import json, os, pathlib, sys, time
args = sys.argv[1:]
record = pathlib.Path(os.environ["FAKE_RECORD"])
record.write_text(json.dumps(args))
mode = os.environ.get("FAKE_MODE", "json")
hist = pathlib.Path(args[-1])
(record.parent / ("seen" + hist.suffix)).write_text(hist.read_text())
if mode == "old" and "--output" in args:
    print('Unknown option: "--output"')
    sys.exit(1)
if mode == "sleep":
    time.sleep(30)
if mode == "crash":
    sys.stderr.write("Exception in thread main clojure.lang.ExceptionInfo: boom\\n")
    sys.exit(255)
if "--directory" in args:
    d = pathlib.Path(args[args.index("--directory") + 1])
    d.mkdir(parents=True, exist_ok=True)
    (d / "G1c.txt").write_text(os.environ["FAKE_TXT"])
print("INFO [2024-01-01] main - elle.core checking")
if mode == "text":
    print(str(hist), "\\t", "false")
else:
    print(os.environ["FAKE_OUT"])
sys.exit(1)
"""


@pytest.fixture
def fake_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    prog = tmp_path / "java"
    prog.write_text(FAKE_JAVA.replace("{python}", sys.executable))
    prog.chmod(prog.stat().st_mode | stat.S_IEXEC)
    jar = tmp_path / "elle-cli.jar"
    jar.write_bytes(b"not really a jar")
    monkeypatch.setenv(ENV_VAR, str(jar))
    monkeypatch.setenv("FAKE_RECORD", str(tmp_path / "args.json"))
    monkeypatch.setenv("FAKE_OUT", json.dumps(JSON_OUTPUT, indent=1))
    monkeypatch.setenv("FAKE_TXT", G1C_TXT)
    return prog


def test_the_bridge_runs_elle_cli_and_presents_its_verdict(fake_java: Path, tmp_path: Path):
    checker = ElleCliChecker(
        "list-append", ["serializable", "snapshot-isolation"], ["G1"], java=str(fake_java)
    )
    r = checker.check(_g1c(), {})
    args = json.loads((tmp_path / "args.json").read_text())
    assert args[:2] == ["-jar", os.environ[ENV_VAR]]
    assert args[args.index("--model") + 1] == "list-append"
    assert args[args.index("--consistency-models") + 1] == "serializable,snapshot-isolation"
    assert args[args.index("--anomalies") + 1] == "G1"
    assert args[args.index("--output") + 1] == "json"
    # The history it was given is the history, in EDN the project reads back the same.
    seen = load_history(tmp_path / "seen.edn", "edn")
    assert [_fields(op) for op in seen] == [_fields(op) for op in _g1c()]
    assert r.valid is False and r.details["exit-code"] == 1
    assert r.details["anomaly-types"] == ["G1c"] and r.details["not"] == ["read-committed"]
    assert r.anomalies[0].explanation.startswith("G1c #0")
    files = checker.write_artifacts(r, tmp_path / "run")
    assert [f.name for f in files] == ["G1c.txt"] and files[0].read_text() == G1C_TXT


def test_the_bridge_can_export_json(fake_java: Path, tmp_path: Path):
    ElleCliChecker(java=str(fake_java), format="json").check(_g1c(), {})
    seen = read_elle_json(tmp_path / "seen.json")
    assert [_fields(op) for op in seen] == [_fields(op) for op in _g1c()]


def test_a_text_only_verdict_is_still_a_verdict(fake_java: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_MODE", "text")
    r = ElleCliChecker(java=str(fake_java)).check(_g1c(), {})
    assert r.valid is False and r.anomalies == []


def test_an_elle_cli_without_output_json_is_asked_with_verbose(
    fake_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_MODE", "old")
    monkeypatch.setenv("FAKE_OUT", EDN_OUTPUT)
    r = ElleCliChecker(java=str(fake_java)).check(_g1c(), {})
    assert "--verbose" in json.loads((tmp_path / "args.json").read_text())
    assert r.valid is False and r.details["anomaly-types"] == ["G1c"]


def test_a_crash_is_unknown_with_its_stderr(fake_java: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_MODE", "crash")
    r = ElleCliChecker(java=str(fake_java)).check(_g1c(), {})
    assert r.valid == "unknown" and "exited with code 255" in r.details["reason"]
    assert "boom" in r.details["stderr"]


def test_a_run_past_the_time_budget_is_unknown(fake_java: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_MODE", "sleep")
    r = ElleCliChecker(java=str(fake_java), time_budget_s=0.5).check(_g1c(), {})
    assert r.valid == "unknown" and "did not finish within 0.5 s" in r.details["reason"]


def test_a_missing_java_is_unknown(fake_java: Path, tmp_path: Path):
    r = ElleCliChecker(java=str(tmp_path / "no-java")).check(_g1c(), {})
    assert r.valid == "unknown" and "no such program" in r.details["reason"]


def test_bad_bridge_options_are_refused():
    with pytest.raises(ValueError, match="unknown elle-cli model 'lists'"):
        ElleCliChecker("lists")
    with pytest.raises(ValueError, match="'format'"):
        ElleCliChecker(format="xml")


# -- elle-cli itself, when a jar is present ----------------------------------------------------

JAR = os.environ.get(ENV_VAR, "")
needs_jar = pytest.mark.skipif(
    not (JAR and Path(JAR).is_file() and shutil.which("java")),
    reason=f"no elle-cli jar: set {ENV_VAR} (and have java on PATH) to run it",
)

AGREE: list[tuple[str, str, list[str], list[str]]] = [
    ("elle/list-append/G1c.edn", "list-append", ["read-committed"], []),
    ("elle/list-append/G2.edn", "list-append", ["serializable"], []),
    ("elle/list-append/paper-example.edn", "list-append", ["strict-serializable"], []),
    ("elle/list-append/list-append-gh-30.edn", "list-append", ["serializable"], []),
    ("elle/rw-register/rw-register.edn", "rw-register", ["strict-serializable"], []),
]


@needs_jar
@pytest.mark.slow
@pytest.mark.parametrize("case", AGREE, ids=lambda c: c[0])
def test_elle_cli_and_the_native_checker_agree(case: Any):
    name, model, models, anomalies = case
    history = load(CORPUS / name)
    theirs = ElleCliChecker(model, models, anomalies, time_budget_s=600).check(history, {})
    native_cls = ListAppendChecker if model == "list-append" else RwRegisterChecker
    ours = native_cls(models, anomalies).check(history, {})
    assert theirs.valid == ours.valid, (theirs.details, ours.details)
    if theirs.valid is False:
        assert set(theirs.details["not"]) == set(ours.details["not"])


def test_the_fake_java_script_is_what_the_tests_think_it_is():
    # Guards the stand-in itself: it must be valid Python once filled in.
    compile(textwrap.dedent(FAKE_JAVA.replace("{python}", sys.executable)), "java", "exec")
