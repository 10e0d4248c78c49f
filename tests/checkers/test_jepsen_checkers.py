"""Jepsen's classic checkers (checkers.jepsen) against the corpus and built histories, and the
checkers' registry entries (harness.registry, group splitbrain.checkers)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from checkers.base import Checker
from checkers.jepsen import (
    BankChecker,
    CounterChecker,
    LongForkChecker,
    SetChecker,
    SetFullChecker,
    UniqueIdsChecker,
)
from harness import registry
from harness.corpus import corpus_dir
from harness.formats import load_history, read_elle_json
from harness.history import Op

CORPUS = corpus_dir() / "jepsen"


def _rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in (CORPUS / "VERDICTS.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            file, expected, checker, notes = (line.split("\t") + ["", "", "", ""])[:4]
            rows.append((file, expected, checker, notes))
    return rows


def load(path: Path) -> list[Op]:
    return read_elle_json(path) if path.suffix == ".json" else load_history(path)


def _checker(spec: str) -> Checker:
    """The checker named in the TSV's checker column, e.g. "long-fork (group size 3)"."""
    name, _, rest = spec.partition(" ")
    opts: dict[str, Any] = {}
    m = re.search(r"group size (\d+)", rest)
    if m:
        opts["group_size"] = int(m[1])
    return made(name, **opts)


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r[0])
def test_every_jepsen_corpus_history_gets_the_reference_verdict(row: tuple[str, str, str, str]):
    file, expected, spec, _notes = row
    result = _checker(spec).check(load(CORPUS / file), {})
    assert result.valid == {"valid": True, "invalid": False}[expected], (file, result.details)
    if result.valid is False:
        assert result.anomalies and all(a.explanation for a in result.anomalies)


def test_the_verdicts_file_is_read_whole():
    assert len(_rows()) == 11


def test_the_corpus_failures_are_explained_as_the_reference_explains_them():
    r = BankChecker().check(load(CORPUS / "bank-negative-balances.json"), {})
    assert [a.name for a in r.anomalies] == ["negative-value"]
    assert "[-1]" in r.anomalies[0].explanation
    r = BankChecker().check(load(CORPUS / "bank-tidb.edn"), {})
    assert r.details["errors"]["wrong-total"]["first"]["total"] == 105
    assert r.details["errors"]["wrong-total"]["first"]["op"]["index"] == 258
    r = SetFullChecker().check(load(CORPUS / "set_full.edn"), {})
    assert r.details["lost-count"] > 0 and r.anomalies[0].name == "lost"
    r = LongForkChecker(3).check(load(CORPUS / "long-fork.edn"), {})
    (fork,) = r.anomalies
    assert fork.data == {"only-first": [1], "only-second": [2]}


# -- built histories -----------------------------------------------------------------------------


class H:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def op(self, type_: str, process: Any, f: str, value: Any = None) -> H:
        self.ops.append(
            Op(
                type=type_,
                f=f,
                value=value,
                process=process,
                time=len(self.ops),
                index=len(self.ops),
            )
        )
        return self

    def call(self, process: Any, f: str, value: Any, result: Any = None, type_: str = "ok") -> H:
        self.op("invoke", process, f, value)
        return self.op(type_, process, f, value if result is None else result)


def test_bank_reads_must_sum_to_the_total_and_not_go_negative():
    h = (
        H()
        .call(0, "read", None, {0: 10, 1: 0})
        .call(1, "transfer", {"from": 0, "to": 1, "amount": 3})
    )
    assert BankChecker().check(h.call(0, "read", None, {0: 7, 1: 3}).ops, {}).valid is True
    bad = H().call(0, "read", None, {0: 10, 1: 0}).call(0, "read", None, {0: 8, 1: 3})
    r = BankChecker().check(bad.ops, {})
    (wrong,) = [a for a in r.anomalies if a.name == "wrong-total"]
    assert r.valid is False and "sum to 11" in wrong.explanation and "10" in wrong.explanation
    neg = H().call(0, "read", None, {0: 10, 1: 0}).call(0, "read", None, {0: 11, 1: -1})
    assert BankChecker().check(neg.ops, {}).valid is False
    assert BankChecker(negative_balances=True).check(neg.ops, {}).valid is True
    odd = H().call(0, "read", None, {0: 10, 1: 0}).call(0, "read", None, {0: 10, 1: 0, 9: 0})
    assert BankChecker().check(odd.ops, {}).anomalies[0].name == "unexpected-key"
    assert BankChecker(total_amount=20).check(h.ops, {}).valid is False


