"""Suite YAML to a validated SuiteSpec.

The YAML is composed into nodes (which carry line numbers) and built into the frozen
dataclasses of ``harness.spec`` by walking their type hints, so the spec's dataclasses are the
single list of allowed keys. Then every test of the suite is checked against the registries
(``check_test``): system, bugs, workload, the ops of its mix, checkers, the options each
system and workload declares, and the node count each backend can make. All of it happens
before anything runs, so a typo in the last test stops the suite before the first one starts.
Every error names the file, the line, the key path, the test, what was found and what is
allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness import registry
from harness.registry import (
    BackendInfo,
    CheckerInfo,
    FaultInfo,
    NoOptions,
    OptionError,
    SystemInfo,
    WorkloadInfo,
    parse_options,
)
from harness.spec import (
    SHORTHANDS,
    TYPE_WORDS,
    CheckerSpec,
    NamedOptions,
    NemesisSpec,
    SuiteSpec,
    TestSpec,
    WorkloadSpec,
    fault_options,
    is_of_type,
)

__all__ = [
    "ConfigError",
    "check_test",
    "expect_problem",
    "load_suite",
    "override",
    "parse_suite",
    "regular_file",
    "split_workload_options",
]


class ConfigError(ValueError):
    """Bad input in a suite file or on the command line (exit code 3). ``source`` is the file
    (or the flag), ``line`` its line, ``path`` the key path, ``test`` the test's name."""

    def __init__(
        self, source: str, line: int | None, path: str, problem: str, test: str | None = None
    ) -> None:
        where = f"{source}:{line}" if line else source
        at = f" at '{path}'" if path else ""
        of = f" (in test {test!r})" if test else ""
        super().__init__(f"{where}{at}: {problem}{of}")
        self.source, self.line, self.path, self.problem = source, line, path, problem
        self.test = test


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate the suite file at ``path`` (see ``parse_suite``). Raises ConfigError
    for a file that is missing, not a regular file (a directory, a FIFO, a device: never
    opened, so a FIFO cannot block), not UTF-8 or not a valid suite."""
    p = Path(path)
    problem = regular_file(p)
    if problem is not None:
        raise ConfigError(
            str(p), None, "", f"cannot read the suite file: {problem}; expected a YAML file"
        )
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ConfigError(str(p), None, "", f"cannot read the suite file: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            str(p),
            line,
            "",
            f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start}; "
            "a suite is a YAML file in UTF-8",
        ) from None
    return parse_suite(text, source=str(p), default_name=p.stem)


def regular_file(path: str | Path) -> str | None:
    """What keeps ``path`` from being read as a file, in words (``no such file``, ``it is a
    FIFO``), or None for a regular file. It only ``stat``s the path: opening a FIFO to read
    it would block until something writes to it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        return str(e.strerror).lower()
    if stat.S_ISREG(mode):
        return None
    kind = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return f"it is {kind}"


def parse_suite(
    text: str,
    *,
    source: str = "<suite>",
    default_name: str = "suite",
    resolve: bool = True,
) -> SuiteSpec:
    """Build the SuiteSpec of a suite's YAML ``text`` (``source`` names it in errors). With
    ``resolve`` (the default), every test is also checked against the registries
    (``check_test``); without, only the keys, types and ranges are. Raises ConfigError."""
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
    registries = _Registries.load() if resolve else None
    for i, tnode in enumerate(tests_node.value):
        path = f"tests[{i}]"
        merged = _merge(defaults, tnode) if defaults is not None else tnode
        b.test = _test_name(merged)
        spec = b.build(TestSpec, merged, path)
        if spec.name in seen:
            raise b.error(tnode, f"{path}.name", f"test name {spec.name!r} is used twice")
        seen[spec.name] = i

        def line_of(key: str, node: yaml.Node = merged) -> int | None:
            return _line(_find(node, key))

        if registries is not None and not _given(merged, "nemesis.faults"):
            spec = _default_faults(spec, registries)
        check_test(spec, source=source, path=path, line_of=line_of, registries=registries)
        b.test = None
        tests.append(spec)
    return SuiteSpec(name=name, tests=tuple(tests), source=source)


