"""Where the shared corpus lives: real histories with verdicts established by Porcupine, Elle
and Jepsen, which the checkers' tests and benchmarks compare against.

``$SPLITBRAIN_CORPUS`` if set; else ``shared/corpus`` beside the checkout (``../shared``, as
in the project's workspace); else ``/work/shared/corpus``, so that a clone made anywhere else
on the same machine (CI clones to a fresh directory) still finds it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["corpus_dir"]


def corpus_dir() -> Path:
    env = os.environ.get("SPLITBRAIN_CORPUS")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    if beside.is_dir():
        return beside
    return Path("/work/shared/corpus")
