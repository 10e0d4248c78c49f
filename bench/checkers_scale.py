"""How each registered checker's cost grows with the history: an invalid history per checker.

    python bench/checkers_scale.py                            # 25k, 50k, 100k ops, every checker
    python bench/checkers_scale.py --sizes 100000 --checkers watch,list-append
    python bench/checkers_scale.py --timeout 120              # give up on a case after 120 s

A checker must cost time linear (or n log n) in the history, also where a run goes wrong and
every anomaly of a kind repeats: the watch checker once took 862 s on a 127 s etcd run whose
members diverged (127,000 missed events). So each history here is invalid, with an anomaly
planted every so often through the whole history (about one op in a hundred, or in a
thousand where each is a cycle to find), made by a small generator per checker
(``GENERATORS``: the list-append and rw-register ones start from
``checkers.txn.generate``). Each case runs in a fresh process that makes the history, then
times the checker's ``check`` alone (wall and CPU), as ``splitbrain check`` makes it from its
registered info and default options, with the history frozen out of the cyclic garbage
collector's reach as ``splitbrain check`` freezes it (unfrozen, every collection rescans the
history: the cost then grows faster than the history). Printed per case: ops in the history,
wall and CPU seconds, microseconds of CPU per op, the verdict, the anomalies found (counted in full:
``details`` counts where the checker keeps them, else the anomalies returned) and kept.
The load average is printed with each row: the machine is shared.

A registered checker without a generator here is listed as such (``no generator``).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.history import Op  # noqa: E402

#: name -> (make(n, rng) -> history of about n ops, the checker's options)
Generator = Callable[[int, random.Random], list[Op]]


class _History:
    """Ops appended one at a time, 1 ms apart, indexed in order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, type: str, f: str, value: Any, process: Any, node: str | None = None,
            extra: dict[str, Any] | None = None) -> Op:  # fmt: skip
        n = len(self.ops)
        op = Op(type, f, value, process, (n + 1) * 1_000_000, n, node, None, extra or {})
        self.ops.append(op)
        return op

    def pair(self, f: str, value: Any, done: Any, process: Any, type: str = "ok",
             node: str | None = None, extra: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.add("invoke", f, value, process, node)
        self.add(type, f, done, process, node, extra)


def _stats(n: int, rng: random.Random) -> list[Op]:
    """Reads that succeed and writes that never do: "unknown" (stats has no invalid)."""
    h = _History()
    for i in range(n // 4):
        h.pair("read", None, i, i % 10)
        h.pair("write", i, i, i % 10, "fail")
    return h.ops


def _unique_ids(n: int, rng: random.Random) -> list[Op]:
    """Every hundredth id handed out again."""
    h = _History()
    for i in range(n // 2):
        h.pair("generate", None, i - 1 if i % 100 == 99 else i, i % 10)
    return h.ops


def _counter(n: int, rng: random.Random) -> list[Op]:
    """Adds of 1, and reads; every hundredth read beyond every add attempted."""
    h = _History()
    total = 0
    for i in range(n // 4):
        h.pair("add", 1, 1, i % 10)
        total += 1
        h.pair("read", None, total + 1000 if i % 100 == 99 else total, i % 10)
    return h.ops


def _set(n: int, rng: random.Random) -> list[Op]:
    """Adds, and one final read missing every hundredth element."""
    h = _History()
    adds = n // 2 - 1
    for i in range(adds):
        h.pair("add", i, i, i % 10)
    h.pair("read", None, [i for i in range(adds) if i % 100 != 99], 0)
    return h.ops


def _set_full(n: int, rng: random.Random) -> list[Op]:
    """Adds, with a read of every element so far after each 2,000 ops; every hundredth
    element is seen once and then lost."""
    h = _History()
    added: list[int] = []
    lost: set[int] = set()
    i = 0
    while len(h.ops) < n:
        h.pair("add", i, i, i % 10)
        added.append(i)
        i += 1
        if i % 1000 == 0:
            h.pair("read", None, [e for e in added if e not in lost], 10)
            lost.update(e for e in added[-1000:] if e % 100 == 99)
    return h.ops


def _long_fork(n: int, rng: random.Random) -> list[Op]:
    """Inserts of one key each, reads of groups of three keys; every hundredth group is
    read in two incompatible orders."""
    h = _History()
    g = 0
    while len(h.ops) < n:
        a, b, c = 3 * g, 3 * g + 1, 3 * g + 2
        for k in (a, b, c):
            h.pair("txn", [["w", k, 1]], [["w", k, 1]], k % 10)
        keys = [a, b, c]
        full = [["r", k, 1] for k in keys]
        if g % 100 == 99:
            h.pair("txn", [["r", k, None] for k in keys],
                   [["r", a, 1], ["r", b, None], ["r", c, 1]], 11)  # fmt: skip
            h.pair("txn", [["r", k, None] for k in keys],
                   [["r", a, None], ["r", b, 1], ["r", c, 1]], 12)  # fmt: skip
        else:
            h.pair("txn", [["r", k, None] for k in keys], full, 11)
        g += 1
    return h.ops


def _bank(n: int, rng: random.Random) -> list[Op]:
    """Five accounts, transfers and reads; every hundredth transfer loses its deposit, so
    the total drifts all run long: a period at a new wrong total every hundred reads (each
    period told looks for suspects among every transfer)."""
    h = _History()
    bal = [n] * 5
    i = 0
    while len(h.ops) < n:
        a, b = rng.sample(range(5), 2)
        amount = rng.randint(1, 5)
        bal[a] -= amount
        if i % 100 != 99:
            bal[b] += amount
        t = {"from": a, "to": b, "amount": amount}
        h.pair("transfer", t, t, i % 10)
        h.pair("read", None, dict(enumerate(bal)), 10 + i % 5)
        i += 1
    return h.ops


def _txn_planted(history: list[Op], rng: random.Random, stale: Callable[[Any], Any]) -> None:
    """Every hundredth ok transaction's first read made stale by ``stale``."""
    seen = 0
    for op in history:
        if op.type != "ok" or op.f != "txn":
            continue
        seen += 1
        if seen % 100 == 0:
            for m in op.value:
                if m[0] == "r" and m[2]:
                    m[2] = stale(m[2])
                    break


def _list_append(n: int, rng: random.Random) -> list[Op]:
    """``list_append_history`` with every hundredth transaction's read missing its last
    element (a stale read)."""
    from checkers.txn.generate import list_append_history

    history = list_append_history(n // 2, seed=1)
    _txn_planted(history, rng, lambda v: v[:-1])
    return history


def _rw_register(n: int, rng: random.Random) -> list[Op]:
    """``rw_register_history`` with every hundredth transaction's read one write behind."""
    from checkers.txn.generate import rw_register_history

    history = rw_register_history(n // 2, seed=1)
    _txn_planted(history, rng, lambda v: v - 1 if isinstance(v, int) and v > 1 else v)
    return history


def _watch(n: int, rng: random.Random) -> list[Op]:
    """Acknowledged writes, one a revision; watcher w0 receives them all, w1 (on a member
    that diverged) every tenth, another value at every seventieth: nine missed events in ten
    writes, and the watchers disagree."""
    h = _History()
    writes = n // 2
    got: dict[int, list[list[Any]]] = {0: [], 1: []}
    for w in (0, 1):
        h.pair("watch", {}, {"watcher": f"w{w}", "start": 1, "events": []}, 100 + w)
    for i in range(writes):
        k = f"k{i % 5}"
        h.pair("write", [k, i], [k, {"value": i, "revision": i + 2}], i % 10)
        got[0].append([i + 2, k, i])
        if i % 10 == 0:
            got[1].append([i + 2, k, i if i % 70 else -i - 1])
        if i % 500 == 499 or i == writes - 1:
            last = i == writes - 1
            for w in (0, 1):
                v: dict[str, Any] = {"watcher": f"w{w}", "start": 1, "events": got[w]}
                if last:
                    v |= {"target": writes + 1, "caught_up": True}
                h.pair("catch-up" if last else "watch", {}, v, 100 + w)
                got[w] = []
    return h.ops


def _queue(n: int, rng: random.Random) -> list[Op]:
    """Enqueues and dequeues in order; every hundredth message is never delivered, and the
    final audit does not hold it: lost."""
    h = _History()
    m = n // 4
    for i in range(m):
        h.pair("enqueue", i, i, i % 10)
        if i % 100 != 99:
            h.pair("dequeue", None, i, 10 + i % 10)
    h.pair("audit", None, {"applied": 2 * m, "queue": [], "inflight": []}, 20)
    return h.ops


def _lease(n: int, rng: random.Random) -> list[Op]:
    """Acts under growing epochs of ten resources; every hundredth act is under the epoch
    before the current one, invoked after an act of the current one completed."""
    h = _History()
    epoch = [1] * 10
    i = 0
    while len(h.ops) < n:
        r = i % 10
        if i % 37 == 0:
            epoch[r] += 1
        e = epoch[r] - 1 if i % 100 == 99 and epoch[r] > 1 else epoch[r]
        node = f"n{(e % 3) + 1}"
        h.pair("act", None, [[f"r{r}", e]], i % 10, node=node)
        i += 1
    return h.ops


def _election(n: int, rng: random.Random) -> list[Op]:
    """Leaders acting in growing terms; every hundredth act is the previous term's leader,
    after the new one acted."""
    h = _History()
    term = 1
    i = 0
    while len(h.ops) < n:
        if i % 20 == 0:
            term += 1
        t = term - 1 if i % 100 == 99 else term
        h.pair("act", None, {"term": t, "leader": f"n{t % 5 + 1}"}, i % 10, node=f"n{t % 5 + 1}")
        i += 1
    return h.ops


def _leaders(n: int, rng: random.Random) -> list[Op]:
    """Status reports naming the terms each node led; every hundredth term is claimed by two
    nodes."""
    h = _History()
    i = 0
    while len(h.ops) < n:
        node = f"n{i % 5 + 1}"
        terms = [i] + ([i - 1] if i % 100 == 99 else [])
        h.pair("status", None, {"id": node, "led_terms": terms}, i % 10, node=node)
        i += 1
    return h.ops


def _linearizable(n: int, rng: random.Random) -> list[Op]:
    """A register written and read by ten processes one after another, over 100 keys; every
    thousandth read returns the value before the last write (a stale read)."""
    h = _History()
    value: dict[int, int] = {}
    i = 0
    while len(h.ops) < n:
        k = i // 2 % 100
        if i % 2 == 0:
            value[k] = i
            h.pair("write", [k, i], [k, i], i % 10)
        else:
            v = value.get(k)
            if i % 1000 == 999 and v is not None:
                v -= 200  # the write to k before the last
            h.pair("read", [k, None], [k, v], i % 10)
        i += 1
    return h.ops


def _vclock(n: int, rng: random.Random) -> list[Op]:
    """A store that keeps one version per key (each write saw the key's latest), read and
    written by ten processes over five keys; every hundredth read returns the version before
    the last one its process knew: it went back."""
    h = _History()
    chain: dict[str, list[int]] = {f"k{j}": [] for j in range(5)}
    last: dict[tuple[int, str], int] = {}  # (process, key) -> index in the chain last known
    i = 0
    while len(h.ops) < n - 8:
        p, k = i % 10, f"k{i // 10 % 5}"
        node = f"n{p % 3 + 1}"
        if i % 3 == 0:
            saw = chain[k][-1:]
            chain[k].append(i)
            h.add("invoke", "write", [k, i], p, node, {"saw": saw})
            h.add("ok", "write", [k, i], p, node, {"saw": saw})
            last[p, k] = len(chain[k]) - 1
        else:
            at = len(chain[k]) - 1
            if i % 100 == 99 and last.get((p, k), 0) > 0:
                at = last[p, k] - 1
            h.pair("read", [k, None], [k, chain[k][at : at + 1]], p, node=node)
            if at >= 0 and at > last.get((p, k), -1):
                last[p, k] = at
        i += 1
    for j in range(3):
        final = {k: c[-1:] for k, c in chain.items()}
        h.pair("final-read", None, final, 20 + j, node=f"n{j + 1}")
    return h.ops


def _clocksync(n: int, rng: random.Random) -> list[Op]:
    """Three nodes answering ``now`` with a bound of 5 ms; a clock bump of n1 every 200
    answers, reset 100 answers later, during which n1's answers are 20 ms off though it
    vouches for 5 ms (bound-violated), and every other window after a reset n2 vouches for
    nothing (not-recovered)."""
    h = _History()
    i = 0
    while len(h.ops) < n:
        if i % 200 == 0:
            h.pair("bump-clock", {"n1": 0.02}, {"n1": 0.02}, "nemesis")
        if i % 200 == 100:
            h.pair("reset-clock", None, None, "nemesis")
        node = f"n{i % 3 + 1}"
        true_us = 1_000_000_000 + len(h.ops) * 1000
        off = 20_000 if node == "n1" and i % 200 < 100 else 0
        synced = not (node == "n2" and i % 400 >= 300)
        v: dict[str, Any] = {"id": node, "synced": synced}
        if synced:
            v |= {"time_us": true_us + off, "bound_us": 5_000}
        h.add("invoke", "now", None, i % 3, node)
        h.add("ok", "now", v, i % 3, node, {"true_us": [true_us - 500, true_us + 500]})
        i += 1
    return h.ops


def _crdt(n: int, rng: random.Random) -> list[Op]:
    """An observed-remove set on three nodes, about 50 elements live (each removed, with its
    dot, 50 adds later), a read after every add; every hundredth element is missing from the
    reads and its remove saw no dot (lost-add), and every 150th comes back in the three reads
    after its remove (resurrected)."""
    h = _History()
    live: list[int] = []
    back: list[int] = []
    i = 0
    while len(h.ops) < n - 6:
        node = f"n{i % 3 + 1}"
        h.pair("set-add", i, None, i % 10, node=node, extra={"dot": [node, i]})
        live.append(i)
        if len(live) > 50:
            e = live.pop(0)
            where = f"n{e % 3 + 1}"
            removed = {"removed": [] if e % 100 == 99 else [[where, e]]}
            h.pair("set-remove", e, None, 10 + i % 3, node=node, extra=removed)
            if e % 150 == 0:
                back = [e, e, e]
        shown = [e for e in live if e % 100 != 99] + back[:1]
        back = back[1:]
        h.pair("set-read", None, shown, 20 + i % 3, node=node)
        i += 1
    for j in range(3):
        final = {"g": 0, "pn": 0, "set": list(live), "reg": None}
        h.pair("final-read", None, final, 30 + j, node=f"n{j + 1}")
    return h.ops


def _lock(n: int, rng: random.Random) -> list[Op]:
    """Locks with fencing tokens, one after another (a lock per 400 ops): 25 rounds each of
    acquire, write under the token, release, and a read of the key's accepted writes after
    every fifth round. In every tenth lock the last grant is given while the one before is
    still held (two holders), and a read misses an acknowledged write."""
    h = _History()
    k = 0
    while len(h.ops) < n:
        key, accepted, token = f"lock{k}", [], 0
        for rnd in range(25):
            p = 10 * (k % 5) + rnd % 10
            token += 1
            grant = {"token": token, "lease_ms": 10_000}
            h.pair("acquire", [key, None], [key, grant], p)
            h.pair("write", [key, f"{k}-{rnd}"], [key, [token, f"{k}-{rnd}"]], p)
            accepted.append([token, f"{k}-{rnd}"])
            if k % 10 == 9 and rnd == 23:
                q = p + 100  # granted while p holds the lock, p releases after
                h.pair("acquire", [key, None], [key, {"token": token + 1, "lease_ms": 10_000}], q)
                h.pair("release", [key, None], [key, token + 1], q)
                token += 1
            h.pair("release", [key, None], [key, token], p)
            if rnd % 5 == 4:
                shown = accepted[:-2] + accepted[-1:] if k % 10 == 9 else list(accepted)
                h.pair("read", [key, None], [key, shown], 99)
        k += 1
    return h.ops


def _lamport(n: int, rng: random.Random) -> list[Op]:
    """Three nodes stamping local events and messages to each other; every hundredth
    receive is stamped no higher than its send (the clock condition broken on a message)."""
    h = _History()
    clock = {"n1": 0, "n2": 0, "n3": 0}
    seq = dict.fromkeys(clock, 0)

    def event(node: str, c: int) -> dict[str, Any]:
        seq[node] += 1
        clock[node] = c
        return {"node": node, "inc": 0, "seq": seq[node], "c": c}

    i = 0
    while len(h.ops) < n:
        node = f"n{i % 3 + 1}"
        if i % 2 == 0:
            h.pair("local", None, {"local": event(node, clock[node] + 1)}, i % 10, node=node)
        else:
            to = f"n{(i + 1) % 3 + 1}"
            send = event(node, clock[node] + 1)
            c = send["c"] if i % 100 == 99 else max(clock[to], send["c"]) + 1
            v = {"to": to, "msg": f"m{i}", "send": send, "recv": event(to, c)}
            h.pair("send", {"to": to}, v, i % 10, node=node)
        i += 1
    return h.ops


def _pbft(n: int, rng: random.Random) -> list[Op]:
    """Client writes (not read by this checker), then four replicas' final logs of one
    committed and executed request per sequence number, a quarter as many as the ops; at
    every hundredth number replica r4 committed another request (conflicting-commit)."""
    h = _History()
    m = n // 2 - 4
    seqs = max(1, n // 4)
    for i in range(m):
        h.pair("write", [0, i], [0, i], i % 10, extra={"request": [f"c{i % 10}", i]})
    for r in range(1, 5):
        committed, executed = [], []
        for s in range(1, seqs + 1):
            d = f"d{s}" if not (r == 4 and s % 100 == 0) else f"x{s}"
            committed.append([s, 0, d, f"c{s % 10}", s])
            executed.append([s, d, f"c{s % 10}", s, True])
        log = {"id": f"r{r}", "committed": committed, "executed": executed, "last_exec": seqs}
        h.pair("log", None, log, 100 + r, node=f"r{r}")
    return h.ops


def _watermarks(n: int, rng: random.Random) -> list[Op]:
    """A leader-follower log: writes acknowledged as entries 1, 2, ...; a read of the last
    ten entries after every write (every hundredth one showing an entry above the HWM it
    states); a final audit in which every hundredth acknowledged entry holds another write
    (lost-acknowledged-write)."""
    h = _History()
    log: list[list[Any]] = []
    i = 0
    while len(h.ops) < n - 2:
        cmd = ["w", i % 10, i]
        log.append([i + 1, 1, cmd])
        h.pair("write", [i % 10, i], [i % 10, i], i % 10, extra={"log_index": i + 1})
        hwm = i + 1 if i % 100 != 99 else i  # the newest entry shown above the HWM stated
        shown = {"node": f"n{i % 3 + 1}", "hwm": hwm, "lwm": 0, "entries": log[-10:]}
        h.pair("read-log", None, shown, 10 + i % 3)
        i += 1
    final = [[e[0], e[1], ["w", -1, -e[0]] if e[0] % 100 == 0 else e[2]] for e in log]
    audit = {"node": "n1", "hwm": len(log), "lwm": 0, "entries": final}
    h.pair("audit", None, audit, 20)
    return h.ops


def _hlc(n: int, rng: random.Random) -> list[Op]:
    """Three nodes stamping local events (l in µs, the controller's clock read around each
    request); n1's clock bumped 20 ms ahead every 100 events and reset 50 later (a clock
    fault every 200 ops: the faults grow with the run); every hundredth event of n2 stamped
    below its previous one (not-monotonic), every 150th of n3 5 s ahead (l-too-far-ahead)."""
    h = _History()
    seq = {"n1": 0, "n2": 0, "n3": 0}
    last = dict.fromkeys(seq, 0)
    i = 0
    while len(h.ops) < n:
        if i % 100 == 0:
            h.pair("bump-clock", {"n1": 0.02}, {"n1": 0.02}, "nemesis")
        if i % 100 == 50:
            h.pair("reset-clock", None, {"n1": 0}, "nemesis")
        node = f"n{i % 3 + 1}"
        now_us = 1_000_000_000 + (len(h.ops) + 1) * 1000
        ahead = 20_000 if node == "n1" and i % 100 < 50 else 0
        l_us = max(now_us + ahead, last[node] + 1)
        if node == "n2" and i % 100 == 1 and last[node]:
            l_us = last[node] - 10  # went back
        if node == "n3" and i % 150 == 2:
            l_us += 5_000_000
        seq[node] += 1
        last[node] = l_us
        e = {"node": node, "boot": "b0", "seq": seq[node], "kind": "local", "l": l_us, "c": 0,
             "pt": now_us + ahead}  # fmt: skip
        h.add("invoke", "local", None, i % 10, node)
        h.add("ok", "local", e, i % 10, node, {"true_us": [now_us - 500, now_us + 500]})
        i += 1
    return h.ops


def _actor(n: int, rng: random.Random) -> list[Op]:
    """Actors in turn, 50 messages each (increments, appends, reads, from ten senders), each
    moving from one host (epoch 1) to another (epoch 2) after 25; every hundredth message
    answered by the old activation after the new one answered (double-activation), a read's
    count one above the increments sent (applied-twice, and nonlinearizable), or a message
    applied as a number below its sender's earlier one (sender-order), in turn."""
    h = _History()
    seqs = [0] * 10
    i = 0
    while len(h.ops) < n:
        actor, j = f"a{i // 50}", i % 50
        if j == 0:
            count, log, applied = 0, [], 0
            last: dict[int, int] = {}  # sender -> the number of its last update here
        p = i % 10
        seqs[p] += 1
        epoch = 1 if j < 25 else 2
        host = f"n{(i // 50 + epoch) % 3 + 1}"
        plant = (i // 100) % 3 if i % 100 == 99 else None
        f = ("increment", "append", "read")[i % 3] if plant is None else "read"
        if plant == 2:
            f = "increment"
        if plant == 0:
            epoch, host = 1, f"n{(i // 50 + 1) % 3 + 1}"
        known = {"sender": f"p{p}", "seq": seqs[p], "epoch": epoch, "host": host}
        if f == "increment":
            count += 1
            applied += 1
            num = applied if plant != 2 else last.get(p, 1)
            last[p] = applied
            h.add("invoke", f, [actor, None], p)
            h.add("ok", f, [actor, count], p, extra={**known, "n": num})
        elif f == "append":
            applied += 1
            log.append(i)
            last[p] = applied
            h.add("invoke", f, [actor, i], p)
            h.add("ok", f, [actor, i], p, extra={**known, "n": applied, "len": len(log)})
        else:
            seen = {"count": count + (1 if plant == 1 else 0), "log": list(log)}
            h.add("invoke", f, [actor, None], p)
            h.add("ok", f, [actor, seen], p, extra={**known, "n": applied})
        i += 1
    return h.ops


def _emergent(n: int, rng: random.Random) -> list[Op]:
    """Five nodes, a cycle of faults every 1,000 ops (halves partitioned, healed, n5 killed,
    started), views of every node and acts of each side's leader, every node's incarnation
    a new one each cycle; in turn per cycle: n5's view keeps the other half's leader after
    the heal (no-agreement-after-heal), the two halves' leaders act in turn after the heal
    (two-leaders-in-side), n2's view keeps the killed n5 (dead-member-kept). Bound 0.1 s
    (100 ops)."""
    h = _History()
    nodes = [f"n{k}" for k in range(1, 6)]
    half_a, half_b = nodes[:2], nodes[2:]
    grudge = {a: half_b for a in half_a} | {b: half_a for b in half_b}
    c = 0
    while len(h.ops) < n:
        inc = c + 1
        for j in range(500):
            if j == 0:
                h.pair("start-partition", "halves", {"shape": "halves", "grudge": grudge},
                       "nemesis")  # fmt: skip
                continue
            if j == 150:
                h.pair("stop-partition", None, "healed", "nemesis")
                continue
            if j == 300:
                h.pair("kill", ["n5"], ["n5"], "nemesis")
                continue
            if j == 400:
                h.pair("start", ["n5"], ["n5"], "nemesis")
                continue
            split, dead = j < 150, 300 < j < 400
            if j % 2:  # an act by a leader
                if split:
                    leader = "n1" if j % 4 == 1 else "n3"
                else:
                    leader = "n3" if c % 3 == 1 and 150 < j < 170 and j % 4 == 3 else "n1"
                side = half_a if leader == "n1" and split else half_b if split else nodes
                v = {"leader": leader, "inc": inc, "members": side, "agreed": side}
                h.pair("act", None, v, j % 10, node=leader)
                continue
            node = nodes[(j // 2) % 5]
            if dead and node == "n5":
                h.pair("view", None, None, 10 + j % 10, "fail", node=node)
                continue
            if split:
                members, leader = (half_a, "n1") if node in half_a else (half_b, "n3")
            elif dead and not (c % 3 == 2 and node == "n2") and j > 320:
                members, leader = nodes[:4], "n1"
            else:
                members, leader = nodes, "n1"
                if c % 3 == 0 and node == "n5" and 150 < j < 300:
                    leader = "n3"
            v = {"node": node, "inc": inc, "leader": leader, "members": members}
            h.pair("view", None, v, 10 + j % 10, node=node)
        c += 1
    return h.ops


def _members(n: int, rng: random.Random) -> list[Op]:
    """Writes of two values to each of n / 4 keys, then the member-states reading of three
    members at one index: n3 lost every hundredth key's last write (its revision lower, its
    digest another)."""
    h = _History()
    keys = n // 4
    rev = 0
    content: dict[str, list[Any]] = {}
    lost: dict[str, list[Any]] = {}
    for r in range(2):
        for k in range(keys):
            rev += 1
            key = f"splitbrain/{k}"
            h.pair("write", [key, r], [key, r], k % 10)
            if r == 1 and k % 100 == 99:
                lost[key] = content[key]
            content[key] = [rev, r]
    bad = content | lost
    states = {
        m: {
            "index": 2 * keys + 10,
            "revision": rev - (len(lost) if m == "n3" else 0),
            "at": rev - len(lost),
            "digest": None,
            "keys": bad if m == "n3" else dict(content),
            "error": None,
            "info": {},
        }  # fmt: skip
        for m in ("n1", "n2", "n3")
    }
    h.pair("member-states", None, states, "nemesis")
    return h.ops


def _versions(n: int, rng: random.Random) -> list[Op]:
    """Writes, cas and reads of ten keys, etcd-style: one revision counter for the store, each
    write's ``version`` the revision it made, a cas's ``saw_version`` and a read's
    ``read_version`` the key's revision; in turn at every hundredth op: a write given the
    version of the key's last one (version-reused), a read naming the version before the
    one it read (read-version-mismatch), a cas that claims to follow the write before the
    last (cas-missed-write)."""
    h = _History()
    rev = 1
    cur: dict[str, tuple[int, int]] = {}  # key -> (value, version)
    prev: dict[str, tuple[int, int]] = {}
    i = 0
    while len(h.ops) < n:
        k, p = f"k{i % 10}", i % 10
        plant = (i // 100) % 3 if i % 100 == 99 else None
        kind = i // 10 % 3
        if k not in cur:
            kind = 0
        if plant is not None:
            kind = (0, 2, 1)[plant] if k in prev else 0
        if kind == 0:  # write
            rev += 1
            version = cur[k][1] if plant == 0 and k in cur else rev
            h.pair("write", [k, i], [k, i], p, extra={"version": version})
            prev[k], cur[k] = cur.get(k, (i, version)), (i, version)
        elif kind == 1:  # cas
            rev += 1
            saw = prev[k][1] if plant == 2 else cur[k][1]
            v = [k, [cur[k][0], i]]
            h.pair("cas", v, v, p, extra={"version": rev, "saw_version": saw})
            prev[k], cur[k] = cur[k], (i, rev)
        else:  # read
            version = prev[k][1] if plant == 1 and prev[k] != cur[k] else cur[k][1]
            h.pair("read", [k, None], [k, cur[k][0]], p, extra={"read_version": version})
        i += 1
    return h.ops


def _promises(n: int, rng: random.Random) -> list[Op]:
    """A ZooKeeper-like register history (writes and reads by ten processes, keys retired
    after 200 ops, four in use) whose status claims sequential consistency and
    read-your-writes; every hundredth op a read by the key's last writer that returns the
    value before its own write."""
    h = _History()
    cur: dict[str, list[int | None]] = {}  # key -> [value before the last write, last value]
    writer: dict[str, int] = {}
    i = 0
    while len(h.ops) < n - 2:
        k = f"{i // 800 * 4 + i % 4}"
        vals = cur.setdefault(k, [None, None])
        if i % 100 == 99 and k in writer:
            h.pair("read", [k, None], [k, vals[0]], writer[k])
        elif i % 3 == 0:
            p = i % 10
            h.pair("write", [k, i], [k, i], p)
            vals[:] = [vals[1], i]
            writer[k] = p
        else:
            h.pair("read", [k, None], [k, vals[1]], i % 10)
        i += 1
    claim = {"id": "n1", "role": "leader", "sync": False, "system": "zookeeper",
             "promise": "sequential consistency, read-your-writes in a session",
             "models": ["sequential", "read-your-writes"]}  # fmt: skip
    h.pair("status", None, claim, 99)
    return h.ops


GENERATORS: dict[str, tuple[Generator, dict[str, Any]]] = {
    "stats": (_stats, {}),
    "unique-ids": (_unique_ids, {}),
    "counter": (_counter, {}),
    "set": (_set, {}),
    "set-full": (_set_full, {}),
    "long-fork": (_long_fork, {"group_size": 3}),
    "bank": (_bank, {}),
    "list-append": (_list_append, {}),
    "rw-register": (_rw_register, {}),
    "causal": (_list_append, {}),
    "watch": (_watch, {}),
    "queue": (_queue, {}),
    "queue-at-least-once": (_queue, {}),
    "lease": (_lease, {}),
    "election": (_election, {}),
    "leaders": (_leaders, {}),
    "linearizable": (_linearizable, {}),
    "vclock": (_vclock, {}),
    "clocksync": (_clocksync, {"recover_s": 0.1}),
    "crdt": (_crdt, {}),
    "lock": (_lock, {}),
    "lamport": (_lamport, {}),
    "pbft": (_pbft, {}),
    "watermarks": (_watermarks, {}),
    "hlc": (_hlc, {}),
    "actor": (_actor, {}),
    "emergent": (_emergent, {"bound_s": 0.1}),
    "members": (_members, {}),
    "versions": (_versions, {}),
    "promises": (_promises, {}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="25000,50000,100000", help="ops per history")
    ap.add_argument("--checkers", default="", help="comma-separated (default: all registered)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per case")
    ap.add_argument("--one", nargs=2, metavar=("CHECKER", "OPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_measure(args.one[0], int(args.one[1]))))
        return
    from harness import registry

    names = [c for c in args.checkers.split(",") if c] or sorted(registry.checkers())
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"python {sys.version.split()[0]}; sizes {', '.join(f'{s:,}' for s in sizes)} ops; "
          f"timeout {args.timeout:g} s per case")  # fmt: skip
    print(f"{'checker':<21}{'ops':>9}{'wall s':>9}{'cpu s':>8}{'us/op':>7}  {'verdict':<8}"
          f"{'anomalies':>10}{'kept':>6}  load  kinds")  # fmt: skip
    for name in names:
        if name not in GENERATORS:
            print(f"{name:<21}  no generator")
            continue
        for size in sizes:
            print(_case(name, size, args.timeout), flush=True)


def _case(name: str, size: int, timeout: float) -> str:
    cmd = [sys.executable, __file__, "--one", name, str(size)]
    load = Path("/proc/loadavg").read_text().split()[0]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"{name:<21}{size:>9,}  timed out after {timeout:g} s (load {load})"
    if out.returncode != 0:
        return f"{name:<21}{size:>9,}  failed: {out.stderr.strip()[-300:]}"
    r = json.loads(out.stdout)
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(r["counts"].items())) or r["reason"][:60]
    return (f"{name:<21}{r['ops']:>9,}{r['wall_s']:>9.2f}{r['cpu_s']:>8.2f}"
            f"{1e6 * r['cpu_s'] / r['ops']:>7.1f}  {str(r['valid']):<8}{r['found']:>10,}"
            f"{r['kept']:>6}  {load:<5} {kinds}")  # fmt: skip


def _measure(name: str, size: int) -> dict[str, Any]:
    """Make the history, then time ``check`` alone."""
    from harness import registry

    make, options = GENERATORS[name]
    history = make(size, random.Random(1))
    gc.freeze()  # as ``splitbrain check`` does once the history is read
    info = registry.lookup(registry.CheckerInfo, name, "checker")
    checker = info.make(registry.parse_options(info.options, options, name))
    t0, c0 = time.perf_counter(), time.process_time()
    result = checker.check(history, {})
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    counts = _counts(name, result)
    return {
        "ops": len(history),
        "wall_s": wall,
        "cpu_s": cpu,
        "valid": result.valid,
        "found": sum(counts.values()),
        "kept": len(result.anomalies),
        "counts": counts,
        "reason": str(result.details.get("reason", "")),
    }


#: where a checker counts its anomalies in full under names of its own
_COUNTED: dict[str, Callable[[dict[str, Any]], dict[str, int]]] = {
    "bank": lambda d: {
        **{k: v["count"] for k, v in d.get("errors", {}).items()},
        "total-changed": d.get("total-changed-periods", 0),
    },
    "leaders": lambda d: {"two-leaders-in-term": d.get("terms_with_two_leaders", 0)},
    "queue": lambda d: dict(d.get("counts", {})),
    "queue-at-least-once": lambda d: dict(d.get("counts", {})),
    "watermarks": lambda d: dict(d.get("counts", {})),
    "pbft": lambda d: {
        "conflicting-commit": d.get("conflicting-commits", 0),
        "executed-twice": d.get("executed-twice", 0),
    },
    "lease": lambda d: {
        "leases-overlap": d.get("overlaps", 0),
        "two-holders-one-epoch": d.get("epochs-with-two-holders", 0),
    },
    "actor": lambda d: {
        **d.get("counts", {}),
        "nonlinearizable": len(d.get("linearizable", {}).get("invalid-keys", [])),
    },
    "emergent": lambda d: {
        k: d.get(k, 0)
        for k in ("two-leaders-in-side", "no-agreement-after-heal", "dead-member-kept")
    },
    "versions": lambda d: dict(d.get("counts", {})),
    "election": lambda d: {
        "two-leaders-in-term": d.get("two-leader-terms", 0),
        "stale-leader-acted": d.get("stale-actions", 0),
    },
}


def _counts(name: str, result: Any) -> dict[str, int]:
    """Anomalies by kind, counted in full where the checker counts them (``anomaly-counts``
    and the like in its details), else those it returned."""
    d = result.details
    if name == "members":  # each differing member names ten keys, counts them all
        per = {a.data.get("member"): a.data.get("keys_differing", 1) for a in result.anomalies
               if a.data.get("key") is not None}  # fmt: skip
        rest = sum(1 for a in result.anomalies if a.data.get("key") is None)
        return {"members-disagree": sum(per.values()) + rest} if per or rest else {}
    if name in _COUNTED:
        return {k: v for k, v in _COUNTED[name](d).items() if v}
    for key in ("anomaly-counts", "anomaly_counts", "found", "anomalies"):
        if isinstance(d.get(key), dict) and all(isinstance(v, int) for v in d[key].values()):
            return dict(d[key])
    out: dict[str, int] = {}
    for a in result.anomalies:
        out[a.name] = out.get(a.name, 0) + 1
    return out


if __name__ == "__main__":
    main()
