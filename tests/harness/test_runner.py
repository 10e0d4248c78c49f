from __future__ import annotations

import json
import threading
import time

from harness.generator import clients_and_nemesis, limit, phases, repeat, time_limit
from harness.history import Journal, Op, read_jsonl
from harness.runner import Runner, Worker


class CountingClient:
    """A client with a scripted behaviour per op (pure logic around the runner)."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.closed = False

    def invoke(self, op: Op) -> Op:
        return self.behaviour(op)

    def close(self):
        self.closed = True


class RecordingNemesis:
    fs = frozenset({"break"})

    def __init__(self):
        self.seen = []

    def invoke(self, op):
        self.seen.append(op.f)
        return op.complete("ok", "done")


def make_runner(tmp_path, gen, behaviour, n=3, nemesis=None):
    t0 = time.monotonic_ns()
    journal = Journal(tmp_path / "history.jsonl", lambda: time.monotonic_ns() - t0)
    workers = [Worker(f"n{i}", lambda: CountingClient(behaviour)) for i in range(n)]
    return Runner(gen, journal, workers, nemesis=nemesis, seed=5), journal


def test_every_invocation_is_journaled_with_its_completion_in_index_order(tmp_path):
    runner, journal = make_runner(
        tmp_path, limit(300, repeat("read")), lambda op: op.complete("ok", 1)
    )
    runner.run()
    journal.close()
    ops = read_jsonl(tmp_path / "history.jsonl")
    assert len(ops) == 600
    assert [o.index for o in ops] == list(range(600))
    assert all(a.time <= b.time for a, b in zip(ops, ops[1:], strict=False))
    open_ = {}
    for o in ops:  # a process never has two ops in flight
        if o.type == "invoke":
            assert o.process not in open_
            open_[o.process] = o
        else:
            assert open_.pop(o.process).f == o.f
    assert not open_


def test_a_client_exception_becomes_info_and_the_worker_takes_a_new_process(tmp_path):
    from harness.generator import each_thread

    calls = []  # (client, process, was the client that raised closed by then)

    class Flaky(CountingClient):
        def invoke(self, op):
            raiser_closed = all(c.closed for c, p, _ in calls if p == 0)
            calls.append((self, op.process, raiser_closed))
            if op.process == 0:
                raise ConnectionResetError("boom")
            return op.complete("ok", None)

    opened = []

    def open_client():
        opened.append(Flaky(None))
        return opened[-1]

    t0 = time.monotonic_ns()
    journal = Journal(tmp_path / "history.jsonl", lambda: time.monotonic_ns() - t0)
    workers = [Worker(f"n{i}", open_client) for i in range(3)]
    # ten ops per thread, whichever thread runs first: with one shared limit, threads 1 and 2
    # could take every op before thread 0 first ran, or before it came back as process 3
    gen = each_thread(lambda: limit(10, repeat("write", 1)))
    Runner(gen, journal, workers, seed=5).run()
    infos = [o for o in journal.ops if o.type == "info"]
    assert len(infos) == 1 and infos[0].process == 0
    assert "ConnectionResetError: boom" in infos[0].error
    assert infos[0].value == 1  # an info keeps what was attempted
    invoked = [o.process for o in journal.ops if o.type == "invoke"]
    # after its info, thread 0 continues as process 3 (= 0 + 3 workers), never as 0 again
    assert {p: invoked.count(p) for p in set(invoked)} == {0: 1, 3: 9, 1: 10, 2: 10}
    assert all(o.type == "ok" for o in journal.ops if o.process == 3 and o.type != "invoke")
    # and with a fresh client: the one that raised was closed before process 3's first op
    raiser = next(c for c, p, _ in calls if p == 0)
    assert all(c is not raiser and closed for c, p, closed in calls if p == 3)
    assert len(opened) == 4


def test_the_nemesis_thread_gets_only_nemesis_ops_and_phases_follow_each_other(tmp_path):
    nem = RecordingNemesis()
    gen = phases(
        clients_and_nemesis(time_limit(0.3, repeat("read")), limit(2, repeat("break"))),
        clients_and_nemesis(limit(3, repeat("final")), None),
    )
    runner, journal = make_runner(tmp_path, gen, lambda op: op.complete("ok", 0), nemesis=nem)
    runner.run()
    assert nem.seen == ["break", "break"]
    nemesis_ops = [o for o in journal.ops if o.process == "nemesis"]
    assert len(nemesis_ops) == 4 and nemesis_ops[1].value == "done"
    fs = [o.f for o in journal.ops if o.type == "invoke" and o.process != "nemesis"]
    first_final = fs.index("final")
    assert set(fs[first_final:]) == {"final"} and fs.count("final") == 3


def test_stop_ends_every_worker_after_its_current_op(tmp_path):
    started = threading.Event()

    def slow(op):
        started.set()
        time.sleep(0.05)
        return op.complete("ok", None)

    runner, journal = make_runner(tmp_path, repeat("read"), slow)
    runner.start()
    started.wait(5)
    runner.stop()
    assert runner.join(timeout=5)
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(lines) == len(journal.ops) and len(lines) % 2 == 0
    assert json.loads(lines[-1])["type"] == "ok"


def test_a_torn_last_line_is_dropped_but_a_torn_middle_line_is_an_error(tmp_path):
    import pytest

    from harness.history import HistoryError

    good = Op("invoke", "read", None, 0, 1, 0).to_json()
    p = tmp_path / "h.jsonl"
    p.write_text(good + "\n" + '{"index": 1, "ti')
    assert len(read_jsonl(p)) == 1
    p.write_text('{"index": 1, "ti\n' + good + "\n")
    with pytest.raises(HistoryError, match=r"h.jsonl:1: not valid JSON"):
        read_jsonl(p)
    p.write_text(good.replace('"invoke"', '"maybe"') + "\n")
    with pytest.raises(HistoryError, match=r":1: field 'type' is 'maybe'; allowed: invoke, ok"):
        read_jsonl(p)


def test_a_final_phase_gives_every_client_thread_each_of_its_ops(tmp_path):
    """Per-thread generators in sequence inside the clients' side: no thread may skip its
    own ops because another thread finished first (the nemesis thread takes no part)."""
    from harness.generator import each_thread, once, seq

    nem = RecordingNemesis()
    gen = phases(
        clients_and_nemesis(limit(5, repeat("read")), limit(1, repeat("break"))),
        clients_and_nemesis(
            phases(
                each_thread(lambda: seq([once("r1"), once("r2")])),
                each_thread(lambda: once("status")),
            ),
            None,
        ),
    )
    runner, journal = make_runner(tmp_path, gen, lambda op: op.complete("ok", 0), n=4, nemesis=nem)
    runner.run()
    finals = [
        (o.process, o.f)
        for o in journal.ops
        if o.type == "invoke" and o.f != "read" and o.process != "nemesis"
    ]
    for p in range(4):
        assert [f for q, f in finals if q == p] == ["r1", "r2", "status"]
    # every status comes after every r1 / r2: the sub-phases wait for each other
    last_r = max(i for i, (_, f) in enumerate(finals) if f in ("r1", "r2"))
    assert all(f == "status" for _, f in finals[last_r + 1 :]) and len(finals) == 12


def test_an_op_whose_client_hangs_becomes_info_and_the_worker_goes_on_with_a_fresh_client(
    tmp_path,
):
    from harness.generator import each_thread

    release = threading.Event()  # the hung client returns only at the end of the test
    opened: list[CountingClient] = []

    def behaviour(op):
        if op.process == 0:
            release.wait(30)
            return op.complete("ok", "too late")
        return op.complete("ok", None)

    def open_client():
        opened.append(CountingClient(behaviour))
        return opened[-1]

    t0 = time.monotonic_ns()
    journal = Journal(tmp_path / "history.jsonl", lambda: time.monotonic_ns() - t0)
    workers = [Worker(f"n{i}", open_client) for i in range(2)]
    gen = each_thread(lambda: limit(5, repeat("write", 1)))
    runner = Runner(gen, journal, workers, seed=5, timeout=0.2, grace=0.1)
    try:
        runner.start()
        assert runner.join(timeout=20), "a hung client held its worker"
    finally:
        release.set()
    infos = [o for o in journal.ops if o.type == "info"]
    assert len(infos) == 1 and infos[0].process == 0 and infos[0].value == 1
    assert infos[0].error.startswith("timeout: ") and "0.3s" in infos[0].error
    assert runner.stats.timed_out == 1 and runner.stats.completions["info"] == 1
    # worker 0 goes on as process 2 (0 + 2 workers), with a client of its own
    invoked = [o.process for o in journal.ops if o.type == "invoke"]
    assert {p: invoked.count(p) for p in set(invoked)} == {0: 1, 2: 4, 1: 5}
    assert len(opened) == 3
    # the late answer of the hung client is never journaled, and it closes its client
    deadline = time.monotonic() + 10
    while not opened[0].closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert opened[0].closed
    assert not any(o.value == "too late" for o in journal.ops)
    assert len(journal.ops) == 20


def test_a_client_that_says_an_op_takes_longer_gets_that_long(tmp_path):
    class Draining(CountingClient):
        def op_timeout(self, op, timeout):
            return 5.0 if op.f == "drain" else timeout

    def behaviour(op):
        if op.f == "drain":
            time.sleep(0.4)  # the op under test takes this long, longer than timeout + grace
        return op.complete("ok", op.f)

    t0 = time.monotonic_ns()
    journal = Journal(tmp_path / "history.jsonl", lambda: time.monotonic_ns() - t0)
    workers = [Worker("n0", lambda: Draining(behaviour))]
    gen = limit(2, repeat("drain"))
    Runner(gen, journal, workers, seed=5, timeout=0.1, grace=0.1).run()
    assert [o.type for o in journal.ops] == ["invoke", "ok", "invoke", "ok"]


def test_stop_returns_even_while_a_client_hangs(tmp_path):
    release = threading.Event()
    started = threading.Event()

    def hang(op):
        started.set()
        release.wait(30)
        return op.complete("ok", None)

    runner, journal = make_runner(tmp_path, repeat("read"), hang, n=1)
    runner.timeout, runner.grace = 0.2, 0.0
    try:
        runner.start()
        assert started.wait(5)
        runner.stop()
        assert runner.join(timeout=10)
    finally:
        release.set()
    assert [o.type for o in journal.ops] == ["invoke", "info"]


def test_a_completion_keeps_the_evidence_its_client_recorded(tmp_path):
    def behaviour(op):
        return op.complete("ok", op.value, extra={"revision": 7, "member": "n2"})

    runner, journal = make_runner(tmp_path, limit(1, repeat("write", 3)), behaviour, n=1)
    runner.run()
    journal.close()
    ok = read_jsonl(tmp_path / "history.jsonl")[1]
    assert (ok.type, ok.value, ok.extra) == ("ok", 3, {"revision": 7, "member": "n2"})
    line = json.loads((tmp_path / "history.jsonl").read_text().splitlines()[1])
    assert line["revision"] == 7 and line["member"] == "n2"
