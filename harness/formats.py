"""Reading histories in the formats of other tools (``checkers.edn.write_edn`` writes EDN).

``load_history(path, format)`` turns a file into the project's ops (``harness.history.Op``):

- ``jsonl``: the project's own ``history.jsonl`` (``read_jsonl``).
- ``edn``: Jepsen / Knossos op maps (``{:type :invoke, :f :write, :value 3, :process 0}``),
  one per line, several per line, or inside one vector or list (comments aside), as Knossos'
  ``read-history`` takes them. The linearizability checker reads their values as Knossos does
  (``SEMANTICS``, ``default_semantics``).
- ``porcupine-etcd``: Jepsen log lines as in Porcupine's etcd test data,
  ``INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]``.
- ``elle-json``: elle-cli's JSON, an array of op objects (``read_elle_json``).
- ``porcupine-kv``: one EDN map per line with a ``:key``,
  ``{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}``.
- ``auto``: decides from the first lines (see ``detect_format``).

Conversions to the project's conventions:

- keywords become plain strings (``:write`` -> ``"write"``, ``:nemesis`` -> ``"nemesis"``);
  ``index`` is the position when the file has none, ``time`` is 0 when absent.
- ``porcupine-kv`` ops get the independent-key value ``[key, v]``.
- ``porcupine-etcd`` follows Porcupine's reading of those logs, which differs from Knossos:
  a ``:fail :cas`` *happened* and found the compare false, so it becomes an ``ok`` cas with
  the extra field ``"result": false`` (the cas-register model then requires the register to
  differ from the expected value at that point, and leaves it unchanged). A ``:fail :read``
  with ``:timed-out`` is indeterminate and becomes ``info``. An ``:info`` completion carries
  the value of its invocation and the reason in ``error`` (``"timed-out"``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from checkers import edn
from harness.history import NEMESIS, TYPES, HistoryError, Op, read_jsonl

__all__ = [
    "FORMATS",
    "SEMANTICS",
    "default_semantics",
    "detect_format",
    "load_history",
    "read_elle_json",
]

FORMATS = ("auto", "jsonl", "edn", "elle-json", "porcupine-etcd", "porcupine-kv")

SEMANTICS = {
    "jsonl": "splitbrain",
    "elle-json": "splitbrain",
    "edn": "knossos",
    "porcupine-etcd": "splitbrain",
    "porcupine-kv": "splitbrain",
}
"""How the linearizability checker reads op values of each format by default (the
semantics of ``checkers.linearizable.models.SEMANTICS``): Jepsen and Knossos EDN histories as
Knossos does (a nil read is a read whose value is not known); the project's own jsonl, and
Porcupine's logs as Porcupine does, with a nil read meaning the register held nil."""

_LOG_LINE = re.compile(
    r"^\s*INFO\s+jepsen\.util\s+-\s+(?P<process>\S+)\s+:(?P<type>\S+)\s+:(?P<f>\S+)\s*(?P<value>.*)$"
)
_OTHER_LOG_LINE = re.compile(r"^\s*(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\s+\S+\s+-\s")
_ETCD_SHAPE = "INFO  jepsen.util - <process>\\t:<type>\\t:<f>\\t<value>"


