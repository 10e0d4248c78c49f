"""The linearizability checker: the reference corpus, histories linearizable by construction and
their provably non-linearizable mutations, a brute-force cross-check, the semantics of each
completion type, explanations, the HTML page, and the time and memory bounds."""

from __future__ import annotations

import dataclasses
import itertools
import random
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.base import Checker, Result, WritesArtifacts, check_safely
from checkers.linearizable import (
    ILLEGAL,
    MODELS,
    UNKNOWN,
    Branch,
    LinearizableChecker,
    Model,
    prepare,
    search,
)
from checkers.linearizable._search import STRATEGIES
from checkers.linearizable.generate import register_history
from checkers.linearizable.models import freeze
from checkers.linearizable.visualize import render
from harness import registry
from harness.corpus import corpus_dir
from harness.formats import load_history
from harness.history import Op
from harness.registry import parse_options

CORPUS = corpus_dir() / "porcupine"


def ops_of(*events: tuple[Any, ...]) -> list[Op]:
    """A history from (type, process, f, value[, extra]) tuples, indexed in order."""
    ops = []
    for n, (t, p, f, v, *extra) in enumerate(events):
        ops.append(Op(t, f, v, p, time=n, index=n, extra=extra[0] if extra else {}))
    return ops


def check(history: list[Op], model: str = "cas-register", **kw: Any) -> Result:
    return LinearizableChecker(model, **kw).check(history, {})


# -- the reference corpus ------------------------------------------------------------------------


def _verdicts() -> list[tuple[str, str, str]]:
    table = CORPUS / "VERDICTS.tsv"
    if not table.is_file():
        return []
    rows = []
    for line in table.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, expected, model, *_ = line.split("\t")
        rows.append((name, expected, model.split()[0]))
    return rows


@pytest.mark.skipif(not _verdicts(), reason=f"no VERDICTS.tsv under {CORPUS}")
@pytest.mark.parametrize(("name", "expected", "model"), _verdicts())
def test_each_corpus_history_gets_its_reference_verdict(
    name: str, expected: str, model: str
) -> None:
    res = check(load_history(CORPUS / name), model, time_budget_s=120)
    assert res.valid == (expected == "valid"), res.details
    if expected == "invalid":
        assert res.anomalies and all(a.name == "nonlinearizable" for a in res.anomalies)


@pytest.mark.skipif(not _verdicts(), reason=f"no VERDICTS.tsv under {CORPUS}")
def test_the_corpus_has_all_108_histories() -> None:
    assert len(_verdicts()) == 108


# -- linearizable by construction, and provably not after a mutation -----------------------------

shapes = st.fixed_dictionaries(
    {
        "ops": st.integers(1, 120),
        "processes": st.integers(1, 8),
        "keys": st.integers(0, 3),
        "cas": st.booleans(),
        "values": st.integers(2, 6),
        "info_rate": st.sampled_from([0.0, 0.05, 0.2]),
        "fail_rate": st.sampled_from([0.0, 0.1]),
        "etcd_semantics": st.booleans(),
    }
)

# Refuting a mutation means searching every linearization of what comes before it: keep those
# histories to sizes whose search is seconds at most (a long single-register history with many
# timeouts can take millions of nodes to refute, and ends "unknown" at the budget instead).
mutable_shapes = st.fixed_dictionaries(
    {
        "ops": st.integers(1, 80),
        "processes": st.integers(1, 6),
        "keys": st.integers(0, 3),
        "cas": st.booleans(),
        "values": st.integers(2, 6),
        "info_rate": st.sampled_from([0.0, 0.05]),
        "fail_rate": st.sampled_from([0.0, 0.1]),
        "etcd_semantics": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), shape=shapes)
def test_a_history_linearizable_by_construction_passes(seed: int, shape: dict[str, Any]) -> None:
    history = register_history(seed, **shape)
    res = check(history, time_budget_s=30)
    assert res.valid is True, f"register_history({seed}, **{shape}): {res.anomalies[:1]}"


