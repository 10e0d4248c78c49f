"""The command line, run as a user runs it (a subprocess), for what needs no cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.corpus import corpus_dir

ROOT = Path(__file__).resolve().parents[2]


def splitbrain(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=120,
    )


@pytest.mark.parametrize(
    "body, where, allowed",
    [
        (
            "tests:\n  - name: a\n    speed: 3\n",
            "s.yaml:3 at 'tests[0].speed'",
            "allowed: checkers",
        ),
        (
            "tests:\n  - name: a\n    time_limit: soon\n",
            "s.yaml:3 at 'tests[0].time_limit'",
            "expected a number, got 'soon'",
        ),
        (
            "tests:\n  - name: a\n    cluster: {nodes: 0}\n",
            "s.yaml:3 at 'tests[0].cluster.nodes'",
            "need at least 1 node",
        ),
        (
            "tests:\n  - name: a\n    system: {name: raft, bugs: [typo]}\n",
            "s.yaml:3 at 'tests[0].system.bugs'",  # found as the suite is read, with its line
            "allowed: stale-read, early-ack, no-fsync, vote-twice",
        ),
    ],
)
def test_a_bad_suite_exits_3_with_one_message_naming_the_place(tmp_path, body, where, allowed):
    suite = tmp_path / "s.yaml"
    suite.write_text(body)
    r = splitbrain("run", "s.yaml", "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert where in lines[0] and allowed in lines[0]
    assert not (tmp_path / "results").exists()  # nothing half-written on bad input


def test_a_history_with_a_malformed_line_exits_3_naming_the_line(tmp_path):
    h = tmp_path / "history.jsonl"
    h.write_text(
        '{"index":0,"time":1,"type":"invoke","process":0,"f":"read","value":null}\n'
        '{"index":1,"time":2,"type":"okay","process":0,"f":"read","value":1}\n'
    )
    r = splitbrain("check", str(h), "--format", "jsonl", "--model", "cas-register")
    assert r.returncode == 3
    assert f"{h}:2: field 'type' is 'okay'; allowed: invoke, ok, fail, info" in r.stderr


def test_list_names_every_seeded_bug_of_raft():
    r = splitbrain("list")
    assert r.returncode == 0
    for bug in ("stale-read", "early-ack", "no-fsync", "vote-twice"):
        assert f"--bug {bug}" in r.stdout


CORPUS = corpus_dir()


@pytest.mark.skipif(not CORPUS.exists(), reason=f"no shared corpus at {CORPUS}")
@pytest.mark.parametrize(
    "path, args, code, words",
    [
        ("elle/list-append/G1c.edn", ["--checker", "list-append", "--anomalies", "G1"], 1, "G1c"),
        ("jepsen/bank.json", ["--checker", "bank"], 0, "valid (680 ops, checker bank)"),
        ("porcupine/etcd/etcd_000.log", ["--model", "cas-register"], 1, "cannot be linearized"),
    ],
)
def test_check_reads_each_corpus_format_and_exits_with_the_verdict(
    tmp_path, path, args, code, words
):
    r = splitbrain("check", str(CORPUS / path), *args, "--out", str(tmp_path))
    assert r.returncode == code, r.stdout + r.stderr
    assert words in r.stdout


def test_a_reader_that_has_gone_does_not_turn_an_invalid_verdict_into_a_crash(
    tmp_path: Path,
) -> None:
    # `check ... | head -1`: the reader leaves after the verdict line. Its read end is closed
    # before the check starts, so every write meets a closed pipe, whatever the timing.
    history = ROOT / "tests/data/knossos/cas-register/bad/cas-failure.edn"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "check",
                str(history),
                "--initial",
                "0",
                "--out",
                str(tmp_path),
            ],
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


# -- check: any registered checker, typed options ----------------------------------------------

BANK = (
    '{"index":0,"time":1,"type":"invoke","process":0,"f":"read","value":null}\n'
    '{"index":1,"time":2,"type":"ok","process":0,"f":"read","value":{"0":10,"1":0}}\n'
    '{"index":2,"time":3,"type":"invoke","process":0,"f":"read","value":null}\n'
    '{"index":3,"time":4,"type":"ok","process":0,"f":"read","value":{"0":-5,"1":15}}\n'
)
#: two clients granted lock k at once, the first lease (1000 ms) not yet run out
TWO_HOLDERS = (
    '{"index":0,"time":1000,"type":"invoke","process":0,"f":"acquire","value":["k",null]}\n'
    '{"index":1,"time":2000,"type":"ok","process":0,"f":"acquire",'
    '"value":["k",{"token":1,"lease_ms":1000}]}\n'
    '{"index":2,"time":3000,"type":"invoke","process":1,"f":"acquire","value":["k",null]}\n'
    '{"index":3,"time":4000,"type":"ok","process":1,"f":"acquire",'
    '"value":["k",{"token":2,"lease_ms":1000}]}\n'
)


def _history(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "h.jsonl"
    path.write_text(text)
    return path


def test_check_runs_a_checker_that_only_runs_had_before_such_as_lock(tmp_path: Path) -> None:
    r = splitbrain("check", str(_history(tmp_path, TWO_HOLDERS)), "--checker", "lock")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "INVALID (4 ops, checker lock)" in r.stdout
    assert "  - mutual-exclusion: " in r.stdout


def test_an_option_value_is_read_as_the_type_the_checker_declares(tmp_path: Path) -> None:
    h = str(_history(tmp_path, BANK))
    assert splitbrain("check", h, "--checker", "bank").returncode == 1  # a negative balance
    r = splitbrain("check", h, "--checker", "bank", "--option", "negative_balances=true")
    assert r.returncode == 0, r.stdout + r.stderr
    # a list by commas (or in brackets), an integer
    for accounts in ("accounts=0,1", "accounts=[0, 1]"):
        r = splitbrain("check", h, "--checker", "bank", "--option", "negative_balances=yes",
                       "--option", accounts, "--option", "total_amount=10")  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
    r = splitbrain("check", h, "--checker", "bank", "--option", "negative_balances=true",
                   "--option", "total_amount=11")  # fmt: skip
    assert r.returncode == 1 and "wrong-total" in r.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--checker", "bank", "--option", "negative_balances=maybe"],
         ["--option", "'negative_balances'", "'maybe'", "true or false"]),
        (["--checker", "bank", "--option", "total_amount=ten"],
         ["'total_amount'", "'ten'", "an integer"]),
        (["--checker", "lock", "--option", "drift=2"],
         ["lock checker's option 'drift'", "2.0", "from 0 to 0.99"]),
        (["--checker", "bank", "--option", "group_size=3"],
         ["the bank checker has no option 'group_size'", "negative_balances"]),
        (["--checker", "bank", "--checker", "counter", "--option", "group_size=3"],
         ["none of the checkers named has an option 'group_size'", "counter: none"]),
        (["--checker", "bank", "--consistency-models", "serializable"],
         ["--consistency-models", "no option 'consistency_models'"]),
        (["--model", "registr"], ["--model", "'registr'", "allowed: cas-register"]),
        (["--checker", "lineariseable"],
         ["--checker", "no checker 'lineariseable'", "linearizable"]),
        (["--checker", "bank", "--option", "negative_balances"], ["expected KEY=VALUE"]),
    ],
)  # fmt: skip
def test_a_bad_checker_option_exits_3_with_one_line_naming_it(
    tmp_path: Path, args: list[str], words: list[str]
) -> None:
    r = splitbrain("check", str(_history(tmp_path, BANK)), *args, "--out", str(tmp_path / "d"))
    assert r.returncode == 3, r.stdout + r.stderr
    (line,) = r.stderr.splitlines()
    for word in words:
        assert word in line, line
    assert r.stdout == "" and not (tmp_path / "d").exists()


def test_several_checkers_check_one_history_and_the_worst_verdict_decides(tmp_path: Path) -> None:
    h = str(_history(tmp_path, BANK))
    r = splitbrain("check", h, "--checker", "stats", "--checker", "bank")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{h}: valid (4 ops, checker stats)" in r.stdout
    assert f"{h}: INVALID (4 ops, checker bank)" in r.stdout
    r = splitbrain("check", h, "--checker", "stats", "--checker", "bank", "--json")
    shown = json.loads(r.stdout)
    assert shown["valid"] is False and set(shown["checkers"]) == {"stats", "bank"}
    assert shown["checkers"]["stats"]["valid"] is True


def test_check_help_lists_every_registered_checker_and_its_options() -> None:
    from harness import registry

    r = splitbrain("check", "--help")
    assert r.returncode == 0
    for name, info in registry.checkers().items():
        assert f"\n  {name} " in r.stdout, name
        for o in registry.declared(info.options):
            assert o.name in r.stdout