def _test_name(node: yaml.Node) -> str | None:
    """The test's ``name`` if it is a plain string, for errors found while it is built."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == "name" and isinstance(v, yaml.ScalarNode):
                return str(v.value) or None
    return None


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
        self.test: str | None = None  # the test being built, named in errors

    def error(self, node: yaml.Node, path: str, problem: str) -> ConfigError:
        return ConfigError(self.source, _line(node), path, problem, self.test)

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
        if issubclass(cls, NamedOptions):  # every key but the name is an option
            options: dict[str, Any] = {}
            for key, (_, vnode) in m.items():
                if key == "name":
                    kwargs["name"] = self.build(str, vnode, _join(path, key))
                elif key == "options":
                    options.update(self.build(dict[str, Any], vnode, _join(path, key)))
                else:
                    options[key] = self.build(Any, vnode, _join(path, key))
            if "name" not in kwargs:
                raise self.error(node, _join(path, "name"), "required key is missing")
            return cls(name=kwargs["name"], options=options)
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
        if not is_of_type(value, tp):
            raise self.error(
                node,
                path,
                f"expected {TYPE_WORDS.get(tp, tp.__name__)}, got {value!r}"
                f" ({type(value).__name__})",
            )
        if tp is float and not math.isfinite(value):  # .inf would never end a run
            raise self.error(node, path, f"expected a finite number, got {node.value!r}")
        return float(value) if tp is float else value


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


def _given(node: yaml.Node, dotted: str) -> bool:
    """Whether the (merged) test node gives the dotted key itself."""
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            return False
        found = [v for k, v in node.value if k.value == part]
        if not found:
            return False
        node = found[0]
    return True


def _default_faults(t: TestSpec, reg: _Registries) -> TestSpec:
    """A test that names no faults gets the default ones its system can be reached by (etcd:
    no clock fault); a test that names one the system cannot be reached by is refused."""
    s = reg.systems.get(t.system.name)
    if s is None or not s.unreachable:
        return t
    kept = tuple(f for f in t.nemesis.faults if f.name not in s.unreachable)
    if not kept or kept == t.nemesis.faults:
        return t
    return dataclasses.replace(t, nemesis=dataclasses.replace(t.nemesis, faults=kept))


@dataclasses.dataclass(frozen=True)
class _Registries:
    """The registries a suite's names are resolved against, loaded once per suite."""

    systems: Mapping[str, SystemInfo]
    workloads: Mapping[str, WorkloadInfo]
    checkers: Mapping[str, CheckerInfo]
    faults: Mapping[str, FaultInfo]
    backends: Mapping[str, BackendInfo]

    @classmethod
    def load(cls) -> _Registries:
        return cls(
            registry.systems(),
            registry.workloads(),
            registry.checkers(),
            registry.faults(),
            registry.backends(),
        )


def unknown(kind: type, name: str, known: Mapping[str, Any], what: str) -> str:
    """Why ``name`` is not a ``what`` (``system``): the registered ones, or why its entry point
    could not be used."""
    why = registry.broken(kind).get(name)
    if why is not None:
        return f"{what} {name!r} cannot be used: {why}"
    return f"unknown {what} {name!r}; allowed: {', '.join(sorted(known))}"