@settings(max_examples=100, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), shape=mutable_shapes, pick=st.integers(0, 10**6))
def test_a_read_of_a_value_never_written_fails(seed: int, shape: dict[str, Any], pick: int) -> None:
    history = register_history(seed, **shape)
    reads = [o for o in history if o.type == "ok" and o.f == "read"]
    if not reads:
        v = ["k0", None] if shape["keys"] else None
        history += ops_of(("invoke", 999, "read", v), ("ok", 999, "read", v))
        reads = [history[-1]]
        for i, op in enumerate(history):
            op.index = i
    target = reads[pick % len(reads)]
    fresh = 1000  # values are drawn below ``values``
    target.value = [target.value[0], fresh] if shape["keys"] else fresh
    res = check(history, time_budget_s=30)
    assert res.valid is False, f"register_history({seed}, **{shape}), read at {target.index}"
    failing = {a.data["op"]["completion-index"] for a in res.anomalies}
    assert target.index in failing


@settings(max_examples=100, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), shape=mutable_shapes)
def test_a_read_after_a_completed_write_returning_the_value_before_it_fails(
    seed: int, shape: dict[str, Any]
) -> None:
    history = register_history(seed, **shape)
    key = "k0" if shape["keys"] else None

    def v(x: Any) -> Any:
        return [key, x] if key else x

    # After everything: write 100, then write 101, then a read that returns 100. Nothing is
    # concurrent with them but pending info ops, which never write 100 or 101.
    n = 10_000
    tail = ops_of(
        ("invoke", n, "write", v(100)),
        ("ok", n, "write", v(100)),
        ("invoke", n, "write", v(101)),
        ("ok", n, "write", v(101)),
        ("invoke", n + 1, "read", v(None)),
        ("ok", n + 1, "read", v(100)),
    )
    history += tail
    for i, op in enumerate(history):
        op.index = i
    res = check(history, time_budget_s=30)
    assert res.valid is False, f"register_history({seed}, **{shape})"
    assert any(a.data["op"]["index"] == tail[4].index for a in res.anomalies)


# -- cross-checked against brute force ----------------------------------------------------------


def brute_force(model: Model, history: list[Op]) -> bool:
    """Linearizable iff some order of the ops respects real time, includes every completed op
    (each at most once, info ones optionally) and is legal in the model. Exponential."""
    pending: dict[Any, int] = {}
    ops: list[dict[str, Any]] = []
    for pos, op in enumerate(history):
        if op.type == "invoke":
            pending[op.process] = len(ops)
            ops.append(
                {
                    "f": op.f,
                    "in": freeze(op.value),
                    "call": pos,
                    "ret": None,
                    "out": UNKNOWN,
                    "type": "info",
                }
            )
        elif op.process in pending:
            o = ops[pending.pop(op.process)]
            o["type"] = op.type
            if op.type == "ok":
                o["ret"] = pos
                out = freeze(op.value)
                o["out"] = model.output(op.f, out, op) if model.output else out
    ops = [o for o in ops if o["type"] != "fail"]
    required = [o for o in ops if o["ret"] is not None]
    optional = [o for o in ops if o["ret"] is None]

    def legal(seq: tuple[dict[str, Any], ...]) -> bool:
        for a, b in itertools.combinations(seq, 2):  # b after a: b must not precede a in time
            if b["ret"] is not None and b["ret"] < a["call"]:
                return False
        states = [model.init(None)]
        for o in seq:
            nxt: list[Any] = []
            for s in states:
                r = model.step(s, o["f"], o["in"], o["out"])
                if r is not ILLEGAL:
                    nxt.extend(r if type(r) is Branch else [r])
            if not nxt:
                return False
            states = nxt
        return True

    for k in range(len(optional) + 1):
        for extra in itertools.combinations(optional, k):
            if any(legal(seq) for seq in itertools.permutations(required + list(extra))):
                return True
    return False


OUTPUTS: dict[str, dict[str, list[Any]]] = {
    "cas-register": {"read": [None, 0, 1, 2], "write": [0, 1, 2], "cas": [[0, 1], [1, 2], [2, 0]]},
    "kv": {
        "get": [["k", ""], ["k", "a"], ["k", "ab"], ["k", "ba"], ["k", "b"]],
        "put": [["k", "a"], ["k", "b"]],
        "append": [["k", "a"], ["k", "b"]],
    },
    "mutex": {"acquire": [None], "release": [None]},
    "set": {"add": [1, 2], "read": [[], [1], [2], [1, 2]]},
    "fifo-queue": {"enqueue": [1, 2], "dequeue": [None, 1, 2]},
    "unordered-queue": {"enqueue": [1, 2], "dequeue": [None, 1, 2]},
}


