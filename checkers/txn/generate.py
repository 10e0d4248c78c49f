"""Histories that are strict serializable by construction, for tests and benchmarks.

Concurrent processes invoke transactions over a few active keys; each transaction takes
effect atomically at one moment between its invocation and its completion, against one
in-memory database, so the history is strict serializable (hence valid under every model).
Some transactions fail (no effect) or crash (``info``: took effect or not, at random; the
process then continues as a new process), as in a real test. Keys are retired after
``max_writes_per_key`` writes, as Elle's generator does, so lists stay short.
"""

from __future__ import annotations

import random
from typing import Any

from harness.history import Op

__all__ = ["list_append_history", "rw_register_history"]


def list_append_history(
    n_txns: int,
    *,
    processes: int = 5,
    keys: int = 8,
    max_txn_len: int = 4,
    max_writes_per_key: int = 32,
    p_fail: float = 0.02,
    p_info: float = 0.01,
    seed: int = 0,
) -> list[Op]:
    """A valid list-append history of ``n_txns`` transactions (completions of any type)."""
    return _generate(
        "append", n_txns, processes, keys, max_txn_len, max_writes_per_key, p_fail, p_info, seed
    )


def rw_register_history(
    n_txns: int,
    *,
    processes: int = 5,
    keys: int = 8,
    max_txn_len: int = 4,
    max_writes_per_key: int = 32,
    p_fail: float = 0.02,
    p_info: float = 0.01,
    seed: int = 0,
) -> list[Op]:
    """A valid read-write register history of ``n_txns`` transactions."""
    return _generate(
        "w", n_txns, processes, keys, max_txn_len, max_writes_per_key, p_fail, p_info, seed
    )


def _generate(
    write: str,
    n_txns: int,
    processes: int,
    n_keys: int,
    max_len: int,
    max_writes: int,
    p_fail: float,
    p_info: float,
    seed: int,
) -> list[Op]:
    rng = random.Random(seed)
    db: dict[int, Any] = {}
    writes: dict[int, int] = {}
    active = list(range(n_keys))
    next_key = n_keys
    history: list[Op] = []
    pending: dict[int, list[list[Any]]] = {}
    proc_of = list(range(processes))  # worker -> current process id
    next_proc = processes
    done = 0
    clock = 0

    def emit(type_: str, process: int, value: Any) -> None:
        nonlocal clock
        clock += rng.randint(1, 1000)
        history.append(
            Op(type=type_, f="txn", value=value, process=process, time=clock, index=len(history))
        )

    def apply(txn: list[list[Any]]) -> list[list[Any]]:
        nonlocal next_key
        out = []
        for f, k, v in txn:
            if f == "r":
                cur = db.get(k)
                out.append(["r", k, list(cur) if isinstance(cur, list) else cur])
            else:
                if write == "append":
                    db.setdefault(k, []).append(v)
                else:
                    db[k] = v
                out.append([f, k, v])
        return out

    def new_txn() -> list[list[Any]]:
        nonlocal next_key
        txn = []
        for _ in range(rng.randint(1, max_len)):
            k = rng.choice(active)
            if rng.random() < 0.5:
                txn.append(["r", k, None])
            else:
                writes[k] = writes.get(k, 0) + 1
                txn.append([write, k, writes[k]])
                if writes[k] >= max_writes:
                    active[active.index(k)] = next_key
                    next_key += 1
        return txn

    while done < n_txns:
        w = rng.randrange(processes)
        p = proc_of[w]
        if w not in pending:
            txn = new_txn()
            pending[w] = txn
            emit("invoke", p, txn)
            continue
        txn = pending.pop(w)
        r = rng.random()
        if r < p_fail:
            emit("fail", p, txn)
        elif r < p_fail + p_info:
            if rng.random() < 0.5:
                apply(txn)
            emit("info", p, txn)
            proc_of[w] = next_proc
            next_proc += 1
        else:
            emit("ok", p, apply(txn))
        done += 1
    for w, txn in pending.items():  # complete the rest, so every invocation has an end
        emit("ok", proc_of[w], apply(txn))
    return history
