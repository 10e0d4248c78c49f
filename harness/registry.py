"""Everything a suite, ``splitbrain check`` or ``splitbrain list`` can name, one registry per
kind: systems, workloads, checkers, faults and cluster backends.

Every entry, built-in or a third party's, is an entry point of a package; the entry point's
name is the registered name and it points at one info object::

    # pyproject.toml of a plugin
    [project.entry-points."splitbrain.systems"]
    nats = "splitbrain_nats:SYSTEM"          # a SystemInfo whose name is "nats"

The built-ins are listed the same way in splitbrain's own ``pyproject.toml``. The groups are
``splitbrain.systems``, ``splitbrain.workloads``, ``splitbrain.checkers``, ``splitbrain.faults``
and ``splitbrain.backends``. A name registered twice, or
one that does not load, is set aside: naming it is an error that says why (``broken``).

Options: each entry that takes options declares them as a frozen dataclass whose fields are
made with ``option()`` (type from the annotation, a default, one line of doc, and optionally
choices or bounds). ``parse_options`` turns what a suite or ``--option`` gave into an instance
of it, or raises ``OptionError`` naming the key, the bad value and what is allowed;
``splitbrain list`` prints ``declared(cls)``. Nothing reads options from a raw dict.

This module is part of the base layer: it imports only ``harness.spec`` and the standard
library, so that checkers, the nemesis, clusters and workloads can all declare their infos.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any, TypeVar

from harness.spec import TYPE_WORDS, is_of_type

__all__ = [
    "GROUPS",
    "BackendInfo",
    "CheckerInfo",
    "FaultInfo",
    "NoOptions",
    "Option",
    "OptionError",
    "RegistryError",
    "SystemInfo",
    "WorkloadInfo",
    "backends",
    "broken",
    "checkers",
    "declared",
    "faults",
    "lookup",
    "option",
    "options_dict",
    "parse_options",
    "refresh",
    "systems",
    "workloads",
]

# -- options ----------------------------------------------------------------------------------

_META = "splitbrain.option"


@dataclass(frozen=True)
class Option:
    """One declared option, as validation and ``splitbrain list`` read it.

    type: bool, int, float, str, or a tuple of one of those (``tuple[str, ...]``: a list in
      YAML); ``optional``: None is allowed too (``int | None``).
    choices: the only values allowed (for a tuple: of each item, and at least one; empty:
      any of the type).
    minimum, maximum: bounds of a number (None: no bound).
    pattern: for a str, a regular expression the whole value must match; ``form`` says it the
      way a person writes it (``MIN-MAX, e.g. 300-600``).
    """

    name: str
    type: type
    default: Any
    doc: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    form: str = ""
    many: bool = False
    optional: bool = False

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this option, in words, or None if it is allowed."""
        if value is None and self.optional:
            return None
        if self.many:
            if not isinstance(value, list | tuple):
                return f"expected a list of {self.expected()}, got {value!r}"
            if self.choices and not value:
                return f"got an empty list; name at least one of {', '.join(self.choices)}"
            for item in value:
                bad = self._item_problem(item)
                if bad is not None:
                    return bad
            return None
        return self._item_problem(value)

    def _item_problem(self, value: Any) -> str | None:
        tp = self.type
        if not is_of_type(value, tp):
            return f"expected {self.expected()}, got {value!r} ({type(value).__name__})"
        if tp is float and not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
        if self.choices and value not in self.choices:
            return f"got {value!r}; allowed: {', '.join(str(c) for c in self.choices)}"
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                return f"got {value!r}; need a number >= {low:g}"
            if low is None:
                return f"got {value!r}; need a number <= {high:g}"
            return f"got {value!r}; need a number from {low:g} to {high:g}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"got {value!r}; expected {self.form or self.pattern}"
        return None

    def expected(self) -> str:
        """The values it takes, in words: ``an integer``, ``MIN-MAX, e.g. 300-600``."""
        if self.form:
            return self.form
        return TYPE_WORDS.get(self.type, self.type.__name__)

    def convert(self, value: Any) -> Any:
        """``value`` (already allowed) as the field holds it: a list becomes a tuple, an
        integer given for a float becomes a float."""
        if value is None:
            return None
        if self.many:
            return tuple(self._convert_item(v) for v in value)
        return self._convert_item(value)

    def _convert_item(self, value: Any) -> Any:
        return float(value) if self.type is float else value