def random_history(rng: random.Random, model: str, n: int) -> list[Op]:
    """``n`` random ops of 3 clients, with random (mostly wrong) results and completion types."""
    table = OUTPUTS[model]
    events: list[tuple[Any, ...]] = []
    open_: dict[int, tuple[str, Any]] = {}
    procs, done = [0, 1, 2], 0
    next_process = 3
    while done < n or open_:
        p = rng.choice(procs)
        if p not in open_ and done < n:
            f = rng.choice(sorted(table))
            value = rng.choice(table[f])
            inv = (
                (["k", None] if model == "kv" else None)
                if f in ("read", "get", "dequeue")
                else value
            )
            if model in ("mutex",):
                inv = None
            events.append(("invoke", p, f, inv))
            open_[p] = (f, inv)
            done += 1
        elif p in open_:
            f, inv = open_.pop(p)
            t = rng.choices(["ok", "fail", "info"], [8, 1, 1])[0]
            out = rng.choice(table[f]) if f in ("read", "get", "dequeue") else inv
            extra = {"result": False} if f == "cas" and t == "ok" and rng.random() < 0.3 else {}
            events.append((t, p, f, out if t == "ok" else inv, extra))
            if t == "info":
                procs.remove(p)
                procs.append(next_process)
                next_process += 1
    return ops_of(*events)


@settings(max_examples=300, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), model=st.sampled_from(sorted(OUTPUTS)), n=st.integers(1, 6))
def test_every_search_strategy_agrees_with_brute_force(seed: int, model: str, n: int) -> None:
    history = random_history(random.Random(seed), model, n)
    m = MODELS[model]
    expected = brute_force(m, history)
    assert check(history, model).valid is expected, f"random_history({seed}, {model!r}, {n})"
    for part in prepare(history, m).partitions:
        for strategy in range(len(STRATEGIES)):
            got = search(m, part.entries, strategy=strategy).valid
            if expected:
                assert got is True, f"strategy {strategy}, random_history({seed}, {model!r}, {n})"


# -- semantics of each kind of completion -----------------------------------------------------


def test_a_read_after_a_completed_write_must_see_it() -> None:
    stale = ops_of(
        ("invoke", 0, "write", 1),
        ("ok", 0, "write", 1),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", None),
    )
    assert check(stale).valid is False


def test_a_read_concurrent_with_a_write_may_see_either_value() -> None:
    for seen in (None, 1):
        h = ops_of(
            ("invoke", 0, "write", 1),
            ("invoke", 1, "read", None),
            ("ok", 1, "read", seen),
            ("ok", 0, "write", 1),
        )
        assert check(h).valid is True


def test_a_failed_write_did_not_happen() -> None:
    h = ops_of(
        ("invoke", 0, "write", 1),
        ("fail", 0, "write", 1),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", 1),
    )
    assert check(h).valid is False


def test_a_timed_out_write_may_take_effect_later_but_only_once() -> None:
    info = [("invoke", 0, "write", 5), ("info", 0, "write", 5)]
    later = ops_of(
        *info,
        ("invoke", 1, "read", None),
        ("ok", 1, "read", None),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", 5),
    )
    assert check(later).valid is True
    never = ops_of(*info, ("invoke", 1, "read", None), ("ok", 1, "read", None))
    assert check(never).valid is True
    back = ops_of(
        *info,
        ("invoke", 1, "read", None),
        ("ok", 1, "read", 5),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", None),
    )
    assert check(back).valid is False
    twice = ops_of(
        *info,
        ("invoke", 1, "read", None),
        ("ok", 1, "read", 5),
        ("invoke", 2, "write", 6),
        ("ok", 2, "write", 6),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", 5),
    )
    assert check(twice).valid is False


