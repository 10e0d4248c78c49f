"""The failure report of a run: ``report.html``, self-contained, built from the run directory.

from harness.report import build_report
build_report(Path("results/raft-register/20260101T000000Z"))   # -> .../report.html
"""

from __future__ import annotations

from ._load import RunData, load_run
from ._model import FaultKinds, fault_kinds
from ._page import build_report, render

__all__ = ["FaultKinds", "RunData", "build_report", "fault_kinds", "load_run", "render"]
