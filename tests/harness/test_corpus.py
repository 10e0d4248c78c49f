"""harness.corpus.corpus_dir: the environment first, then beside the checkout, then /work."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import corpus


def test_the_environment_names_the_corpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPLITBRAIN_CORPUS", str(tmp_path))
    assert corpus.corpus_dir() == tmp_path


def test_without_one_beside_the_checkout_it_is_the_workspace_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SPLITBRAIN_CORPUS", raising=False)
    checkout = tmp_path / "clone"
    (checkout / "harness").mkdir(parents=True)
    monkeypatch.setattr(corpus, "__file__", str(checkout / "harness" / "corpus.py"))
    assert corpus.corpus_dir() == Path("/work/shared/corpus")
    (tmp_path / "shared" / "corpus").mkdir(parents=True)
    assert corpus.corpus_dir() == tmp_path / "shared" / "corpus"
