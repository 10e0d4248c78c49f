"""The actor checker on hand-made histories: one valid and one invalid history per rule
(single activation, linearizable per actor, sender order, applied twice)."""

from __future__ import annotations

from typing import Any

from checkers.actor import ActorChecker, messages_of
from harness.history import Op


class History:
    """Builds an actor history: each ``msg`` is an invocation and its completion, at times
    in milliseconds."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.seqs: dict[int, int] = {}

    def msg(
        self,
        process: int,
        f: str,
        actor: str,
        arg: Any = None,
        *,
        at: tuple[int, int],
        result: Any = None,
        epoch: int = 1,
        host: str = "n1",
        n: int = 0,
        type: str = "ok",
        seq: int | None = None,
    ) -> History:
        self.seqs[process] = seq if seq is not None else self.seqs.get(process, 0) + 1
        known = {"sender": f"p{process}", "seq": self.seqs[process]}
        inv = Op("invoke", f, [actor, arg], process, at[0] * 1_000_000)
        if type != "ok":
            done = Op(type, f, [actor, arg], process, at[1] * 1_000_000, extra=known)
        else:
            extra: dict[str, Any] = {**known, "epoch": epoch, "host": host, "n": n}
            value = [actor, result]
            if f == "append":
                extra["len"], value = result, [actor, arg]
            done = Op("ok", f, value, process, at[1] * 1_000_000, extra=extra)
        self.ops += [inv, done]
        return self

    def history(self) -> list[Op]:
        ops = sorted(self.ops, key=lambda o: (o.time, o.type != "invoke"))
        for i, op in enumerate(ops):
            op.index = i
        return ops


def check(h: History) -> Any:
    return ActorChecker().check(h.history(), {})


def names(result: Any) -> list[str]:
    return sorted({a.name for a in result.anomalies})


def moved() -> History:
    """An actor that moves from n1 (epoch 1) to n2 (epoch 7) and keeps its state."""
    return (
        History()
        .msg(0, "increment", "a1", at=(0, 10), result=1, n=1)
        .msg(1, "append", "a1", 5, at=(5, 15), result=1, n=2)
        .msg(0, "read", "a1", at=(20, 30), result={"count": 1, "log": [5]}, n=2)
        .msg(1, "increment", "a1", at=(40, 60), result=2, epoch=7, host="n2", n=3)
        .msg(0, "read", "a1", at=(70, 80), result={"count": 2, "log": [5]}, epoch=7, host="n2", n=3)
    )


def test_an_actor_that_moves_and_keeps_its_state_is_valid() -> None:
    result = check(moved())
    assert result.valid is True, [a.explanation for a in result.anomalies]
    d = result.details
    assert (d["actors"], d["messages-ok"], d["activations-seen"], d["actors-moved"]) == (1, 5, 2, 1)


def test_messages_of_reads_each_completion_and_its_activation() -> None:
    msgs = messages_of(moved().history())
    assert [(m.f, m.sender, m.seq, m.epoch, m.host, m.n) for m in msgs][:2] == [
        ("increment", "p0", 1, 1, "n1", 1),
        ("append", "p1", 1, 1, "n1", 2),
    ]
    assert msgs[1].result == 1 and msgs[1].arg == 5


def test_an_older_epoch_answering_after_a_newer_one_is_a_double_activation() -> None:
    h = moved().msg(2, "read", "a1", at=(90, 95), result={"count": 1, "log": [5]}, n=2)
    result = check(h)
    assert result.valid is False
    overlap = [a for a in result.anomalies if a.data.get("evidence") == "overlap"]
    assert len(overlap) == 1, [a.explanation for a in result.anomalies]
    text = overlap[0].explanation
    assert "a1" in text and "epoch 1" in text and "epoch 7" in text and "0.090 s" in text
    assert "nonlinearizable" in names(result)  # the stale read is also not linearizable


def test_concurrent_ops_of_two_epochs_are_not_an_overlap() -> None:
    h = (
        History()
        .msg(0, "increment", "a1", at=(0, 50), result=1, epoch=7, host="n2", n=1)
        .msg(1, "read", "a1", at=(10, 40), result={"count": 0, "log": []}, epoch=1, n=0)
    )
    assert check(h).valid is True


def test_one_epoch_answered_by_two_hosts_is_a_double_activation() -> None:
    h = (
        History()
        .msg(0, "increment", "a1", at=(0, 10), result=1, n=1)
        .msg(1, "read", "a1", at=(20, 30), result={"count": 1, "log": []}, host="n3", n=1)
    )
    result = check(h)
    assert [a.data["evidence"] for a in result.anomalies] == ["epoch-two-hosts"]
    assert "n1" in result.anomalies[0].explanation and "n3" in result.anomalies[0].explanation


def test_two_messages_applied_as_one_message_number_is_a_double_activation() -> None:
    h = (
        History()
        .msg(0, "increment", "a1", at=(0, 10), result=1, n=1)
        .msg(1, "increment", "a1", at=(0, 10), result=1, epoch=7, host="n2", n=1)
    )
    result = check(h)
    same = [a for a in result.anomalies if a.data.get("evidence") == "same-position"]
    assert len(same) == 1 and "message 1" in same[0].explanation
    assert "nonlinearizable" in names(result)


def test_a_lost_increment_is_not_linearizable() -> None:
    h = (
        History()
        .msg(0, "increment", "a1", at=(0, 10), result=1, n=1)
        .msg(0, "increment", "a1", at=(20, 30), result=2, n=2)
        .msg(1, "read", "a1", at=(40, 50), result={"count": 1, "log": []}, epoch=7, n=2)
    )
    result = check(h)
    assert names(result) == ["nonlinearizable"]
    assert "a1" in result.anomalies[0].explanation


def test_an_indeterminate_append_may_show_up_later() -> None:
    h = (
        History()
        .msg(0, "append", "a1", 9, at=(0, 10), type="info")
        .msg(1, "read", "a1", at=(20, 30), result={"count": 0, "log": []}, n=0)
        .msg(1, "read", "a1", at=(40, 50), result={"count": 0, "log": [9]}, n=1)
    )
    assert check(h).valid is True


def test_a_senders_later_message_applied_before_its_earlier_one_breaks_sender_order() -> None:
    h = (
        History()
        .msg(0, "append", "a1", 1, at=(0, 10), result=2, n=2)
        .msg(0, "append", "a1", 2, at=(20, 30), result=1, n=1)
    )
    result = check(h)
    order = [a for a in result.anomalies if a.name == "sender-order"]
    assert [a.data["evidence"] for a in order] == ["positions"]
    assert "p0's message 2" in order[0].explanation


def test_a_log_with_a_senders_values_out_of_order_breaks_sender_order() -> None:
    h = (
        History()
        .msg(0, "append", "a1", 1, at=(0, 10), type="info")
        .msg(1, "append", "a1", 2, at=(20, 30), type="info", seq=2)
        .msg(2, "read", "a1", at=(40, 50), result={"count": 0, "log": [2, 1]}, n=2)
    )
    h.ops[3].extra["sender"] = "p0"  # both appends from one sender: p0's messages 1 and 2
    result = check(h)
    order = [a for a in result.anomalies if a.name == "sender-order"]
    assert [a.data["evidence"] for a in order] == ["log"], [a.explanation for a in result.anomalies]
    assert "value 1 (message 1) after its value 2 (message 2)" in order[0].explanation


def test_a_value_twice_in_a_log_was_applied_twice() -> None:
    h = (
        History()
        .msg(0, "append", "a1", 4, at=(0, 10), type="info")
        .msg(1, "read", "a1", at=(20, 30), result={"count": 0, "log": [4, 4]}, n=2)
    )
    result = check(h)
    twice = [a for a in result.anomalies if a.name == "applied-twice"]
    assert [a.data["evidence"] for a in twice] == ["log"] and twice[0].data["value"] == 4
    assert "holds 4 2 times" in twice[0].explanation


def test_a_count_above_the_increments_sent_was_applied_twice() -> None:
    h = (
        History()
        .msg(0, "increment", "a1", at=(0, 10), type="info")
        .msg(2, "increment", "a1", at=(0, 10), type="fail")
        .msg(1, "read", "a1", at=(20, 30), result={"count": 2, "log": []}, n=2)
        .msg(0, "increment", "a1", at=(40, 50), type="info")
    )
    result = check(h)
    twice = [a for a in result.anomalies if a.name == "applied-twice"]
    assert [a.data["evidence"] for a in twice] == ["count"]
    assert "count 2, but only 1 increments" in twice[0].explanation


def test_a_count_within_the_increments_sent_is_valid() -> None:
    h = (
        History()
        .msg(0, "increment", "a1", at=(0, 10), type="info")
        .msg(2, "increment", "a1", at=(0, 10), result=1, n=1)
        .msg(1, "read", "a1", at=(20, 30), result={"count": 2, "log": []}, n=2)
    )
    assert check(h).valid is True


def test_appends_of_unknown_outcome_are_settled_from_the_reads() -> None:
    h = History()
    for k in range(10):  # ten appends whose outcome is unknown (a paused host), then a read
        h.msg(k, "append", "a1", 100 + k, at=(k, 20), type="info")
    order = [100 + k for k in (3, 1, 4, 0, 5, 9, 2, 6, 8)]  # 107 never shows
    h.msg(20, "read", "a1", at=(30, 40), result={"count": 0, "log": order}, n=9)
    h.msg(20, "append", "a1", 1, at=(50, 60), result=10, n=10)
    result = check(h)
    assert result.valid is True
    assert result.details["appends-settled"] == {"seen-in-a-read": 9, "never-seen": 1}
    late = History().msg(0, "append", "a1", 5, at=(0, 10), type="info")
    late.msg(1, "read", "a1", at=(20, 30), result={"count": 0, "log": []}, n=0)
    late.msg(1, "read", "a1", at=(40, 50), result={"count": 0, "log": [5]}, n=1)
    late.msg(1, "read", "a1", at=(60, 70), result={"count": 0, "log": []}, n=1)
    assert names(check(late)) == ["nonlinearizable"]  # seen, then gone
