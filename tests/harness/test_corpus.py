"""harness.corpus: the environment first, then beside the checkout, else none (and a skip)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import corpus


@pytest.fixture
def clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A checkout at ``tmp_path/clone`` with no corpus beside it and no $SPLITBRAIN_CORPUS."""
    monkeypatch.delenv(corpus.ENV, raising=False)
    checkout = tmp_path / "clone"
    (checkout / "harness").mkdir(parents=True)
    monkeypatch.setattr(corpus, "__file__", str(checkout / "harness" / "corpus.py"))
    return checkout


def test_the_environment_names_the_corpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(corpus.ENV, str(tmp_path))
    assert corpus.find_corpus() == tmp_path
    assert corpus.corpus_dir() == tmp_path
    assert corpus.require_corpus("elle", "VERDICTS.tsv") == tmp_path / "elle" / "VERDICTS.tsv"


def test_the_environment_wins_over_a_corpus_beside_the_checkout(
    clone: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "shared" / "corpus").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv(corpus.ENV, str(elsewhere))
    assert corpus.find_corpus() == elsewhere


def test_without_the_environment_it_is_the_one_beside_the_checkout(
    clone: Path, tmp_path: Path
) -> None:
    beside = tmp_path / "shared" / "corpus"
    beside.mkdir(parents=True)
    assert corpus.find_corpus() == beside
    assert corpus.corpus_dir() == beside
    assert corpus.require_corpus("jepsen") == beside / "jepsen"


def test_without_either_there_is_none_and_no_machine_path_is_assumed(
    clone: Path, tmp_path: Path
) -> None:
    assert corpus.find_corpus() is None
    # where it is looked for, relative to the checkout: it does not exist, so callers that
    # check exists() skip
    assert corpus.corpus_dir() == tmp_path / "shared" / "corpus"
    assert not corpus.corpus_dir().exists()
    with pytest.raises(corpus.CorpusNotFound, match="corpus not found: set SPLITBRAIN_CORPUS"):
        corpus.require_corpus("porcupine")


def test_an_environment_naming_no_directory_says_so(
    clone: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(corpus.ENV, str(tmp_path / "missing"))
    with pytest.raises(corpus.CorpusNotFound, match="missing.*SPLITBRAIN_CORPUS"):
        corpus.require_corpus()


def test_a_test_that_requires_a_missing_corpus_is_skipped_with_the_reason(
    tmp_path: Path,
) -> None:
    """Under pytest, CorpusNotFound is a skip, both inside a test and while collecting a
    module, and the reason tells what to set."""
    (tmp_path / "test_needs_corpus.py").write_text(
        textwrap.dedent(
            """
            from harness import corpus

            def test_inside():
                corpus.require_corpus("elle")
            """
        )
    )
    (tmp_path / "test_module_needs_corpus.py").write_text(
        "from harness import corpus\nROOT = corpus.require_corpus()\n\ndef test_x():\n    pass\n"
    )
    env = {**os.environ, corpus.ENV: str(tmp_path / "no-corpus-here")}
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 skipped" in r.stdout, r.stdout
    assert r.stdout.count("corpus not found at") == 2, r.stdout
