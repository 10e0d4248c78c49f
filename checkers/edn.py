"""A small EDN reader and writer: enough for Jepsen, Knossos, Porcupine and elle-cli histories.

It lives among the checkers because the elle-cli bridge writes histories as EDN
(``write_edn``) and checkers import only the base layer; ``harness.formats`` reads histories
with it. It imports nothing of the project but ``harness.history``.

Reading maps EDN onto plain Python values: ``nil`` -> None, booleans, ints, floats, strings,
keywords -> :class:`Keyword` (a ``str`` subclass, so ``Keyword("ok") == "ok"``), symbols ->
:class:`Symbol`, vectors and lists -> ``list``, sets -> ``list`` (in the order read), maps ->
``dict`` (a vector used as a key becomes a tuple), tagged literals (``#inst "..."``) -> the
tagged value. Writing does the reverse; a ``str`` that is not a Keyword is written as a string.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.history import NEMESIS, Op

__all__ = [
    "EdnError",
    "Keyword",
    "Symbol",
    "dumps",
    "iter_values",
    "keyword_or_string",
    "loads",
    "op_to_edn",
    "read_items",
    "write_edn",
]


class Keyword(str):
    """An EDN keyword such as ``:ok``, held without its colon. Equal to the plain string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Keyword({str.__repr__(self)})"


class Symbol(str):
    """An EDN symbol such as ``foo`` (rare in histories)."""

    __slots__ = ()


class EdnError(ValueError):
    """Text that is not EDN. ``line`` is 1-based; ``problem`` says what was expected."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


def loads(text: str) -> Any:
    """Parse exactly one EDN value from ``text``."""
    values = list(iter_values(text))
    if len(values) != 1:
        raise EdnError(1, f"expected exactly one EDN value, found {len(values)}")
    return values[0][1]


def iter_values(text: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, value)`` for each top-level EDN value in ``text``."""
    reader = _Reader(text)
    while True:
        reader.skip_space()
        if reader.pos >= len(text):
            return
        line = reader.line_of(reader.pos)
        yield line, reader.read()


def read_items(text: str) -> list[tuple[int, Any]]:
    """``(line, value)`` for each element when ``text`` holds one vector or list and nothing
    else (comments aside), as Knossos reads a history written as one collection of op maps;
    otherwise for each top-level value, as ``iter_values``. Lines are each element's own."""
    reader = _Reader(text)
    reader.skip_space()
    start = reader.pos
    if start < len(text) and text[start] in "([":
        reader.pos += 1
        items = reader.read_seq_lines(_CLOSE[text[start]], start)
        reader.skip_space()
        if reader.pos >= len(text):
            return items
    return list(iter_values(text))


