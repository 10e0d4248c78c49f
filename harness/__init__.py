"""The harness: suites, the run, the history and the registries.

What a plugin (a third party's system, workload, checker or fault) uses from here:

- ``harness.registry``: the info objects an entry point names (``SystemInfo``,
  ``WorkloadInfo``, ``CheckerInfo``, ``FaultInfo``, ``BackendInfo``) and typed options
  (``option``, ``parse_options``, ``NoOptions``);
- ``harness.history``: ``Op``, the one record of the history (``op.complete(type, value,
  error=..., extra=...)`` is what a client returns);
- ``harness.spec``: the test spec a System and a Client are made with (``SystemSpec``,
  ``WorkloadSpec``, ...);
- ``harness.generator``: the combinators a workload's generators are built from.

``docs/plugins.md`` walks through a complete plugin.
"""

from __future__ import annotations

from harness.history import NEMESIS, HistoryError, Op, read_jsonl
from harness.registry import (
    BackendInfo,
    CheckerInfo,
    FaultInfo,
    NoOptions,
    Option,
    OptionError,
    SystemInfo,
    WorkloadInfo,
    option,
    parse_options,
)
from harness.spec import (
    CheckerSpec,
    ClusterSpec,
    FaultSpec,
    NemesisSpec,
    SuiteSpec,
    SystemSpec,
    TestSpec,
    WorkloadSpec,
)

__all__ = [
    "NEMESIS",
    "BackendInfo",
    "CheckerInfo",
    "CheckerSpec",
    "ClusterSpec",
    "FaultInfo",
    "FaultSpec",
    "HistoryError",
    "NemesisSpec",
    "NoOptions",
    "Op",
    "Option",
    "OptionError",
    "SuiteSpec",
    "SystemInfo",
    "SystemSpec",
    "TestSpec",
    "WorkloadInfo",
    "WorkloadSpec",
    "option",
    "parse_options",
    "read_jsonl",
]
