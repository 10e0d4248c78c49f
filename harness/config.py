"""Suite YAML to a validated SuiteSpec.

The YAML is composed into nodes (which carry line numbers) and built into the frozen
dataclasses of ``harness.spec`` by walking their type hints, so the spec's dataclasses are the
single list of allowed keys. Every error names the file, the line, the key path, what was found
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from harness.spec import (
    BACKENDS,
    FAULTS,
    SHAPES,
    TARGETS,
    NemesisSpec,
    SuiteSpec,
    TestSpec,
)

__all__ = ["ConfigError", "load_suite", "parse_suite"]


class ConfigError(ValueError):
    """Bad input in a suite file (exit code 3)."""

    def __init__(self, source: str, line: int | None, path: str, problem: str) -> None:
        where = f"{source}:{line}" if line else source
        at = f" at '{path}'" if path else ""
        super().__init__(f"{where}{at}: {problem}")
        self.source, self.line, self.path, self.problem = source, line, path, problem


def load_suite(path: str | Path) -> SuiteSpec:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(p), None, "", f"cannot read the suite file: {e.strerror}") from None
    return parse_suite(text, source=str(p), default_name=p.stem)


def parse_suite(text: str, *, source: str = "<suite>", default_name: str = "suite") -> SuiteSpec:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        ctx, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
        if ctx and cmark is not None and cmark.line + 1 != line:
            problem += f" ({ctx} at line {cmark.line + 1})"
        raise ConfigError(source, line, "", f"not valid YAML: {problem}") from None
    if root is None:
        raise ConfigError(source, 1, "", "the suite is empty; expected a mapping with 'tests'")
    b = _Builder(source)
    top = b.mapping(root, "")
    allowed = {"suite", "defaults", "tests"}
    for key, (knode, _) in top.items():
        if key not in allowed:
            raise b.error(knode, key, f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
    name = default_name
    if "suite" in top:
        name = b.build(str, top["suite"][1], "suite")
    if "tests" not in top:
        raise ConfigError(source, _line(root), "", "missing key 'tests' (a list of tests)")
    tests_node = top["tests"][1]
    if not isinstance(tests_node, yaml.SequenceNode) or not tests_node.value:
        raise b.error(tests_node, "tests", "expected a non-empty list of tests")
    defaults = top["defaults"][1] if "defaults" in top else None
    if defaults is not None and not isinstance(defaults, yaml.MappingNode):
        raise b.error(defaults, "defaults", "expected a mapping of test keys")
    tests: list[TestSpec] = []
    seen: dict[str, int] = {}
    for i, tnode in enumerate(tests_node.value):
        path = f"tests[{i}]"
        merged = _merge(defaults, tnode) if defaults is not None else tnode
        spec = b.build(TestSpec, merged, path)
        _check_ranges(b, spec, tnode, path)
        if spec.name in seen:
            raise b.error(tnode, f"{path}.name", f"test name {spec.name!r} is used twice")
        seen[spec.name] = i
        tests.append(spec)
    return SuiteSpec(name=name, tests=tuple(tests), source=source)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _merge(base: yaml.Node, over: yaml.Node) -> yaml.Node:
    """Deep-merge two mapping nodes (``over`` wins), keeping each value's own line."""
    if not (isinstance(base, yaml.MappingNode) and isinstance(over, yaml.MappingNode)):
        return over
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in base.value:
        out[str(k.value)] = (k, v)
    for k, v in over.value:
        key = str(k.value)
        out[key] = (k, _merge(out[key][1], v)) if key in out else (k, v)
    return yaml.MappingNode(
        over.tag, list(out.values()), start_mark=over.start_mark, end_mark=over.end_mark
    )


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, node: yaml.Node, path: str, problem: str) -> ConfigError:
        return ConfigError(self.source, _line(node), path, problem)

    def mapping(self, node: yaml.Node, path: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, path, f"expected a mapping, got {_describe(node)}")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.error(k, path, "mapping keys must be plain strings")
            if k.value in out:
                raise self.error(k, _join(path, k.value), "key given twice")
            out[k.value] = (k, v)
        return out

    def build(self, tp: Any, node: yaml.Node, path: str) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._dataclass(tp, node, path)
        if origin in (typing.Union, types.UnionType):
            if _is_null(node) and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            return self.build(inner[0], node, path)
        if origin is tuple:
            if not isinstance(node, yaml.SequenceNode):
                raise self.error(node, path, f"expected a list, got {_describe(node)}")
            return tuple(
                self.build(args[0], item, f"{path}[{i}]") for i, item in enumerate(node.value)
            )
        if origin is dict:
            m = self.mapping(node, path)
            return {k: self.build(args[1], v, _join(path, k)) for k, (_, v) in m.items()}
        if tp is Any:
            return yaml.safe_load(yaml.serialize(node))
        return self._scalar(tp, node, path)

    def _dataclass(self, cls: type, node: yaml.Node, path: str) -> Any:
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if cls is not TestSpec and isinstance(node, yaml.ScalarNode) and "name" in fields:
            node = yaml.MappingNode(
                "tag:yaml.org,2002:map",
                [(yaml.ScalarNode("tag:yaml.org,2002:str", "name"), node)],
                start_mark=node.start_mark,
                end_mark=node.end_mark,
            )  # `system: raft` is short for `system: {name: raft}`
        m = self.mapping(node, path)
        kwargs: dict[str, Any] = {}
        for key, (knode, vnode) in m.items():
            if key not in fields:
                allowed = ", ".join(sorted(fields))
                raise self.error(knode, _join(path, key), f"unknown key; allowed: {allowed}")
            kwargs[key] = self.build(hints[key], vnode, _join(path, key))
        for name, f in fields.items():
            no_default = f.default is dataclasses.MISSING
            if name not in kwargs and no_default and f.default_factory is dataclasses.MISSING:
                raise self.error(node, _join(path, name), "required key is missing")
        return cls(**kwargs)

    def _scalar(self, tp: type, node: yaml.Node, path: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, path, f"expected {tp.__name__}, got {_describe(node)}")
        value = yaml.safe_load(yaml.serialize(node))
        ok = (
            (tp is bool and isinstance(value, bool))
            or (tp is int and isinstance(value, int) and not isinstance(value, bool))
            or (tp is float and isinstance(value, int | float) and not isinstance(value, bool))
            or (tp is str and isinstance(value, str))
        )
        if not ok:
            raise self.error(
                node,
                path,
                f"expected {_TYPE_WORDS.get(tp, tp.__name__)}, got {value!r}"
                f" ({type(value).__name__})",
            )
        return float(value) if tp is float else value


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return repr(node.value)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _find(node: yaml.Node, dotted: str) -> yaml.Node:
    """The node at a dotted key path under ``node`` (for the line of a range error)."""
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            return node
        for k, v in node.value:
            if k.value == part:
                node = v
                break
        else:
            return node
    return node


