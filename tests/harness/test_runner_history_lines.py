"""The runner's history file: each op a line on disk as soon as it is journaled, and read
back (read_jsonl's one-pass path, orjson or json) as from_dict reads it, bad lines named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.history import HistoryError, Journal, Op, read_jsonl


def test_each_op_is_on_disk_when_append_returns(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    journal = Journal(path, lambda: 7)
    inv = journal.append(Op("invoke", "write", 3, 1, node="n1"))
    assert path.read_text().splitlines() == [inv.to_json()]  # no close, no flush needed
    journal.append(inv.complete("ok", 3, extra={"revision": 9}))
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["revision"] == 9
    journal.close()


LINES = [
    {"index": 0, "time": 1, "type": "invoke", "process": 0, "f": "read", "value": None},
    {"index": 1, "time": 2, "type": "ok", "process": 0, "f": "read", "value": [1, "é"]},
    {"index": 2, "time": 3, "type": "info", "process": "nemesis", "f": "kill", "node": "n2"},
    {"index": 3, "time": 4, "type": "fail", "process": 2, "f": "cas", "error": "timeout"},
    {"index": 4, "time": 5, "type": "ok", "process": 2, "f": "w", "rev": 3, "node": "n1"},
    {"index": 5, "time": 6, "type": "ok", "process": 3, "f": "w", "value": 2**70},
    {"index": 6, "time": 7, "type": "ok", "process": 3, "f": "w", "rev": 1},  # no value
]


def test_read_jsonl_reads_each_line_as_from_dict_does(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in LINES) + "\n")
    assert read_jsonl(path) == [Op.from_dict(d) for d in LINES]


def test_lines_written_by_the_journal_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    journal = Journal(path, lambda: 5)
    ops = [journal.append(Op.from_dict(d)) for d in LINES]
    journal.close()
    assert read_jsonl(path) == ops


def test_a_torn_last_line_is_dropped_and_a_bad_line_named(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    good = json.dumps(LINES[0])
    path.write_text(good + "\n\n" + good + '\n{"index": 1, "ti')
    assert len(read_jsonl(path)) == 2
    with pytest.raises(HistoryError, match=r"h.jsonl:4: not valid JSON"):
        read_jsonl(path, tolerate_torn_tail=False)
    path.write_text(good + "\n{oops}\n" + good + "\n")
    with pytest.raises(HistoryError, match=r"h.jsonl:2: not valid JSON"):
        read_jsonl(path)
    path.write_text(good + '\n{"index": 1, "time": 1, "type": "done", "process": 0, "f": "r"}\n')
    with pytest.raises(HistoryError, match=r"h.jsonl:2: field 'type' is 'done'"):
        read_jsonl(path)
