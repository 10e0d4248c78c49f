"""What a suite can name: systems (with their seeded bugs), workloads and checkers.

A user's own register through the ``splitbrain.systems``, ``splitbrain.workloads`` and
``splitbrain.checkers`` entry point groups, each entry a callable returning a ``SystemInfo`` /
``WorkloadInfo`` / ``CheckerInfo``: a user adds a system without editing this repository.
Built-ins register the same way from the modules in ``BUILTIN_MODULES``: each has a
``register()`` returning a list of those infos (one module per pattern or system).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from harness.generator import Generator
from harness.spec import SystemSpec, WorkloadSpec

__all__ = [
    "CheckerInfo",
    "SystemInfo",
    "WorkloadInfo",
    "checkers",
    "systems",
    "workloads",
]


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


@dataclass(frozen=True)
class WorkloadInfo:
    name: str
    description: str
    #: WorkloadSpec -> (main generator, final-phase generator or None)
    generators: Callable[[WorkloadSpec], tuple[Generator, Generator | None]]
    checkers: tuple[str, ...]


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
        from workloads.raft import RaftSystem

        return RaftSystem(nodes=nodes, bugs=list(spec.bugs), port=spec.port)

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
