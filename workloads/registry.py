"""What a suite can name: systems (with their seeded bugs), workloads and checkers.

A user's own register through the ``splitbrain.systems``, ``splitbrain.workloads`` and
``splitbrain.checkers`` entry point groups, each entry a callable returning a ``SystemInfo`` /
``WorkloadInfo`` / ``CheckerInfo``: a user adds a system without editing this repository.
Built-ins register the same way from the modules in ``BUILTIN_MODULES``: each has a
``register()`` returning a list of those infos (one module per pattern or system).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from harness.generator import Generator
from harness.spec import TYPE_WORDS, SystemSpec, WorkloadSpec, is_of_type

__all__ = [
    "CheckerInfo",
    "Option",
    "OptionError",
    "SystemInfo",
    "WorkloadInfo",
    "check_options",
    "checkers",
    "ms",
    "ms_range",
    "share",
    "systems",
    "workloads",
]


@dataclass(frozen=True)
class Option:
    """One option of a system or workload: its name, type (bool, int, float or str), default
    and one line of doc; the one declaration both validation and ``splitbrain list`` read.

    choices: the only values allowed (empty: any value of the type).
    minimum, maximum: the smallest and largest numbers allowed (None: no bound).
    pattern: for a str, a regular expression the whole value must match, and ``form`` says it
      the way a person writes it (``MIN-MAX``).
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

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this option, in words, or None if it is allowed."""
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


class OptionError(ValueError):
    """An option that is not declared, or a value it does not allow: ``key`` names it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


def check_options(given: Mapping[str, Any], declared: Sequence[Option], what: str) -> None:
    """Raise OptionError for the first key of ``given`` that ``declared`` does not name, or
    whose value it does not allow; ``what`` (``the etcd system``) says whose options they are."""
    by_name = {o.name: o for o in declared}
    for key, value in given.items():
        option = by_name.get(key)
        if option is None:
            allowed = ", ".join(sorted(by_name)) or "none (it takes no options)"
            raise OptionError(key, f"{what} has no option {key!r}; allowed: {allowed}")
        problem = option.problem(value)
        if problem is not None:
            raise OptionError(key, f"{what}'s option {key!r}: {problem}")


def ms(name: str, default: int | None, doc: str, minimum: int = 1) -> Option:
    """A duration option in milliseconds (an integer >= ``minimum``), such as a pattern
    daemon's ``heartbeat_ms``, which ``daemon.option_flags`` passes on as ``--heartbeat-ms``."""
    return Option(name, int, default, doc, minimum=minimum)


def share(name: str, default: float, doc: str) -> Option:
    """A fraction of the time, from 0 to 1 (``reads: 0.15``)."""
    return Option(name, float, default, doc, minimum=0, maximum=1)


def ms_range(name: str, default: str, doc: str) -> Option:
    """A range of milliseconds written ``MIN-MAX`` (``300-600``), as the pattern daemons read."""
    return Option(name, str, default, doc, pattern=r"[0-9]+-[0-9]+", form="MIN-MAX, e.g. 300-600")


#: the Raft store's own options, shared by the patterns built on its runtime arguments
RAFT_OPTIONS = (
    ms("heartbeat_ms", 50, "leader heartbeat interval"),
    ms_range("election_ms", "300-600", "randomized election timeout range"),
    ms("request_timeout_ms", 1000, "how long a client request may wait for its outcome"),
)


