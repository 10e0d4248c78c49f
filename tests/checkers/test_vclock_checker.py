"""The vclock checker on hand-made histories: one valid and one invalid history per rule
(went-back, dominated-sibling, unknown-value, lost-write, replicas-differ), the verdict when
nothing could be checked, and the causal checker run on the single-version reads."""

from __future__ import annotations

from typing import Any

from checkers.vclock import CHECKER, VClockChecker, VClockCheckerOptions, single_versions
from harness.history import Op
from harness.registry import parse_options


class H:
    """A history written op by op: ``write``, ``read`` and ``final`` each add an invocation
    and its completion for one process on one node."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def _add(self, op: Op) -> Op:
        op.index = len(self.ops)
        op.time = op.index * 1_000_000
        self.ops.append(op)
        return op

    def write(
        self, p: int, node: str, key: str, value: Any, saw: list[Any], status: str = "ok"
    ) -> H:
        inv = self._add(Op("invoke", "write", [key, value], p, node=node))
        inv.extra.update(saw=list(saw), context={})
        self._add(inv.complete(status, [key, value]))
        return self

    def read(self, p: int, node: str, key: str, values: list[Any]) -> H:
        inv = self._add(Op("invoke", "read", [key, None], p, node=node))
        self._add(inv.complete("ok", [key, values], extra={"context": {}}))
        return self

    def final(self, p: int, node: str, values: dict[str, list[Any]]) -> H:
        inv = self._add(Op("invoke", "final-read", None, p, node=node))
        self._add(inv.complete("ok", values, extra={"converged": True, "digest": "x"}))
        return self

    def finals(self, values: dict[str, list[Any]], nodes: tuple[str, ...] = ("n1", "n2")) -> H:
        for i, n in enumerate(nodes):
            self.final(100 + i, n, values)
        return self


def check(h: H, **options: Any) -> Any:
    return VClockChecker(**options).check(h.ops, {})


def names(result: Any) -> set[str]:
    return {a.name for a in result.anomalies}


# -- went-back -------------------------------------------------------------------------------


def test_a_read_that_shows_a_version_superseding_the_process_own_write_is_valid() -> None:
    h = H().write(0, "n1", "k", 1, []).read(1, "n2", "k", [1]).write(1, "n2", "k", 2, [1])
    h.read(0, "n1", "k", [2]).finals({"k": [2]})
    r = check(h)
    assert r.valid is True, [a.explanation for a in r.anomalies]
    assert r.details["acknowledged-writes"] == 2


def test_a_read_that_misses_the_process_own_write_goes_back_in_causal_time() -> None:
    h = H().write(0, "n1", "k", 1, []).write(0, "n1", "k", 2, [])  # concurrent: same context
    h.read(0, "n1", "k", [1]).finals({"k": [1, 2]})
    r = check(h, consistency_models=())
    assert r.valid is False
    (a,) = r.anomalies
    assert a.name == "went-back"
    assert a.data["missed"] == 2 and a.data["process"] == 0 and a.data["node"] == "n1"
    assert "it had written 2 itself" in a.explanation


def test_a_read_of_an_older_version_than_one_the_process_read_names_the_older_one() -> None:
    h = H().write(0, "n1", "k", 1, []).read(1, "n1", "k", [1]).write(1, "n1", "k", 2, [1])
    h.read(2, "n2", "k", [2]).read(2, "n2", "k", [1]).finals({"k": [2]})
    r = check(h, consistency_models=())
    assert names(r) == {"went-back"}
    (a,) = r.anomalies
    assert a.data["missed"] == 2 and a.data["older"] == [1]
    assert "it had read 2 before" in a.explanation and "older versions" in a.explanation


# -- dominated-sibling -----------------------------------------------------------------------


def test_concurrent_versions_are_siblings_and_valid() -> None:
    h = H().write(0, "n1", "k", 1, []).write(1, "n2", "k", 2, [])
    h.read(2, "n3", "k", [1, 2]).finals({"k": [1, 2]}, ("n1", "n2", "n3"))
    assert check(h).valid is True


def test_a_version_beside_the_one_that_replaced_it_is_a_dominated_sibling() -> None:
    h = H().write(0, "n1", "k", 1, []).read(1, "n1", "k", [1]).write(1, "n1", "k", 2, [1])
    h.read(2, "n2", "k", [1, 2]).finals({"k": [2]})
    r = check(h, consistency_models=())
    assert names(r) == {"dominated-sibling"}
    (a,) = r.anomalies
    assert a.data == {"key": "k", "old": 1, "new": 2, "node": "n2"}
    assert "2 supersedes 1" in a.explanation


# -- unknown-value ---------------------------------------------------------------------------


def test_a_value_nobody_wrote_or_whose_write_failed_is_an_unknown_value() -> None:
    h = H().write(0, "n1", "k", 1, [], status="fail").read(1, "n1", "k", [7])
    h.read(1, "n1", "k", [1]).finals({"k": []})
    r = check(h, consistency_models=())
    assert names(r) == {"unknown-value"}
    assert {a.data["value"] for a in r.anomalies} == {1, 7}
    assert any("failed definitely" in a.explanation for a in r.anomalies)


def test_a_value_whose_write_is_info_may_be_read() -> None:
    h = H().write(0, "n1", "k", 1, [], status="info").read(1, "n1", "k", [1]).finals({"k": [1]})
    assert check(h).valid is True


# -- lost-write ------------------------------------------------------------------------------


def test_an_acknowledged_write_superseded_by_a_write_that_saw_it_is_not_lost() -> None:
    h = H().write(0, "n1", "k", 1, []).read(1, "n2", "k", [1]).write(1, "n2", "k", 2, [1])
    h.read(1, "n2", "k", [2]).write(1, "n2", "k", 3, [2]).finals({"k": [3]})
    assert check(h).valid is True


def test_an_acknowledged_write_nothing_replaced_missing_after_the_heal_is_lost() -> None:
    h = H().write(0, "n1", "k", 1, []).write(1, "n2", "k", 2, [])
    h.write(2, "n3", "k", 3, [], status="info")  # may not have happened: not required
    h.finals({"k": [2]}, ("n1", "n2", "n3"))
    r = check(h, consistency_models=())
    assert names(r) == {"lost-write"}
    (a,) = r.anomalies
    assert a.data["value"] == 1
    assert "silently dropped" in a.explanation
    # the evidence: the write, and the final reads that show it gone
    assert {o["f"] for o in a.ops} == {"write", "final-read"} and len(a.ops) == 2 + 3


# -- replicas-differ -------------------------------------------------------------------------


def test_replicas_that_disagree_after_the_heal_differ() -> None:
    h = H().write(0, "n1", "k", 1, []).write(1, "n2", "k", 2, [])
    h.final(100, "n1", {"k": [1, 2]}).final(101, "n2", {"k": [2, 1]})  # order does not count
    assert check(h).valid is True
    h.final(102, "n3", {"k": [1]})
    r = check(h, consistency_models=())
    assert names(r) == {"replicas-differ"}
    (a,) = r.anomalies
    assert a.data["keys"] == {"k": {"n1": [1, 2], "n2": [2, 1], "n3": [1]}}


# -- what could not be checked ---------------------------------------------------------------


def test_no_final_read_leaves_the_verdict_unknown_not_valid() -> None:
    h = H().write(0, "n1", "k", 1, []).read(0, "n1", "k", [1])
    r = check(h)
    assert r.valid == "unknown"
    assert "no final read" in r.details["reason"]


def test_a_node_without_a_final_read_leaves_the_verdict_unknown() -> None:
    h = H().write(0, "n1", "k", 1, []).write(1, "n2", "k", 2, []).final(100, "n1", {"k": [1, 2]})
    r = check(h)
    assert r.valid == "unknown"
    assert "no final read from n2" in r.details["reason"]


def test_a_broken_rule_is_false_even_when_something_else_is_unknown() -> None:
    h = H().write(0, "n1", "k", 1, []).read(0, "n1", "k", [])
    assert check(h).valid is False


# -- the causal checker on the single-version reads ------------------------------------------


def test_single_versions_keeps_one_version_reads_and_writes_and_splits_final_reads() -> None:
    h = H().write(0, "n1", "k", 1, []).write(1, "n2", "k", 2, [])
    h.read(2, "n1", "k", [1, 2]).read(2, "n1", "j", []).read(2, "n1", "k", [2])
    h.final(2, "n1", {"j": [], "k": [1, 2]})
    out = single_versions(h.ops)
    got = [(o.type, o.f, o.value, o.process) for o in out]
    assert got == [
        ("invoke", "write", ["k", 1], 0),
        ("ok", "write", ["k", 1], 0),
        ("invoke", "write", ["k", 2], 1),
        ("ok", "write", ["k", 2], 1),
        ("invoke", "read", ["j", None], 2),
        ("ok", "read", ["j", None], 2),
        ("invoke", "read", ["k", None], 2),
        ("ok", "read", ["k", 2], 2),
        ("invoke", "read", ["j", None], 2),  # the final read of j; k had two siblings
        ("ok", "read", ["j", None], 2),
    ]
    assert [o.index for o in out][-2:] == [h.ops[-1].index] * 2  # the history's own op


def _across_keys(last: list[Any]) -> H:
    # process 1 reads k=1 and then writes j; process 2 reads that j, then reads k
    h = H().write(0, "n1", "k", 1, []).read(1, "n1", "k", [1]).write(1, "n1", "j", 2, [])
    h.read(2, "n2", "j", [2]).read(2, "n2", "k", last)
    return h.finals({"k": [1], "j": [2]})


def test_a_read_that_keeps_the_causal_past_of_another_key_is_causal() -> None:
    r = check(_across_keys([1]))
    assert r.valid is True
    assert r.details["causal"]["valid"] is True
    assert "causal" in r.details["causal"]["checked"]


def test_the_causal_checker_finds_a_causal_past_missed_across_keys() -> None:
    # process 2 never saw k=1 itself, so its own session rules hold; but it read j=2, whose
    # writer had read k=1 before writing it: k's initial value is in no causal order after that
    r = check(_across_keys([]))
    assert r.valid is False
    assert not names(r) & {"went-back", "lost-write", "replicas-differ"}
    assert names(r) & {"causal", "writes-follow-reads"}
    assert r.details["causal"]["valid"] is False
    assert check(_across_keys([]), consistency_models=()).valid is True  # not run: not seen


def test_the_registered_checker_takes_typed_options() -> None:
    opts = parse_options(VClockCheckerOptions, {"max_reports": 2}, "the vclock checker")
    checker = CHECKER.make(opts)
    assert checker.name == "vclock" and checker.max_reports == 2
    h = H()
    for v in range(5):
        h.write(0, "n1", "k", v, [])
    h.finals({"k": []}, ("n1",))
    r = checker.check(h.ops, {})
    assert len(r.anomalies) == 2 and r.details["found"]["lost-write"] == 5


def test_a_value_written_twice_leaves_the_verdict_unknown() -> None:
    h = H().write(0, "n1", "k", 1, []).write(1, "n2", "k", 1, []).finals({"k": [1]})
    r = check(h)
    assert r.valid == "unknown"
    assert "1 value(s) written twice (1 of 'k')" in r.details["reason"]


# -- scale -----------------------------------------------------------------------------------


def test_a_process_that_knows_a_long_chain_keeps_only_its_newest_version(monkeypatch: Any) -> None:
    """2,000 versions of one key, each written over the last; the writer reads after each
    write, and every hundredth read returns the version before. Every read missing what the
    process knew is counted, five explained, and what the process knows stays one version:
    a read compares itself with that, not with the whole chain."""
    import checkers.vclock as vclock

    sizes: list[int] = []
    real = vclock._learn

    def learn(mine: Any, *args: Any) -> None:
        real(mine, *args)
        sizes.append(len(mine))

    monkeypatch.setattr(vclock, "_learn", learn)
    h = H()
    for v in range(1, 2001):
        h.write(0, "n1", "x", v, [v - 1] if v > 1 else [])
        h.read(0, "n1", "x", [v - 1 if v % 100 == 0 else v])
    h.finals({"x": [2000]})
    r = check(h)
    assert r.details["found"] == {"went-back": 20}
    assert sum(a.name == "went-back" for a in r.anomalies) == 5
    assert max(sizes) == 1
