"""The transactional checkers (checkers.txn): the Elle corpus, generated histories, and one
constructed history for each anomaly, found and explained."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from checkers.base import Result
from checkers.txn import ALL_ANOMALIES, ALL_MODELS, ListAppendChecker, RwRegisterChecker
from checkers.txn.models import boundary, implied_anomalies, impossible_models
from harness.corpus import corpus_dir
from harness.formats import load_history, read_elle_json
from harness.history import Op

CORPUS = corpus_dir() / "elle"
VERDICTS = CORPUS / "VERDICTS.tsv"


# -- the corpus ---------------------------------------------------------------------------------


def _verdict_lines() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in VERDICTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        file, expected, options, notes = (line.split("\t") + ["", "", "", ""])[:4]
        rows.append((file, expected, options, notes))
    return rows


def load(path: Path) -> list[Op]:
    return read_elle_json(path) if path.suffix == ".json" else load_history(path)


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _options(options: str) -> dict[str, Any]:
    """The checker to use and its options, from the TSV's options column."""
    if options.startswith("model="):
        return {"checker": options.split("=", 1)[1]}
    m = re.fullmatch(r"(anomalies|consistency-models)=\[(.*)\]", options.strip())
    assert m, f"cannot read options {options!r}"
    if m[1] == "anomalies":
        return {"checker": "list-append", "consistency_models": [], "anomalies": _names(m[2])}
    return {"checker": "list-append", "consistency_models": _names(m[2]), "anomalies": []}


def _alternative(names: list[str]) -> dict[str, Any]:
    if all(n in ALL_MODELS for n in names):
        return {"consistency_models": names, "anomalies": []}
    assert all(n in ALL_ANOMALIES for n in names), names
    return {"consistency_models": [], "anomalies": names}


def _claims(notes: str) -> dict[str, Any]:
    """What the notes column asserts: exact anomaly types, models ruled out, models that
    hold, anomalies named in passing, and the verdicts of the "With [...]: ..." variants."""
    main, *withs = re.split(r"\bWith\b", notes)
    claims: dict[str, Any] = {"types": [], "not": [], "holds": [], "named": [], "withs": []}
    for m in re.finditer(r"anomaly-types \[([^\]]*)\]", main):
        claims["types"] += _names(m[1])
    for m in re.finditer(r"\bnot ([\w+-]+(?:, [\w+-]+)*)", main):
        claims["not"] += [n for n in _names(m[1]) if n in ALL_MODELS]
    claims["holds"] = [m[1] for m in re.finditer(r"([\w-]+) holds", main) if m[1] in ALL_MODELS]
    rest = re.sub(r"anomaly-types \[[^\]]*\]", "", main)
    claims["named"] = [
        t for t in re.findall(r"[\w-]+", rest) if t in ALL_ANOMALIES and t not in claims["types"]
    ]
    for w in withs:
        head, _, outcome = w.partition(":")
        outcome = outcome.strip().rstrip(".")
        found = re.match(r"\[([^\]]*)\]", outcome)
        expect: dict[str, Any]
        if found:
            expect = {"valid": False, "types": _names(found[1])}
        else:
            word = outcome.split()[0]
            expect = {
                "valid": {"valid": True, "invalid": False, "unknown": "unknown"}[word],
                "types": re.findall(r"\(([\w-]+)\)", outcome),
            }
        for lst in re.findall(r"\[([^\]]*)\]", head):
            claims["withs"].append((_alternative(_names(lst)), expect))
    return claims


def _check(path: Path, opts: dict[str, Any]) -> Result:
    opts = dict(opts)
    kind = opts.pop("checker")
    cls = ListAppendChecker if kind == "list-append" else RwRegisterChecker
    return cls(**opts, time_budget_s=120).check(load(path), {})


def _verdict(word: str) -> Any:
    return {"valid": True, "invalid": False, "unknown": "unknown"}[word]


@pytest.mark.parametrize("row", _verdict_lines(), ids=lambda r: r[0])
def test_every_elle_corpus_history_gets_the_reference_verdict(row: tuple[str, str, str, str]):
    file, expected, options, notes = row
    path = CORPUS / file
    result = _check(path, _options(options))
    assert result.valid == _verdict(expected), (file, result.details)
    claims = _claims(notes)
    reported = set(result.details["anomaly-types"])
    for t in claims["types"]:
        assert t in reported, (file, t, reported)
    for t in claims["named"]:
        assert t in implied_anomalies(reported), (file, t, reported)
    ruled_out = set(result.details["not"]) | set(result.details["also-not"])
    for m in claims["not"]:
        assert m in ruled_out, (file, m, result.details["not"])
    for m in claims["holds"]:
        assert m not in ruled_out, (file, m)
    for anomaly in result.anomalies:
        assert anomaly.explanation.strip()