@dataclass(frozen=True)
class SystemInfo:
    name: str
    description: str
    #: seeded bug name -> what it does and which fault exposes it
    bugs: dict[str, str]
    #: SystemSpec, nodes -> a System (setup / teardown / log_files, maybe kill / pause)
    make: Callable[[SystemSpec, list[Any]], Any]
    #: workload name -> (WorkloadSpec -> an unopened Client); the workloads it can run
    clients: dict[str, Callable[[WorkloadSpec], Any]]
    #: checkers every test of this system adds (e.g. one leader per term)
    checkers: tuple[str, ...] = ()
    #: ops every client thread performs once after the final heal (e.g. status)
    final_ops: tuple[str, ...] = ()
    #: Debian packages a node needs (e.g. ``etcd-server``): the docker backend runs an image
    #: with them installed; local and ssh nodes must have them already (``./setup --tests``)
    node_packages: tuple[str, ...] = ()
    #: the ``system.options`` it reads, checked when the suite is read; None: not declared
    #: (a third-party entry from before declarations), its options are passed on unchecked
    options: tuple[Option, ...] | None = None
    #: workload name -> the ``workload.options`` its client for that workload reads, on top
    #: of the workload's own (etcd's register client reads ``reads``)
    client_options: dict[str, tuple[Option, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadInfo:
    name: str
    description: str
    #: WorkloadSpec -> (main generator, final-phase generator or None)
    generators: Callable[[WorkloadSpec], tuple[Generator, Generator | None]]
    checkers: tuple[str, ...]
    #: the ``workload.options`` its generators read; None: not declared (passed unchecked)
    options: tuple[Option, ...] | None = None
    #: the ops ``workload.mix`` may weigh; None: the workload does not read the mix
    ops: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CheckerInfo:
    name: str
    description: str
    #: options (model, time budget) -> a Checker
    make: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)


RAFT_BUGS = {
    "stale-read": "the leader serves reads from its local state without confirming it still "
    "leads; shown when the leader is isolated (partition shape 'leader') while a new one "
    "takes writes",
    "early-ack": "a write is acknowledged once it is in the leader's own log, before a "
    "majority has it; shown when the leader is isolated or killed right after",
    "no-fsync": "state and log are written through buffers that are never flushed or synced; "
    "shown when a majority is killed at once (kill target 'majority' or 'all')",
    "vote-twice": "a node may grant its vote to two candidates in one term; shown by elections "
    "under partitions such as 'majorities-ring' (two leaders in one term)",
}


def _builtin_systems() -> list[SystemInfo]:
    def make(spec: SystemSpec, nodes: list[Any]) -> Any:
        from workloads.daemon import option_flags
        from workloads.raft import RaftSystem

        return RaftSystem(
            nodes=nodes,
            bugs=list(spec.bugs),
            port=spec.port,
            extra_args=option_flags(spec.options, [o.name for o in RAFT_OPTIONS], "raft"),
        )

    def register_client(spec: WorkloadSpec) -> Any:
        from workloads.raft import RaftClient

        return RaftClient(timeout=spec.timeout)

    return [
        SystemInfo(
            "raft",
            "reference Raft key-value store (patterns/raft): read, write, cas per key",
            RAFT_BUGS,
            make,
            {"register": register_client},
            checkers=("leaders",),
            final_ops=("status",),
            options=RAFT_OPTIONS,
        )
    ]


def _register_generators(spec: WorkloadSpec) -> tuple[Generator, Generator | None]:
    from harness.generator import stagger
    from workloads.register import RegisterOps, final_reads

    ops = RegisterOps(spec)
    main: Generator = ops if spec.rate <= 0 else stagger(1.0 / spec.rate, ops)
    return main, final_reads(ops)


def _builtin_workloads() -> list[WorkloadInfo]:
    return [
        WorkloadInfo(
            "register",
            "read / write / compare-and-set over rotating independent keys",
            _register_generators,
            ("linearizable", "stats"),
            options=(),
            ops=("read", "write", "cas"),
        )
    ]


def _builtin_checkers() -> list[CheckerInfo]:
    def linearizable(**opts: Any) -> Any:
        from checkers.linearizable import LinearizableChecker

        return LinearizableChecker(
            model=opts.get("model", "cas-register"),
            initial=opts.get("initial"),
            time_budget_s=opts.get("time_budget_s", 120.0),
        )

    def stats(**_: Any) -> Any:
        from checkers.stats import StatsChecker

        return StatsChecker()

    def leaders(**_: Any) -> Any:
        from checkers.leaders import LeadersChecker

        return LeadersChecker()

    return [
        CheckerInfo(
            "linearizable",
            "Wing & Gong / Lowe search, per key, against a model",
            linearizable,
            {"model": "cas-register"},
        ),
        CheckerInfo("stats", "ok / fail / info counts; unknown if some f never succeeded", stats),
        CheckerInfo("leaders", "at most one leader per term, from the nodes' status", leaders),
    ]


#: modules with a ``register() -> list[SystemInfo | WorkloadInfo | CheckerInfo]``
BUILTIN_MODULES: tuple[str, ...] = (
    "workloads.leaderfollower",
    "workloads.paxos",
    "workloads.queue",
    "workloads.lock",
    "workloads.lease",
    "workloads.election",
    "workloads.etcd",
    "workloads.etcd_watch",
    "workloads.redis",
    "workloads.zookeeper",
    "workloads.twophase",
)


def _from_modules(kind: type) -> list[Any]:
    import importlib

    found = []
    for name in BUILTIN_MODULES:
        found += [i for i in importlib.import_module(name).register() if isinstance(i, kind)]
    return found


def _load(group: str, builtin: list[Any]) -> dict[str, Any]:
    kind = type(builtin[0])
    found = {i.name: i for i in [*builtin, *_from_modules(kind)]}
    for ep in entry_points(group=group):
        info = ep.load()()
        found[info.name] = info
    return found


def systems() -> dict[str, SystemInfo]:
    return _load("splitbrain.systems", _builtin_systems())


def workloads() -> dict[str, WorkloadInfo]:
    return _load("splitbrain.workloads", _builtin_workloads())


def checkers() -> dict[str, CheckerInfo]:
    return _load("splitbrain.checkers", _builtin_checkers())