def dumps(value: Any) -> str:
    """Write ``value`` as EDN text on one line."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def write_edn(history: list[Op], path: str | Path) -> None:
    """Write ``history`` as EDN op maps, one per line, readable by Jepsen, Knossos, elle-cli.

    ``type``, ``f`` and ``process`` "nemesis" become keywords, as does the function of each
    micro-op of a ``txn`` (``["append", "x", 3]`` -> ``[:append "x" 3]``).
    """
    with open(path, "w", encoding="utf-8") as fh:
        for op in history:
            fh.write(op_to_edn(op) + "\n")


def op_to_edn(op: Op) -> str:
    """One op as an EDN map on one line."""
    parts = [
        f":index {op.index}",
        f":time {op.time}",
        f":type :{op.type}",
        f":process {':nemesis' if op.process == NEMESIS else dumps(op.process)}",
        f":f {keyword_or_string(op.f)}",
        f":value {dumps(_txn_keywords(op.f, op.value))}",
    ]
    if op.node is not None:
        parts.append(f":node {dumps(op.node)}")
    if op.error is not None:
        parts.append(f":error {keyword_or_string(op.error)}")
    for k, v in op.extra.items():
        parts.append(f"{keyword_or_string(str(k))} {dumps(v)}")
    return "{" + ", ".join(parts) + "}"


def _txn_keywords(f: str, value: Any) -> Any:
    if f != "txn" or not isinstance(value, list):
        return value
    return [
        [Keyword(m[0]), *m[1:]] if isinstance(m, list) and m and isinstance(m[0], str) else m
        for m in value
    ]


# -- reading -----------------------------------------------------------------------------------

_SPACE = re.compile(r"(?:[\s,]+|;[^\n]*)+")
_TOKEN = re.compile(r"[^\s,()\[\]{}\"';]+")
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CHARS = {
    "newline": "\n",
    "space": " ",
    "tab": "\t",
    "return": "\r",
    "formfeed": "\f",
    "backspace": "\b",
}
_CLOSE = {"(": ")", "[": "]", "{": "}"}


class _Reader:
    """A recursive-descent reader over the whole text, tracking positions for line numbers."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def fail(self, problem: str, pos: int | None = None) -> EdnError:
        return EdnError(self.line_of(self.pos if pos is None else pos), problem)

    def skip_space(self) -> None:
        m = _SPACE.match(self.text, self.pos)
        if m:
            self.pos = m.end()

    def read(self) -> Any:
        self.skip_space()
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.fail("unexpected end of input: expected an EDN value")
        c = text[pos]
        if c in "([{":
            self.pos += 1
            items = self._read_seq(_CLOSE[c], pos)
            return self._map(items, pos) if c == "{" else items
        if c in ")]}":
            raise self.fail(f"unexpected {c!r}: expected an EDN value")
        if c == '"':
            return self._read_string()
        if c == "#":
            return self._read_dispatch()
        if c == "\\":
            return self._read_char()
        if c == "'":
            self.pos += 1
            return self.read()
        return self._read_atom()

    def _read_seq(self, close: str, start: int) -> list[Any]:
        return [value for _, value in self.read_seq_lines(close, start)]

    def read_seq_lines(self, close: str, start: int) -> list[tuple[int, Any]]:
        """Like ``_read_seq``, with the line on which each element starts."""
        items: list[tuple[int, Any]] = []
        text = self.text
        while True:
            self.skip_space()
            if self.pos >= len(text):
                raise self.fail(f"unclosed collection: expected {close!r} before the end", start)
            if text[self.pos] == close:
                self.pos += 1
                return items
            if text.startswith("#_", self.pos):
                self.pos += 2
                self.read()
                continue
            items.append((self.line_of(self.pos), self.read()))

    def _map(self, items: list[Any], start: int) -> dict[Any, Any]:
        if len(items) % 2:
            raise self.fail("a map needs an even number of forms (key value pairs)", start)
        return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}

    def _read_string(self) -> str:
        text, i = self.text, self.pos + 1
        start = self.pos
        parts: list[str] = []
        while True:
            j = text.find('"', i)
            k = text.find("\\", i)
            if j < 0:
                raise self.fail("unterminated string: expected a closing '\"'", start)
            if 0 <= k < j:
                parts.append(text[i:k])
                esc = text[k + 1 : k + 2]
                if esc == "u":
                    hexdigits = text[k + 2 : k + 6]
                    try:
                        parts.append(chr(int(hexdigits, 16)))
                    except ValueError:
                        raise self.fail(f"bad unicode escape \\u{hexdigits}", k) from None
                    i = k + 6
                elif esc in _ESCAPES:
                    parts.append(_ESCAPES[esc])
                    i = k + 2
                else:
                    raise self.fail(f"unknown string escape \\{esc}", k)
                continue
            parts.append(text[i:j])
            self.pos = j + 1
            return "".join(parts)

    def _read_dispatch(self) -> Any:
        text, pos = self.text, self.pos
        nxt = text[pos + 1 : pos + 2]
        if nxt == "{":
            self.pos += 2
            return self._read_seq("}", pos)
        if nxt == "_":
            self.pos += 2
            self.read()
            return self.read()
        if nxt == "#":
            self.pos += 2
            m = _TOKEN.match(text, self.pos)
            name = m.group(0) if m else ""
            self.pos += len(name)
            special = {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
            if name not in special:
                raise self.fail(f"unknown symbolic value ##{name}: expected ##Inf, ##-Inf, ##NaN")
            return special[name]
        m = _TOKEN.match(text, pos + 1)
        if not m:
            raise self.fail("a '#' must start a set #{...}, a discard #_ or a tag #name")
        self.pos = m.end()
        return self.read()  # a tagged literal: keep the tagged value

    def _read_char(self) -> str:
        m = _TOKEN.match(self.text, self.pos + 1)
        if m is None:
            c = self.text[self.pos + 1 : self.pos + 2]
            if not c:
                raise self.fail("a '\\' must be followed by a character")
            self.pos += 2
            return c
        name = m.group(0)
        self.pos = m.end()
        if len(name) == 1:
            return name
        if name in _CHARS:
            return _CHARS[name]
        if name.startswith("u") and len(name) == 5:
            return chr(int(name[1:], 16))
        raise self.fail(f"unknown character literal \\{name}")

    def _read_atom(self) -> Any:
        m = _TOKEN.match(self.text, self.pos)
        assert m is not None  # read() only calls this at a token character
        tok = m.group(0)
        self.pos = m.end()
        if tok == "nil":
            return None
        if tok == "true":
            return True
        if tok == "false":
            return False
        if tok[0] == ":":
            if len(tok) == 1:
                raise self.fail("a keyword needs a name after ':'", m.start())
            return Keyword(tok[1:])
        if _INT.fullmatch(tok):
            return int(tok.rstrip("N"))
        if _FLOAT.fullmatch(tok):
            return float(tok.rstrip("M"))
        if "/" in tok and tok[0].isdigit():
            num, _, den = tok.partition("/")
            if num.isdigit() and den.isdigit() and int(den):
                return int(num) / int(den)
        if tok[0].isdigit() or (tok[0] in "+-" and tok[1:2].isdigit()):
            raise self.fail(f"cannot read {tok!r}: expected a number", m.start())
        # Jepsen writes Java class names ("Foo$Bar") as symbols: take any other token as one.
        return Symbol(tok)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((_hashable(k), _hashable(x)) for k, x in v.items()), key=repr))
    return v