def _with_rows() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    rows = []
    for file, _expected, options, notes in _verdict_lines():
        base = _options(options)
        for alt, expect in _claims(notes)["withs"]:
            rows.append((file, {**base, **alt}, expect))
    return rows


@pytest.mark.parametrize("row", _with_rows(), ids=lambda r: f"{r[0]}-{r[1]}")
def test_the_corpus_variants_with_other_options_get_their_verdicts(row: Any):
    file, opts, expect = row
    result = _check(CORPUS / file, opts)
    assert result.valid == expect["valid"], (file, opts, result.details)
    for t in expect["types"]:
        assert t in result.details["anomaly-types"], (file, t, result.details)


def test_the_verdicts_file_is_read_whole():
    rows = _verdict_lines()
    assert len(rows) == 21
    assert sum(len(_claims(r[3])["withs"]) for r in rows) >= 12


def test_the_reference_cycles_of_g0_and_g1c_have_the_reference_edges():
    g0 = _check(CORPUS / "list-append/G0.edn", _options("anomalies=[G0]"))
    (a,) = [a for a in g0.anomalies if a.name == "G0"]
    assert sorted((s["type"], s["key"]) for s in a.data["steps"]) == [("ww", "x"), ("ww", "y")]
    g1c = _check(CORPUS / "list-append/G1c.edn", _options("anomalies=[G1]"))
    (a,) = [a for a in g1c.anomalies if a.name == "G1c"]
    assert sorted((s["type"], s["key"]) for s in a.data["steps"]) == [("wr", "y"), ("ww", "x")]


def test_incompatible_orders_and_dirty_updates_name_the_reference_values():
    r = _check(CORPUS / "list-append/incompatible-order.edn", _options("anomalies=[G1]"))
    (a,) = [a for a in r.anomalies if a.name == "incompatible-order"]
    assert a.data == {"key": "x", "values": [[1, 3], [1, 2, 3]]}
    assert "[1, 3]" in a.explanation and "[1, 2, 3]" in a.explanation
    path = CORPUS / "list-append/dirty-update-indirect.edn"
    r = _check(path, _options("anomalies=[dirty-update]"))
    (a,) = [a for a in r.anomalies if a.name == "dirty-update"]
    assert a.data["values"] == [1, 2, 3] and "failed" in a.explanation


def test_the_paper_example_in_json_gets_the_same_result_as_in_edn():
    opts = _options("consistency-models=[strict-serializable]")
    a = _check(CORPUS / "list-append/paper-example.edn", opts)
    b = _check(CORPUS / "list-append/paper-example.json", opts)
    assert a.valid is b.valid is False
    assert a.details["anomaly-types"] == b.details["anomaly-types"]
    assert [x.explanation for x in a.anomalies] == [x.explanation for x in b.anomalies]


def test_a_cycle_search_out_of_time_still_rules_out_what_it_proved():
    h = load(CORPUS / "list-append/huge-scc.edn")
    r = ListAppendChecker(["strict-serializable"], time_budget_s=1e-9).check(h, {})
    assert "cycle-search-timeout" in r.details["found"]
    # The cheap proofs (a cycle exists in this subgraph) survive the timeout:
    assert r.valid is False
    assert "strong-snapshot-isolation" in r.details["not"]
    # Looking only for G0 cycles (with real-time order), the search proves nothing in time:
    r = ListAppendChecker([], ["G0-realtime"], time_budget_s=1e-9).check(h, {})
    assert r.valid == "unknown" and "ran out of time" in r.details["reason"]
    assert r.details["anomaly-types"] == ["cycle-search-timeout"]


# -- histories built here ------------------------------------------------------------------------