class OptionError(ValueError):
    """An option that is not declared, or a value it does not allow: ``key`` names it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


def option(
    default: Any,
    doc: str,
    *,
    choices: tuple[Any, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    pattern: str | None = None,
    form: str = "",
) -> Any:
    """A field of an options dataclass: its default, one line of doc, and what is allowed.

    >>> @dataclass(frozen=True)
    ... class LockOptions:
    ...     hold: float = option(0.2, "seconds a client holds the lock", minimum=0)
    """
    meta = {
        "doc": doc,
        "choices": tuple(choices),
        "minimum": minimum,
        "maximum": maximum,
        "pattern": pattern,
        "form": form,
    }
    if isinstance(default, list | dict | set):
        raise TypeError("an option's default must be immutable (use a tuple)")
    return field(default=default, metadata={_META: meta})


@dataclass(frozen=True)
class NoOptions:
    """The options of something that takes none."""


_T = TypeVar("_T")


def _field_type(annotation: Any) -> tuple[type, bool, bool]:
    """(scalar type, many, optional) of an options field's resolved annotation."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"an option's type must be one type (or it | None): {annotation}")
        annotation = members[0]
        origin = typing.get_origin(annotation)
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"a list option is typed tuple[T, ...], not {annotation}")
        return args[0], True, optional
    if annotation not in TYPE_WORDS:
        raise TypeError(f"an option is a bool, int, float, str or tuple of those: {annotation}")
    return annotation, False, optional