def test_a_half_applied_transfer_is_told_as_a_lasting_change_with_its_suspect():
    h = (
        H()
        .call(0, "read", None, {0: 10, 1: 0})
        .call(1, "transfer", {"from": 0, "to": 1, "amount": 1})  # acknowledged, amount 1
        .op("invoke", 2, "transfer", {"from": 1, "to": 0, "amount": 2})
        .op("info", 2, "transfer", {"from": 1, "to": 0, "amount": 2})  # indeterminate, 2
        .call(3, "transfer", {"from": 0, "to": 1, "amount": 2}, type_="fail")  # changed nothing
        .call(0, "read", None, {0: 9, 1: -1})  # total 8: 2 less
        .call(0, "read", None, {0: 9, 1: -1})
    )
    r = BankChecker(negative_balances=True).check(h.ops, {})
    assert [a.name for a in r.anomalies] == ["total-changed", "wrong-total", "wrong-total"]
    changed = r.anomalies[0]
    assert changed.data["sum"] == 8 and changed.data["change"] == -2 and changed.data["reads"] == 2
    assert changed.data["then"] is None and changed.data["suspects"] == [4]
    assert "stayed so" in changed.explanation and "destroyed" in changed.explanation
    assert "withdrawal without its deposit" in changed.explanation
    assert "op 4 (process 2, transfer of 2 from 1 to 0" in changed.explanation