class H:
    """A history under construction: ``t(process, mops)`` adds a transaction invoked and
    completed at once (sequential in real time); ``invoke`` / ``complete`` interleave."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def _add(self, type_: str, process: Any, value: Any) -> None:
        self.ops.append(
            Op(
                type=type_,
                f="txn",
                value=value,
                process=process,
                time=len(self.ops) * 1000,
                index=len(self.ops),
            )
        )

    def invoke(self, process: Any, mops: list[list[Any]]) -> H:
        self._add("invoke", process, [[f, k, None if f == "r" else v] for f, k, v in mops])
        return self

    def complete(self, process: Any, mops: list[list[Any]], type_: str = "ok") -> H:
        self._add(type_, process, mops)
        return self

    def t(self, process: Any, mops: list[list[Any]], type_: str = "ok") -> H:
        return self.invoke(process, mops).complete(process, mops, type_)


def A(k: Any, v: Any) -> list[Any]:
    return ["append", k, v]


def R(k: Any, v: Any) -> list[Any]:
    return ["r", k, v]


def W(k: Any, v: Any) -> list[Any]:
    return ["w", k, v]


def la(h: H, models: Any = ("strict-serializable",), anomalies: Any = ()) -> Result:
    return ListAppendChecker(models, anomalies).check(h.ops, {})


def rw(h: H, models: Any = ("strict-serializable",), anomalies: Any = ()) -> Result:
    return RwRegisterChecker(models, anomalies).check(h.ops, {})


def only(result: Result, name: str) -> Any:
    found = [a for a in result.anomalies if a.name == name]
    assert found, (name, result.details)
    return found[0]


def _concurrent_g2_realtime() -> H:
    h = H().invoke(2, [R("y", None), A("x", 1)])
    h.t(0, [A("y", 1)]).t(1, [R("x", [])])
    return h.complete(2, [R("y", []), A("x", 1)])


def _concurrent_g_nonadjacent_realtime() -> H:
    t1, t2 = [R("x", []), R("w", [1])], [A("x", 1)]
    t3, t4 = [R("z", [])], [A("z", 1), A("w", 1)]
    h = H().invoke(1, t1).invoke(4, t4).t(2, t2).t(3, t3)  # only T2 -> T3 in real time
    return h.complete(4, t4).complete(1, t1)


CYCLES: list[tuple[str, H, dict[str, Any], list[str]]] = [
    ("G0", H().t(0, [A("x", 1), A("y", 1)]).t(1, [A("x", 2), A("y", 2)])
        .t(2, [R("x", [1, 2]), R("y", [2, 1])]),
     {"models": [], "anomalies": ["G0"]}, ["ww", "ww"]),
    ("G1c", H().t(0, [A("x", 1), R("y", [1])]).t(1, [A("x", 2), A("y", 1)])
        .t(2, [R("x", [1, 2])]),
     {"models": ["read-committed"]}, ["ww", "wr"]),
    ("G-single-item", H().t(0, [A("x", 1), A("y", 1)]).t(1, [A("x", 2), R("y", [])])
        .t(2, [R("x", [1, 2])]),
     {"models": ["serializable"]}, ["ww", "rw"]),
    ("G-nonadjacent-item", H().t(0, [R("x", []), R("w", [1])]).t(1, [A("x", 1), A("y", 1)])
        .t(2, [R("y", [1]), R("z", [])]).t(3, [A("z", 1), A("w", 1)]),
     {"models": ["serializable"]}, ["rw", "wr", "rw", "wr"]),
    ("G2-item", H().t(0, [A("x", 1), R("y", [])]).t(1, [A("y", 1), R("x", [])]),
     {"models": ["serializable"]}, ["rw", "rw"]),
    ("G0-process", H().t(0, [A("x", 2)]).t(0, [A("x", 1)]).t(1, [R("x", [1, 2])]),
     {"models": ["strong-session-serializable"]}, ["ww", "process"]),
    ("G1c-process", H().t(0, [R("y", [1])]).t(0, [A("y", 1)]),
     {"models": ["strong-session-serializable"]}, ["wr", "process"]),
    ("G-single-item-process", H().t(0, [A("x", 1)]).t(1, [A("x", 2)]).t(1, [R("x", [1])])
        .t(2, [R("x", [1, 2])]),
     {"models": ["strong-session-snapshot-isolation"]}, ["process", "rw"]),
    ("G2-item-process", H().t(1, [R("y", []), A("x", 1)]).t(0, [A("y", 1)]).t(0, [R("x", [])]),
     {"models": ["strong-session-serializable"]}, ["rw", "process", "rw"]),
    ("G0-realtime", H().t(0, [A("x", 2)]).t(1, [A("x", 1)]).t(2, [R("x", [1, 2])]),
     {"models": ["strict-serializable"]}, ["ww", "realtime"]),
    ("G1c-realtime", H().t(0, [R("y", [1])]).t(1, [A("y", 1)]),
     {"models": ["strict-serializable"]}, ["wr", "realtime"]),
    ("G-single-item-realtime", H().t(0, [A("x", 1)]).t(1, [A("x", 2)]).t(2, [R("x", [1])])
        .t(3, [R("x", [1, 2])]),
     {"models": ["strict-serializable"]}, ["realtime", "rw"]),
    ("G-nonadjacent-item-realtime", _concurrent_g_nonadjacent_realtime(),
     {"models": ["strict-serializable"]}, ["rw", "realtime", "rw", "wr"]),
    ("G-nonadjacent-item-process", H().t(0, [R("x", None), R("z", [1])]).t(1, [A("x", 1)])
        .t(1, [R("z", None)]).t(2, [A("z", 1)]),
     {"models": ["strong-session-snapshot-isolation"]}, ["rw", "process", "rw", "wr"]),
    ("G2-item-realtime", _concurrent_g2_realtime(),
     {"models": ["strict-serializable"]}, ["rw", "realtime", "rw"]),
]  # fmt: skip


@pytest.mark.parametrize("case", CYCLES, ids=lambda c: c[0])
def test_each_kind_of_cycle_is_found_and_explained_edge_by_edge(case: Any):
    name, h, opts, rels = case
    r = la(h, opts.get("models", ()), opts.get("anomalies", ()))
    assert r.valid is False, r.details
    assert name in r.details["anomaly-types"], r.details
    a = only(r, name)
    assert sorted(s["type"] for s in a.data["steps"]) == sorted(rels)
    # Every transaction of the cycle is named, every edge has its reason, it ends in the
    # contradiction.
    n = len(a.data["txns"])
    assert all(f"T{i} = op " in a.explanation for i in range(1, n + 1))
    assert a.explanation.count(" < ") == len(rels)
    assert "a contradiction!" in a.explanation
    assert a.ops and all("index" in op for op in a.ops)


def test_an_anti_dependency_is_explained_as_the_append_the_read_missed():
    h = H().t(0, [A("x", 1), A("x", 2)]).t(1, [R("x", [1])])
    a = only(la(h), "G-single-item")
    assert re.search(r"T\d read x = \[1\], which does not include T\d's append of 2", a.explanation)
    assert re.search(r"T\d read x = \[1\], whose last element 1 T\d appended", a.explanation)


def test_the_realtime_edge_is_explained_by_completion_and_invocation():
    h = H().t(0, [A("x", 1)]).t(1, [A("x", 2)]).t(2, [R("x", [1])]).t(3, [R("x", [1, 2])])
    a = only(la(h), "G-single-item-realtime")
    assert re.search(r"completed \(op \d+\) before T\d was invoked \(op \d+\)", a.explanation)


OTHERS: list[tuple[str, H, dict[str, Any], list[str]]] = [
    ("G1a", H().t(0, [A("x", 1)], "fail").t(1, [R("x", [1])]),
     {"models": ["read-committed"]}, ["failed", "[1]"]),
    ("G1b", H().t(0, [A("x", 1), A("x", 2)]).t(1, [R("x", [1])]),
     {"models": ["read-committed"]}, ["intermediate", "wrote the key again"]),
    ("internal", H().t(0, [A("x", 1), A("x", 2)]).t(1, [R("x", [1, 2]), A("x", 3), R("x", [1, 2])]),
     {"models": ["serializable"]}, ["should read [1, 2, 3]"]),
    ("future-read", H().t(0, [R("x", [1]), A("x", 1)]),
     {"anomalies": ["future-read"], "models": []}, ["appends later"]),
    ("duplicate-elements", H().t(0, [A("x", 1)]).t(1, [R("x", [1, 1])]),
     {"models": ["read-uncommitted"]}, ["1 (2 times)"]),
    ("incompatible-order", H().t(0, [A("x", 1)]).t(1, [A("x", 2)]).t(2, [A("x", 3)])
        .t(3, [R("x", [1, 2, 3])]).t(4, [R("x", [1, 3])]),
     {"anomalies": ["incompatible-order"], "models": []}, ["not a prefix"]),
    ("dirty-update", H().t(0, [A("x", 1)], "fail").t(1, [A("x", 2)]).t(2, [R("x", [1, 2])]),
     {"anomalies": ["dirty-update"], "models": []}, ["which failed", "[1, 2]"]),
    ("lost-update", H().t(0, [A("x", 0)]).t(1, [R("x", [0]), A("x", 1)])
        .t(2, [R("x", [0]), A("x", 2)]),
     {"models": ["repeatable-read"]}, ["both read key x = [0]", "lost"]),
]  # fmt: skip


@pytest.mark.parametrize("case", OTHERS, ids=lambda c: c[0])
def test_each_anomaly_without_a_cycle_is_found_and_explained(case: Any):
    name, h, opts, phrases = case
    r = la(h, opts.get("models", ()), opts.get("anomalies", ()))
    assert r.valid is False, r.details
    assert name in r.details["anomaly-types"], r.details
    a = only(r, name)
    for p in phrases:
        assert p in a.explanation, (p, a.explanation)
    assert a.ops


RW_CASES: list[tuple[str, H, dict[str, Any], list[str]]] = [
    ("G1a", H().t(0, [W("x", 1)], "fail").t(1, [R("x", 1)]), {"models": ["read-committed"]},
     ["failed"]),
    ("G1b", H().t(0, [W("x", 1), W("x", 2)]).t(1, [R("x", 1)]), {"models": ["read-committed"]},
     ["intermediate"]),
    ("internal", H().t(0, [W("x", 1), R("x", 2)]), {"models": ["serializable"]},
     ["should read 1"]),
    ("lost-update", H().t(0, [R("x", None), W("x", 1)]).t(1, [R("x", None), W("x", 2)]),
     {"models": ["repeatable-read"]}, ["lost"]),
    ("G1c", H().t(0, [W("x", 1), R("y", 1)]).t(1, [W("y", 1), R("x", 1)]),
     {"models": ["read-committed"]}, ["which T", "read"]),
    ("G-single-item", H().t(0, [W("x", 1), W("y", 1)]).t(1, [R("x", 1), R("y", None)]),
     {"models": ["serializable"]}, ["read y = nil (the initial state)", "a later version"]),
    ("G2-item", H().t(0, [R("x", None), W("y", 1)]).t(1, [R("y", None), W("x", 1)]),
     {"models": ["serializable"]}, ["the initial state"]),
]  # fmt: skip


@pytest.mark.parametrize("case", RW_CASES, ids=lambda c: c[0])
def test_each_register_anomaly_is_found_and_explained(case: Any):
    name, h, opts, phrases = case
    r = rw(h, opts.get("models", ()), opts.get("anomalies", ()))
    assert r.valid is False, r.details
    assert name in r.details["anomaly-types"], r.details
    a = only(r, name)
    for p in phrases:
        assert p in a.explanation, (p, a.explanation)


# -- valid histories -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_generated_strict_serializable_list_append_histories_are_valid(seed: int):
    from checkers.txn.generate import list_append_history

    h = list_append_history(1500, processes=2 + seed % 6, keys=1 + seed, seed=seed)
    for models in (
        ["strict-serializable"],
        ["serializable"],
        ["read-committed"],
        ["strong-session-snapshot-isolation"],
    ):
        r = ListAppendChecker(models).check(h, {})
        assert r.valid is True, (seed, models, r.details)
        assert r.details["not"] == [] and r.details["edges"] > 0


@pytest.mark.parametrize("seed", range(4))
def test_generated_strict_serializable_register_histories_are_valid(seed: int):
    from checkers.txn.generate import rw_register_history

    h = rw_register_history(1500, processes=3 + seed, keys=2 + seed, seed=seed)
    r = RwRegisterChecker(["strict-serializable"], wfr_keys=bool(seed % 2)).check(h, {})
    assert r.valid is True, (seed, r.details)


def test_a_serial_history_with_every_txn_in_one_process_is_valid():
    rng = random.Random(7)
    h, lists = H(), {k: [] for k in "abc"}
    for i in range(300):
        k = rng.choice("abc")
        lists[k].append(i)
        h.t(0, [R(k, list(lists[k][:-1])), A(k, i), R(k, list(lists[k]))])
    r = la(h)
    assert r.valid is True, r.details


def test_one_transaction_alone_says_nothing_checkable():
    r = la(H().t(0, [A("x", 1)]))
    assert r.valid == "unknown"
    assert r.details["anomaly-types"] == ["empty-transaction-graph"]
    assert "nothing could be checked" in r.details["reason"]


# -- bad input -----------------------------------------------------------------------------------


def test_an_element_appended_twice_makes_the_verdict_unknown():
    r = la(H().t(0, [A("x", 1)]).t(1, [A("x", 1)]).t(2, [R("x", [1, 1])]))
    assert r.valid == "unknown" and "appended to key 'x' twice" in r.details["reason"]


def test_a_write_in_a_list_append_history_is_named_in_the_reason():
    r = la(H().t(0, [W("x", 1)]))
    assert r.valid == "unknown" and "['w', 'x', 1]" in r.details["reason"]


def test_a_malformed_micro_op_is_named_in_the_reason():
    h = H()
    h._add("invoke", 0, [["append", "x"]])
    h._add("ok", 0, [["append", "x"]])
    r = la(h)
    assert r.valid == "unknown" and "['append', 'x']" in r.details["reason"]


def test_a_register_value_written_twice_makes_the_verdict_unknown():
    r = rw(H().t(0, [W("x", 1)]).t(1, [W("x", 1)]).t(2, [R("x", 1)]))
    assert r.valid == "unknown" and "written by more than one" in r.details["reason"]


def test_unknown_models_and_anomalies_are_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match="unknown consistency model 'serialisable'.*serializable"):
        ListAppendChecker(["serialisable"])
    with pytest.raises(ValueError, match="unknown anomaly 'G3'.*G2-item"):
        ListAppendChecker(anomalies=["G3"])


# -- models -----------------------------------------------------------------------------------


# What Elle answers (its :not / :also-not) for these anomalies, as elle-cli prints them.
ELLE_BOUNDARIES = [
    (["G1c"], ["read-committed"],
     ["causal-cerone", "consistent-view", "cursor-stability", "forward-consistent-view",
      "monotonic-atomic-view", "monotonic-snapshot-read", "monotonic-view",
      "parallel-snapshot-isolation", "prefix", "read-atomic", "repeatable-read", "serializable",
      "snapshot-isolation", "strong-read-committed", "strong-serializable",
      "strong-session-read-committed", "strong-session-serializable",
      "strong-session-snapshot-isolation", "strong-snapshot-isolation", "update-atomic",
      "update-serializable"]),
    (["G2-item", "lost-update"], ["cursor-stability", "update-atomic"],
     ["consistent-view", "forward-consistent-view", "parallel-snapshot-isolation",
      "repeatable-read", "serializable", "snapshot-isolation", "strong-serializable",
      "strong-session-serializable", "strong-session-snapshot-isolation",
      "strong-snapshot-isolation", "update-serializable"]),
    (["G-single-item"], ["consistent-view", "repeatable-read"],
     ["forward-consistent-view", "serializable", "snapshot-isolation", "strong-serializable",
      "strong-session-serializable", "strong-session-snapshot-isolation",
      "strong-snapshot-isolation", "update-serializable"]),
    (["G-single-item-realtime"], ["strong-snapshot-isolation"], ["strong-serializable"]),
]  # fmt: skip


@pytest.mark.parametrize("found,not_,also_not", ELLE_BOUNDARIES)
def test_the_models_ruled_out_are_the_ones_elle_names(found: Any, not_: Any, also_not: Any):
    assert boundary(found) == {"not": not_, "also-not": also_not}


def test_anomalies_rule_out_the_models_that_forbid_them():
    assert boundary(["G1c"])["not"] == ["read-committed"]
    assert "serializable" in boundary(["G1c"])["also-not"]
    assert boundary(["G2-item"])["not"] == ["repeatable-read"]
    assert boundary(["G-single-item-realtime"])["not"] == ["strong-snapshot-isolation"]
    assert boundary(["G0"])["not"] == ["read-uncommitted"]
    assert boundary([]) == {"not": [], "also-not": []}
    # strict serializable is ruled out by anything a weaker model forbids
    assert "PL-SS" in impossible_models(["lost-update"])


# -- the page ------------------------------------------------------------------------------------


def test_the_page_explains_and_draws_every_cycle_and_escapes_history_values(tmp_path: Path):
    evil = "<script>alert('x')</script>"
    h = H().t(0, [A(evil, 1), A("y", 1)]).t(1, [A(evil, 2), R("y", [])]).t(2, [R(evil, [1, 2])])
    c = ListAppendChecker(["serializable"])
    r = c.check(h.ops, {})
    (page,) = c.write_artifacts(r, tmp_path)
    html = page.read_text()
    assert "<svg" in html and "G-single-item" in html and "<marker" in html
    assert evil not in html and "&lt;script&gt;" in html
    assert html.count("<svg") == sum(1 for a in r.anomalies if "steps" in a.data)


def test_nothing_is_drawn_for_a_valid_history(tmp_path: Path):
    c = ListAppendChecker()
    r = c.check(H().t(0, [A("x", 1)]).t(1, [R("x", [1])]).ops, {})
    assert r.valid is True and c.write_artifacts(r, tmp_path) == []


def test_the_result_is_json_serializable():
    import json

    r = la(H().t(0, [A("x", 1), A("y", 1)]).t(1, [A("x", 2), R("y", [])]).t(2, [R("x", [1, 2])]))
    json.dumps(r.to_dict())


# -- soundness against brute force ---------------------------------------------------------------


def _serializable(txns: list[list[list[Any]]], write: str) -> bool:
    """Whether some serial order of the (committed) transactions gives every read its value."""
    import itertools

    for order in itertools.permutations(txns):
        state: dict[Any, Any] = {}
        ok = True
        for mops in order:
            for f, k, v in mops:
                if f == "r":
                    cur = state.get(k)
                    seen = (cur or []) if write == "append" else cur
                    if (v or [] if write == "append" else v) != seen:
                        ok = False
                        break
                elif write == "append":
                    state[k] = [*state.get(k, []), v]
                else:
                    state[k] = v
            if not ok:
                break
        if ok:
            return True
    return False


def _random_txns(rng: random.Random, write: str) -> list[list[list[Any]]]:
    """Up to 5 transactions over 2 keys whose reads are drawn from what was written, in a
    random order: sometimes serializable, often not."""
    txns: list[list[list[Any]]] = []
    written: dict[str, list[int]] = {"x": [], "y": []}
    counter = 0
    for _ in range(rng.randint(2, 5)):
        mops: list[list[Any]] = []
        for _ in range(rng.randint(1, 3)):
            k = rng.choice("xy")
            if rng.random() < 0.5:
                counter += 1
                written[k].append(counter)
                mops.append([write, k, counter])
            elif write == "append":
                pool = list(written[k])
                rng.shuffle(pool)
                mops.append(["r", k, sorted(pool[: rng.randint(0, len(pool))])])
            else:
                mops.append(["r", k, rng.choice([None, *written[k]])])
        txns.append(mops)
    return txns


@pytest.mark.parametrize("write", ["append", "w"])
def test_what_the_checker_calls_not_serializable_no_serial_order_explains(write: str):
    rng = random.Random(2024)
    invalid = 0
    for _ in range(400):
        txns = _random_txns(rng, write)
        h = H()
        for i, mops in enumerate(txns):
            h.t(i, mops)
        cls = ListAppendChecker if write == "append" else RwRegisterChecker
        r = cls(["serializable"]).check(h.ops, {})
        if r.valid is False:
            invalid += 1
            assert not _serializable(txns, write), (txns, r.details["anomaly-types"])
        elif _serializable(txns, write):
            assert r.valid in (True, "unknown"), (txns, r.details)
    assert invalid > 50  # the generator does produce anomalies


def test_writes_follow_reads_orders_register_versions_and_finds_cyclic_ones():
    # T1 read x = 1 then wrote 2; T2 read x = 2 then wrote 1: 1 < 2 < 1.
    h = H().t(0, [W("x", 1)]).t(1, [R("x", 1), W("x", 2)]).t(2, [R("x", 2), W("x", 3)])
    assert RwRegisterChecker(["serializable"], wfr_keys=True).check(h.ops, {}).valid is True
    cyc = H().t(0, [R("x", 1), W("x", 2)]).t(1, [R("x", 2), W("x", 1)])
    r = RwRegisterChecker(["read-uncommitted"], wfr_keys=True).check(cyc.ops, {})
    assert r.valid is False and "cyclic-versions" in r.details["anomaly-types"]
    assert "each precede one another" in only(r, "cyclic-versions").explanation