def test_an_invocation_never_completed_is_like_a_timeout() -> None:
    h = ops_of(("invoke", 0, "write", 5), ("invoke", 1, "read", None), ("ok", 1, "read", 5))
    assert check(h).valid is True


def test_reads_that_failed_or_timed_out_constrain_nothing() -> None:
    h = ops_of(
        ("invoke", 0, "write", 1),
        ("ok", 0, "write", 1),
        ("invoke", 1, "read", None),
        ("info", 1, "read", 7),
        ("invoke", 2, "read", None),
        ("fail", 2, "read", 8),
    )
    res = check(h)
    assert res.valid is True
    assert res.details["counts"]["unknown-reads"] == 1 and res.details["counts"]["failed"] == 1


def test_nemesis_ops_and_functions_the_model_does_not_know_are_ignored() -> None:
    h = ops_of(
        ("invoke", "nemesis", "start-partition", "majority"),
        ("invoke", 0, "status", None),
        ("ok", 0, "status", {"leader": "n1"}),
        ("info", "nemesis", "start-partition", ["n1"]),
        ("invoke", 0, "write", 1),
        ("ok", 0, "write", 1),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", 1),
    )
    res = check(h)
    assert res.valid is True
    assert res.details["counts"]["ignored"] == 1


def test_a_cas_that_found_the_compare_false_took_effect_as_porcupine_reads_etcd() -> None:
    h = ops_of(
        ("invoke", 0, "write", 1),
        ("ok", 0, "write", 1),
        ("invoke", 1, "cas", [1, 2]),
        ("ok", 1, "cas", [1, 2], {"result": False}),
    )
    assert check(h).valid is False  # the register held 1, so the compare could not fail
    h[1].value = h[0].value = 3
    assert check(h).valid is True


def test_jepsen_independent_keys_are_checked_separately() -> None:
    h = ops_of(
        ("invoke", 0, "write", ["x", 1]),
        ("ok", 0, "write", ["x", 1]),
        ("invoke", 1, "write", ["y", 2]),
        ("ok", 1, "write", ["y", 2]),
        ("invoke", 0, "cas", ["x", [1, 3]]),
        ("ok", 0, "cas", ["x", [1, 3]]),
        ("invoke", 1, "read", ["y", None]),
        ("ok", 1, "read", ["y", 1]),
    )
    res = check(h)
    assert res.valid is False
    assert res.details["independent"] is True
    assert res.details["invalid-keys"] == ["y"]
    assert res.details["keys"]["x"]["valid"] is True
    assert [a.data["key"] for a in res.anomalies] == ["y"]


@pytest.mark.parametrize("engine", ["python", "auto"])
def test_exhaustive_reports_every_invalid_key_and_stops_at_the_first_without_it(engine) -> None:
    h = ops_of(
        ("invoke", 0, "write", ["x", 1]),
        ("ok", 0, "write", ["x", 1]),
        ("invoke", 0, "read", ["x", None]),
        ("ok", 0, "read", ["x", 2]),  # never written
        ("invoke", 1, "write", ["y", 1]),
        ("ok", 1, "write", ["y", 1]),
        ("invoke", 1, "read", ["y", None]),
        ("ok", 1, "read", ["y", 3]),  # never written
    )
    first = check(h, engine=engine)
    assert first.valid is False and len(first.details["invalid-keys"]) == 1
    assert "unknown" in [r["valid"] for r in first.details["keys"].values()]
    info = registry.checkers()["linearizable"]  # as a suite's {exhaustive: true} makes it
    every = info.make(parse_options(info.options, {"exhaustive": True}, "linearizable"))
    every = every.check(h, {})
    assert sorted(every.details["invalid-keys"]) == ["x", "y"]
    assert sorted(a.data["key"] for a in every.anomalies) == ["x", "y"]


def test_a_single_register_cas_is_not_mistaken_for_a_keyed_op() -> None:
    h = ops_of(
        ("invoke", 0, "cas", [None, 2]),
        ("ok", 0, "cas", [None, 2]),
        ("invoke", 0, "cas", [2, 3]),
        ("ok", 0, "cas", [2, 3]),
    )
    res = check(h)
    assert res.valid is True and res.details["independent"] is False


