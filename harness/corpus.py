"""Where the shared corpus lives: real histories with verdicts established by Porcupine, Elle
and Jepsen, which the checkers' tests and benchmarks compare against.

``$SPLITBRAIN_CORPUS`` if set; else ``shared/corpus`` beside the checkout (in the repository
root's parent, as in the project's workspace: ``../shared/corpus``); else there is none, and
what needs it skips with ``NOT_FOUND`` as its reason. No path of one machine is assumed.
"""

from __future__ import annotations

import os
import unittest
from pathlib import Path

__all__ = ["ENV", "NOT_FOUND", "CorpusNotFound", "corpus_dir", "find_corpus", "require_corpus"]

#: the environment variable that names the corpus directory
ENV = "SPLITBRAIN_CORPUS"
#: why a test that needs the corpus is skipped when there is none
NOT_FOUND = f"corpus not found: set {ENV}"


class CorpusNotFound(unittest.SkipTest):
    """There is no corpus (or not where ``$SPLITBRAIN_CORPUS`` says). A ``unittest.SkipTest``,
    so that pytest reports a test or a module that meets it as skipped, with the reason."""


def find_corpus() -> Path | None:
    """The corpus directory: ``$SPLITBRAIN_CORPUS`` as given, else ``../shared/corpus``
    beside the checkout if it is a directory, else None."""
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    beside = _beside_the_checkout()
    return beside if beside.is_dir() else None


def corpus_dir() -> Path:
    """``find_corpus()``, or where the corpus is looked for beside the checkout when there is
    none: a path that does not exist, so that a caller checking ``exists()`` skips."""
    return find_corpus() or _beside_the_checkout()


def require_corpus(*parts: str) -> Path:
    """The path ``parts`` inside the corpus; raises ``CorpusNotFound`` (a skip, under pytest)
    when there is no corpus directory. A file missing from a corpus that exists is not a
    skip: the caller's open fails and says which."""
    root = find_corpus()
    if root is None:
        raise CorpusNotFound(NOT_FOUND)
    if not root.is_dir():
        raise CorpusNotFound(f"corpus not found at {root} (from {ENV})")
    return root.joinpath(*parts)


def _beside_the_checkout() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "corpus"
