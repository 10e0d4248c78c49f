"""Op.complete keeps the invocation's extra fields and adds the client's evidence."""

from __future__ import annotations

import pytest

from harness.history import Op


def test_a_completion_carries_the_invocations_extra_and_the_evidence_given() -> None:
    invoke = Op("invoke", "write", ["k", 1], 3, node="n1", extra={"attempt": 2})
    done = invoke.complete("ok", ["k", 1], extra={"revision": 41})
    assert (done.type, done.process, done.node, done.f) == ("ok", 3, "n1", "write")
    assert done.extra == {"attempt": 2, "revision": 41}
    assert done.to_dict()["revision"] == 41 and done.to_dict()["attempt"] == 2
    assert invoke.extra == {"attempt": 2}  # the invocation's own dict is not shared


def test_changing_a_completions_extra_leaves_the_invocation_alone() -> None:
    invoke = Op("invoke", "dequeue", None, 0)
    done = invoke.complete("ok", 5)
    done.extra["msg_id"] = 9
    assert invoke.extra == {} and Op.from_dict(done.to_dict() | {"index": 1}).extra == {"msg_id": 9}


def test_an_extra_field_that_would_hide_an_ops_own_is_refused() -> None:
    with pytest.raises(ValueError, match="extra field.s. value would hide"):
        Op("invoke", "read", None, 0).complete("ok", 1, extra={"value": 2})
