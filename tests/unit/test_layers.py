"""xdscp's import graph follows the stages: no import points up, no module imports itself
back through others. Read from the source (ast), so a cycle fails here and not at import time
in some rarely taken path."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "xdscp"

# Bottom to top: sources -> model -> translate -> snapshot -> cache -> server, with app and cli
# at the edge. A module may import what stands in a lower layer, or its own component (the
# first name under xdscp/); siblings in one layer stay independent of each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "errors",
        "logs",
        "wire",
        "resourcetypes",
        "groups",
        "envoyrules",
        "devcerts",
        "verify",
        "looplag",
    ),
    ("metrics", "statustable", "model"),
    ("status",),
    ("gatewaystatus",),
    ("translate",),
    ("snapshot", "render"),
    ("cache", "served", "quarantine"),
    ("sources", "server", "heap"),
    ("pipeline",),
    ("app",),
    ("demo",),
    ("cli",),
    ("__main__",),
)
RANK = {component: rank for rank, layer in enumerate(LAYERS) for component in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(module: str) -> set[str]:
    """The xdscp modules `module` imports anywhere in its body (functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("xdscp."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xdscp"):
            assert node.level == 0, f"{module}: relative import"
            base = node.module or ""
            for alias in node.names:
                # `from xdscp.translate import names` imports a module, not a name of __init__
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found - {module}


def component(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_component_has_a_layer() -> None:
    assert {component(m) for m in MODULES} - {""} <= set(RANK)


def test_no_import_points_up_or_sideways() -> None:
    wrong = [
        f"{m} imports {i}"
        for m in sorted(MODULES)
        if component(m)
        for i in sorted(imports(m))
        if component(i) != component(m) and RANK[component(i)] >= RANK[component(m)]
    ]
    assert wrong == []


def test_no_cycles() -> None:
    graph = {m: imports(m) for m in MODULES}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, "cycle: " + " -> ".join((*path[path.index(module) :], module))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())
