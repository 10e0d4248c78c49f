"""The history: every invocation and completion of a test, one JSON object per line.

This module is the shared vocabulary of the project. It depends on nothing else here, so that
checkers can read histories without importing the controller.

Fields (see DESIGN.md, "History"): ``index``, ``time`` (ns since the test started),
``type`` (invoke / ok / fail / info), ``process`` (int, or "nemesis"), ``f``, ``value``,
and optionally ``node`` and ``error``; any other field of a line is the op's ``extra``
(evidence a client recorded: ``op.complete("ok", v, extra={"revision": 7})``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

try:  # optional: encodes a line about 4 times faster (bench/runner_throughput.py)
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard library does the same, slower
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "NEMESIS",
    "TYPES",
    "HistoryError",
    "Journal",
    "Op",
    "OpType",
    "client_pairs",
    "pair_index",
    "read_jsonl",
]

OpType = Literal["invoke", "ok", "fail", "info"]
TYPES: frozenset[str] = frozenset({"invoke", "ok", "fail", "info"})
NEMESIS = "nemesis"

_REQUIRED = ("index", "time", "type", "process", "f")
_KNOWN = frozenset({*_REQUIRED, "value", "node", "error"})


class HistoryError(ValueError):
    """A history that is not a list of operations: names the file, the line and the problem."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source}:{line}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


@dataclass(slots=True)
class Op:
    """One line of a history: an invocation or a completion."""

    type: str
    f: str
    value: Any = None
    process: int | str = 0
    time: int = 0
    index: int = -1
    node: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_invoke(self) -> bool:
        return self.type == "invoke"

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS

    def complete(
        self,
        type: str,
        value: Any = None,
        error: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> Op:
        """The completion of this invocation, with the same process, f and node, and its
        ``extra`` (a copy) together with ``extra``: evidence the system returned (a revision,
        the member that answered), written with the op as fields of its own. Raises
        ValueError for an ``extra`` key that is a field of every op (``value``, ``node``...)."""
        fields = {**self.extra, **extra} if extra else dict(self.extra)
        clash = sorted(_KNOWN.intersection(fields))
        if clash:
            raise ValueError(
                f"extra field(s) {', '.join(clash)} would hide the op's own; "
                f"extra takes other names (every op has {', '.join(sorted(_KNOWN))})"
            )
        return Op(type, self.f, value, self.process, 0, -1, self.node, error, fields)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "type": self.type,
            "process": self.process,
            "f": self.f,
            "value": self.value,
        }
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        if self.extra:
            d.update(self.extra)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

    def to_line(self) -> bytes:
        """This op as a line of ``history.jsonl``, newline included: compact JSON, what
        ``to_json`` gives (orjson, when installed, writes non-ASCII as UTF-8, not escaped)."""
        return _encode_line(self.to_dict())

    @staticmethod
    def _from_line(d: Any) -> Op | None:
        """``from_dict`` for a well-formed line, in one pass; None for anything else (which
        ``from_dict`` then explains)."""
        if type(d) is not dict:
            return None
        t, idx, tm, p, f = (
            d.get("type"),
            d.get("index"),
            d.get("time"),
            d.get("process"),
            d.get("f"),
        )
        node, error = d.get("node"), d.get("error")
        if not (
            t in TYPES
            and type(idx) is int
            and idx >= 0
            and type(tm) is int
            and (type(p) is int or p == NEMESIS)
            and type(f) is str
            and f
            and (node is None or type(node) is str)
            and (error is None or type(error) is str)
        ):
            return None
        known = 5 + ("value" in d) + ("node" in d) + ("error" in d)
        extra = {k: v for k, v in d.items() if k not in _KNOWN} if len(d) > known else {}
        return Op(t, f, d.get("value"), p, tm, idx, node, error, extra)

    @classmethod
    def from_dict(cls, d: Any, source: str = "<history>", line: int = 0) -> Op:
        """Validate one decoded line; raises HistoryError naming what is wrong."""
        if not isinstance(d, dict):
            raise HistoryError(source, line, f"expected a JSON object, got {type(d).__name__}")
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise HistoryError(
                source, line, f"missing field(s) {', '.join(missing)}; an op has {_fields_doc()}"
            )
        t = d["type"]
        if t not in TYPES:
            raise HistoryError(
                source, line, f"field 'type' is {t!r}; allowed: invoke, ok, fail, info"
            )
        idx, tm, p, f = d["index"], d["time"], d["process"], d["f"]
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise HistoryError(source, line, f"field 'index' is {idx!r}; expected an int >= 0")
        if not isinstance(tm, int) or isinstance(tm, bool):
            raise HistoryError(source, line, f"field 'time' is {tm!r}; expected an int (ns)")
        if not (isinstance(p, int) and not isinstance(p, bool)) and p != NEMESIS:
            raise HistoryError(
                source, line, f"field 'process' is {p!r}; expected an int or \"nemesis\""
            )
        if not isinstance(f, str) or not f:
            raise HistoryError(source, line, f"field 'f' is {f!r}; expected a non-empty string")
        node, error = d.get("node"), d.get("error")
        if node is not None and not isinstance(node, str):
            raise HistoryError(source, line, f"field 'node' is {node!r}; expected a string")
        if error is not None and not isinstance(error, str):
            error = json.dumps(error)
        extra = {k: v for k, v in d.items() if k not in _KNOWN}
        return cls(
            type=t,
            f=f,
            value=d.get("value"),
            process=p,
            time=tm,
            index=idx,
            node=node,
            error=error,
            extra=extra,
        )


