"""One `splitbrain run` of a shipped suite as a user runs it (a subprocess from the repository
root), for the patterns' end-to-end tests: the process and the one results.json it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_suite(
    tmp_path: Path, suite: str, test: str, time_limit: float, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run ``suites/<suite>.yaml`` for ``time_limit`` seconds with ``extra`` flags (a seed, a
    bug); the process and the results.json of its test ``test``."""
    results = tmp_path / "results"
    p = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", f"suites/{suite}.yaml",
         "--time-limit", f"{time_limit:g}", "--results", str(results), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    found = [f for f in results.glob(f"{test}/*/results.json") if f.parts[-2] != "latest"]
    assert len(found) == 1, p.stdout + p.stderr
    return p, json.loads(found[0].read_text())
