"""The elle-cli bridge: check a history with Elle itself, through ligurio/elle-cli.

    checker = ElleCliChecker(model="list-append", consistency_models=["serializable"])
    result = checker.check(history, ctx={})   # a Result, as the native checkers give

The history is written as EDN (or JSON) to a temporary directory, and
``java -jar <jar> --model M --consistency-models ... --anomalies ... --directory D
--output json FILE`` runs with a timeout. Its verdict (the analysis map, printed as JSON, or
as EDN by older versions, or only the ``FILE<TAB>true`` line) and the anomaly files Elle
writes into ``D`` (``G1c.txt`` and so on: every cycle explained) become a ``Result``: the
same ``valid``, one ``Anomaly`` per case with Elle's own explanation, and ``details`` with
``not``, ``also-not`` and ``anomaly-types`` as the native checker reports them.

The jar comes from the ``jar`` argument or the ``SPLITBRAIN_ELLE_CLI_JAR`` environment
variable. Without one the checker says so: a Result "unknown" whose reason names the
variable (``run_elle_cli`` raises ``ElleCliNotConfigured``). A timeout, a missing ``java``, a
crash or output that cannot be read are "unknown" too, with the reason and stderr's tail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.history import NEMESIS, Op
from harness.registry import CheckerInfo, option

from . import edn
from .base import Anomaly, Result
from .txn.models import ELLE_MODELS, is_checkable, validate_models

__all__ = [
    "CHECKABLE_MODELS",
    "CHECKER",
    "ENV_VAR",
    "MODELS",
    "ElleCliChecker",
    "ElleCliError",
    "ElleCliNotConfigured",
    "ElleCliOptions",
    "ElleCliOutput",
    "analysis_to_result",
    "export_history",
    "find_jar",
    "parse_output",
    "read_anomaly_files",
    "run_elle_cli",
]

ENV_VAR = "SPLITBRAIN_ELLE_CLI_JAR"
#: the models elle-cli checks (its ``--model`` values)
MODELS = (
    "list-append",
    "rw-register",
    "bank",
    "counter",
    "set",
    "set-full",
    "long-fork",
    "cas-register",
    "mutex",
)
_ELLE_MODELS = ("list-append", "rw-register")
#: The consistency models Elle itself checks (for ``list-append`` and ``rw-register``), by
#: friendly name: each forbids an anomaly Elle's cycle search or inference finds. Elle knows
#: the others of its lattice (read-your-writes, PRAM, causal, sequential, linearizable,
#: 1SR, ...) but forbids no anomaly for them, so it would call every history valid under
#: them: asking elle-cli for one is refused (splitbrain's own list-append and rw-register
#: checkers check the session guarantees, PRAM, causal and sequential).
CHECKABLE_MODELS: frozenset[str] = ELLE_MODELS


@dataclass(frozen=True)
class ElleCliOptions:
    """The elle-cli checker's options (``splitbrain check --checker elle-cli
    --consistency-models ... --option model=bank``). The models are checked when the checker
    is made, against ``CHECKABLE_MODELS``."""

    model: str = option("list-append", "elle-cli's --model", choices=MODELS)
    consistency_models: tuple[str, ...] = option(
        ("strict-serializable",),
        "consistency models to check, for list-append and rw-register (an empty list: only "
        "the anomalies named)",
    )
    anomalies: tuple[str, ...] = option((), "anomalies to look for besides those the models forbid")
    time_budget_s: float = option(300.0, "seconds elle-cli may run", minimum=0.001)
    max_cases: int = option(10, "cases explained per anomaly type", minimum=0)
    jar: str | None = option(None, f"the elle-cli jar (none: ${ENV_VAR})")
    java: str = option("java", "the java program")
    format: str = option("edn", "how the history is handed over", choices=("edn", "json"))
    extra_args: tuple[str, ...] = option((), "more elle-cli arguments (--group-size 3)")


def _make(o: ElleCliOptions) -> ElleCliChecker:
    if o.model in _ELLE_MODELS:
        # Elle's lattice is ours, but Elle checks fewer of its models than the native
        # checkers (no session guarantees, PRAM, causal, sequential): its own table.
        names = list(o.consistency_models)
        native = [m for m in names if is_checkable(m) and not is_checkable(m, CHECKABLE_MODELS)]
        hint = ""
        if native:
            hint = (
                " (splitbrain's own list-append and rw-register checkers check "
                f"{', '.join(map(repr, dict.fromkeys(native)))})"
            )
        validate_models(names, CHECKABLE_MODELS, finder="Elle", hint=hint)
    return ElleCliChecker(
        o.model,
        o.consistency_models,
        o.anomalies,
        o.time_budget_s,
        jar=o.jar,
        java=o.java,
        format=o.format,
        extra_args=o.extra_args,
        max_cases=o.max_cases,
    )


CHECKER = CheckerInfo(
    "elle-cli",
    f"Elle itself via elle-cli (java -jar ${ENV_VAR}); unknown when not configured",
    _make,
    ElleCliOptions,
)


class ElleCliError(RuntimeError):
    """elle-cli could not give a verdict: not configured, not runnable, timed out, crashed, or
    printed something that is not a verdict. ``stderr`` holds the tail of its stderr."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class ElleCliNotConfigured(ElleCliError):
    """No elle-cli jar: neither the ``jar`` argument nor ``SPLITBRAIN_ELLE_CLI_JAR``."""