def check_test(
    t: TestSpec,
    *,
    source: str,
    path: str = "",
    line_of: Callable[[str], int | None] | None = None,
    flags: Mapping[str, str] | None = None,
    registries: Any = None,
) -> None:
    """Check one test: ranges, the node count its backend can make, and (unless
    ``registries`` is False) every name and option against the registries.

    ``source`` and ``line_of(key)`` place an error in the suite file, ``path`` is the test's
    key path (``tests[1]``); ``flags`` maps a key to the command-line flag that set it
    (``{"cluster.nodes": "--nodes"}``), so an error in an overridden value names the flag.
    Raises ConfigError at the first problem.
    """
    flags = flags or {}

    def need(cond: bool, key: str, problem: str) -> None:
        if cond:
            return
        flag = next((f for k, f in flags.items() if key == k or key.startswith(k + ".")), None)
        if flag is not None:
            raise ConfigError(flag, None, "", problem, t.name)
        line = line_of(key) if line_of is not None else None
        raise ConfigError(source, line, _join(path, key), problem, t.name or None)

    reg: _Registries = registries or _Registries.load()
    need(bool(t.name), "name", "a test needs a non-empty name")
    backend = reg.backends.get(t.cluster.backend)
    if backend is None:
        need(False, "cluster.backend", unknown(BackendInfo, t.cluster.backend, reg.backends,
                                               "cluster backend"))  # fmt: skip
    assert backend is not None
    need(t.cluster.nodes >= 1, "cluster.nodes", f"got {t.cluster.nodes}; need at least 1 node")
    most = backend.max_nodes
    need(
        most is None or t.cluster.nodes <= most,
        "cluster.nodes",
        f"got {t.cluster.nodes}; the {backend.name} backend makes 1 to {most} nodes",
    )
    try:  # ssh reads the host list and the inventory file; connects to nothing, makes nothing
        if backend.check is not None:
            backend.check(t.cluster)
    except (ValueError, OSError) as e:
        given = "cluster.inventory" if t.cluster.inventory and not t.cluster.hosts else ""
        need(False, given or "cluster.hosts", str(e))
    need(
        t.system.port is None or 1 <= t.system.port <= 65535,
        "system.port",
        f"got {t.system.port}; need a TCP port from 1 to 65535",
    )
    need(
        math.isfinite(t.time_limit) and t.time_limit > 0,
        "time_limit",
        f"got {t.time_limit}; need a finite number of seconds > 0",
    )
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
    problem = expect_problem(t.expect)
    need(problem is None, "expect", problem or "")
    n: NemesisSpec = t.nemesis
    need(n.interval > 0, "nemesis.interval", "need seconds > 0")
    need(n.quiet >= 0, "nemesis.quiet", "need seconds >= 0")
    need(n.recovery >= 0, "nemesis.recovery", "need seconds >= 0")
    for i, fault in enumerate(n.faults):
        kind = fault.name
        for earlier in n.faults[:i]:  # a kind may come twice in a round, with one set of options
            need(
                earlier.name != kind or not earlier.options or not fault.options,
                "nemesis.faults",
                f"fault {kind!r} is named twice with options; give its options once",
            )
        if kind not in reg.faults:
            need(False, "nemesis.faults", unknown(FaultInfo, kind, reg.faults, "fault"))
    for key, (kind, name) in SHORTHANDS.items():  # checked even for a kind not named
        value = getattr(n, key)
        if value is not None and kind in reg.faults:
            option = next(o for o in registry.declared(reg.faults[kind].options) if o.name == name)
            problem = option.problem(list(value) if isinstance(value, tuple) else value)
            need(problem is None, f"nemesis.{key}", f"the {kind} fault's {name!r}: {problem}")
    for kind, opts in fault_options(n).items():
        try:
            parse_options(reg.faults[kind].options, opts, f"the {kind} fault")
        except OptionError as e:
            short = next((k for k, v in SHORTHANDS.items() if v == (kind, e.key)), None)
            inline = any(f.name == kind and e.key in f.options for f in n.faults)
            need(False, f"nemesis.{short}" if short and not inline else "nemesis.faults",
                 e.problem)  # fmt: skip
    for i, step in enumerate(n.schedule or ()):
        ops = {f: k for k in fault_options(n) if k in reg.faults
               for f in (*reg.faults[k].starts, reg.faults[k].heal)}  # fmt: skip
        need(
            math.isfinite(step.at) and step.at >= 0,
            f"nemesis.schedule[{i}].at",
            f"got {step.at}; need seconds >= 0 after time zero",
        )
        need(
            step.f in ops,
            f"nemesis.schedule[{i}].f",
            f"{step.f!r} is no op of the test's faults; allowed: {', '.join(ops) or 'none'}"
            " (name the fault kind in nemesis.faults)",
        )
    if registries is False:
        return
    _check_names(t, reg, need)


def expect_problem(expect: Any) -> str | None:
    """What is wrong with a test's ``expect`` value, or None: it is ``valid``, ``invalid``,
    ``either`` or a non-empty list of anomaly kinds (each a non-empty string), or absent."""
    if expect is None or expect in ("valid", "invalid", "either"):
        return None
    if isinstance(expect, list | tuple) and expect:
        if all(isinstance(k, str) and k.strip() for k in expect):
            return None
    shown = list(expect) if isinstance(expect, tuple) else expect
    return (
        f"got {shown!r}; expected invalid, valid, either or a list of anomaly kinds "
        "(e.g. [nonlinearizable, G-single-item])"
    )


def _check_names(t: TestSpec, reg: _Registries, need: Callable[[bool, str, str], None]) -> None:
    """System, bugs, workload, mix, options and checkers, resolved against the registries."""
    s = reg.systems.get(t.system.name)
    if s is None:
        need(False, "system.name", unknown(SystemInfo, t.system.name, reg.systems, "system"))
    assert s is not None
    for bug in t.system.bugs:
        need(
            bug in s.bugs,
            "system.bugs",
            f"{s.name} has no seeded bug {bug!r}; allowed: {', '.join(s.bugs) or 'none'}",
        )
    _check_reach(t, s, reg, need)
    w = reg.workloads.get(t.workload.name)
    if w is None:
        why = unknown(WorkloadInfo, t.workload.name, reg.workloads, "workload")
        need(False, "workload.name", why)
    assert w is not None
    need(
        w.name in s.clients,
        "workload.name",
        f"{s.name} has no client for workload {w.name!r}; it runs: {', '.join(s.clients)}",
    )
    if w.ops is not None:
        unknown_ops = sorted(set(t.workload.mix) - set(w.ops))
        default = " (the default mix, the register's: give 'mix')"
        need(
            not unknown_ops,
            "workload.mix",
            f"the {w.name} workload has no op {', '.join(map(repr, unknown_ops))}; "
            f"allowed: {', '.join(w.ops)}"
            + (default if t.workload.mix == WorkloadSpec().mix else ""),
        )
    try:
        parse_options(s.options, t.system.options, f"the {s.name} system")
    except OptionError as e:
        need(False, f"system.options.{e.key}", e.problem)
    try:
        wopts, _ = split_workload_options(s, w, t.workload.options)
    except OptionError as e:
        need(False, f"workload.options.{e.key}", e.problem)
    try:  # the workload's own checks across keys (e.g. watchers < concurrency)
        w.generators(t.workload, wopts)
    except ValueError as e:
        need(False, "workload", str(e))
    for c in t.checkers or [CheckerSpec(n) for n in (*w.checkers, *s.checkers)]:
        info = reg.checkers.get(c.name)
        if info is None:
            need(False, "checkers", unknown(CheckerInfo, c.name, reg.checkers, "checker"))
        assert info is not None
        try:
            info.make(parse_options(info.options, c.options, f"the {c.name} checker"))
        except OptionError as e:
            need(False, f"checkers.{c.name}.{e.key}", e.problem)
        except ValueError as e:  # a checker's own checks across options
            need(False, f"checkers.{c.name}", str(e))