@cache
def declared(cls: type) -> tuple[Option, ...]:
    """The options an options dataclass declares, in field order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_META)
        if meta is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not made with option()")
        tp, many, optional = _field_type(hints[f.name])
        out.append(Option(f.name, tp, f.default, many=many, optional=optional, **meta))
    return tuple(out)


def parse_options(cls: type[_T], given: Mapping[str, Any] | None, what: str) -> _T:
    """An instance of the options dataclass ``cls`` from what a suite or the command line
    gave; raises OptionError for a key ``cls`` does not declare or a value it does not allow.
    ``what`` (``the etcd system``) says whose options they are."""
    if isinstance(given, cls):
        return given
    options = {o.name: o for o in declared(cls)}  # type: ignore[arg-type]  # a class hashes
    values: dict[str, Any] = {}
    for key, value in (given or {}).items():
        opt = options.get(key)
        if opt is None:
            allowed = ", ".join(sorted(options)) or "none (it takes no options)"
            raise OptionError(key, f"{what} has no option {key!r}; allowed: {allowed}")
        problem = opt.problem(value)
        if problem is not None:
            raise OptionError(key, f"{what}'s option {key!r}: {problem}")
        values[key] = opt.convert(value)
    return cls(**values)


def options_dict(options: Any) -> dict[str, Any]:
    """An options instance as a plain mapping (for results.json and daemon flags)."""
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        return dataclasses.asdict(options)
    return {}


# -- what is registered -----------------------------------------------------------------------


@dataclass(frozen=True)
class SystemInfo:
    """A system a test deploys.

    make: (SystemSpec, nodes, options) -> a System (``workloads.system``), where options is
      an instance of ``options``.
    clients: workload name -> (WorkloadSpec, workload options, System) -> an unopened Client;
      the workloads it can run. The client is opened on a node with ``client.open(node)``
      and learns where to connect from the System it was made with.
    bugs: seeded bug name -> what it does and which fault exposes it.
    """

    name: str
    description: str
    make: Callable[..., Any]
    clients: Mapping[str, Callable[..., Any]]
    bugs: Mapping[str, str] = field(default_factory=dict)
    options: type = NoOptions
    #: workload name -> the options its client for that workload reads on top of the
    #: workload's own (etcd's register client reads ``reads``)
    client_options: Mapping[str, type] = field(default_factory=dict)
    #: the port its first daemon listens on when the suite gives none
    default_port: int = 7000
    #: checkers every test of this system adds (e.g. one leader per term)
    checkers: tuple[str, ...] = ()
    #: ops every client thread performs once after the final heal (e.g. status)
    final_ops: tuple[str, ...] = ()
    #: Debian packages a node needs (``etcd-server``); the docker backend's image has them
    node_packages: tuple[str, ...] = ()
    #: fault kinds that cannot reach it -> why (etcd: ``clock``, Go reads time through the
    #: vDSO, not libc); a suite naming one is refused when it is read, with the reason
    unreachable: Mapping[str, str] = field(default_factory=dict)
    #: what it offers to fault kinds that need the system's help (``FaultInfo.needs``):
    #: capability -> the variants it supports (``{"byzantine": ("equivocate", ...)}``)
    offers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadInfo:
    """What clients do. generators: (WorkloadSpec, options) -> (main generator, final-phase
    generator or None)."""

    name: str
    description: str
    generators: Callable[..., Any]
    checkers: tuple[str, ...]
    options: type = NoOptions
    #: the ops ``workload.mix`` may weigh; None: the workload does not read the mix
    ops: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CheckerInfo:
    """A checker. make: (options) -> a Checker (``checkers.base``)."""

    name: str
    description: str
    make: Callable[[Any], Any]
    options: type = NoOptions


@dataclass(frozen=True)
class FaultInfo:
    """A kind of fault the nemesis injects.

    make: (options, rng, system) -> a Nemesis (``nemesis.base``) handling ``starts`` and
      ``heal``; one is made per test for every fault kind it names.
    starts: the ops that begin it (``start-partition``); heal: the op that ends it. No two
      kinds share an op: each kind's nemesis is its own.
    pick: (options, turn, rng, interval) -> (f, value) of the ``turn``-th start op the
      schedule emits (which shape, which targets, which offset; rng is the nemesis thread's
      seeded random, interval the seconds the fault will last); None: the op is ``starts[0]``
      with no value. The schedule is: quiet, start, wait ``interval``, heal, for each fault
      kind in turn.
    color: its colour in reports (CSS).
    heal_rank: when several heals are owed at the end of a run, lower ranks heal first (a
      paused process resumes, then the network heals, then killed nodes start).
    needs: a capability the system must offer (``SystemInfo.offers``) for this kind to reach
      it, e.g. ``byzantine``: a node can only be made to lie through its own control
      interface; "" (most kinds): it reaches any system not listing it in ``unreachable``.
    check_offer: (options, the variants the system offers for ``needs``) -> why the options
      ask for something not offered, or None; run when the suite is read.
    pin: (value invoked, value completed) -> the value of a start op that does exactly what
      this one did ("one" that killed n3 -> ["n3"]), so that a replay (``nemesis.schedule``)
      makes the same fault to the same nodes; None: the value as invoked.
    prepare: (node, system) -> None, on every node before the system is set up there (the
      disk faults mount a file system under its data directory before it first writes);
      raises SetupError. unprepare: (node) -> None, after the system is stopped, whatever
      happened: safe on a node never (or half) prepared.
    check: (backend name) -> why this kind cannot be made with that backend on this machine
      (no /dev/fuse), or None; a test asking for it is refused (exit 3) before anything is made.
    node_needs: what a node must be given for this kind, by name; the run passes the names
      of its kinds to ``BackendInfo.make`` (``node_needs=``, only when there are any), so a
      backend gives them to the tests that ask and to no other. ``fuse``: ``/dev/fuse`` and
      the right to mount (the docker backend adds the device, CAP_SYS_ADMIN and no AppArmor
      profile to its containers; the local backend's nodes have the host's).
    """

    name: str
    description: str
    make: Callable[..., Any]
    starts: tuple[str, ...]
    heal: str
    pick: Callable[[Any, int, Any, float], tuple[str, Any]] | None = None
    options: type = NoOptions
    color: str = "rgba(128,128,128,.3)"
    heal_rank: int = 50
    needs: str = ""
    check_offer: Callable[[Any, tuple[str, ...]], str | None] | None = None
    pin: Callable[[Any, Any], Any] | None = None
    prepare: Callable[[Any, Any], None] | None = None
    unprepare: Callable[[Any], None] | None = None
    check: Callable[[str], str | None] | None = None
    node_needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendInfo:
    """Where nodes come from. make: (ClusterSpec, workroot, node packages) -> a Cluster, called
    with ``node_needs=`` (names, ``FaultInfo.node_needs``) too when the test's fault kinds
    need anything of the nodes;
    max_nodes: the most nodes it can make (None: as many as hosts are given); check:
    (ClusterSpec) -> None, raising ValueError for a spec it cannot make (a bad host list),
    when the suite is read: it reads files, but connects to nothing and makes nothing;
    clean: () -> a line per thing removed of what dead runs left (``splitbrain clean``)."""

    name: str
    description: str
    make: Callable[..., Any]
    max_nodes: int | None = None
    check: Callable[[Any], None] | None = None
    clean: Callable[[], list[str]] | None = None
    #: whether only root can make it (network namespaces, iptables)
    needs_root: bool = False


GROUPS: dict[type, str] = {
    SystemInfo: "splitbrain.systems",
    WorkloadInfo: "splitbrain.workloads",
    CheckerInfo: "splitbrain.checkers",
    FaultInfo: "splitbrain.faults",
    BackendInfo: "splitbrain.backends",
}


class RegistryError(RuntimeError):
    """An entry point that does not load, is not the info of its group, or is registered
    twice."""


@dataclass
class _Loaded:
    infos: dict[str, Any]
    #: registered name -> why its entry point could not be used
    broken: dict[str, str]


@cache
def _entries(kind: type) -> dict[str, list[Any]]:
    """``kind``'s entry points by registered name, none loaded yet (listing them reads only
    the installed packages' metadata; loading one imports its module)."""
    out: dict[str, list[Any]] = {}
    for ep in sorted(entry_points(group=GROUPS[kind]), key=lambda e: e.name):
        out.setdefault(ep.name, []).append(ep)
    return out