def _json_line(d: dict[str, Any]) -> bytes:
    return (json.dumps(d, separators=(",", ":"), default=str) + "\n").encode()


def _orjson_line(d: dict[str, Any]) -> bytes:
    assert _orjson is not None
    try:
        line: bytes = _orjson.dumps(d, default=str, option=_orjson.OPT_APPEND_NEWLINE)
        return line
    except TypeError:  # what orjson refuses (an int past 64 bits, a non-str key): json
        return _json_line(d)


_encode_line: Callable[[dict[str, Any]], bytes] = _json_line if _orjson is None else _orjson_line


def _fields_doc() -> str:
    return 'index (int), time (int ns), type, process (int or "nemesis"), f (str), value'


def read_jsonl(path: str | Path, *, tolerate_torn_tail: bool = True) -> list[Op]:
    """Read a history.jsonl. A last line cut off mid-write (a killed controller) is dropped
    when ``tolerate_torn_tail``; any other malformed line raises HistoryError."""
    source = str(path)
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    last = len(lines)
    if lines and not lines[-1].strip():
        lines.pop()  # after the last newline: nothing, or blanks
        last = 0  # every line kept ends with a newline: none is torn
    loads = _orjson.loads if _orjson is not None else json.loads
    ops: list[Op] = []
    append, fast = ops.append, Op._from_line
    for n, raw in enumerate(lines, start=1):
        try:
            d = loads(raw)
        except ValueError:  # a blank line, or not JSON: the standard library says why
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                d = json.loads(text)
            except json.JSONDecodeError as e:
                if n == last and tolerate_torn_tail:
                    break
                msg = f"not valid JSON ({e.msg} at column {e.colno})"
                raise HistoryError(source, n, msg) from None
        append(fast(d) or Op.from_dict(d, source, n))
    return ops


def pair_index(history: list[Op]) -> dict[int, int]:
    """Map the position of each invocation to the position of its completion (and back).

    A process has at most one outstanding invocation; the next op of the same process
    completes it. Invocations with no completion are absent from the map.
    """
    pending: dict[int | str, int] = {}
    pairs: dict[int, int] = {}
    for i, op in enumerate(history):
        if op.type == "invoke":
            pending[op.process] = i
        else:
            j = pending.pop(op.process, None)
            if j is not None:
                pairs[j] = i
                pairs[i] = j
    return pairs


def client_pairs(history: list[Op]) -> Iterator[tuple[Op, Op]]:
    """(invocation, completion) of every client operation that completed, in the order of
    the completions (the nemesis' ops are left out)."""
    pending: dict[int | str, Op] = {}
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if inv is not None:
            yield inv, op


class Journal:
    """Appends ops to ``history.jsonl`` as they happen, one line each, written by one
    ``write`` to an unbuffered file as the op happens (nothing waits in a buffer).

    Thread safe: the index and the time are assigned under the journal's lock, so the file is
    in index order. Keeps the ops in memory too, for the checkers.

    A write that fails (a full disk, a read-only file system) does not raise into the worker
    that made the op: the journal keeps the first such OSError in ``error``, stops writing the
    file (whose last line may be torn) and keeps every op in memory. The controller watches
    ``error`` and stops the run.
    """

    def __init__(self, path: str | Path, clock_ns: Any) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] = open(self.path, "ab", buffering=0)
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self.ops: list[Op] = []
        self.error: OSError | None = None

    def append(self, op: Op) -> Op:
        with self._lock:
            op.index = len(self.ops)
            op.time = self._clock_ns()
            self.ops.append(op)
            if self.error is None:
                try:
                    self._fh.write(op.to_line())
                except OSError as e:
                    self.error = e
                    self._close_quietly()
        return op

    def close(self) -> None:
        """Flush and close the file; raises nothing for a file that could not be written."""
        with self._lock:
            if not self._fh.closed:
                try:
                    self._fh.flush()
                except OSError as e:
                    self.error = self.error or e
                self._close_quietly()

    def _close_quietly(self) -> None:
        # closing flushes what is buffered, which fails again on a full disk: the descriptor
        # is released all the same, and the lines are in memory
        try:
            self._fh.close()
        except OSError:
            pass
