"""The register workload's ``status_every``: each client thread asks its node for its status
that often during the run (not only after the final heal), besides the rate's ops, and only
when a suite asks for it."""

from __future__ import annotations

import heapq
import random
import signal
import time
from typing import Any

import pytest
from hostnode import HostNode, free_base_port

from checkers.leaders import LeadersChecker
from checkers.linearizable.checker import LinearizableChecker
from harness.config import load_suite, split_workload_options
from harness.generator import Context, Generator, Wait, clients_and_nemesis, limit, phases
from harness.history import Journal
from harness.registry import NoOptions, OptionError, parse_options, systems, workloads
from harness.runner import Runner, Worker
from harness.spec import SystemSpec, WorkloadSpec
from workloads.register import REGISTER, RegisterOptions, StatusEvery, register_generators


def simulate(
    gen: Generator, threads: int, seconds: float, op_s: float = 0.01
) -> list[tuple[float, int, str]]:
    """Drive ``gen`` with ``threads`` threads on a simulated clock: each op takes ``op_s``,
    a ``Wait`` resumes its thread at the time it names. Returns (time, thread, f) per op."""
    rngs = {t: random.Random(t) for t in range(threads)}
    ready = [(0.0, t) for t in range(threads)]
    heapq.heapify(ready)
    out: list[tuple[float, int, str]] = []
    while ready:
        now, t = heapq.heappop(ready)
        if now >= seconds:
            continue
        ctx = Context(time=now, thread=t, process=t, rng=rngs[t], threads=range(threads))
        r = gen.op(ctx)
        if r is None:
            continue
        if isinstance(r, Wait):
            heapq.heappush(ready, (max(r.until, now + 1e-6), t))
            continue
        out.append((now, t, r["f"]))
        heapq.heappush(ready, (now + op_s, t))
    return out


def spec(**kw: Any) -> WorkloadSpec:
    return WorkloadSpec(name="register", concurrency=10, rate=150, ops_per_key=600, **kw)


def test_status_every_gives_each_thread_a_status_about_that_often() -> None:
    main, _final = register_generators(spec(), RegisterOptions(status_every=1.0))
    ops = simulate(main, threads=10, seconds=30)
    for t in range(10):
        times = [at for at, thread, f in ops if thread == t and f == "status"]
        assert 29 <= len(times) <= 31, (t, len(times))
        assert times[0] < 1.0  # the first within the first period
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # a period, plus at most the op the thread was busy with when it came due
        assert all(1.0 - 1e-9 <= g <= 1.0 + 0.01 + 1e-9 for g in gaps), (t, gaps)
    # the status ops come on top of the rate's: still about 150 register ops a second
    register = [f for _at, _t, f in ops if f != "status"]
    assert 0.9 * 150 * 30 <= len(register) <= 1.1 * 150 * 30
    assert set(register) == {"read", "write", "cas"}


def test_threads_ask_at_different_moments() -> None:
    main, _final = register_generators(spec(), RegisterOptions(status_every=1.0))
    firsts: dict[int, float] = {}
    for at, t, f in simulate(main, threads=10, seconds=2):
        if f == "status":
            firsts.setdefault(t, at)
    assert len(firsts) == 10 and len({round(x, 3) for x in firsts.values()}) == 10


def f_of(r: Any) -> str:
    """The f of an op a generator gave (not a Wait, not None)."""
    assert isinstance(r, dict), r
    return str(r["f"])


def test_a_thread_held_up_does_not_catch_up_with_a_burst() -> None:
    g = StatusEvery(1.0, limit(10**6, _Reads()))
    rng = random.Random(1)

    def ask(at: float) -> str:
        return f_of(g.op(Context(time=at, thread=0, process=0, rng=rng)))

    first = next(at / 100 for at in range(200) if ask(at / 100) == "status")
    # the thread was stuck for 5 s (a paused node): one status, then the next a period later
    assert ask(first + 5) == "status"
    assert ask(first + 5.01) == "read"
    assert ask(first + 5.99) == "read"
    assert ask(first + 6.0) == "status"


class _Reads:
    def op(self, ctx: Context) -> dict[str, Any]:
        return {"f": "read", "value": [0, None]}


