"""The compiled linearizability engine (native/) against the pure-Python one, the reference.

Both engines check the same histories: the Porcupine corpus (every line of VERDICTS.tsv),
Knossos' cas-register corpus, histories linearizable by construction and the same with a
read changed, and small random ones of every result. They must give the same verdict, the
same counts and the same search statistics (steps and nodes: the compiled engine is a
port, node for node), and an invalid partition the same explanation. The native half
skips, saying why, when the module is not built (``./setup`` builds it when cargo is
installed).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

from checkers.base import Result
from checkers.linearizable import LinearizableChecker, _native
from checkers.linearizable.generate import register_history
from harness.corpus import corpus_dir
from harness.formats import load_history
from harness.history import Op

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_linearizable import ops_of, random_history  # noqa: E402

CORPUS = corpus_dir() / "porcupine"
KNOSSOS = Path(__file__).resolve().parents[1] / "data" / "knossos" / "cas-register"

native = pytest.mark.skipif(not _native.available(), reason=_native.why_not() or "built")


def both(history: list[Op], model: str, **kw: Any) -> tuple[Result, Result]:
    """The results of both engines, after checking that they agree in every detail but the
    time taken (and, for an invalid result, in its explanations)."""
    py = LinearizableChecker(model, engine="python", **kw).check(history, {})
    nat = LinearizableChecker(model, engine="native", **kw).check(history, {})
    a, b = dict(py.details), dict(nat.details)
    a.pop("elapsed-s")
    b.pop("elapsed-s")
    assert (py.valid, a) == (nat.valid, b)
    assert [x.explanation for x in py.anomalies] == [x.explanation for x in nat.anomalies]
    return py, nat


def _corpus_rows() -> list[tuple[str, str, str]]:
    table = CORPUS / "VERDICTS.tsv"
    if not table.is_file():
        return []
    rows = []
    for line in table.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, expected, model, *_ = line.split("\t")
            rows.append((name, expected, model.split()[0]))
    return rows


@native
@pytest.mark.skipif(not _corpus_rows(), reason=f"no VERDICTS.tsv under {CORPUS}")
def test_both_engines_give_every_porcupine_history_its_verdict_with_the_same_search() -> None:
    for name, expected, model in _corpus_rows():
        py, _nat = both(load_history(CORPUS / name), model, time_budget_s=120)
        assert py.valid == (expected == "valid"), name


@native
@pytest.mark.parametrize("path", sorted(KNOSSOS.glob("*/*.edn")), ids=lambda p: p.name)
def test_both_engines_agree_on_knossos_histories(path: Path) -> None:
    py, _nat = both(load_history(path), "cas-register", initial=0, semantics="knossos")
    assert py.valid is (path.parent.name == "good")


SHAPES: list[dict[str, Any]] = [
    dict(ops=200, processes=5, info_rate=0.05),
    dict(ops=300, processes=8, keys=3, info_rate=0.1),
    dict(ops=200, processes=4, etcd_semantics=True),
    dict(ops=120, processes=4, cas=False, info_rate=0.05),
]


@native
@pytest.mark.parametrize("seed", range(8))
def test_both_engines_agree_on_generated_histories_and_the_same_with_a_read_changed(
    seed: int,
) -> None:
    shape = SHAPES[seed % len(SHAPES)]
    model = "cas-register" if shape.get("cas", True) else "register"
    history = register_history(seed, **shape)
    py, _ = both(history, model)
    assert py.valid is True
    reads = [o for o in history if o.f == "read" and o.type == "ok"]
    read = random.Random(seed).choice(reads)
    read.value = [read.value[0], 99] if isinstance(read.value, list) else 99
    for kw in ({}, {"exhaustive": True}, {"max_nodes": 200}):
        both(history, model, **kw)


@native
@pytest.mark.parametrize("model", ["cas-register", "kv"])
def test_both_engines_agree_on_small_random_histories(model: str) -> None:
    for seed in range(200):
        both(random_history(random.Random(seed), model, 1 + seed % 7), model)


@native
def test_the_native_engine_checks_the_corpus_without_declining(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answered: list[bool] = []
    run = _native.run

    def spy(*args: Any) -> Any:
        out = run(*args)
        answered.append(out is not None)
        return out

    monkeypatch.setattr(_native, "run", spy)
    for path in [*sorted((CORPUS / "etcd").glob("*.log"))[:10], CORPUS / "kv" / "c10-bad.txt"]:
        model = "kv" if path.suffix == ".txt" else "cas-register"
        LinearizableChecker(model).check(load_history(path), {})
    assert answered == [True] * 11


@native
def test_the_native_engine_declines_what_it_does_not_handle_and_python_checks_it() -> None:
    floats = ops_of(("invoke", 0, "write", 1.5), ("ok", 0, "write", 1.5))
    assert _native.run(floats, "cas-register", "splitbrain", None, None, 10**6, 10.0, False,
                       4096, 8, "") is None  # fmt: skip
    assert LinearizableChecker("cas-register", engine="native").check(floats, {}).valid is True
    # 130 writes that never complete need 130 slots, more than a 128-bit mask
    never = ops_of(*[("invoke", p, "write", p % 3) for p in range(130)])
    assert _native.run(never, "register", "splitbrain", None, None, 10**6, 10.0, False,
                       4096, 8, "") is None  # fmt: skip
    both(never, "register")


@native
def test_an_invalid_native_result_is_explained_by_searching_again_in_python() -> None:
    history = ops_of(
        ("invoke", 0, "write", 1),
        ("ok", 0, "write", 1),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", 2),
    )
    res = LinearizableChecker("cas-register", engine="native").check(history, {})
    assert res.valid is False
    assert "read 2" in res.anomalies[0].explanation


def test_the_engine_is_chosen_by_name_or_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        LinearizableChecker(engine="fast")
    if not _native.available():
        with pytest.raises(RuntimeError, match="not built"):
            LinearizableChecker(engine="native")
    called: list[int] = []
    monkeypatch.setattr(_native, "run", lambda *a: called.append(1))
    monkeypatch.setenv(_native.ENGINE_ENV, "python")
    history = ops_of(("invoke", 0, "write", 1), ("ok", 0, "write", 1))
    assert LinearizableChecker().check(history, {}).valid is True
    assert called == []
    # a model of one's own, even named like a built-in one, is always checked in Python
    assert _native.native_name(LinearizableChecker("kv").model) is None
    assert _native.native_name("mutex") is None


def _keyed_ops(key: int, start_s: float, steps: list[tuple[str, Any, Any]]) -> list[Op]:
    """One process per key doing ``steps`` (f, input value, output value) one after another,
    a second apart from ``start_s``."""
    ops: list[Op] = []
    for n, (f, value, out) in enumerate(steps):
        t = int((start_s + n) * 1e9)
        ops.append(Op("invoke", f, [key, value], process=key, time=t))
        ops.append(Op("ok", f, [key, out], process=key, time=t + 1000))
    return ops


@pytest.mark.parametrize("engine", ["python", pytest.param("native", marks=native)])
def test_the_earliest_anomaly_is_reported_first_whatever_the_key_order(engine: str) -> None:
    # key 0 is old, long and invalid at 2 s (it read 5, never written); key 1 is small, young
    # and invalid at 21 s: it is decided first (smallest first), then key 0, which could show
    # an earlier anomaly; key 2 starts after 21 s: it cannot, and is left undecided
    k0 = _keyed_ops(0, 0, [("write", 1, 1), ("read", None, 5)] + [("write", 2, 2)] * 8)
    k1 = _keyed_ops(1, 20, [("write", 1, 1), ("read", None, 7)])
    k2 = _keyed_ops(2, 30, [("write", 1, 1), ("read", None, 1)] * 6)
    history = sorted(k0 + k1 + k2, key=lambda op: op.time)
    res = LinearizableChecker("cas-register", engine=engine).check(history, {})
    assert res.valid is False
    assert res.details["invalid-keys"] == ["0", "1"]
    assert res.details["keys"]["2"]["valid"] == "unknown"
    assert res.details["earlier-keys-searched"] == 1
    first = max(op["time"] for op in res.anomalies[0].ops)
    assert first == int(1e9) + 1000  # key 0's read of 5
    # as Porcupine: the first invalid key decided, key 1, and no other
    plain = LinearizableChecker("cas-register", engine=engine, earliest=False).check(history, {})
    assert plain.details["invalid-keys"] == ["1"]
    assert len(plain.anomalies) == 1
