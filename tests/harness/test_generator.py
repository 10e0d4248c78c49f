from __future__ import annotations

import random

from harness.generator import (
    Context,
    Wait,
    clients_and_nemesis,
    cycle,
    each_thread,
    limit,
    mix,
    once,
    phases,
    repeat,
    seq,
    sleep,
    stagger,
    time_limit,
)


def ctx(t=0.0, thread=0, threads=(0,), busy=frozenset(), seed=1):
    return Context(
        time=t, thread=thread, process=thread, rng=random.Random(seed), threads=threads, busy=busy
    )


def drain(gen, c, n=100):
    out = []
    for _ in range(n):
        r = gen.op(c)
        if r is None or isinstance(r, Wait):
            break
        out.append(r)
    return out


def test_limit_stops_after_n_ops():
    assert len(drain(limit(3, repeat("read")), ctx())) == 3


def test_mix_draws_from_every_generator_by_weight_and_is_seeded():
    g1 = mix([repeat("read"), repeat("write")], [3, 1])
    g2 = mix([repeat("read"), repeat("write")], [3, 1])
    c1, c2 = ctx(seed=7), ctx(seed=7)
    fs = [g1.op(c1)["f"] for _ in range(2000)]
    assert 0.70 < fs.count("read") / len(fs) < 0.80
    assert [g2.op(c2)["f"] for _ in range(2000)] == fs  # same seed, same draws


def test_mix_drops_exhausted_generators():
    g = mix([limit(2, repeat("read")), limit(3, repeat("write"))])
    fs = [op["f"] for op in drain(g, ctx())]
    assert sorted(fs) == ["read", "read", "write", "write", "write"]


def test_time_limit_ends_relative_to_its_first_draw():
    g = time_limit(5, repeat("read"))
    assert g.op(ctx(t=10)) == {"f": "read", "value": None}
    assert g.op(ctx(t=14.9)) is not None
    assert g.op(ctx(t=15)) is None


def test_stagger_spaces_ops_at_the_mean_rate():
    g = stagger(0.1, repeat("read"))
    c = ctx()
    t, emitted = 0.0, 0
    while t < 100:
        c.time = t
        r = g.op(c)
        if isinstance(r, Wait):
            t = r.until
        else:
            emitted += 1
    assert 900 < emitted < 1100  # 10 ops/s for 100 s


def test_sleep_then_seq_then_cycle():
    g = cycle(lambda: [sleep(2), once("start"), sleep(3), once("stop")])
    c = ctx(t=0)
    assert g.op(c) == Wait(2)
    c.time = 2
    assert g.op(c)["f"] == "start"
    assert g.op(c) == Wait(5)
    c.time = 5
    assert g.op(c)["f"] == "stop"
    assert g.op(c) == Wait(7)  # the next round begins


def test_each_thread_gives_every_thread_its_own_copy():
    g = each_thread(lambda: once("status"))
    assert g.op(ctx(thread=0))["f"] == "status"
    assert g.op(ctx(thread=0)) is None
    assert g.op(ctx(thread=1))["f"] == "status"


def test_phases_wait_for_every_thread_and_in_flight_ops_before_moving_on():
    g = phases(limit(1, repeat("a")), each_thread(lambda: once("b")))
    threads = (0, 1)
    assert g.op(ctx(thread=0, threads=threads))["f"] == "a"
    # thread 1 finds phase 1 exhausted but thread 0 has not been told yet: wait
    assert isinstance(g.op(ctx(thread=1, threads=threads, busy=frozenset({0}))), Wait)
    # thread 0's op is done; it asks and is told phase 1 is over; still waits for nobody busy
    assert g.op(ctx(thread=0, threads=threads))["f"] == "b"
    assert g.op(ctx(thread=1, threads=threads))["f"] == "b"
    assert isinstance(g.op(ctx(thread=0, threads=threads, busy=frozenset({1}))), Wait)
    assert g.op(ctx(thread=1, threads=threads)) is None  # the last phase ends for everyone
    assert g.op(ctx(thread=0, threads=threads)) is None


def test_clients_and_nemesis_route_by_thread():
    g = clients_and_nemesis(repeat("read"), repeat("kill"))
    assert g.op(ctx(thread=0))["f"] == "read"
    assert g.op(ctx(thread="nemesis"))["f"] == "kill"
    assert clients_and_nemesis(None, repeat("kill")).op(ctx(thread=3)) is None


def test_seq_runs_generators_in_order():
    assert [o["f"] for o in drain(seq([once("a"), once("b")]), ctx())] == ["a", "b"]