def test_a_wait_of_the_ops_ends_when_the_status_is_due() -> None:
    class _Later:
        def op(self, ctx: Context) -> Wait:
            return Wait(ctx.time + 10)

    g = StatusEvery(1.0, _Later())
    rng = random.Random(3)
    r = g.op(Context(time=0.0, thread=0, process=0, rng=rng))
    if isinstance(r, Wait):  # due at a random moment of the first second
        assert 0 < r.until < 1.0
        assert f_of(g.op(Context(time=r.until, thread=0, process=0, rng=rng))) == "status"
    else:
        assert f_of(r) == "status"
    assert g.op(Context(time=2.5, thread=0, process=0, rng=rng)) == {"f": "status", "value": None}
    assert g.op(Context(time=2.6, thread=0, process=0, rng=rng)) == Wait(3.5)


@pytest.mark.parametrize("options", [RegisterOptions(), NoOptions(), None])
def test_no_status_unless_a_suite_asks(options: Any) -> None:
    main, _final = register_generators(spec(), options)
    assert "status" not in {f for _at, _t, f in simulate(main, threads=10, seconds=5)}


def test_status_every_is_the_register_workloads_option_on_every_system() -> None:
    assert REGISTER.options is RegisterOptions
    with pytest.raises(OptionError, match="status_every"):
        parse_options(RegisterOptions, {"status_every": -1}, "register")
    for name in ("raft", "etcd", "zookeeper", "redis", "paxos", "pbft", "leaderfollower"):
        own, _client = split_workload_options(systems()[name], workloads()["register"], {})
        assert own.status_every == 0, name  # off unless a suite turns it on
    own, _client = split_workload_options(
        systems()["etcd"], workloads()["register"], {"status_every": 2, "reads": "linearizable"}
    )
    assert own.status_every == 2.0


def test_the_smoke_suite_reads_status_during_the_run() -> None:
    (test,) = load_suite("suites/smoke.yaml").tests
    assert test.system.name == "raft"
    own, _client = split_workload_options(
        systems()["raft"], workloads()["register"], test.workload.options
    )
    assert 0 < own.status_every <= 1.0


def test_raft_status_during_the_run_shows_led_terms_and_stays_linearizable(tmp_path) -> None:
    """Against a real one-node Raft store: status ops among the register ops, each answered
    by the node with its led_terms; the linearizability checker passes over them."""
    info = systems()["raft"]
    node = HostNode("n1", tmp_path / "n1")
    system = info.make(
        SystemSpec(name="raft", port=free_base_port(1)),
        [node],
        parse_options(info.options, {}, "raft"),
    )
    wspec = WorkloadSpec(name="register", concurrency=2, rate=0, timeout=2.0)
    # a status due every 20 ms of the run: some among 100 register ops, however fast they go
    main, _final = register_generators(wspec, RegisterOptions(status_every=0.02))

    def open_client() -> Any:
        client = info.clients["register"](wspec, NoOptions(), system)
        client.open(node)
        return client

    try:
        system.setup(node)
        t0 = time.monotonic_ns()
        journal = Journal(tmp_path / "history.jsonl", lambda: time.monotonic_ns() - t0)
        count = _CountRegister(main, 100)
        workers = [Worker(node.name, open_client) for _ in range(wspec.concurrency)]
        runner = Runner(
            phases(clients_and_nemesis(count, None)), journal, workers, seed=1, timeout=2
        )
        runner.run()
        assert not runner.errors
    finally:
        node.signal("raft", signal.SIGKILL)
    history = journal.ops
    statuses = [o for o in history if o.f == "status" and o.type == "ok"]
    assert statuses, [(o.f, o.type, o.error) for o in history if o.type not in ("invoke", "ok")]
    assert all(o.value["id"] == "n1" and o.value["led_terms"] for o in statuses)
    writes = [o for o in history if o.f in ("write", "cas", "read") and o.type == "ok"]
    assert writes and statuses[0].time < writes[-1].time  # during the run, not after it
    assert LeadersChecker().check(history, {}).valid is True
    lin = LinearizableChecker("cas-register", engine="python").check(history, {})
    assert lin.valid is True, lin.anomalies


class _CountRegister:
    """``gen`` until ``n`` register ops (status ops not counted) have been handed out."""

    def __init__(self, gen: Generator, n: int) -> None:
        self.gen, self.left = gen, n

    def op(self, ctx: Context) -> Any:
        if self.left <= 0:
            return None
        r = self.gen.op(ctx)
        if isinstance(r, dict) and r["f"] != "status":
            self.left -= 1
        return r
