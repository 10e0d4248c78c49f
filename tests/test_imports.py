"""The direction of dependencies, enforced: an import that breaks a rule fails here.

- The base layer (spec, history, generator, registry and the Protocol modules) imports
  nothing of the project outside the base layer.
- Checkers import only the base layer and checkers.
- Patterns import only the standard library and patterns (they are copied to nodes alone).
- Clusters import only the base layer and clusters.
- The nemesis imports only the base layer, clusters and the nemesis: never checkers.
- No cycle between modules, counting imports inside functions (which only hide one).

Every import is counted, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "checkers", "clusters", "nemesis", "workloads", "patterns")
BASE = {
    "harness.spec",
    "harness.history",
    "harness.generator",
    "harness.registry",
    "clusters.base",
    "nemesis.base",
    "checkers.base",
    "workloads.system",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(path)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an imported name lives in (``harness.spec.TestSpec`` ->
    ``harness.spec``), or None for the standard library and third parties."""
    while name:
        if name in MODULES:
            return name
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return None


def _imports(mod: str, path: Path) -> list[tuple[str, int]]:
    """(project module imported, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            names = [f"{base}.{a.name}" for a in node.names] or [base]
        for n in names:
            target = _resolve(n)
            if target is not None and target != mod:
                found.append((target, getattr(node, "lineno", 0)))
    return found


GRAPH = {mod: _imports(mod, path) for mod, path in MODULES.items()}


def _top(mod: str) -> str:
    return mod.split(".", 1)[0]


def _allowed(mod: str, target: str) -> bool:
    if mod in BASE:
        return target in BASE
    top = _top(mod)
    if top == "checkers":
        return target in BASE or _top(target) == "checkers"
    if top == "patterns":
        return _top(target) == "patterns"
    if top == "clusters":
        return target in BASE or _top(target) == "clusters"
    if top == "nemesis":
        return target in BASE or _top(target) in ("clusters", "nemesis")
    return True


def test_every_import_keeps_the_direction_of_dependencies() -> None:
    broken = [
        f"{MODULES[mod].relative_to(ROOT)}:{line}: {mod} imports {target}"
        for mod, targets in GRAPH.items()
        for target, line in targets
        if not _allowed(mod, target)
    ]
    assert not broken, "imports against the rules (see this file's docstring):\n" + "\n".join(
        broken
    )


def test_no_two_modules_import_each_other_even_inside_functions() -> None:
    # Tarjan's strongly connected components over the import graph
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w, _ in GRAPH[v]:
            if _parent_package_init(v, w):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, "modules that import each other: " + "; ".join(map(str, cycles))


def _parent_package_init(mod: str, target: str) -> bool:
    """A submodule importing its own package (``checkers.txn.graph`` imports ``checkers.txn``,
    whose ``__init__`` re-exports it) is not counted: the package and its modules are one
    unit. A package importing its submodules, and every other edge, is counted."""
    return mod.startswith(target + ".")


@pytest.mark.parametrize("mod", sorted(m for m in MODULES if _top(m) == "patterns"))
def test_patterns_import_only_the_standard_library_and_patterns(mod: str) -> None:
    import sys

    tree = ast.parse(MODULES[mod].read_text(encoding="utf-8"))
    outside = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        for n in names:
            top = n.split(".", 1)[0]
            if top not in sys.stdlib_module_names and top not in ("patterns", "__future__"):
                outside.append(f"line {node.lineno}: {n}")
    assert not outside, f"{mod} imports outside the standard library: {outside}"