def test_every_invalid_key_is_reported_when_exhaustive() -> None:
    events: list[tuple[Any, ...]] = []
    for key in ("a", "b", "c"):
        events += [
            ("invoke", 0, "write", [key, 1]),
            ("ok", 0, "write", [key, 1]),
            ("invoke", 1, "read", [key, None]),
            ("ok", 1, "read", [key, 2]),
        ]
    res = check(ops_of(*events), exhaustive=True)
    assert sorted(a.data["key"] for a in res.anomalies) == ["a", "b", "c"]
    assert res.details["invalid-keys"] == ["a", "b", "c"]


def test_a_history_built_in_memory_without_indices_is_ordered_by_position() -> None:
    h = [
        Op("invoke", "write", 1, 0),
        Op("ok", "write", 1, 0),
        Op("invoke", "read", None, 1),
        Op("ok", "read", None, 1),
    ]
    assert check(h).valid is False


def test_the_checker_meets_the_checker_and_artifact_contracts() -> None:
    c = LinearizableChecker()
    assert isinstance(c, Checker) and isinstance(c, WritesArtifacts)
    assert c.name == "linearizable"
    assert check([]).valid is True


def test_a_model_that_crashes_gives_unknown_not_a_verdict() -> None:
    def boom(state: Any, f: str, input: Any, output: Any) -> Any:
        raise RuntimeError("model bug")

    h = ops_of(("invoke", 0, "write", 1), ("ok", 0, "write", 1))
    res = check_safely(LinearizableChecker(Model("boom", boom)), h, {})
    assert res.valid == "unknown"
    assert "model bug" in res.details["reason"]


# -- bounds: time and memory -------------------------------------------------------------------


def explosive(n: int, put: bool = True) -> list[Op]:
    """``n`` concurrent appends (and a put of "", unless not ``put``), then a read that no
    order of them explains. Without the put, the kv model's ``dead_end`` sees at once that
    the value read starts with no state the appends make, and no ordering is tried."""
    events: list[tuple[Any, ...]] = [("invoke", p, "append", ["k", f"<{p}>"]) for p in range(n)]
    events += [("ok", p, "append", ["k", f"<{p}>"]) for p in range(n)]
    if put:
        events.insert(0, ("invoke", n + 1, "put", ["k", ""]))  # "never" may follow ""
        events.append(("ok", n + 1, "put", ["k", ""]))
    events += [("invoke", n, "get", ["k", None]), ("ok", n, "get", ["k", "never"])]
    return ops_of(*events)


def test_a_search_that_explodes_ends_unknown_at_the_time_budget() -> None:
    # the Python engine: the compiled one memoises its million nodes within the half second
    # and ends at the memory bound instead (the next test), unknown all the same
    res = check(explosive(16), "kv", time_budget_s=0.5, engine="python")
    assert res.valid == "unknown"
    assert "time budget" in res.details["reason"]
    assert res.details["elapsed-s"] > 0
    either = check(explosive(16), "kv", time_budget_s=0.5)  # whichever engine is built
    assert either.valid == "unknown"
    assert "time budget" in either.details["reason"] or "memory bound" in either.details["reason"]


def test_a_search_that_explodes_ends_unknown_at_the_memory_bound() -> None:
    res = check(explosive(16), "kv", time_budget_s=60, max_nodes=5000)
    assert res.valid == "unknown"
    assert "memory bound" in res.details["reason"]
    row = res.details["keys"]["k"]
    assert row["nodes"] <= 5000 + 16  # the bound, plus at most one node's children


def test_the_same_small_explosion_is_decided_when_the_bounds_allow() -> None:
    res = check(explosive(5), "kv", time_budget_s=60)
    assert res.valid is False


def test_a_dead_end_read_is_refuted_without_trying_the_orderings() -> None:
    res = check(explosive(16, put=False), "kv", time_budget_s=60)
    assert res.valid is False
    assert res.details["keys"]["k"]["steps"] < 100  # not 16! orderings
    assert res.anomalies[0].data["op"]["description"].startswith("get")


