"""A bug of the harness's own is never a verdict: a checker that cannot even be made is
"unknown" with the reason, and an unexpected exception in a command exits 2 (unknown), not 1
(invalid), with its traceback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from harness import cli, registry, run
from harness.history import Op


def _broken(_options: Any) -> Any:
    raise ImportError("cannot import name 'crashed' from 'checkers.base'")


def test_a_checker_that_cannot_be_made_is_unknown_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    infos = dict(registry.checkers())
    infos["broken"] = registry.CheckerInfo("broken", "cannot be imported", _broken)
    monkeypatch.setattr(run.registry, "checkers", lambda: infos)
    history = [Op("invoke", "read", None, 0, 0, index=0), Op("ok", "read", 1, 0, 1, index=1)]
    checked = run.check_history(history, ["broken", "stats"], None, {"test": "t"})
    assert checked["valid"] == "unknown"
    assert checked["checkers"]["broken"]["valid"] == "unknown"
    assert "ImportError" in checked["checkers"]["broken"]["details"]["reason"]
    assert checked["checkers"]["stats"]["valid"] is True


def test_an_unexpected_exception_exits_2_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(args: Any, argv: Any) -> int:
        raise RuntimeError("a bug of splitbrain's own")

    monkeypatch.setattr(cli, "_cmd_list", boom)
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug of splitbrain's own" in err
    assert "internal error" in err


def test_a_spec_built_in_python_gets_the_checks_a_suite_gets_before_anything_is_made(
    tmp_path: Path,
) -> None:
    # run_test is public: a spec that never went through a suite file (the pytest plugin, a
    # user's own script) is checked as config.check_test checks a suite's test, option by
    # option, before a cluster or a run directory exists
    from harness.config import ConfigError
    from harness.run import run_test
    from harness.spec import SystemSpec, TestSpec

    spec = TestSpec(name="t", system=SystemSpec(name="raft", options={"no_such_option": 1}))
    with pytest.raises(ConfigError, match="no_such_option"):
        run_test(spec, results_root=tmp_path / "results", out=open(os.devnull, "w"))
    assert not (tmp_path / "results").exists()