def load_history(path: str | Path, format: str = "auto") -> list[Op]:
    """Read the history at ``path`` in ``format`` (one of ``FORMATS``) as a list of ops.

    Raises HistoryError naming the file, the line and what was expected when the input is
    malformed, and ValueError for a format name that does not exist.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown history format {format!r}; allowed: {', '.join(FORMATS)}")
    source = str(path)
    if format == "auto":
        format = detect_format(path)
    if format == "jsonl":
        return read_jsonl(path)
    if format == "elle-json":
        return read_elle_json(path)
    text = Path(path).read_text(encoding="utf-8")
    if format == "porcupine-etcd":
        return _read_etcd_log(text, source)
    return _read_edn_ops(text, source, keyed=format == "porcupine-kv")


def default_semantics(path: str | Path, format: str = "auto") -> str:
    """The semantics (``SEMANTICS``) for the history at ``path`` read as ``format``."""
    return SEMANTICS[detect_format(path) if format == "auto" else format]


def detect_format(path: str | Path) -> str:
    """Guess the format of the file at ``path`` from its first non-blank lines.

    A JSON object -> ``jsonl``; a JSON array of op objects -> ``elle-json``; a Jepsen log
    line -> ``porcupine-etcd``; an EDN map with ``:key`` -> ``porcupine-kv``; any other EDN
    map, vector or list -> ``edn``.
    """
    source = str(path)
    with open(path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith(";"):
                continue
            if _LOG_LINE.match(line) or _OTHER_LOG_LINE.match(line):
                return "porcupine-etcd"
            if line.startswith("{"):
                try:
                    if isinstance(json.loads(line), dict):
                        return "jsonl"
                except json.JSONDecodeError:
                    pass
                return "porcupine-kv" if re.search(r"(^|[\s,{]):key[\s,]", line) else "edn"
            if line[0] == "[" and (line == "[" or line[1:].lstrip().startswith('{"')):
                return "elle-json"
            if line[0] in "[(":
                return "edn"
            raise HistoryError(
                source,
                n,
                f"cannot tell the format from {_clip(line)!r}: expected a JSON "
                "object (jsonl), an EDN op map or vector (edn, porcupine-kv) or a Jepsen log "
                f"line ({_ETCD_SHAPE}); pass the format explicitly",
            )
    raise HistoryError(source, 1, "the file is empty: expected at least one operation")


def read_elle_json(path: str | Path) -> list[Op]:
    """Read a history in elle-cli's JSON format: one JSON array of op objects (or one object
    per line) with string ``type`` and ``f``. As elle-cli, a missing ``f`` on an op whose value
    is a list of micro-ops means ``txn``; a missing ``process`` is 0, a missing ``index`` the
    position and a missing ``time`` 0. Raises HistoryError naming the line of a bad op."""
    source = str(path)
    text = Path(path).read_text(encoding="utf-8")
    items: list[Any]
    try:
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        items = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise HistoryError(source, n, f"not valid JSON ({e.msg})") from None
    ops = []
    for i, d in enumerate(items):
        if not isinstance(d, dict):
            raise HistoryError(source, i + 1, f"expected an op object, got {type(d).__name__}")
        d = dict(d)
        if "f" not in d and _looks_like_txn(d.get("value")):
            d["f"] = "txn"
        d.setdefault("process", 0)
        d.setdefault("index", i)
        d.setdefault("time", 0)
        ops.append(Op.from_dict(d, source, i + 1))
    return ops


def _looks_like_txn(v: Any) -> bool:
    return (
        isinstance(v, list)
        and bool(v)
        and all(isinstance(m, list) and len(m) == 3 and isinstance(m[0], str) for m in v)
    )


# -- EDN op maps (Jepsen / Knossos, Porcupine kv) ------------------------------------------------


def _read_edn_ops(text: str, source: str, *, keyed: bool) -> list[Op]:
    try:
        values = edn.read_items(text)
    except edn.EdnError as e:
        raise HistoryError(source, e.line, f"not valid EDN ({e.problem})") from None
    ops: list[Op] = []
    for position, (line, m) in enumerate(values):
        ops.append(_edn_op(m, source, line, position, keyed))
    return ops


def _edn_op(m: Any, source: str, line: int, position: int, keyed: bool) -> Op:
    shape = "{:process P, :type :invoke, :f :read, :value nil}"
    if not isinstance(m, dict):
        raise HistoryError(
            source, line, f"expected an op map like {shape}, got {_clip(edn.dumps(m))}"
        )
    m = _elle_defaults(m)
    missing = [k for k in ("type", "f", "process") if k not in m]
    if keyed and "key" not in m:
        missing.append("key")
    if missing:
        names = ", ".join(":" + k for k in missing)
        raise HistoryError(source, line, f"op map lacks {names}; expected a map like {shape}")
    t = m["type"]
    if not isinstance(t, str) or t not in TYPES:
        raise HistoryError(source, line, f":type is {_edn(t)}; allowed: :invoke, :ok, :fail, :info")
    process = m["process"]
    if isinstance(process, str) and process == NEMESIS:
        process = NEMESIS
    elif not isinstance(process, int) or isinstance(process, bool):
        raise HistoryError(
            source, line, f":process is {_edn(process)}; expected an int or :nemesis"
        )
    f = m["f"]
    if not isinstance(f, str) or isinstance(f, bool):
        raise HistoryError(source, line, f":f is {_edn(f)}; expected a keyword such as :read")
    index, time = m.get("index", position), m.get("time", 0)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise HistoryError(source, line, f":index is {_edn(index)}; expected an int >= 0")
    if not isinstance(time, int) or isinstance(time, bool):
        raise HistoryError(source, line, f":time is {_edn(time)}; expected an int (ns)")
    value = _plain(m.get("value"))
    if keyed:
        value = [_plain(m["key"]), value]
    node, error = m.get("node"), m.get("error")
    known = {"type", "f", "process", "index", "time", "value", "node", "error", "key"}
    extra = {str(k): _plain(v) for k, v in m.items() if k not in known}
    return Op(
        type=str(t),
        f=str(f),
        value=value,
        process=process,
        time=time,
        index=index,
        node=None if node is None else str(node),
        error=None
        if error is None
        else (str(error) if isinstance(error, str) else edn.dumps(error)),
        extra=extra,
    )


def _elle_defaults(m: dict[Any, Any]) -> dict[Any, Any]:
    """Elle's test histories leave out what Elle does not need: ``:f`` of a transaction (its
    value is a list of micro-ops) and ``:process`` of a single-process history. Fill those in
    as Elle reads them (``txn``, process 0); anything else missing is an error."""
    if "f" not in m and _is_txn(m.get("value")):
        m = {**m, "f": "txn"}
    if "process" not in m and "type" in m:
        m = {**m, "process": 0}
    return m


def _is_txn(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(x, list) and len(x) == 3 and isinstance(x[0], edn.Keyword) for x in v
    )


def _plain(v: Any) -> Any:
    """EDN values as the project's JSON-like values: keywords and symbols become strings."""
    if isinstance(v, str):
        return str(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {_plain_key(k): _plain(x) for k, x in v.items()}
    return v


def _plain_key(k: Any) -> Any:
    if isinstance(k, str):
        return str(k)
    if isinstance(k, tuple):
        return edn.dumps(list(k))
    return k


# -- Porcupine's etcd logs -----------------------------------------------------------------------


def _read_etcd_log(text: str, source: str) -> list[Op]:
    ops: list[Op] = []
    pending: dict[int | str, Op] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        m = _LOG_LINE.match(line)
        if m is None:
            if _OTHER_LOG_LINE.match(line) and "jepsen.util" not in line.split(" - ")[0]:
                continue  # other loggers' lines in a Jepsen log carry no operations
            raise HistoryError(
                source, n, f"expected a Jepsen log line {_ETCD_SHAPE}, got {_clip(line)!r}"
            )
        op = _etcd_op(m, source, n, len(ops), pending)
        ops.append(op)
        if op.type == "invoke":
            pending[op.process] = op
        else:
            pending.pop(op.process, None)
    return ops


def _etcd_op(m: re.Match[str], source: str, n: int, index: int, pending: dict[Any, Op]) -> Op:
    p, t, f, raw = m["process"], m["type"], m["f"], m["value"].strip()
    process: int | str
    if p.lstrip("-").isdigit():
        process = int(p)
    elif p == ":nemesis":
        process = NEMESIS
    else:
        raise HistoryError(source, n, f"process is {p!r}; expected an int or :nemesis")
    if t not in TYPES:
        raise HistoryError(source, n, f"type is :{t}; allowed: :invoke, :ok, :fail, :info")
    try:
        value = _plain(edn.loads(raw)) if raw else None
    except edn.EdnError as e:
        raise HistoryError(source, n, f"value {raw!r} is not EDN ({e.problem})") from None
    op = Op(type=t, f=f, value=value, process=process, time=index, index=index)
    invoke = pending.get(process)
    if t == "info" or (t == "fail" and f == "read" and value == "timed-out"):
        # Indeterminate: keep the invocation's value, say why in `error`.
        op.type = "info"
        op.error = value if isinstance(value, str) else None
        op.value = invoke.value if invoke is not None else None
    elif t == "fail" and f == "cas":
        # Porcupine's etcd semantics: the cas happened and its compare was false.
        op.type = "ok"
        op.extra = {"result": False}
    return op


def _edn(v: Any) -> str:
    return _clip(edn.dumps(v))


def _clip(s: str, n: int = 80) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."