def _check_reach(
    t: TestSpec, s: SystemInfo, reg: _Registries, need: Callable[[bool, str, str], None]
) -> None:
    """Each fault kind the test names can reach its system: refused, not faked, when the
    system says it cannot (``SystemInfo.unreachable``), the backend or machine cannot make it
    (``FaultInfo.check``) or the system does not offer what the kind needs
    (``FaultInfo.needs``, ``offers``, ``check_offer``)."""
    given = fault_options(t.nemesis)
    for kind in dict.fromkeys(f.name for f in t.nemesis.faults):
        info = reg.faults[kind]
        why = s.unreachable.get(kind)
        need(why is None, "nemesis.faults", f"the {kind} fault cannot reach {s.name}: {why}")
        # a kind this backend or machine cannot make (a disk fault: no /dev/fuse, docker)
        cannot = info.check(t.cluster.backend) if info.check is not None else None
        need(cannot is None, "nemesis.faults", f"the {kind} fault cannot be made here: {cannot}")
        if not info.needs:
            continue
        offered = s.offers.get(info.needs)
        need(
            offered is not None,
            "nemesis.faults",
            f"the {kind} fault needs a system that offers {info.needs!r}; {s.name} does not"
            + _offering(reg.systems, info.needs),
        )
        if info.check_offer is not None and offered is not None:
            opts: Any = parse_options(info.options, given.get(kind, {}), f"the {kind} fault")
            problem = info.check_offer(opts, offered)
            need(problem is None, "nemesis.faults", f"the {kind} fault on {s.name}: {problem}")


def _offering(systems: Mapping[str, SystemInfo], capability: str) -> str:
    names = sorted(n for n, s in systems.items() if capability in s.offers)
    return f" (systems that do: {', '.join(names)})" if names else ""


def split_workload_options(
    system: SystemInfo, workload: WorkloadInfo, given: Mapping[str, Any]
) -> tuple[Any, Any]:
    """``workload.options`` as (the workload's options, the system's client options for that
    workload): a key the client declares goes to the client, every other to the workload.
    Raises OptionError naming a key neither declares, or a bad value."""
    client_cls = system.client_options.get(workload.name, NoOptions)
    client_keys = [o.name for o in registry.declared(client_cls)]
    own_keys = [o.name for o in registry.declared(workload.options)]
    what = f"the {workload.name} workload on {system.name}"
    for key in given:
        if key not in client_keys and key not in own_keys:
            allowed = ", ".join(sorted([*own_keys, *client_keys])) or "none (it takes no options)"
            raise OptionError(key, f"{what} has no option {key!r}; allowed: {allowed}")
    mine = {k: v for k, v in given.items() if k not in client_keys}
    theirs = {k: v for k, v in given.items() if k in client_keys}
    return parse_options(workload.options, mine, what), parse_options(client_cls, theirs, what)


def override(
    t: TestSpec,
    *,
    backend: str | None = None,
    nodes: int | None = None,
    inventory: str | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    bugs: Sequence[str] = (),
) -> TestSpec:
    """``t`` with what the command line (or the pytest plugin) overrides; None keeps the
    suite's value, and ``bugs`` are added to the suite's."""
    r = dataclasses.replace
    if backend:
        t = r(t, cluster=r(t.cluster, backend=backend))
    if nodes:
        t = r(t, cluster=r(t.cluster, nodes=nodes))
    if inventory:
        t = r(t, cluster=r(t.cluster, inventory=inventory))
    if time_limit:
        t = r(t, time_limit=time_limit)
    if seed is not None:
        t = r(t, seed=seed)
    if bugs:
        t = r(t, system=r(t.system, bugs=tuple(dict.fromkeys([*t.system.bugs, *bugs]))))
        if t.expect in (None, "valid"):  # a seeded bug on the command line is to be found
            t = r(t, expect="invalid")
    return t
