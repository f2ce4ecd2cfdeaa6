"""Imports point inward: commands → sources (capture, client, lab) → views (render) → core.

Read from the source with `ast`, so an import inside a function counts as much as one at
the top of a module: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pulltrace"
SOURCES = {"capture", "client", "lab"}
VIEWS = {"render", "sinks"}  # sinks are views of finished pulls for fleets
COMMANDS = {"commands"}
ABOVE_CORE = SOURCES | VIEWS | COMMANDS


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every pulltrace module `path` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = _module_name(path).split(".")
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return {m for m in found if m == "pulltrace" or m.startswith("pulltrace.")}


def part_of(module: str) -> str:
    """The top-level part a module belongs to: a subpackage, or a core module of its own."""
    parts = module.split(".")
    if parts[1:] == ["__main__"]:
        return "commands"  # `python -m pulltrace` is the command line's entry point
    return parts[1] if len(parts) > 1 else "pulltrace"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        me = part_of(_module_name(path))
        for module in _imports(path):
            other = part_of(module)
            # `from pulltrace import __version__` names the package itself, not a part.
            if other not in (me, "pulltrace", "__version__"):
                graph[me].add(other)
    return graph


def _is_core(part: str) -> bool:
    return part not in ABOVE_CORE


def test_the_graph_is_read_from_the_code():
    graph = _graph()
    # A check that sees no edges proves nothing: these are known, legitimate imports.
    assert "model" in graph["classify"]
    assert "pipeline" in graph["commands"]
    assert "render" in graph["capture"]


def test_core_imports_nothing_above_it():
    bad = {(a, b) for a, targets in _graph().items() if _is_core(a) for b in targets if b in ABOVE_CORE}
    assert not bad, f"core modules import from above the core: {sorted(bad)}"


def test_views_import_no_source_and_no_command():
    bad = {(a, b) for a, targets in _graph().items() if a in VIEWS for b in targets if b in SOURCES | COMMANDS}
    assert not bad, f"views import sources or commands: {sorted(bad)}"


def test_only_commands_import_commands():
    bad = {a for a, targets in _graph().items() if a not in COMMANDS and COMMANDS & targets}
    assert not bad, f"imported the command layer: {sorted(bad)}"


def test_no_two_parts_import_each_other_even_through_a_chain():
    graph = _graph()
    cycles = []
    for start in sorted(graph):
        # Depth-first from `start`: reaching `start` again is a cycle; keep the path to name it.
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    cycles.append(" → ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, "import cycles between parts:\n" + "\n".join(sorted(set(cycles)))


def test_part_of_names_subpackages_and_core_modules():
    assert part_of("pulltrace.render.html") == "render"
    assert part_of("pulltrace.model") == "model"
    assert part_of("pulltrace") == "pulltrace"
    assert part_of("pulltrace.__main__") == "commands"