def test_a_total_that_drifts_all_run_long_is_counted_in_full_and_ten_periods_are_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bank that loses 1 every tenth transfer: 1,000 periods at a new wrong total. Each
    period told looks for its suspects among every transfer; only the ten told do."""
    import checkers.jepsen.bank as bank

    looked = []
    real = bank._amount

    def amount(op: Op) -> Any:
        looked.append(op)
        return real(op)

    monkeypatch.setattr(bank, "_amount", amount)
    h, total = H().call(0, "read", None, {0: 10_000, 1: 0}), 10_000
    for i in range(1, 10_001):
        h.call(1, "transfer", {"from": 0, "to": 1, "amount": 1})
        if i % 10 == 0:
            total -= 1
            h.call(0, "read", None, {0: total, 1: 0}).call(0, "read", None, {0: total, 1: 0})
    r = BankChecker().check(h.ops, {})
    assert r.details["total-changed-periods"] == 1_000
    assert sum(a.name == "total-changed" for a in r.anomalies) == 10
    assert r.details["errors"]["wrong-total"]["count"] == 2_000
    assert len(looked) <= 10 * 10_000


def test_a_late_half_is_a_period_that_ends_and_a_lone_wrong_read_is_no_period():
    h = (
        H()
        .call(0, "read", None, {0: 10, 1: 0})
        .call(1, "transfer", {"from": 0, "to": 1, "amount": 3})
        .call(0, "read", None, {0: 10, 1: 3})  # 13 twice: a period ...
        .call(0, "read", None, {0: 10, 1: 3})
        .call(0, "read", None, {0: 7, 1: 3})  # ... that ends
        .call(0, "read", None, {0: 7, 1: 4})  # one read at 11: a wrong total, not a period
        .call(0, "read", None, {0: 7, 1: 3})
    )
    r = BankChecker().check(h.ops, {})
    periods = [a for a in r.anomalies if a.name == "total-changed"]
    assert [(a.data["sum"], a.data["then"]) for a in periods] == [(13, 10)]
    assert "(the right total again)" in periods[0].explanation
    assert "deposit without its withdrawal" in periods[0].explanation
    assert r.details["errors"]["wrong-total"]["count"] == 3


def test_counter_reads_must_lie_between_acknowledged_and_attempted_adds():
    h = (
        H()
        .call(0, "add", 1)
        .call(0, "add", 2)
        .op("invoke", 1, "add", 5)
        .call(2, "read", None, 3)
        .call(2, "read", None, 8)
    )
    assert CounterChecker().check(h.ops, {}).valid is True
    low = H().call(0, "add", 1).call(0, "add", 2).call(2, "read", None, 2)
    r = CounterChecker().check(low.ops, {})
    assert r.valid is False and "between 3" in r.anomalies[0].explanation
    failed = H().call(0, "add", 4, type_="fail").call(2, "read", None, 4)
    assert CounterChecker().check(failed.ops, {}).valid is False


def test_set_final_read_must_hold_every_acknowledged_add_and_nothing_else():
    h = H().call(0, "add", 1).call(0, "add", 2).op("invoke", 1, "add", 3)
    assert SetChecker().check(h.call(0, "read", None, [1, 2, 3]).ops, {}).valid is True
    r = SetChecker().check(H().call(0, "add", 1).call(0, "read", None, [7]).ops, {})
    assert r.valid is False and {a.name for a in r.anomalies} == {"lost", "unexpected"}
    assert SetChecker().check(H().call(0, "add", 1).ops, {}).valid == "unknown"


def test_set_full_follows_each_element_through_every_read():
    stable = H().call(0, "add", 1).call(1, "read", None, [1]).call(1, "read", None, [1])
    assert SetFullChecker().check(stable.ops, {}).valid is True
    lost = H().call(0, "add", 1).call(1, "read", None, [1]).call(1, "read", None, [])
    r = SetFullChecker().check(lost.ops, {})
    assert r.valid is False and r.details["lost"] == [1]
    assert "every read begun after it missed it" in r.anomalies[0].explanation
    stale = H().call(0, "add", 1).call(1, "read", None, []).call(1, "read", None, [1])
    assert SetFullChecker().check(stale.ops, {}).valid is True
    assert SetFullChecker(linearizable=True).check(stale.ops, {}).valid is False
    dup = H().call(0, "add", 1).call(1, "read", None, [1, 1])
    assert SetFullChecker().check(dup.ops, {}).valid is False
    assert SetFullChecker().check(H().call(0, "add", 1).ops, {}).valid == "unknown"


def test_long_forks_are_pairs_of_reads_that_saw_inserts_in_opposite_orders():
    both = [["r", 0, None], ["r", 1, None]]
    h = (
        H()
        .call(0, "txn", [["w", 0, 1]])
        .call(1, "txn", [["w", 1, 1]])
        .call(2, "read", both, [["r", 0, 1], ["r", 1, None]])
        .call(3, "read", both, [["r", 0, 1], ["r", 1, 1]])
    )
    assert LongForkChecker(2).check(h.ops, {}).valid is True
    h.call(4, "read", [["r", 0, None], ["r", 1, None]], [["r", 0, None], ["r", 1, 1]])
    r = LongForkChecker(2).check(h.ops, {})
    assert r.valid is False and r.details["fork-count"] == 1
    assert LongForkChecker(3).check(h.ops, {}).valid == "unknown"  # reads of 2 keys, not 3


def test_unique_ids_must_be_distinct():
    h = H().call(0, "generate", None, 1).call(1, "generate", None, 2)
    assert UniqueIdsChecker().check(h.ops, {}).valid is True
    h.call(2, "generate", None, 1)
    r = UniqueIdsChecker().check(h.ops, {})
    assert r.valid is False and "returned 2 times" in r.anomalies[0].explanation


def test_nemesis_ops_are_not_client_ops():
    h = H().call(0, "read", None, {0: 5}).op("info", "nemesis", "start-partition", "majority")
    assert BankChecker().check(h.ops, {}).valid is True


# -- the registry ------------------------------------------------------------------------------

#: the checkers this package and its siblings register (pyproject.toml, splitbrain.checkers)
OURS = {
    "linearizable",
    "stats",
    "leaders",
    "lock",
    "lease",
    "election",
    "queue",
    "watermarks",
    "watch",
    "list-append",
    "rw-register",
    "causal",
    "bank",
    "counter",
    "set",
    "set-full",
    "long-fork",
    "unique-ids",
    "elle-cli",
}


def made(name: str, **options: Any) -> Any:
    """The registered checker ``name`` made with ``options``, as a suite or ``check`` makes it."""
    info = registry.checkers()[name]
    return info.make(registry.parse_options(info.options, options, f"the {name} checker"))


def test_every_checker_is_registered_by_its_name_with_a_description_and_typed_options():
    infos = registry.checkers()
    assert OURS <= set(infos), registry.broken(registry.CheckerInfo)
    for name in OURS:
        info = infos[name]
        assert info.name == name and info.description and "\n" not in info.description
        registry.declared(info.options)  # every field made with option(), of a known type
        checker = info.make(info.options())
        assert isinstance(checker, Checker) and checker.name == name


def test_registry_makers_take_the_check_command_options():
    c = made(
        "list-append", consistency_models=["serializable"], anomalies=["G0"], time_budget_s=7.0
    )
    assert c.consistency_models == ["serializable"] and c.anomalies == ["G0"]
    assert c.time_budget_s == 7.0
    assert made("rw-register").consistency_models == ["strict-serializable"]
    only_g0 = made("list-append", consistency_models=[], anomalies=["G0"])
    assert only_g0.consistency_models == [] and only_g0.anomalies == ["G0"]
    assert made("long-fork", group_size=3).group_size == 3
    assert made("bank", accounts=["0", "1"], negative_balances=True).accounts == ["0", "1"]
    assert made("set-full", linearizable=True).linearizable is True
    assert made("rw-register", wfr_keys=True).wfr_keys is True


def test_registry_refuses_options_a_checker_does_not_take():
    with pytest.raises(registry.OptionError, match="bank checker has no option 'consistency_"):
        made("bank", consistency_models=["serializable"])
    with pytest.raises(registry.OptionError, match="no option 'group_size'.*negative_balances"):
        made("bank", group_size=3)
    with pytest.raises(registry.OptionError, match="'group_size': expected an integer"):
        made("long-fork", group_size="three")
    with pytest.raises(ValueError, match="unknown consistency model"):
        made("list-append", consistency_models=["snapshot"])
