"""Routing ops to the nemesis that handles them, and tearing every part down."""

from __future__ import annotations

import pytest

from clusters.base import Cluster
from harness.history import Op
from nemesis.base import Nemesis
from nemesis.compose import NoopNemesis, compose


class Recorder:
    """A nemesis that records what it was asked, and fails its teardown if told to."""

    def __init__(self, fs: set[str], fail_teardown: bool = False) -> None:
        self.fs = frozenset(fs)
        self.fail_teardown = fail_teardown
        self.seen: list[str] = []
        self.torn_down = 0

    def setup(self, cluster: Cluster) -> None:
        self.seen.append("setup")

    def invoke(self, op: Op) -> Op:
        self.seen.append(op.f)
        return op.complete("ok", f"done by {sorted(self.fs)[0]}")

    def teardown(self) -> None:
        self.torn_down += 1
        if self.fail_teardown:
            raise OSError("cannot reach the node")


def op(f: str, value: object = None) -> Op:
    return Op("invoke", f, value, process="nemesis")


def test_each_op_goes_to_the_nemesis_that_handles_its_f() -> None:
    a, b = Recorder({"kill", "start"}), Recorder({"pause", "resume"})
    nem = compose([a, b])
    assert isinstance(nem, Nemesis)
    assert nem.fs == {"kill", "start", "pause", "resume"}
    nem.setup(None)  # type: ignore[arg-type]
    assert nem.invoke(op("pause")).value == "done by pause"
    assert nem.invoke(op("kill")).type == "ok"
    assert a.seen == ["setup", "kill"] and b.seen == ["setup", "pause"]


def test_an_unknown_f_completes_as_info_naming_what_is_handled() -> None:
    done = compose([Recorder({"kill"})]).invoke(op("explode", 3))
    assert (done.type, done.value, done.process) == ("info", 3, "nemesis")
    assert "explode" in (done.error or "") and "kill" in (done.error or "")


def test_two_nemeses_claiming_one_f_is_an_error() -> None:
    with pytest.raises(ValueError, match="'kill'"):
        compose([Recorder({"kill"}), Recorder({"kill", "pause"})])


def test_teardown_tries_every_part_and_then_reports_the_failures() -> None:
    a, b, c = Recorder({"a"}), Recorder({"b"}, fail_teardown=True), Recorder({"c"})
    with pytest.raises(RuntimeError, match="cannot reach the node"):
        compose([a, b, c]).teardown()
    assert (a.torn_down, b.torn_down, c.torn_down) == (1, 1, 1)


def test_the_noop_nemesis_applies_nothing_and_says_so() -> None:
    noop = NoopNemesis()
    assert isinstance(noop, Nemesis) and noop.fs == frozenset()
    noop.setup(None)  # type: ignore[arg-type]
    done = noop.invoke(op("start-partition", "halves"))
    assert done.type == "info" and "not applied" in (done.error or "")
    noop.teardown()
    assert compose([]).invoke(op("kill")).type == "info"