# -- writing -----------------------------------------------------------------------------------

_KEYWORD_OK = re.compile(r"[A-Za-z*+!_?<>=.\-][A-Za-z0-9*+!_?<>=/.\-]*")


def keyword_or_string(name: str) -> str:
    """EDN text for ``name`` as a keyword when it can be one, else as a string."""
    return ":" + name if _KEYWORD_OK.fullmatch(name) else _string(name)


def _string(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + out.replace("\t", "\\t").replace("\r", "\\r") + '"'


def _write(v: Any, out: list[str]) -> None:
    if v is None:
        out.append("nil")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, Keyword):
        out.append(keyword_or_string(v))
    elif isinstance(v, Symbol):
        out.append(str(v))
    elif isinstance(v, str):
        out.append(_string(v))
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(_float(v))
    elif isinstance(v, dict):
        out.append("{")
        for n, (k, x) in enumerate(v.items()):
            if n:
                out.append(", ")
            _write(k, out)
            out.append(" ")
            _write(x, out)
        out.append("}")
    elif isinstance(v, list | tuple):
        out.append("[")
        for n, x in enumerate(v):
            if n:
                out.append(" ")
            _write(x, out)
        out.append("]")
    elif isinstance(v, set | frozenset):
        out.append("#{")
        out.append(" ".join(dumps(x) for x in v))
        out.append("}")
    else:
        out.append(_string(str(v)))


def _float(v: float) -> str:
    if math.isnan(v):
        return "##NaN"
    if math.isinf(v):
        return "##Inf" if v > 0 else "##-Inf"
    return repr(v)