def _load_entry(kind: type, name: str, eps: list[Any], out: _Loaded) -> None:
    """Load the entry registered as ``name`` into ``out``: its info, or why it cannot be
    used (registered twice, does not load, not the info of its group, named otherwise)."""
    group = GROUPS[kind]
    places: list[str] = []
    for ep in eps:
        place = f"entry point {ep.name!r} = {ep.value!r} of group {group!r}"
        if ep.dist is not None:
            place += f" (package {ep.dist.name})"
        if place not in places:
            places.append(place)
    if len(places) > 1:
        out.broken[name] = f"registered twice: {places[0]}; {places[1]}"
        return
    (place,) = places
    try:
        info: Any = eps[0].load()
    except Exception as e:
        out.broken[name] = f"{place} does not load: {type(e).__name__}: {e}"
        return
    if not isinstance(info, kind):
        out.broken[name] = f"{place} is a {type(info).__name__}, not a {kind.__name__}"
    elif getattr(info, "name", None) != name:
        out.broken[name] = f"{place} names an info called {getattr(info, 'name', None)!r}"
    else:
        out.infos[name] = info


@cache
def _load(kind: type) -> _Loaded:
    """Every entry of ``kind``'s group. One that does not load is set aside with the reason,
    so that a broken plugin does not stop the rest: naming it is an error that says why."""
    out = _Loaded({}, {})
    for name, eps in _entries(kind).items():
        _load_entry(kind, name, eps, out)
    return out


@cache
def _load_named(kind: type, name: str) -> _Loaded:
    """The entry registered as ``name`` alone (empty when there is none): ``lookup`` imports
    only the module it names (``splitbrain check --checker list-append`` need not import the
    other 28 checkers)."""
    out = _Loaded({}, {})
    eps = _entries(kind).get(name)
    if eps:
        _load_entry(kind, name, eps, out)
    return out


def refresh() -> None:
    """Forget what was loaded: the next lookup reads the entry points again (after a package
    was installed, or ``sys.path`` changed, in this process)."""
    _entries.cache_clear()
    _load.cache_clear()
    _load_named.cache_clear()


def broken(kind: type) -> dict[str, str]:
    """Registered names of ``kind`` whose entry point cannot be used, and why."""
    return dict(_load(kind).broken)


def lookup(kind: type, name: str, what: str) -> Any:
    """The ``kind`` registered as ``name``; RegistryError saying what is registered (or why
    ``name``'s entry point is broken) otherwise. ``what`` is the kind in words (``system``)."""
    loaded = _load_named(kind, name)
    if name in loaded.infos:
        return loaded.infos[name]
    if name in loaded.broken:
        raise RegistryError(f"{what} {name!r} cannot be used: {loaded.broken[name]}")
    loaded = _load(kind)  # not registered: say what is
    raise RegistryError(f"no {what} {name!r}; registered: {', '.join(sorted(loaded.infos))}")


def systems() -> dict[str, SystemInfo]:
    return dict(_load(SystemInfo).infos)


def workloads() -> dict[str, WorkloadInfo]:
    return dict(_load(WorkloadInfo).infos)


def checkers() -> dict[str, CheckerInfo]:
    return dict(_load(CheckerInfo).infos)


def faults() -> dict[str, FaultInfo]:
    return dict(_load(FaultInfo).infos)


def backends() -> dict[str, BackendInfo]:
    return dict(_load(BackendInfo).infos)