@dataclass
class ElleCliOutput:
    """What one run of elle-cli produced."""

    command: list[str]
    exit_code: int
    stdout: str
    stderr: str
    #: True / False / "unknown"
    valid: Any
    #: the analysis map (JSON or EDN output), or None when only the verdict line was printed
    analysis: dict[str, Any] | None
    #: anomaly files Elle wrote: name relative to the directory -> text
    files: dict[str, str] = field(default_factory=dict)


def find_jar(jar: str | Path | None = None) -> Path:
    """The elle-cli jar: ``jar``, else ``$SPLITBRAIN_ELLE_CLI_JAR``. Raises
    ElleCliNotConfigured when neither is set, ElleCliError when the file does not exist."""
    value = str(jar) if jar is not None else os.environ.get(ENV_VAR, "")
    if not value.strip():
        raise ElleCliNotConfigured(
            f"elle-cli is not configured: set {ENV_VAR} to the path of an elle-cli standalone "
            "jar (built with 'lein uberjar' from github.com/ligurio/elle-cli), or pass jar=..."
        )
    path = Path(value).expanduser()
    if not path.is_file():
        raise ElleCliError(
            f"elle-cli jar {str(path)!r} (from "
            f"{'jar=' if jar is not None else ENV_VAR}) does not exist"
        )
    return path


def export_history(history: list[Op], path: str | Path, format: str = "edn") -> Path:
    """Write ``history`` for elle-cli: EDN op maps one per line (``checkers.edn.write_edn``:
    ``:type``, ``:f`` and micro-op functions as keywords), or a JSON array of op objects."""
    path = Path(path)
    if format == "edn":
        edn.write_edn([_edn_ready(op) for op in history], path)
    elif format == "json":
        ops = [op.to_dict() for op in history if op.process != NEMESIS]
        path.write_text(
            "[" + ",\n".join(json.dumps(d, default=str) for d in ops) + "]\n", encoding="utf-8"
        )
    else:
        raise ValueError(f"unknown export format {format!r} for 'format'; allowed: edn, json")
    return path


