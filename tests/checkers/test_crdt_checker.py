"""The crdt checker on hand-made histories: one valid and one invalid case per rule (replicas
agree, counter bounds at the end and during the run, reads too far behind a connected peer,
lost adds, resurrections, unknown elements, the register's lost updates and unknown
values)."""

from __future__ import annotations

from typing import Any

from checkers.base import Result
from checkers.crdt import CrdtChecker, Links
from harness.history import NEMESIS, Op

SAME = object()


class History:
    """Ops built call by call: ``call(process, node, f, value, start, end, ...)`` in seconds;
    ``end=None`` for an op that never completed."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def call(
        self,
        process: int,
        node: str,
        f: str,
        value: Any,
        start: float,
        end: float | None,
        type: str = "ok",
        result: Any = SAME,
        **extra: Any,
    ) -> History:
        self.ops.append(Op("invoke", f, value, process=process, time=int(start * 1e9), node=node))
        if end is not None:
            out = value if result is SAME else result
            self.ops.append(
                Op(type, f, out, process=process, time=int(end * 1e9), node=node, extra=extra)
            )
        return self

    def nemesis(self, f: str, value: Any, start: float, end: float, done: Any) -> History:
        """A nemesis op: invoked with ``value``, completed ok with ``done``."""
        self.ops.append(Op("invoke", f, value, process=NEMESIS, time=int(start * 1e9)))
        self.ops.append(Op("ok", f, done, process=NEMESIS, time=int(end * 1e9)))
        return self

    def final(self, node: str, at: float, **values: Any) -> History:
        shown = {"g": 0, "pn": 0, "set": [], "reg": None, **values}
        return self.call(90 + len(self.ops), node, "final-read", None, at, at + 0.1, result=shown)

    def check(self) -> Result:
        ops = sorted(self.ops, key=lambda op: op.time)
        for i, op in enumerate(ops):
            op.index = i
        return CrdtChecker().check(ops, {})


def names(result: Result) -> set[str]:
    return {a.name for a in result.anomalies}


def finals(h: History, at: float = 10.0, **values: Any) -> History:
    for node in ("n1", "n2"):
        h.final(node, at, **values)
    return h


# -- strong eventual consistency ---------------------------------------------------------------


def test_agreeing_final_reads_are_valid_and_no_final_read_is_unknown() -> None:
    h = History().call(0, "n1", "g-add", 2, 1, 1.1).call(1, "n2", "g-read", None, 2, 2.1, result=2)
    assert History().call(0, "n1", "g-add", 2, 1, 1.1).check().valid == "unknown"
    result = finals(h, g=2).check()
    assert result.valid is True, result.anomalies
    assert result.details["final-reads"] == 2


def test_final_reads_that_differ_are_replicas_differ() -> None:
    h = History().call(0, "n1", "set-add", 1, 1, 1.1, dot=["n1", 1])
    h.final("n1", 10, set=[1]).final("n2", 10, set=[])
    result = h.check()
    assert result.valid is False and "replicas-differ" in names(result)
    a = next(a for a in result.anomalies if a.name == "replicas-differ")
    assert "'set'" in a.explanation and "n2 read []" in a.explanation


# -- counters ----------------------------------------------------------------------------------


def test_a_final_counter_within_the_indeterminate_adds_is_valid_and_outside_is_not() -> None:
    def base() -> History:
        h = History().call(0, "n1", "pn-add", 5, 1, 1.1)
        h.call(1, "n2", "pn-add", -3, 1, 1.5, type="info")  # maybe applied
        return h.call(2, "n2", "pn-add", 4, 2, None)  # never completed

    for v in (2, 5, 6, 9):
        assert finals(base(), pn=v).check().valid is True, v
    result = finals(base(), pn=10).check()
    assert names(result) == {"counter-out-of-bounds"}
    assert "outside [2, 9]" in result.anomalies[0].explanation


def test_a_read_during_the_run_is_bounded_by_its_own_node_and_what_was_invoked() -> None:
    h = History().call(0, "n1", "g-add", 3, 1, 1.1).call(1, "n2", "g-add", 4, 1, 1.1)
    h.call(0, "n1", "g-read", None, 2, 2.1, result=3)  # n2's add not here yet: fine
    h.call(1, "n2", "g-read", None, 2, 2.1, result=7)
    assert finals(h, g=7).check().valid is True
    low = History().call(0, "n1", "g-add", 3, 1, 1.1)
    low.call(0, "n1", "g-read", None, 2, 2.1, result=0)  # its own acknowledged add missing
    high = History().call(0, "n1", "g-add", 3, 1, 1.1)
    high.call(1, "n2", "g-read", None, 2, 2.1, result=6)  # more than was ever added
    for h in (low, high):
        result = finals(h, g=3).check()
        assert names(result) == {"read-out-of-bounds"}, result.anomalies
        assert result.anomalies[0].data["bounds"] == ([3, 3] if h is low else [0, 3])


def decremented(read_at: float, shown: int) -> History:
    """n2 adds 5, then takes 3 off (acknowledged at 2.1 s); n1 reads ``shown`` at
    ``read_at``."""
    h = History().call(1, "n2", "pn-add", 5, 1, 1.1).call(1, "n2", "pn-add", -3, 2, 2.1)
    return h.call(0, "n1", "pn-read", None, read_at, read_at + 0.1, result=shown)


def test_a_read_long_after_a_connected_peers_decrement_must_show_it() -> None:
    # n1 connected to n2 throughout: 4 s (the default bound) after the decrement it must
    # have n2's total, 2
    result = finals(decremented(6.2, 5), pn=2).check()
    assert names(result) == {"stale-read"}, result.anomalies
    a = result.anomalies[0]
    assert a.data["bounds"] == [2, 2] and a.data["fresh_from_s"] == {"n2": 2.2}
    assert "above [2, 2]" in a.explanation
    assert result.details["pn"]["reads-with-fresh-peers"] == 1
    for at, shown in ((6.2, 2), (5.9, 5), (2.5, 5), (2.5, 0), (16.2, 2)):
        assert finals(decremented(at, shown), pn=2).check().valid is True, (at, shown)
    # the loose rule still judges what no node could hold: left to read-out-of-bounds
    assert names(finals(decremented(6.2, 9), pn=2).check()) == {"read-out-of-bounds"}


def test_a_peer_cut_off_paused_or_killed_may_stay_behind() -> None:
    grudge = {"n1": ["n2"], "n2": ["n1"], "n3": []}
    faults = [
        ("start-partition", "halves", {"shape": "halves", "grudge": grudge}, "stop-partition"),
        ("pause", "one", ["n2"], "resume"),
        ("kill", "one", ["n1"], "start"),
    ]
    for fault, value, done, heal in faults:
        h = decremented(6.2, 5).nemesis(fault, value, 1.5, 1.6, done)
        assert finals(h, pn=2).check().valid is True, fault
        # healed at 1.9 s: connected again for 4 s by 5.9 s, so at 6.2 it has n2's 2.2 s state
        h = decremented(6.2, 5).nemesis(fault, value, 1.5, 1.6, done)
        h.nemesis(heal, None, 1.8, 1.9, "healed" if heal == "stop-partition" else done)
        assert names(finals(h, pn=2).check()) == {"stale-read"}, heal
    # a grudge between other nodes leaves n1 and n2 connected
    other = {"shape": "one", "grudge": {"n3": ["n4"], "n4": ["n3"]}}
    h = decremented(6.2, 5).nemesis("start-partition", "one", 1.5, 1.6, other)
    assert names(finals(h, pn=2).check()) == {"stale-read"}


def test_links_keep_the_freshness_of_a_past_connection_and_cut_on_unknown_faults() -> None:
    h = History().nemesis("pause", "one", 10, 10.1, ["n2"])
    h.nemesis("resume", None, 20, 20.2, ["n2"]).nemesis("resume", None, 21, 21.1, [])
    links = Links(sorted(h.ops, key=lambda op: op.time), 3_000_000_000)
    assert links.fresh_from("n1", "n2", 2_000_000_000) == 0  # not 3 s connected yet
    assert links.fresh_from("n1", "n2", 5_000_000_000) == 2_000_000_000
    assert links.fresh_from("n1", "n2", 15_000_000_000) == 7_000_000_000  # cut at 10 s
    assert links.fresh_from("n1", "n2", 22_000_000_000) == 7_000_000_000  # 1.8 s since 20.2
    assert links.fresh_from("n1", "n2", 24_000_000_000) == 21_000_000_000
    assert links.fresh_from("n1", "n3", 15_000_000_000) == 12_000_000_000
    assert links.fresh_from("n1", "n1", 15_000_000_000) == 15_000_000_000
    # a fault the rule does not know (or one that never completed) cuts every pair for good
    for unknown in (
        History().nemesis("start-loss", "all", 10, 10.1, "lossy"),
        History().nemesis("pause", "one", 10, 10.1, "n2?"),
        History().call(0, "n1", "g-read", None, 9, 9.1).nemesis("kill", "one", 10, 10.1, ["n2"]),
    ):
        ops = sorted(unknown.ops, key=lambda op: op.time)
        if unknown.ops[-1].f == "kill":
            ops = ops[:-1]  # the kill never completed
        links = Links(ops, 3_000_000_000)
        assert links.fresh_from("n1", "n3", 30_000_000_000) == 7_000_000_000


def test_the_stale_read_rule_looks_at_each_node_once_per_read(monkeypatch: Any) -> None:
    """2,000 reads and 2,000 adds on five nodes with a pause healed every 2 s: each read
    asks each node's freshness once, and each pair's connections are built once."""
    import checkers.crdt as crdt

    asked: list[int] = []
    real = crdt.Links.fresh_from

    def fresh_from(self: Links, a: str, b: str, t: int) -> int:
        asked.append(1)
        return real(self, a, b, t)

    built: list[frozenset[str]] = []
    real_intervals = crdt.Links._intervals

    def intervals(self: Links, pair: frozenset[str]) -> Any:
        if pair not in self._cache:
            built.append(pair)
        return real_intervals(self, pair)

    monkeypatch.setattr(crdt.Links, "fresh_from", fresh_from)
    monkeypatch.setattr(crdt.Links, "_intervals", intervals)
    h, total = History(), 0
    for i in range(2000):
        t, node = 1.0 + i / 50, f"n{i % 5 + 1}"
        h.call(0, node, "pn-add", 1, t, t + 0.001)
        total += 1
        h.call(1, node, "pn-read", None, t + 0.002, t + 0.003, result=total)
        if i % 100 == 0:
            h.nemesis("pause", "one", t + 0.004, t + 0.005, [node])
            h.nemesis("resume", None, t + 0.006, t + 0.007, [node])
    r = finals(h, pn=total).check()
    assert r.valid is True, r.anomalies
    assert len(asked) == 2000 * 5  # one per node a read's counter has adds from
    assert len(built) == len(set(built)) == 10  # the pairs of five nodes


# -- the OR-set --------------------------------------------------------------------------------


def test_an_acknowledged_add_no_remove_saw_must_stay() -> None:
    h = History().call(0, "n1", "set-add", 1, 1, 1.1, dot=["n1", 1])
    h.call(1, "n2", "set-add", 2, 1, 1.1, dot=["n2", 1])
    h.call(1, "n2", "set-remove", 2, 3, 3.1, type="info")  # may have seen 2: 2 may go
    h.call(0, "n1", "set-read", None, 2, 2.1, result=[1])  # n2's add not here yet: fine
    assert finals(h, set=[1]).check().valid is True
    lost = History().call(0, "n1", "set-add", 1, 1, 1.1, dot=["n1", 1])
    lost.call(1, "n2", "set-remove", 1, 3, 3.1, removed=[])  # did not see it
    result = finals(lost, set=[]).check()
    assert names(result) == {"lost-add"} and len(result.anomalies) == 2
    on_node = History().call(0, "n1", "set-add", 1, 1, 1.1, dot=["n1", 1])
    on_node.call(0, "n1", "set-read", None, 2, 2.1, result=[])
    result = finals(on_node, set=[1]).check()
    assert names(result) == {"lost-add"}
    assert "read on the add's node n1" in result.anomalies[0].explanation


def test_a_removed_element_must_not_come_back_without_a_new_add() -> None:
    h = History().call(0, "n1", "set-add", 1, 1, 1.1, dot=["n1", 1])
    h.call(1, "n2", "set-remove", 1, 2, 2.1, removed=[["n1", 1]])
    h.call(0, "n1", "set-read", None, 2.05, 2.06, result=[1])  # on n1 before the remove came
    assert finals(h, set=[]).check().valid is True
    final = History().call(0, "n1", "set-add", 1, 1, 1.1, dot=["n1", 1])
    final.call(1, "n2", "set-remove", 1, 2, 2.1, removed=[["n1", 1]])
    result = finals(final, set=[1]).check()
    assert names(result) == {"resurrected"}
    on_remover = History().call(0, "n1", "set-add", 1, 1, 1.1, dot=["n1", 1])
    on_remover.call(1, "n2", "set-remove", 1, 2, 2.1, removed=[["n1", 1]])
    on_remover.call(1, "n2", "set-read", None, 3, 3.1, result=[1])
    result = finals(on_remover, set=[]).check()
    assert names(result) == {"resurrected"}
    assert "came back" in result.anomalies[0].explanation


def test_an_add_the_remove_did_not_see_may_survive_it() -> None:
    h = History().call(0, "n1", "set-add", 1, 1, 1.1, dot=["n1", 1])
    h.call(2, "n3", "set-add", 1, 1.5, 1.6, dot=["n3", 1])  # concurrent with the remove
    h.call(1, "n2", "set-remove", 1, 2, 2.1, removed=[["n1", 1]])
    assert finals(h, set=[1]).check().valid is True


def test_a_set_read_of_an_element_never_added_is_unknown_element() -> None:
    h = History().call(0, "n1", "set-read", None, 1, 1.1, result=[5])
    h.call(1, "n1", "set-add", 5, 2, 2.1, dot=["n1", 1])  # only later
    result = finals(h, set=[5]).check()
    assert names(result) == {"unknown-element"}


# -- the last-writer-wins register --------------------------------------------------------------


def test_a_register_that_keeps_the_latest_writes_is_valid() -> None:
    h = History().call(0, "n1", "reg-write", 1, 1, 1.1).call(1, "n2", "reg-write", 2, 1, 1.2)
    h.call(0, "n1", "reg-read", None, 2, 2.1, result=2)  # concurrent writes: either wins
    h.call(0, "n1", "reg-write", 3, 3, 3.1).call(0, "n1", "reg-read", None, 4, 4.1, result=3)
    assert finals(h, reg=3).check().valid is True


def test_an_older_write_shown_after_a_newer_one_is_a_lost_update() -> None:
    h = History().call(1, "n2", "reg-write", 1, 1, 1.1)  # its clock was ahead
    h.call(0, "n1", "reg-write", 2, 2, 2.1)
    h.call(0, "n1", "reg-read", None, 3, 3.1, result=1)
    result = finals(h, reg=1).check()
    assert names(result) == {"lost-update"}
    assert len(result.anomalies) == 3  # the read on n1 and both final reads
    assert "reg-write 2 on n1" in result.anomalies[0].explanation


def test_a_register_read_of_a_value_never_written_is_unknown_value() -> None:
    h = History().call(0, "n1", "reg-read", None, 1, 1.1, result=9)
    result = finals(h, reg=None).check()
    assert names(result) == {"unknown-value"}


def test_each_set_read_is_looked_into_once_however_many_adds_come_before_it(
    monkeypatch: Any,
) -> None:
    """600 adds on n1, each read back in the 600 reads after it: the first read after an
    add that misses the element is found from the reads that show it, not by rereading
    every later read for every add (600 x 600 reads of up to 600 elements)."""
    import checkers.crdt as crdt

    looked: list[int] = []
    real = crdt._hashable

    def hashable(values: Any) -> list[Any]:
        looked.append(1)
        return real(values)

    monkeypatch.setattr(crdt, "_hashable", hashable)
    h, shown = History(), []
    for i in range(600):
        t = 1.0 + i / 100
        h.call(0, "n1", "set-add", i, t, t + 0.001, dot=["n1", i])
        shown.append(i)
        read = [e for e in shown if e % 100 != 99 or e == i]  # 99, 199, ... then missing
        h.call(1, "n1", "set-read", None, t + 0.002, t + 0.003, result=read)
    r = finals(h, set=shown).check()
    assert r.details["anomalies"] == {"lost-add": 5}  # 99, 199, ... 499
    assert len(looked) <= 3 * 600 + 10