@pytest.mark.parametrize("model", ["register", "cas-register"])
def test_a_read_no_pending_write_can_explain_is_refuted_without_the_orderings(
    model: str,
) -> None:
    # 14 concurrent writes of 0..13, then reads of 99: the read fails whatever their order.
    events: list[tuple[Any, ...]] = [("invoke", p, "write", p) for p in range(14)]
    events += [("ok", p, "write", p) for p in range(14)]
    events += [("invoke", 20, "read", None), ("ok", 20, "read", 99)]
    res = check(ops_of(*events), model, time_budget_s=60)
    assert res.valid is False
    assert res.details["keys"]["all"]["steps"] < 100
    assert res.anomalies[0].data["op"]["description"].startswith("read")


@pytest.mark.parametrize("seed", range(40))
def test_the_dead_end_prune_changes_no_verdict(seed: int) -> None:
    # The same search with and without the models' dead_end: the same verdict.
    shape = dict(ops=60, processes=6, info_rate=0.1, keys=0, values=3)
    history = register_history(seed, **shape)  # type: ignore[arg-type]
    rng = random.Random(seed)
    reads = [o for o in history if o.type == "ok" and o.f == "read"]
    if reads and seed % 2:
        rng.choice(reads).value = rng.randrange(4)  # perhaps a value no write explains
    for name in ("register", "cas-register"):
        plain = dataclasses.replace(MODELS[name], dead_end=None)
        with_prune = LinearizableChecker(name, time_budget_s=30).check(history, {})
        without = LinearizableChecker(plain, time_budget_s=30).check(history, {})
        assert with_prune.valid == without.valid, (seed, name)


# -- explanations --------------------------------------------------------------------------------


def test_the_explanation_names_the_op_that_cannot_be_linearized() -> None:
    h = ops_of(
        ("invoke", 0, "write", 1),
        ("ok", 0, "write", 1),
        ("invoke", 1, "write", 3),
        ("ok", 1, "write", 3),
        ("invoke", 2, "write", 2),
        ("invoke", 4, "read", None),
        ("ok", 4, "read", 1),
        ("ok", 2, "write", 2),
    )
    res = check(h)
    assert res.valid is False
    (a,) = res.anomalies
    assert a.name == "nonlinearizable"
    text = a.explanation
    first, text = text.split("\n", 1)  # one plain sentence, then the reasoning
    assert first == (
        "process 4 read 1 at 0.000 s, but write 3 by process 1 had completed at 0.000 s: "
        "a stale read."
    )
    assert text.startswith("read 1 by process 4 (index 5) cannot be linearized.")
    assert "write 1 by process 0 (index 0) -> 1; write 3 by process 1 (index 2) -> 3" in text
    assert "After them the state is 3." in text
    assert "Concurrent with it: write 2 by process 2 (index 4)." in text
    assert "none of them -> 3" in text and "write 2 by process 2 (index 4) -> 2" in text
    assert "impossible in every state that the orderings reach (2, 3)" in text
    assert a.data["op"]["index"] == 5 and a.data["op"]["process"] == 4
    assert [o["index"] for o in a.data["concurrent"]] == [4]
    assert {o["index"] for o in a.ops} == {5, 6, 4, 7}
    assert a.data["prefix"] and a.data["linearizations"]


def test_an_explanation_for_a_key_says_which_key() -> None:
    h = ops_of(
        ("invoke", 0, "write", ["x", 1]),
        ("ok", 0, "write", ["x", 1]),
        ("invoke", 1, "read", ["x", None]),
        ("ok", 1, "read", ["x", 2]),
    )
    (a,) = check(h).anomalies
    first, rest = a.explanation.split("\n", 1)
    assert first.startswith("process 1 read 2 for key 'x' at ")
    assert first.endswith("but write 1 by process 0 had completed at 0.000 s: "
                          "no order of the concurrent operations allows it.")  # fmt: skip
    assert rest.startswith("On key 'x': read 2 by process 1 (index 2)")


