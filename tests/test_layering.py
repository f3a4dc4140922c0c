"""The dependency arrows point one way: realtime (the live engine) knows no domain, scheduling
knows nothing of bookings, and no module imports itself back through others.

Read from the source (every import, at module level or inside a function), not from what
happens to be loaded, so a lazy import that hides a cycle fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "bookings", "scheduling", "realtime")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an imported name lives in (`bookings.live.lists.Schedule` is
    bookings.live.lists), or None for anything outside the project."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _violations(source: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] == source
        for target in targets
        if target.split(".")[0] in forbidden
    )


def test_the_graph_is_read():
    """The checks below would pass vacuously on an empty graph: make sure it is the project."""
    assert "realtime.publisher" in GRAPH and "bookings.live.routing" in GRAPH
    assert "realtime.events" in GRAPH["realtime.publisher"]
    assert "realtime.fragments" in GRAPH["bookings.live.grids"]


def test_realtime_knows_no_domain():
    assert _violations("realtime", ("bookings", "scheduling")) == []


def test_scheduling_knows_nothing_of_bookings():
    assert _violations("scheduling", ("bookings",)) == []


def test_no_import_cycles():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert cycles == []


def test_a_cycle_would_be_found(monkeypatch):
    """The cycle check itself: two modules importing each other are reported."""
    monkeypatch.setitem(GRAPH, "realtime.hub", GRAPH["realtime.hub"] | {"realtime.publisher"})
    try:
        test_no_import_cycles()
    except AssertionError as error:
        assert "realtime.hub" in str(error) and "realtime.publisher" in str(error)
    else:
        raise AssertionError("a cycle went unnoticed")
