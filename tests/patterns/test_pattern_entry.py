"""The patterns' entry points and node base: ``Pattern`` with its flag table, ``serve``'s
pieces, the ``Node`` handler table and lifecycle, and the rule that a pattern imports only the
standard library and public names of other patterns."""

from __future__ import annotations

import ast
import importlib
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from patterns._runtime import (
    Node,
    NodeConfig,
    Pattern,
    RpcClient,
    count,
    ms,
    ms_range,
    ok_reply,
    switch,
)

PATTERNS = Path(__file__).resolve().parents[2] / "patterns"
NAMES = sorted(
    p.name for p in PATTERNS.iterdir() if (p / "__main__.py").exists() and p.name != "_runtime"
)
BASE = ["--id", "n1", "--listen", "127.0.0.1:0", "--data", "/nonexistent"]


class Recorder(Node):
    """A node that records its keywords, counts its ticks and closes."""

    log_name = "recorder"
    tick_every = 0.01

    def __init__(self, cfg: NodeConfig, **keywords: Any) -> None:
        super().__init__(cfg)
        self.keywords = keywords
        self.ticks = threading.Semaphore(0)
        self.closed = False
        self.handlers["echo"] = lambda msg: ok_reply(msg.get("value"))

    def tick(self) -> None:
        self.ticks.release()
        if self.keywords.get("explode"):
            raise RuntimeError("a tick that raises must not end the ticker")

    def close(self) -> None:
        self.closed = True


PATTERN = Pattern(
    "recorder",
    "a test pattern",
    bugs={"b": "a bug"},
    flags=(
        ms("delay-ms", 20, "a delay", arg="delay"),
        ms("margin-ms", None, "picked by the node when not given", arg="margin"),
        ms_range("window-ms", (300, 600), "a range", arg="window"),
        count("items", 2, "how many", arg="items", convert=lambda n: [f"i{i}" for i in range(n)]),
        switch("no-forward", "do not forward", arg="forward", convert=lambda off: not off),
        switch("explode", "raise in every tick", arg="explode"),
    ),
    node=Recorder,
)


def test_flags_reach_the_node_as_keywords_in_seconds_and_converted() -> None:
    node = PATTERN.make(PATTERN.parse(BASE))
    assert isinstance(node, Recorder)
    assert node.keywords == {
        "delay": 0.02,
        "margin": None,
        "window": (0.3, 0.6),
        "items": ["i0", "i1"],
        "forward": True,
        "explode": False,
    }
    given = ["--delay-ms", "5", "--margin-ms", "40", "--window-ms", "100", "--items", "1"]
    node = PATTERN.make(PATTERN.parse([*BASE, *given, "--no-forward", "--bug", "b"]))
    assert isinstance(node, Recorder)
    assert node.keywords["delay"] == 0.005 and node.keywords["margin"] == 0.04
    assert node.keywords["window"] == (0.1, 0.1)  # one number is MIN = MAX
    assert node.keywords["items"] == ["i0"] and node.keywords["forward"] is False
    assert node.bugs == {"b"}


@pytest.mark.parametrize("bad", ["300-100", "0-10", "a-b"])
def test_a_bad_range_exits_with_a_message_naming_the_flag(bad: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as e:
        PATTERN.parse([*BASE, "--window-ms", bad])
    assert e.value.code == 2
    assert "--window-ms" in capsys.readouterr().err


def test_a_node_dispatches_by_type_answers_status_ticks_and_closes_on_stop() -> None:
    node = PATTERN.make(PATTERN.parse([*BASE, "--explode", "--bug", "b"]))
    node.start()
    try:
        assert node.server is not None
        rpc = RpcClient(node.server.address)
        assert rpc.call({"type": "echo", "value": 7})["value"] == 7
        status = rpc.call({"type": "status"})
        assert status["ok"] and status["value"] == {"id": "n1", "bugs": ["b"]}
        unknown = rpc.call({"type": "nope"})
        assert unknown["error"] == "bad-request" and "'nope'" in unknown["message"]
        assert isinstance(node, Recorder)
        for _ in range(3):  # every tick raises, and the ticker goes on
            assert node.ticks.acquire(timeout=10)
        rpc.close()
    finally:
        node.stop()
    assert isinstance(node, Recorder) and node.closed and node.stopping.is_set()


@pytest.mark.parametrize("name", NAMES)
def test_each_pattern_declares_its_entry_and_builds_its_node_from_its_flags(
    name: str, tmp_path: Path
) -> None:
    main = importlib.import_module(f"patterns.{name}.__main__")
    pattern = main.PATTERN
    assert pattern.name == name and set(pattern.bugs) == set(
        importlib.import_module(f"patterns.{name}").BUGS
    )
    # every flag at its default: a flag whose keyword the node lacks raises here
    node = pattern.make(
        pattern.parse(["--id", "n1", "--listen", "127.0.0.1:0", "--data", str(tmp_path)])
    )
    assert node.id == "n1" and node.server is None  # nothing served before start
    node.close()


def test_a_pattern_imports_the_standard_library_and_public_names_of_patterns_only() -> None:
    problems = []
    for path in sorted(PATTERNS.rglob("*.py")):
        where = path.relative_to(PATTERNS.parent)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                problems += [
                    f"{where}: import {a.name}" for a in node.names if not _allowed(a.name)
                ]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                if not _allowed(node.module or ""):
                    problems.append(f"{where}: from {node.module} import ...")
            elif isinstance(node, ast.ImportFrom) and node.level > 1:
                # another package of patterns/ (``from ..raft import RaftNode``): its public
                # names, from its public modules (``_runtime`` is the shared runtime)
                private = [a.name for a in node.names if a.name.startswith("_")]
                modules = (node.module or "").split(".")[1:]
                if private or any(m.startswith("_") for m in modules):
                    problems.append(
                        f"{where}: from {'.' * node.level}{node.module} import "
                        f"{', '.join(a.name for a in node.names)}"
                    )
    assert problems == []


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top == "patterns"
