"""The house rules of ``vi_async/`` (CONTRIBUTING.md "Layout"), checked on the source.

- Dependencies point down: the root's core modules and the transport packages
  (``_http``, ``_observe``) know nothing of the capabilities (``_runs``,
  ``_download``, ``bulk``); capabilities do not import each other, nor the
  resources, the client, the CLI or the local server; resources do not import the
  client, the CLI or the local server; the local server uses the SDK only through
  ``vi_async``'s top level.
- No import cycle among module-level imports.
- No function longer than 80 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vi_async"
MAX_FUNCTION_LINES = 80

CAPABILITIES = {"_runs", "_download", "bulk"}
TRANSPORT = {"_http", "_observe"}
TOP = {"resources", "_client", "cli", "local", "testing", "__main__"}
#: area -> areas it must not import
FORBIDDEN = {
    "core": CAPABILITIES | {"resources", "_client", "cli", "local", "testing"},
    **{area: CAPABILITIES | TOP for area in TRANSPORT},
    **{area: (CAPABILITIES - {area}) | TOP for area in CAPABILITIES},
    "resources": {"_client", "cli", "local", "testing"},
    "local": CAPABILITIES | TRANSPORT | {"resources", "_client", "cli", "core"},
}


def module_name(path: Path) -> str:
    """``vi_async.x.y`` for ``vi_async/x/y.py`` (the package for ``__init__.py``)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def area(module: str) -> str:
    """The area a module belongs to: a subpackage, a top-level entry point, or "core"."""
    parts = module.split(".")
    if len(parts) == 1:
        return "package"  # vi_async itself: re-exports everything, lazily where it can
    if parts[1] in CAPABILITIES | TRANSPORT | TOP:
        return parts[1]
    return "core"


def imports(path: Path, eager_only: bool) -> set[str]:
    """The vi_async modules ``path`` imports (module level only when ``eager_only``)."""
    tree = ast.parse(path.read_text())
    own = module_name(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    nodes = tree.body if eager_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "vi_async":
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "vi_async")
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(p) for p in SOURCES}


def test_dependencies_point_down() -> None:
    wrong = []
    for path in SOURCES:
        source = area(module_name(path))
        for target in imports(path, eager_only=False):
            if target not in MODULES:
                continue  # a name imported from a module, not a module
            if area(target) in FORBIDDEN.get(source, set()) and area(target) != source:
                wrong.append(f"{module_name(path)} ({source}) imports {target}")
    assert wrong == []


def test_no_import_cycle_at_module_level() -> None:
    graph = {
        module_name(p): {t for t in imports(p, eager_only=True) if t in MODULES} for p in SOURCES
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            # importing a subpackage's own parent package is how Python loads it, not a cycle
            if module.startswith(target + "."):
                continue
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_function_over_80_lines(path: Path) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