def test_an_explanation_names_the_node_each_process_talked_to() -> None:
    h = [
        dataclasses.replace(op, node=f"n{int(op.process) + 1}")
        for op in ops_of(
            ("invoke", 0, "write", 1),
            ("ok", 0, "write", 1),
            ("invoke", 1, "read", None),
            ("ok", 1, "read", 2),
        )
    ]
    (a,) = check(h).anomalies
    first, rest = a.explanation.split("\n", 1)
    assert first.startswith("n2 (process 1) read 2 at ") and "write 1 on n1 had completed" in first
    assert rest.startswith("read 2 by process 1 on n2 (index 2) cannot be linearized.")
    assert "write 1 by process 0 on n1 (index 0)" in a.explanation
    assert a.data["op"]["node"] == "n2"
    page = render([a])
    assert "process 1 (n2)" in page and "read 2 by process 1 on n2" in page


def test_every_invalid_corpus_history_is_explained_and_drawn(tmp_path: Path) -> None:
    path = CORPUS / "etcd" / "etcd_000.log"
    if not path.is_file():
        pytest.skip(f"corpus not found at {CORPUS}")
    c = LinearizableChecker("cas-register")
    res = c.check(load_history(path), {})
    assert res.valid is False
    (a,) = res.anomalies
    assert (
        "cannot be linearized" in a.explanation and "Longest linearizable prefix" in a.explanation
    )
    (page,) = c.write_artifacts(res, tmp_path)
    assert page.name == "linearizable.html" and "timeline" in page.read_text()


# -- the HTML page -------------------------------------------------------------------------------


def test_the_page_escapes_every_value_from_the_history(tmp_path: Path) -> None:
    evil = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>"
    h = ops_of(
        ("invoke", 0, "write", evil),
        ("ok", 0, "write", evil),
        ("invoke", "<b>p</b>", "read", None),
        ("ok", "<b>p</b>", "read", "x"),
    )
    h[2].process = h[3].process = 7
    h[3].value = "</script><script>alert(2)</script>"
    c = LinearizableChecker("register")
    res = c.check(h, {})
    assert res.valid is False
    (page,) = c.write_artifacts(res, tmp_path)
    html = page.read_text()
    tags = Tags()
    tags.feed(html)
    assert tags.names.count("script") == 1  # the page's own, which only toggles classes
    assert "img" not in tags.names
    assert not [a for a in tags.attributes if a.startswith("on")]
    assert "&lt;script&gt;alert(" in html  # shown as text


class Tags(HTMLParser):
    """The tags and attribute names of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.append(tag)
        self.attributes += [name for name, _ in attrs]


def test_a_valid_result_draws_nothing(tmp_path: Path) -> None:
    c = LinearizableChecker()
    res = c.check(ops_of(("invoke", 0, "write", 1), ("ok", 0, "write", 1)), {})
    assert c.write_artifacts(res, tmp_path) == []
    assert not (tmp_path / "linearizable.html").exists()


def test_the_page_draws_each_partial_linearization(tmp_path: Path) -> None:
    h = ops_of(
        ("invoke", 0, "write", 1),
        ("invoke", 1, "write", 2),
        ("ok", 0, "write", 1),
        ("ok", 1, "write", 2),
        ("invoke", 2, "read", None),
        ("ok", 2, "read", 3),
    )
    c = LinearizableChecker()
    res = c.check(h, {})
    (page,) = c.write_artifacts(res, tmp_path)
    html = page.read_text()
    lins = res.anomalies[0].data["linearizations"]
    assert len(lins) == 2  # write 1 then 2, or 2 then 1
    for k in range(len(lins)):
        assert f'data-lin="{k}"' in html and f"lin{k}" in html
    assert html.count('class="op failed') == 1


# -- a pool of workers gives the same verdicts ---------------------------------------------------


def test_a_pool_of_workers_gives_the_same_verdicts() -> None:
    history = register_history(3, ops=2500, processes=10, keys=6, info_rate=0.02)
    assert check(history, workers=2).valid is True
    key = "k2"
    n = 10_000
    history += ops_of(
        ("invoke", n, "write", [key, 100]),
        ("ok", n, "write", [key, 100]),
        ("invoke", n + 1, "read", [key, None]),
        ("ok", n + 1, "read", [key, 7]),
    )
    for i, op in enumerate(history):
        op.index = i
    res = check(history, workers=2)
    assert res.valid is False
    assert [a.data["key"] for a in res.anomalies] == [key]