def run_elle_cli(
    history_path: str | Path,
    *,
    model: str,
    consistency_models: list[str] | tuple[str, ...] = ("strict-serializable",),
    anomalies: list[str] | tuple[str, ...] = (),
    jar: str | Path | None = None,
    java: str = "java",
    timeout_s: float = 300.0,
    directory: str | Path | None = None,
    output_args: tuple[str, ...] = ("--output", "json"),
    extra_args: tuple[str, ...] = (),
) -> ElleCliOutput:
    """Run elle-cli on the history file and read what it says. Raises ElleCliError (or
    ElleCliNotConfigured) when there is no verdict to read."""
    jar_path = find_jar(jar)
    cmd = [java, "-jar", str(jar_path), "--model", model]
    if model in _ELLE_MODELS:
        cmd += [
            "--consistency-models",
            ",".join(consistency_models),
            "--anomalies",
            ",".join(anomalies),
        ]
        if directory is not None:
            cmd += ["--directory", str(directory)]
    cmd += [*output_args, *extra_args, str(history_path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise ElleCliError(
            f"cannot run {java!r}: no such program (elle-cli needs a Java "
            "runtime; pass java=... or put java on PATH)"
        ) from None
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise ElleCliError(f"elle-cli did not finish within {timeout_s:g} s", _tail(err)) from None
    valid, analysis = parse_output(proc.stdout, str(history_path))
    if (
        valid is None
        and "--output" in output_args
        and "Unknown option" in (proc.stdout + proc.stderr)
    ):
        # elle-cli before 0.1.10 has no --output; its --verbose prints the analysis.
        return run_elle_cli(
            history_path,
            model=model,
            consistency_models=consistency_models,
            anomalies=anomalies,
            jar=jar,
            java=java,
            timeout_s=timeout_s,
            directory=directory,
            output_args=("--verbose",),
            extra_args=extra_args,
        )
    if valid is None:
        raise ElleCliError(
            f"elle-cli exited with code {proc.returncode} without a verdict"
            + (f"; it printed: {_tail(proc.stdout, 400)!r}" if proc.stdout.strip() else ""),
            _tail(proc.stderr),
        )
    files = read_anomaly_files(directory) if directory is not None else {}
    return ElleCliOutput(cmd, proc.returncode, proc.stdout, proc.stderr, valid, analysis, files)


def parse_output(stdout: str, history_path: str | None = None) -> tuple[Any, dict[str, Any] | None]:
    """(valid, analysis) from elle-cli's standard output: the analysis map printed as JSON
    (``--output json``) or as EDN (older ``--verbose``), possibly after log lines; or only the
    line ``<file><TAB><valid>`` (text output). ``(None, None)`` when there is no verdict."""
    for m in re.finditer(r"(?m)^[ \t]*\{", stdout):
        start = m.start() + len(m.group(0)) - 1
        try:
            obj, _ = json.JSONDecoder().raw_decode(stdout, start)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and "valid?" in obj:
            return _validity(obj["valid?"]), obj
        try:
            first = _EdnReader(stdout, start).read()
        except ValueError:
            continue
        if isinstance(first, dict) and "valid?" in first:
            return _validity(first["valid?"]), first
    verdict = None
    for line in stdout.splitlines():
        v = re.match(r"^\s*(?P<path>.*?)\s*\t\s*(?P<valid>true|false|:?unknown)\s*$", line)
        if v and (
            history_path is None
            or v["path"].strip() in ("", history_path)
            or history_path.endswith(v["path"].strip())
        ):
            verdict = _validity(v["valid"])
    return verdict, None


def read_anomaly_files(directory: str | Path | None) -> dict[str, str]:
    """The text files Elle wrote into ``directory`` (``G1c.txt``, ...; plots are skipped),
    by path relative to it."""
    if directory is None or not Path(directory).is_dir():
        return {}
    root = Path(directory)
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".txt", ".html", ".svg") and p.stat().st_size < 4 << 20:
            out[str(p.relative_to(root))] = p.read_text(encoding="utf-8", errors="replace")
    return out


def analysis_to_result(
    valid: Any,
    analysis: dict[str, Any] | None,
    files: dict[str, str],
    *,
    model: str,
    max_cases: int = 10,
) -> Result:
    """Present elle-cli's verdict as the native checkers do: one Anomaly per case (Elle's
    explanation from its ``<type>.txt`` when written, else one built from the case), and
    ``details`` with ``anomaly-types``, ``not`` and ``also-not``."""
    analysis = analysis or {}
    anomalies: list[Anomaly] = []
    raw = analysis.get("anomalies")
    if isinstance(raw, dict):
        for kind in sorted(raw):
            cases = raw[kind]
            texts = _sections(files.get(f"{kind}.txt", ""), kind)
            if not isinstance(cases, list):
                anomalies.append(
                    Anomaly(kind, f"{kind}: {json.dumps(cases, default=str)}", [], {"value": cases})
                )
                continue
            for i, case in enumerate(cases[:max_cases]):
                text = texts[i] if i < len(texts) else _explain_case(kind, case)
                anomalies.append(
                    Anomaly(
                        kind,
                        text,
                        _case_ops(case),
                        case if isinstance(case, dict) else {"case": case},
                    )
                )
    elif valid is False and analysis:
        anomalies.append(_jepsen_anomaly(model, analysis))
    details: dict[str, Any] = {
        "engine": "elle-cli",
        "model": model,
        "anomaly-types": [str(t) for t in analysis.get("anomaly-types", [])],
        "not": sorted(str(m) for m in analysis.get("not", [])),
        "also-not": sorted(str(m) for m in analysis.get("also-not", [])),
        "analysis": {k: v for k, v in analysis.items() if k != "anomalies"},
        "files": sorted(files),
    }
    if not analysis:
        details["note"] = (
            "elle-cli printed only its verdict; ask for the analysis (--output "
            "json, or --verbose before 0.1.10) to see the anomalies"
        )
    if valid == "unknown":
        why = ", ".join(details["anomaly-types"]) or str(analysis.get("error", ""))[:500]
        details["reason"] = f"elle-cli could not decide: {why or 'it gave no reason'}"
    return Result(valid, anomalies, details)


class ElleCliChecker:
    """Checks a history with elle-cli. ``model``: one of ``MODELS``. ``consistency_models`` /
    ``anomalies``: as for the native checkers (list-append and rw-register only).
    ``time_budget_s``: the subprocess's timeout. ``jar``: the jar (default
    ``$SPLITBRAIN_ELLE_CLI_JAR``). ``java``: the java program. ``format``: the export format,
    ``edn`` or ``json``. ``output_args``: how to ask for the analysis map (``--verbose``
    for elle-cli before 0.1.10). ``extra_args``: more arguments (``--group-size 3`` for
    long-fork, ``--allow-negative-balances`` for bank)."""

    name = "elle-cli"

    def __init__(
        self,
        model: str = "list-append",
        consistency_models: Any = ("strict-serializable",),
        anomalies: Any = (),
        time_budget_s: float = 300.0,
        *,
        jar: str | Path | None = None,
        java: str = "java",
        format: str = "edn",
        output_args: tuple[str, ...] = ("--output", "json"),
        extra_args: tuple[str, ...] = (),
        max_cases: int = 10,
    ) -> None:
        if model not in MODELS:
            raise ValueError(
                f"unknown elle-cli model {model!r} for 'model'; allowed: " + ", ".join(MODELS)
            )
        if format not in ("edn", "json"):
            raise ValueError(f"unknown export format {format!r} for 'format'; allowed: edn, json")
        self.model = model
        self.consistency_models = _names(consistency_models)
        self.anomalies = _names(anomalies)
        self.time_budget_s = time_budget_s
        self.jar = jar
        self.java = java
        self.format = format
        self.output_args = tuple(output_args)
        self.extra_args = tuple(extra_args)
        self.max_cases = max_cases
        self._files: dict[int, dict[str, str]] = {}

    def check(self, history: list[Op], ctx: dict[str, Any]) -> Result:
        """Run elle-cli on ``history``; "unknown" with the reason when it cannot say."""
        try:
            find_jar(self.jar)
        except ElleCliError as e:
            return Result(
                "unknown",
                [],
                {"engine": "elle-cli", "model": self.model, "reason": str(e), "configured": False},
            )
        with tempfile.TemporaryDirectory(prefix="splitbrain-elle-") as tmp:
            src = export_history(history, Path(tmp) / f"history.{self.format}", self.format)
            out_dir = Path(tmp) / "elle"
            try:
                out = run_elle_cli(
                    src,
                    model=self.model,
                    consistency_models=self.consistency_models,
                    anomalies=self.anomalies,
                    jar=self.jar,
                    java=self.java,
                    timeout_s=self.time_budget_s,
                    directory=out_dir,
                    output_args=self.output_args,
                    extra_args=self.extra_args,
                )
            except ElleCliError as e:
                details = {"engine": "elle-cli", "model": self.model, "reason": str(e)}
                if e.stderr:
                    details["stderr"] = e.stderr
                return Result("unknown", [], details)
        result = analysis_to_result(
            out.valid, out.analysis, out.files, model=self.model, max_cases=self.max_cases
        )
        result.details["command"] = out.command
        result.details["exit-code"] = out.exit_code
        if out.stderr.strip():
            result.details["stderr"] = _tail(out.stderr)
        self._files[id(result)] = out.files
        return result

    def write_artifacts(self, result: Result, directory: Path) -> list[Path]:
        """Copy the files elle-cli wrote (anomaly explanations, plots) into
        ``directory/elle-cli/``."""
        files = self._files.get(id(result), {})
        if not files:
            return []
        root = Path(directory) / "elle-cli"
        written = []
        for name, text in files.items():
            p = (root / name).resolve()
            if root.resolve() not in p.parents:
                continue  # never write outside the directory
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
            written.append(p)
        return written


# -- helpers ------------------------------------------------------------------------------------


def _names(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return [str(x) for x in v]


def _edn_ready(op: Op) -> Op:
    """Map keys that are names (``from``, ``to``, ``amount``) become keywords, as Jepsen
    writes them; everything else is written as it is."""
    value = _keywordize_keys(op.value)
    if value is op.value:
        return op
    return Op(
        type=op.type,
        f=op.f,
        value=value,
        process=op.process,
        time=op.time,
        index=op.index,
        node=op.node,
        error=op.error,
        extra=op.extra,
    )


def _keywordize_keys(v: Any) -> Any:
    if isinstance(v, dict):
        return {
            (
                edn.Keyword(k)
                if isinstance(k, str) and re.fullmatch(r"[A-Za-z][\w\-?!*]*", k)
                else k
            ): _keywordize_keys(x)
            for k, x in v.items()
        }
    return v


def _validity(v: Any) -> Any:
    if v is True or v == "true":
        return True
    if v is False or v == "false":
        return False
    return "unknown"


class _EdnReader:
    """Reads one EDN value of elle-cli's printed analysis into JSON-like values: keywords and
    symbols become strings, lists, vectors and sets lists, tagged literals (``#inst``, record
    literals such as ``#jepsen.history.Op{...}``) their value. ``checkers.edn`` is not used
    because Elle's keys end in quotes (``:value'``, ``:a'``), which it does not read."""

    _SPACE = re.compile(r"(?:[\s,]+|;[^\n]*)+")
    _ATOM = re.compile(r"[^\s,()\[\]{}\"`;]+")
    _CLOSE = {"(": ")", "[": "]", "{": "}"}

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text, self.pos = text, pos

    def read(self) -> Any:
        self._skip()
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise ValueError("end of input")
        c = text[pos]
        if c in "([{":
            self.pos += 1
            items = self._seq(self._CLOSE[c])
            if c != "{":
                return items
            if len(items) % 2:
                raise ValueError("a map with an odd number of forms")
            return {_json_key(items[i]): items[i + 1] for i in range(0, len(items), 2)}
        if c == '"':
            i = pos + 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= len(text):
                raise ValueError("unterminated string")
            self.pos = i + 1
            return json.loads(text[pos : i + 1], strict=False)  # EDN's escapes are JSON's
        if c == "#":
            if text.startswith("#{", pos):
                self.pos += 2
                return self._seq("}")
            if text.startswith("#_", pos):
                self.pos += 2
                self.read()
                return self.read()
            m = self._ATOM.match(text, pos + 1)
            self.pos = m.end() if m else pos + 1
            return self.read()  # a tagged literal: its value
        if c in ")]}":
            raise ValueError(f"unexpected {c!r}")
        m = self._ATOM.match(text, pos)
        if m is None:
            raise ValueError(f"unexpected {c!r}")
        self.pos = m.end()
        return self._atom(m.group(0))

    def _skip(self) -> None:
        m = self._SPACE.match(self.text, self.pos)
        if m:
            self.pos = m.end()

    def _seq(self, close: str) -> list[Any]:
        items: list[Any] = []
        while True:
            self._skip()
            if self.pos >= len(self.text):
                raise ValueError(f"expected {close!r}")
            if self.text[self.pos] == close:
                self.pos += 1
                return items
            items.append(self.read())

    @staticmethod
    def _atom(tok: str) -> Any:
        if tok == "nil":
            return None
        if tok in ("true", "false"):
            return tok == "true"
        if tok.startswith(":"):
            return tok[1:]
        if re.fullmatch(r"[+-]?\d+N?", tok):
            return int(tok.rstrip("N"))
        if re.fullmatch(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?", tok):
            return float(tok.rstrip("M"))
        return tok  # a symbol


def _json_key(k: Any) -> Any:
    if isinstance(k, list | dict):
        return json.dumps(k, default=str)
    return k


def _sections(text: str, kind: str) -> list[str]:
    """Split Elle's ``<type>.txt`` into its cases (each starts ``<type> #<n>``)."""
    if not text.strip():
        return []
    parts = re.split(rf"(?m)^(?={re.escape(kind)} #\d+\s*$)", text)
    return [p.strip() for p in parts if p.strip()]


def _op_name(op: Any) -> str:
    if isinstance(op, dict):
        return f"op {op.get('index')} (process {op.get('process')}, {op.get('type')})"
    return str(op)


def _case_ops(case: Any) -> list[dict[str, Any]]:
    if not isinstance(case, dict):
        return []
    ops = []
    for key in ("op", "writer"):
        if isinstance(case.get(key), dict):
            ops.append(case[key])
    for key in ("cycle", "txns"):
        for op in case.get(key) or []:
            if isinstance(op, dict) and op not in ops:
                ops.append(op)
    return ops


def _explain_case(kind: str, case: Any) -> str:
    """Words for a case when Elle wrote no file for it."""
    if not isinstance(case, dict):
        return f"{kind}: {json.dumps(case, default=str)}"
    if "cycle" in case:
        names = " -> ".join(_op_name(op) for op in case["cycle"])
        steps = []
        for s in case.get("steps", []):
            t = s.get("type")
            if t in ("ww", "wr", "rw"):
                v = s.get("value")
                v2 = s.get("value'")
                what = f"{json.dumps(v)}" + (f" -> {json.dumps(v2)}" if v2 is not None else "")
                steps.append(f"{t} on key {json.dumps(s.get('key'))} ({what})")
            else:
                steps.append(str(t))
        return f"{kind}: a cycle {names}; its edges: {'; '.join(steps)}"
    parts = []
    if "op" in case:
        parts.append(f"{_op_name(case['op'])}")
    if "mop" in case:
        parts.append(f"micro-op {json.dumps(case['mop'])}")
    if "writer" in case:
        parts.append(f"writer {_op_name(case['writer'])}")
    for k in ("element", "expected", "key", "value", "values", "duplicates"):
        if k in case:
            parts.append(f"{k} {json.dumps(case[k], default=str)}")
    return f"{kind}: " + ", ".join(parts)


def _jepsen_anomaly(model: str, analysis: dict[str, Any]) -> Anomaly:
    """One anomaly summing up a non-Elle model's invalid analysis (bank errors, forks, ...)."""
    keys = (
        "errors",
        "first-error",
        "forks",
        "lost",
        "lost-count",
        "unexpected",
        "duplicated",
        "error",
    )
    shown = {k: analysis[k] for k in keys if k in analysis}
    text = (
        f"elle-cli's {model} checker found the history invalid: "
        + json.dumps(shown, default=str)[:2000]
    )
    ops = []
    fe = analysis.get("first-error")
    if isinstance(fe, dict) and isinstance(fe.get("op"), dict):
        ops.append(fe["op"])
    return Anomaly(model, text, ops, shown)


def _tail(s: str, n: int = 2000) -> str:
    s = s or ""
    return s if len(s) <= n else "..." + s[-n:]
