"""The command line, run as a user runs it (a subprocess), for what needs no cluster."""

from __future__ import annotations

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