def _check_ranges(b: _Builder, t: TestSpec, node: yaml.Node, path: str) -> None:
    def need(cond: bool, key: str, problem: str) -> None:
        if not cond:
            raise b.error(_find(node, key), f"{path}.{key}", problem)

    need(bool(t.name), "name", "a test needs a non-empty name")
    need(t.cluster.nodes >= 1, "cluster.nodes", f"got {t.cluster.nodes}; need at least 1 node")
    need(
        t.cluster.backend in BACKENDS,
        "cluster.backend",
        f"got {t.cluster.backend!r}; allowed: {', '.join(BACKENDS)}",
    )
    need(t.time_limit > 0, "time_limit", f"got {t.time_limit}; need a number of seconds > 0")
    need(t.workload.concurrency >= 1, "workload.concurrency", "need at least 1 client")
    need(t.workload.rate >= 0, "workload.rate", "need ops/s >= 0 (0: as fast as possible)")
    need(t.workload.keys >= 1, "workload.keys", "need at least 1 key")
    need(t.workload.ops_per_key >= 1, "workload.ops_per_key", "need at least 1")
    need(t.workload.values >= 1, "workload.values", "need at least 1")
    need(t.workload.timeout > 0, "workload.timeout", "need seconds > 0")
    need(
        all(w >= 0 for w in t.workload.mix.values()) and sum(t.workload.mix.values()) > 0,
        "workload.mix",
        "weights must be >= 0 and not all 0",
    )
    n: NemesisSpec = t.nemesis
    for fault in n.faults:
        need(
            fault in FAULTS,
            "nemesis.faults",
            f"unknown fault {fault!r}; allowed: {', '.join(FAULTS)}",
        )
    for shape in n.shapes:
        need(
            shape in SHAPES,
            "nemesis.shapes",
            f"unknown shape {shape!r}; allowed: {', '.join(SHAPES)}",
        )
    for key, targets in (("kill_targets", n.kill_targets), ("pause_targets", n.pause_targets)):
        for target in targets:
            need(
                target in TARGETS,
                f"nemesis.{key}",
                f"unknown target {target!r}; allowed: {', '.join(TARGETS)}",
            )
    need(n.interval > 0, "nemesis.interval", "need seconds > 0")
    need(n.quiet >= 0, "nemesis.quiet", "need seconds >= 0")
    need(0 < n.loss <= 1, "nemesis.loss", "need a probability in (0, 1]")
    need(n.recovery >= 0, "nemesis.recovery", "need seconds >= 0")
