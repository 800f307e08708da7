"""Reading vi_async's source: modules, definitions, names and imports as written."""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import GenerationError
from .settings import REPO


@dataclass
class SourceModule:
    """A module of vi_async: its path, text and parsed tree."""

    name: str
    path: Path
    text: str
    tree: ast.Module

    def rel_path(self) -> str:
        """The path relative to the repository."""
        return self.path.relative_to(REPO).as_posix()


_SOURCES: dict[str, SourceModule] = {}


def source_of(module_name: str) -> SourceModule:
    """The (cached) source of an importable module."""
    if module_name not in _SOURCES:
        module = importlib.import_module(module_name)
        path = Path(inspect.getfile(module)).resolve()
        text = path.read_text(encoding="utf-8")
        _SOURCES[module_name] = SourceModule(module_name, path, text, ast.parse(text))
    return _SOURCES[module_name]


def find_node(module_name: str, qualname: str) -> ast.AST:
    """The ClassDef / FunctionDef of ``qualname`` in the module's source."""
    node: ast.AST = source_of(module_name).tree
    for part in qualname.split("."):
        body = getattr(node, "body", [])
        found = [
            n
            for n in body
            if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.name == part
        ]
        if not found:
            raise GenerationError(f"cannot find {qualname} in {module_name}")
        node = found[-1]
    return node


def docstring_of(node: ast.AST) -> str | None:
    """The cleaned docstring of a class, function or module node."""
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
        return ast.get_docstring(node, clean=True)
    return None


def function_node(func: Any) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The ``def`` node of a function object."""
    node = find_node(func.__module__, func.__qualname__)
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return node


def lookup(name: str, namespace: dict[str, Any]) -> object:
    """What ``name`` means in ``namespace`` (module globals, then builtins, then the
    module's imports not made at run time: ``if TYPE_CHECKING:`` or inside a function)."""
    if name in namespace:
        return namespace[name]
    if hasattr(builtins, name):
        return getattr(builtins, name)
    module_name = namespace.get("__name__")
    origin = import_origins(module_name).get(name) if module_name else None
    if origin is not None:
        module = importlib.import_module(origin[0])
        return module if origin[1] is None else getattr(module, origin[1])
    raise GenerationError(f"cannot resolve the name {name!r}")


def referenced_objects(node: ast.AST, namespace: dict[str, Any]) -> Iterator[object]:
    """The objects an expression names (string annotations included)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield lookup(sub.id, namespace)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield from referenced_objects(ast.parse(sub.value, mode="eval"), namespace)


_ORIGINS: dict[str, dict[str, tuple[str, str | None]]] = {}


def import_origins(module_name: str) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module, name) for the module's imports (``name`` None: a module)."""
    if module_name in _ORIGINS:
        return _ORIGINS[module_name]
    source = source_of(module_name)
    is_package = source.path.name == "__init__.py"
    package = module_name if is_package else module_name.rpartition(".")[0]
    origins: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(source.tree):
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                origins[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    origins[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    origins[top] = (top, None)
    _ORIGINS[module_name] = origins
    return origins
