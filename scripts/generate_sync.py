"""Generate the ``vi_sync`` package from the ``vi_async`` code.

    python scripts/generate_sync.py            # rewrite vi_sync/ in place
    python scripts/generate_sync.py --check    # exit 1 if vi_sync/ is stale
    python scripts/generate_sync.py --output DIR
    nox -s generate

The generator imports ``vi_async`` and reads its source (``inspect`` for what
exists, ``ast`` for signatures, defaults and docstrings as written), so a
method added to vi_async shows up in vi_sync on the next run with no change
here. It writes real source: explicit classes and methods with full
signatures, type hints and docstrings, which IDEs and ``mypy --strict`` read.

Rules:

- The wrapped classes are the exported classes of ``vi_async`` with an async
  surface (coroutine or async-generator methods, ``__aiter__``, ``__await__``,
  ``__aenter__``), plus every such class they reach through method return types
  and public attributes set in ``__init__``. Each becomes a class of the same
  name (``Async*`` becomes ``Sync*``) in the mirrored module of ``vi_sync``.
- ``async def`` -> a blocking method (``SyncRuntime.call``); async generators
  and methods returning ``AsyncIterator``/``AsyncIterable``/``AsyncGenerator``
  -> a generator (``SyncRuntime.iterate``); a method returning a wrapped class
  -> its sync twin; ``__aiter__`` -> ``__iter__``; ``__aenter__``/``__aexit__``
  -> ``__enter__``/``__exit__``; ``__await__`` -> ``first_page()`` (for
  ``AsyncPager``; ``result()`` otherwise), the awaited attrs object's fields
  becoming lazy properties of the same names (``pager.items``); properties and
  public class constants are copied or delegated.
- The root class (``vi_async.Client``) owns the runtime: its ``__init__``
  builds the async client (again in a forked child) and its ``close()`` stops
  the event-loop thread.
- Every other public name is re-exported, the same object: models and errors
  are shared by both packages.
- Docstrings are copied with ``await``/``async with``/``async for`` rewritten.

Anything the rules do not cover stops the generation with an error rather than
producing a sync method that would hand back an async object.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import collections.abc
import difflib
import importlib
import importlib.util
import inspect
import re
import sys
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ASYNC_PKG = "vi_async"
SYNC_PKG = "vi_sync"
ROOT_CLASS = ("vi_async._client", "Client")
ROOT_CLOSE = "close"
RUNTIME_MODULE = "vi_async._sync_runtime"
#: Public modules re-exported module by module (``vi_sync.errors``, ``vi_sync.models``).
MIRRORED_MODULES = ("errors", "models")
#: Name of the sync twin of ``await obj`` per wrapped class (default ``result``).
AWAIT_TWINS = {"AsyncPager": "first_page"}
COMMAND = "python scripts/generate_sync.py  (or: nox -s generate)"
LINE_LENGTH = 100
INDENT = "    "

#: Docstring rewrites, applied in order (regex, replacement).
DOC_REWRITES: list[tuple[str, str]] = [
    (
        r"``await`` the result for the first page",
        "read ``.items`` / ``.next_page`` for the first page",
    ),
    (r"``await client\.close\(\)``", "``client.close()``"),
    (
        r"``await pager`` gives the first(\s+)page,",
        r"``pager.items`` holds the first\1page's items,",
    ),
    (r"^Async client\b", "Client"),
    (r"\bThe async client\b", "The client"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\baclosing\b", "closing"),
    (r"\bAsyncPager\b", "SyncPager"),
    (r"``vi_async\.Client``", "``vi_sync.Client``"),
]

ASYNC_ITER_TYPES: dict[object, str] = {
    collections.abc.AsyncIterator: "Iterator",
    collections.abc.AsyncIterable: "Iterator",
    typing.AsyncIterator: "Iterator",
    typing.AsyncIterable: "Iterator",
}
SYNC_ITERABLE_TYPES: set[object] = {
    collections.abc.Iterable,
    collections.abc.Iterator,
    typing.Iterable,
    typing.Iterator,
}
ASYNC_GEN_TYPES: set[object] = {collections.abc.AsyncGenerator, typing.AsyncGenerator}
FORBIDDEN_TYPES: set[object] = {
    collections.abc.Awaitable,
    collections.abc.Coroutine,
    typing.Awaitable,
    typing.Coroutine,
}
SPECIAL_DUNDERS = {"__init__", "__repr__", "__aenter__", "__aexit__", "__aiter__", "__await__"}


class GenerationError(Exception):
    """vi_async has something the generator does not know how to make blocking."""


# --------------------------------------------------------------------------------------
# Source access
# --------------------------------------------------------------------------------------


@dataclass
class SourceModule:
    name: str
    path: Path
    text: str
    tree: ast.Module

    def rel_path(self) -> str:
        return self.path.relative_to(REPO).as_posix()


_SOURCES: dict[str, SourceModule] = {}


def source_of(module_name: str) -> SourceModule:
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
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
        return ast.get_docstring(node, clean=True)
    return None


def rewrite_doc(doc: str) -> str:
    for pattern, replacement in DOC_REWRITES:
        doc = re.sub(pattern, replacement, doc)
    return doc


def render_docstring(doc: str | None, indent: str) -> list[str]:
    if not doc:
        return []
    doc = rewrite_doc(doc)
    if '"""' in doc or "\\" in doc:
        raise GenerationError(f"docstring needs escaping: {doc[:60]!r}")
    lines = doc.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    out = [f'{indent}"""{lines[0]}']
    out += [f"{indent}{line}" if line else "" for line in lines[1:]]
    out.append(f'{indent}"""')
    return out


# --------------------------------------------------------------------------------------
# Imports of a generated module
# --------------------------------------------------------------------------------------


def _member_key(name: str) -> tuple[int, str, str]:
    if len(name) > 1 and name.isupper():
        rank = 0
    elif name[:1].isupper():
        rank = 1
    else:
        rank = 2
    return (rank, name.lower(), name)


class Imports:
    def __init__(self, own_module: str) -> None:
        self.own_module = own_module
        self.froms: dict[str, set[tuple[str, str | None]]] = {}
        self.plain: set[tuple[str, str | None]] = set()
        self.names: dict[str, tuple[str, str]] = {}  # local name -> (module, name)

    def add(self, module: str, name: str, alias: str | None = None) -> str:
        """Import ``name`` from ``module``; returns the local name."""
        local = alias or name
        if module == self.own_module:
            return local
        previous = self.names.get(local)
        if previous is not None and previous != (module, name):
            raise GenerationError(
                f"{self.own_module}: {local!r} would be imported from both "
                f"{previous[0]} and {module}"
            )
        self.names[local] = (module, name)
        self.froms.setdefault(module, set()).add((name, alias))
        return local

    def add_module(self, module: str, alias: str | None = None) -> str:
        self.plain.add((module, alias))
        return alias or module

    def render(self) -> list[str]:
        sections: dict[int, list[tuple[str, list[str]]]] = {0: [], 1: [], 2: [], 3: []}

        def section(module: str) -> int:
            top = module.split(".")[0]
            if module == "__future__":
                return 0
            if top in (ASYNC_PKG, SYNC_PKG):
                return 3
            if top in sys.stdlib_module_names:
                return 1
            return 2

        for module, alias in sorted(self.plain, key=lambda m: (m[0].lower(), m[0])):
            text = f"import {module}" + (f" as {alias}" if alias else "")
            sections[section(module)].append(("0" + module.lower(), [text]))
        for module, members in self.froms.items():
            items = sorted(members, key=lambda m: _member_key(m[0]))
            parts = [name + (f" as {alias}" if alias else "") for name, alias in items]
            one = f"from {module} import {', '.join(parts)}"
            if len(one) <= LINE_LENGTH:
                lines = [one]
            else:
                lines = [f"from {module} import ("] + [f"{INDENT}{p}," for p in parts] + [")"]
            sections[section(module)].append(("1" + module.lower(), lines))
        out: list[str] = []
        for key in sorted(sections):
            entries = sorted(sections[key], key=lambda e: e[0])
            if not entries:
                continue
            if out:
                out.append("")
            for _, lines in entries:
                out += lines
        return out


# --------------------------------------------------------------------------------------
# What to wrap
# --------------------------------------------------------------------------------------


def has_async_surface(cls: type) -> bool:
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, value in vars(klass).items():
            if name in ("__aiter__", "__await__", "__aenter__", "__anext__"):
                return True
            func = value.fget if isinstance(value, property) else value
            if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
                return True
    return False


def is_own_async_class(obj: object) -> typing.TypeGuard[type]:
    """A class of vi_async with an async surface."""
    return (
        isinstance(obj, type)
        and (obj.__module__ == ASYNC_PKG or obj.__module__.startswith(ASYNC_PKG + "."))
        and has_async_surface(obj)
    )


def sync_name_of(cls: type) -> str:
    name = cls.__name__
    return "Sync" + name[len("Async") :] if name.startswith("Async") else name


def sync_module_of(module: str) -> str:
    assert module == ASYNC_PKG or module.startswith(ASYNC_PKG + ".")
    return SYNC_PKG + module[len(ASYNC_PKG) :]


@dataclass
class Wrapped:
    cls: type
    is_root: bool

    @property
    def name(self) -> str:
        return sync_name_of(self.cls)

    @property
    def async_module(self) -> str:
        return self.cls.__module__

    @property
    def sync_module(self) -> str:
        return sync_module_of(self.cls.__module__)

    @property
    def async_alias(self) -> str:
        """The name the async twin is imported under in the sync module."""
        return self.cls.__name__ if self.name != self.cls.__name__ else "_Async" + self.name

    def line(self) -> int:
        node = find_node(self.async_module, self.cls.__qualname__)
        return getattr(node, "lineno", 0)


class Registry:
    """The wrapped classes, found by walking from the package's exports."""

    def __init__(self) -> None:
        self.package = importlib.import_module(ASYNC_PKG)
        root_module = importlib.import_module(ROOT_CLASS[0])
        self.root: type = getattr(root_module, ROOT_CLASS[1])
        self.wrapped: dict[type, Wrapped] = {}
        todo: list[type] = [self.root]
        for name in getattr(self.package, "__all__", []):
            obj = getattr(self.package, name)
            if isinstance(obj, type) and has_async_surface(obj):
                todo.append(obj)
        while todo:
            cls = todo.pop(0)
            if cls in self.wrapped:
                continue
            if not cls.__module__.startswith(ASYNC_PKG):
                raise GenerationError(f"{cls!r} has an async surface but is not part of vi_async")
            self.wrapped[cls] = Wrapped(cls, cls is self.root)
            todo += self.reached_from(cls)

    def reached_from(self, cls: type) -> list[type]:
        """Classes with an async surface used by ``cls``'s public surface."""
        found: list[type] = []
        for _, (_, obj) in class_members(cls).items():
            func = obj.fget if isinstance(obj, property) else obj
            if not inspect.isfunction(func):
                continue
            node = function_node(func)
            if node.returns is not None:
                for ref in referenced_objects(node.returns, func.__globals__):
                    if is_own_async_class(ref):
                        found.append(ref)
        for attr in init_attributes(cls):
            if is_own_async_class(attr.cls):
                found.append(attr.cls)
        return found

    def get(self, obj: object) -> Wrapped | None:
        return self.wrapped.get(obj) if isinstance(obj, type) else None


def class_members(cls: type) -> dict[str, tuple[type, Any]]:
    members: dict[str, tuple[type, Any]] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass is typing.Generic:
            continue
        for name, value in vars(klass).items():
            members[name] = (klass, value)
    return members


def function_node(func: Any) -> ast.FunctionDef | ast.AsyncFunctionDef:
    node = find_node(func.__module__, func.__qualname__)
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return node


def lookup(name: str, namespace: dict[str, Any]) -> object:
    if name in namespace:
        return namespace[name]
    if hasattr(builtins, name):
        return getattr(builtins, name)
    raise GenerationError(f"cannot resolve the name {name!r}")


def referenced_objects(node: ast.AST, namespace: dict[str, Any]) -> Iterator[object]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield lookup(sub.id, namespace)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield from referenced_objects(ast.parse(sub.value, mode="eval"), namespace)


@dataclass
class InitAttribute:
    name: str
    cls: type | None
    annotation: ast.expr | None
    doc: str | None
    namespace: dict[str, Any] = field(repr=False)


def init_attributes(cls: type) -> list[InitAttribute]:
    """Public ``self.x = ...`` attributes set in ``__init__`` (with their docstrings)."""
    init = vars(cls).get("__init__")
    if init is None or not inspect.isfunction(init):
        return []
    node = function_node(init)
    out: list[InitAttribute] = []
    body = node.body
    for index, stmt in enumerate(body):
        target: ast.expr | None = None
        annotation: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            target, annotation, value = stmt.target, stmt.annotation, stmt.value
        if not (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and not target.attr.startswith("_")
        ):
            continue
        attr_cls: type | None = None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            obj = lookup(value.func.id, init.__globals__)
            if isinstance(obj, type):
                attr_cls = obj
        doc = None
        if index + 1 < len(body):
            nxt = body[index + 1]
            if (
                isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                doc = inspect.cleandoc(nxt.value.value)
        out.append(InitAttribute(target.attr, attr_cls, annotation, doc, init.__globals__))
    return out


# --------------------------------------------------------------------------------------
# Type expressions
# --------------------------------------------------------------------------------------


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


def _holds(module: str, name: str, obj: object) -> bool:
    try:
        return getattr(importlib.import_module(module), name, None) is obj
    except ImportError:
        return False


class TypeWriter:
    """Rewrites a type expression of vi_async for a vi_sync module, adding imports."""

    def __init__(self, registry: Registry, imports: Imports) -> None:
        self.registry = registry
        self.imports = imports

    def name_for(self, obj: object, name: str, namespace: dict[str, Any]) -> str:
        """The local name of ``obj`` (called ``name`` in ``namespace``), imported."""
        wrapped = self.registry.get(obj)
        if wrapped is not None:
            return self.imports.add(wrapped.sync_module, wrapped.name)
        if name not in namespace and getattr(builtins, name, None) is obj:
            return name
        module = namespace["__name__"]
        origin = import_origins(module).get(name, (module, name))
        origin_module, origin_name = origin
        if origin_name is not None and not _holds(origin_module, origin_name, obj):
            # e.g. a TypeVar substituted from another module: import it from its home
            home = getattr(obj, "__module__", None)
            if not (isinstance(home, str) and _holds(home, name, obj)):
                raise GenerationError(f"cannot find where to import {name!r} from")
            origin_module, origin_name = home, name
        if origin_name is None:
            alias = None if origin_module == name else name
            return self.imports.add_module(origin_module, alias)
        return self.imports.add(origin_module, origin_name, None if origin_name == name else name)

    def rewrite(
        self, node: ast.expr, namespace: dict[str, Any], *, returning: bool = True
    ) -> ast.expr:
        """Rewrite a type. ``returning``: a result type (async iterators become sync
        ones, wrapped classes their twins); else an input type, kept as it is (an
        async iterable may be passed in) except that it may not take a wrapped class."""
        module = namespace["__name__"]
        writer = self

        class Transformer(ast.NodeTransformer):
            def visit_Subscript(self, sub: ast.Subscript) -> ast.AST:
                if isinstance(sub.value, ast.Name):
                    head = lookup(sub.value.id, namespace)
                    if head in ASYNC_GEN_TYPES and returning:
                        args = sub.slice.elts if isinstance(sub.slice, ast.Tuple) else [sub.slice]
                        name = writer.imports.add("collections.abc", "Generator")
                        elts = [self.visit(a) for a in args] + [ast.Constant(None)]
                        return ast.Subscript(
                            ast.Name(name, ast.Load()), ast.Tuple(elts, ast.Load()), ast.Load()
                        )
                return self.generic_visit(sub)

            def visit_Name(self, name_node: ast.Name) -> ast.AST:
                obj = lookup(name_node.id, namespace)
                if obj in FORBIDDEN_TYPES:
                    raise GenerationError(f"{module}: cannot make {name_node.id} blocking")
                if obj in ASYNC_ITER_TYPES and returning:
                    local = writer.imports.add("collections.abc", ASYNC_ITER_TYPES[obj])
                    return ast.Name(local, ast.Load())
                if obj not in ASYNC_ITER_TYPES and isinstance(obj, type) and has_async_surface(obj):
                    if writer.registry.get(obj) is None:
                        raise GenerationError(f"{module}: {obj!r} is async and not wrapped")
                    if not returning:
                        raise GenerationError(
                            f"{module}: a parameter takes the async object {obj!r}"
                        )
                return ast.Name(writer.name_for(obj, name_node.id, namespace), ast.Load())

            def visit_Attribute(self, attr: ast.Attribute) -> ast.AST:
                root: ast.expr = attr
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name):
                    obj = lookup(root.id, namespace)
                    if isinstance(obj, types.ModuleType):
                        writer.name_for(obj, root.id, namespace)
                        return attr
                raise GenerationError(f"{module}: unsupported expression {ast.unparse(attr)}")

            def visit_Constant(self, const: ast.Constant) -> ast.AST:
                if isinstance(const.value, str):
                    inner = ast.parse(const.value, mode="eval").body
                    return self.visit(inner)  # type: ignore[no-any-return]
                return const

        return Transformer().visit(ast.parse(ast.unparse(node), mode="eval").body)  # type: ignore[no-any-return]

    def text(self, node: ast.expr, namespace: dict[str, Any], **kw: Any) -> str:
        return unparse(self.rewrite(node, namespace, **kw))


def unparse(node: ast.expr) -> str:
    """``ast.unparse`` with double-quoted strings."""
    text = ast.unparse(node)

    def requote(match: re.Match[str]) -> str:
        body = match.group(1)
        return f'"{body}"' if '"' not in body and "\\" not in body else match.group(0)

    return re.sub(r"'([^'\\]*)'", requote, text)


def expr_text(node: ast.expr, source: SourceModule) -> str:
    """A default value as written (single line), else unparsed."""
    segment = ast.get_source_segment(source.text, node)
    if segment is not None and "\n" not in segment:
        return segment
    return unparse(node)


def returns_self(node: ast.FunctionDef | ast.AsyncFunctionDef, namespace: dict[str, Any]) -> bool:
    """True if the method is annotated ``-> Self``."""
    ret = node.returns
    if isinstance(ret, ast.Constant) and isinstance(ret.value, str):
        ret = ast.parse(ret.value, mode="eval").body
    if not isinstance(ret, ast.Name):
        return False
    obj = lookup(ret.id, namespace)
    return obj is getattr(typing, "Self", None) or repr(obj) == "typing_extensions.Self"


def return_kind(
    node: ast.expr | None, namespace: dict[str, Any], registry: Registry
) -> tuple[str, Wrapped | None]:
    """'plain', 'iter' or 'wrapped' (with the wrapped class) for a return annotation."""
    if node is None:
        return ("plain", None)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        node = ast.parse(node.value, mode="eval").body
    head = node.value if isinstance(node, ast.Subscript) else node
    if isinstance(head, ast.Name):
        obj = lookup(head.id, namespace)
        if obj in ASYNC_ITER_TYPES or obj in ASYNC_GEN_TYPES:
            return ("iter", None)
        wrapped = registry.get(obj)
        if wrapped is not None:
            return ("wrapped", wrapped)
    return ("plain", None)


# --------------------------------------------------------------------------------------
# Code layout helpers
# --------------------------------------------------------------------------------------


@dataclass
class Call:
    """A call-like expression to lay out: ``head`` + args + ``close``."""

    head: str  # up to and including the opening parenthesis
    args: list[str | Call]
    close: str = ")"


def flat(expr: str | Call) -> str:
    if isinstance(expr, str):
        return expr
    return expr.head + ", ".join(flat(a) for a in expr.args) + expr.close


def layout(expr: str | Call, indent: str, suffix: str = "", prefix: str = "") -> list[str]:
    """Lines for ``expr`` + ``suffix``: one line, else args on one line, else one per line."""
    one = f"{indent}{prefix}{flat(expr)}{suffix}"
    if len(one) <= LINE_LENGTH or isinstance(expr, str) or not expr.args:
        return [one]
    inner = indent + INDENT
    hanging = inner + ", ".join(flat(a) for a in expr.args)
    if len(hanging) <= LINE_LENGTH:
        return [f"{indent}{prefix}{expr.head}", hanging, f"{indent}{expr.close}{suffix}"]
    out = [f"{indent}{prefix}{expr.head}"]
    for arg in expr.args:
        out += layout(arg, inner, ",")
    out.append(f"{indent}{expr.close}{suffix}")
    return out


@dataclass
class Param:
    name: str
    kind: str  # "posonly", "pos", "vararg", "kwonly", "kwarg"
    annotation: str | None
    default: str | None
    offload: bool = False  # takes a sync or an async iterable: see SyncRuntime.offload

    def decl(self) -> str:
        prefix = {"vararg": "*", "kwarg": "**"}.get(self.kind, "")
        text = prefix + self.name
        if self.annotation is not None:
            text += f": {self.annotation}"
            if self.default is not None:
                text += f" = {self.default}"
        elif self.default is not None:
            text += f"={self.default}"
        return text

    def passed(self) -> str:
        if self.offload:
            value = f"self._runtime.offload({self.name})"
            return f"{self.name}={value}" if self.kind == "kwonly" else value
        if self.kind == "vararg":
            return f"*{self.name}"
        if self.kind == "kwarg":
            return f"**{self.name}"
        if self.kind == "kwonly":
            return f"{self.name}={self.name}"
        return self.name


def params_of(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    namespace: dict[str, Any],
    source: SourceModule,
    types_: TypeWriter,
) -> list[Param]:
    a = node.args
    out: list[Param] = []

    def takes_both_iterables(arg: ast.arg) -> bool:
        found = set()
        if arg.annotation is not None:
            for obj in referenced_objects(arg.annotation, namespace):
                if obj in SYNC_ITERABLE_TYPES:
                    found.add("sync")
                elif obj in ASYNC_ITER_TYPES:
                    found.add("async")
        return found == {"sync", "async"}

    def ann(arg: ast.arg) -> str | None:
        if arg.annotation is None:
            return None
        return types_.text(arg.annotation, namespace, returning=False)

    def default_text(expr: ast.expr | None) -> str | None:
        if expr is None:
            return None
        for ref in ast.walk(expr):
            if isinstance(ref, ast.Name):
                obj = lookup(ref.id, namespace)
                types_.name_for(obj, ref.id, namespace)
        return expr_text(expr, source)

    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults))
    defaults += list(a.defaults)
    for i, arg in enumerate(positional):
        kind = "posonly" if i < len(a.posonlyargs) else "pos"
        out.append(
            Param(arg.arg, kind, ann(arg), default_text(defaults[i]), takes_both_iterables(arg))
        )
    if a.vararg is not None:
        out.append(Param(a.vararg.arg, "vararg", ann(a.vararg), None))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        out.append(
            Param(arg.arg, "kwonly", ann(arg), default_text(default), takes_both_iterables(arg))
        )
    if a.kwarg is not None:
        out.append(Param(a.kwarg.arg, "kwarg", ann(a.kwarg), None))
    return out


def signature_decls(params: list[Param]) -> list[str]:
    decls: list[str] = []
    for i, p in enumerate(params):
        if p.kind == "kwonly" and not any(q.kind == "vararg" for q in params[:i]):
            if "*" not in decls:
                decls.append("*")
        decls.append(p.decl())
        if p.kind == "posonly" and (i + 1 == len(params) or params[i + 1].kind != "posonly"):
            decls.append("/")
    return decls


def def_lines(name: str, params: list[Param], returns: str | None, indent: str) -> list[str]:
    close = f") -> {returns}:" if returns else "):"
    return layout(Call(f"def {name}(", list(signature_decls(params)), close), indent)


def body_is(node: ast.FunctionDef | ast.AsyncFunctionDef, text: str) -> bool:
    """True if the function body (docstring aside) is exactly ``text``."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [ast.unparse(s) for s in body] == [text]


# --------------------------------------------------------------------------------------
# Class generation
# --------------------------------------------------------------------------------------


class ClassWriter:
    def __init__(self, wrapped: Wrapped, registry: Registry, imports: Imports) -> None:
        self.w = wrapped
        self.registry = registry
        self.imports = imports
        self.types = TypeWriter(registry, imports)
        self.cls = wrapped.cls
        self.lines: list[str] = []
        self.awaited_fields: list[str] = []

    # -- helpers

    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    def method_context(
        self, func: Any
    ) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, dict[str, Any], SourceModule]:
        node = function_node(func)
        return node, func.__globals__, source_of(func.__module__)

    @staticmethod
    def portal_call(how: str, method: str, args: list[str], prefix: str = "") -> Call:
        """``self._runtime.<how>(self._target().<method>, *args)``."""
        target = f"self._target().{method}"
        return Call(f"{prefix}self._runtime.{how}(", [target, *args])

    def runtime_type(self) -> str:
        self.imports.add("typing", "Any")
        return self.imports.add(RUNTIME_MODULE, "SyncRuntime") + "[Any]"

    # -- the class

    def write(self) -> list[str]:
        cls = self.cls
        node = find_node(self.w.async_module, cls.__qualname__)
        assert isinstance(node, ast.ClassDef)
        namespace = vars(sys.modules[self.w.async_module])
        bases = []
        for base in node.bases:
            head = base.value if isinstance(base, ast.Subscript) else base
            if isinstance(head, ast.Name) and lookup(head.id, namespace) is typing.Generic:
                bases.append(self.types.text(base, namespace))
        self.imports.add(
            self.w.async_module,
            cls.__name__,
            None if self.w.async_alias == cls.__name__ else self.w.async_alias,
        )
        header = f"class {self.w.name}({', '.join(bases)}):" if bases else f"class {self.w.name}:"
        self.emit(header)
        self.emit(*render_docstring(docstring_of(node), INDENT))
        members = class_members(cls)
        constants = [
            (name, value)
            for name, (_, value) in members.items()
            if not name.startswith("_")
            and not callable(value)
            and not isinstance(value, (property, classmethod, staticmethod))
        ]
        if constants:
            self.emit("")
            for name, value in constants:
                if not isinstance(value, (str, int, float, bool, type(None))):
                    raise GenerationError(f"{cls.__name__}.{name}: unsupported class attribute")
                literal = unparse(ast.Constant(value))
                self.emit(f"{INDENT}{name} = {literal}")
        self.write_init()
        for name, (_, value) in members.items():
            if name == "__init__" or (name.startswith("_") and name not in SPECIAL_DUNDERS):
                continue
            if isinstance(value, property):
                self.write_property(name, value)
            elif isinstance(value, (staticmethod, classmethod)):
                raise GenerationError(
                    f"{cls.__name__}.{name}: static/class methods are not supported"
                )
            elif inspect.isfunction(value):
                self.write_method(name, value)
            elif name.startswith("_") or not callable(value):
                continue
            else:
                raise GenerationError(f"{cls.__name__}.{name}: unsupported member {value!r}")
        return self.lines

    def write_init(self) -> None:
        w = self.w
        attributes = init_attributes(self.cls)
        self.emit("")
        if w.is_root:
            init = vars(self.cls)["__init__"]
            node, namespace, source = self.method_context(init)
            params = params_of(node, namespace, source, self.types)
            self.emit(*def_lines("__init__", params, "None", INDENT))
            self.emit(*render_docstring(docstring_of(node), INDENT * 2))
            runtime = self.imports.add(RUNTIME_MODULE, "SyncRuntime")
            ind = INDENT * 2
            passed = [p.passed() for p in params if p.name != "self"]
            factory = Call(f"lambda: {w.async_alias}(", list(passed))
            close = f"{w.async_alias}.{ROOT_CLOSE}"
            name = f'name="{SYNC_PKG}.{w.name}"'
            self.emit(*layout(Call(f"self._runtime = {runtime}(", [factory, close, name]), ind))
            self.emit(f"{ind}self._target = self._runtime.root")
        else:
            callable_ = self.imports.add("collections.abc", "Callable")
            target = f"{callable_}[[], {w.async_alias}{self.type_params()}]"
            self.emit(
                *def_lines(
                    "__init__",
                    [
                        Param("self", "pos", None, None),
                        Param("runtime", "pos", self.runtime_type(), None),
                        Param("target", "pos", target, None),
                    ],
                    "None",
                    INDENT,
                )
            )
            self.emit(
                f'{INDENT * 2}"""Bind to the async object that ``target()`` returns '
                f'(vi_sync makes these itself)."""'
            )
            self.emit(f"{INDENT * 2}self._runtime = runtime")
            self.emit(f"{INDENT * 2}self._target = target")
            if "__await__" in class_members(self.cls):
                awaited = self.awaited_type()
                self.emit(f"{INDENT * 2}self._awaited: {awaited} | None = None")
        for attr in attributes:
            ind = INDENT * 2
            wrapped = self.registry.get(attr.cls)
            if wrapped is not None:
                sync_cls = self.imports.add(wrapped.sync_module, wrapped.name)
                view = Call(
                    f"{sync_cls}(", ["self._runtime", f"lambda: self._target().{attr.name}"]
                )
                self.emit(*layout(view, ind, prefix=f"self.{attr.name} = "))
                self.emit(*render_docstring(attr.doc, ind))
        # plain public attributes become properties (written after __init__)
        for attr in attributes:
            if self.registry.get(attr.cls) is None:
                self.write_attribute_property(attr)

    def type_params(self) -> str:
        params = getattr(self.cls, "__parameters__", ())
        if not params:
            return ""
        names = []
        module = sys.modules[self.w.async_module]
        for p in params:
            name = p.__name__
            names.append(self.types.name_for(p, name, vars(module)))
        return "[" + ", ".join(names) + "]"

    def write_attribute_property(self, attr: InitAttribute) -> None:
        if attr.annotation is not None:
            ann = self.types.text(attr.annotation, attr.namespace)
        elif attr.cls is not None:
            ann = self.types.name_for(attr.cls, attr.cls.__name__, attr.namespace)
        else:
            raise GenerationError(f"{self.cls.__name__}.{attr.name}: annotate this attribute")
        self.emit("", f"{INDENT}@property", f"{INDENT}def {attr.name}(self) -> {ann}:")
        self.emit(*render_docstring(attr.doc or f"``{attr.name}`` of the async twin.", INDENT * 2))
        self.emit(f"{INDENT * 2}return self._target().{attr.name}")

    def write_property(self, name: str, prop: property) -> None:
        func = prop.fget
        if func is None or inspect.iscoroutinefunction(func):
            raise GenerationError(f"{self.cls.__name__}.{name}: unsupported property")
        node, namespace, _ = self.method_context(func)
        kind, _ = return_kind(node.returns, namespace, self.registry)
        if kind != "plain":
            raise GenerationError(f"{self.cls.__name__}.{name}: a property returns an async object")
        returns = self.types.text(node.returns, namespace) if node.returns else "Any"
        self.emit("", f"{INDENT}@property", f"{INDENT}def {name}(self) -> {returns}:")
        self.emit(*render_docstring(docstring_of(node), INDENT * 2))
        self.emit(f"{INDENT * 2}return self._target().{name}")

    def awaited_type(self) -> str:
        node, namespace, _ = self.method_context(class_members(self.cls)["__await__"][1])
        ret = node.returns
        if not (isinstance(ret, ast.Subscript) and isinstance(ret.slice, ast.Tuple)):
            raise GenerationError(
                f"{self.cls.__name__}.__await__: annotate it Generator[..., ..., T]"
            )
        return self.types.text(ret.slice.elts[2], namespace)

    def write_method(self, name: str, func: Any) -> None:
        node, namespace, source = self.method_context(func)
        if node.decorator_list:
            # e.g. @asynccontextmanager: its annotation says AsyncIterator, but the
            # method returns an async context manager. Make a rule before wrapping it.
            raise GenerationError(f"{self.cls.__name__}.{name}: decorated methods need a rule")
        params = params_of(node, namespace, source, self.types)
        call_args = [p.passed() for p in params[1:]]
        doc = docstring_of(node)
        ind = INDENT * 2
        cls_name = self.cls.__name__
        is_coro = inspect.iscoroutinefunction(func)
        is_agen = inspect.isasyncgenfunction(func)
        kind, wrapped = return_kind(node.returns, namespace, self.registry)

        def returns_text() -> str | None:
            if node.returns is None:
                return None
            return self.types.text(node.returns, namespace)

        self.emit("")
        if name == "__repr__":
            self.emit(*def_lines(name, params, "str", INDENT))
            if self.w.name != cls_name:
                self.emit(
                    f'{ind}return repr(self._target()).replace("{cls_name}", "{self.w.name}", 1)'
                )
            else:
                self.emit(f"{ind}return repr(self._target())")
            return
        if name == "__aenter__":
            returns = returns_text()
            self.emit(*def_lines("__enter__", params, returns, INDENT))
            self.emit(*render_docstring(doc, ind))
            if body_is(node, "return self"):
                self.emit(f"{ind}return self")
            elif (kind == "wrapped" and wrapped is self.w) or returns_self(node, namespace):
                self.emit(
                    f"{ind}self._runtime.call(self._target().__aenter__)", f"{ind}return self"
                )
            else:
                raise GenerationError(f"{cls_name}.__aenter__ must return self")
            return
        if name == "__aexit__":
            self.emit(*def_lines("__exit__", params, returns_text(), INDENT))
            self.emit(*render_docstring(doc, ind))
            if body_is(node, f"await self.{ROOT_CLOSE}()"):
                self.emit(f"{ind}self.{ROOT_CLOSE}()")
            elif self.w.is_root:
                self.emit(f"{ind}try:")
                self.emit(*layout(self.portal_call("call", "__aexit__", call_args), ind + INDENT))
                self.emit(f"{ind}finally:", f"{ind}{INDENT}self._runtime.close()")
            else:
                self.emit(*layout(self.portal_call("call", "__aexit__", call_args, "return "), ind))
            return
        if name == "__aiter__":
            self.emit(*def_lines("__iter__", params, returns_text(), INDENT))
            self.emit(*render_docstring(doc, ind))
            self.emit(f"{ind}return self._runtime.iterate(self._target().__aiter__)")
            return
        if name == "__await__":
            twin = AWAIT_TWINS.get(cls_name, "result")
            awaited = self.awaited_type()
            awaited_fn = self.imports.add(RUNTIME_MODULE, "awaited")
            self.emit(f"{INDENT}def {twin}(self) -> {awaited}:")
            doc = "What ``await`` on the async twin gives: fetched on first use, then kept."
            self.emit(f'{ind}"""{doc}"""')
            self.emit(f"{ind}result = self._awaited")
            self.emit(f"{ind}if result is None:")
            fetch = f"self._runtime.call({awaited_fn}, self._target())"
            self.emit(f"{ind}{INDENT}result = self._awaited = {fetch}")
            self.emit(f"{ind}return result")
            self.write_awaited_fields(twin, node, namespace)
            return
        if name == ROOT_CLOSE and self.w.is_root:
            self.emit(*def_lines(name, params, "None", INDENT))
            self.emit(*render_docstring(doc, ind))
            self.emit(f"{ind}self._runtime.close()")
            return
        if name.startswith("_"):
            return
        returns = returns_text()
        self.emit(*def_lines(name, params, returns, INDENT))
        self.emit(*render_docstring(doc, ind))
        target = f"self._target().{name}"
        if is_agen or kind == "iter":
            if is_coro:
                raise GenerationError(f"{cls_name}.{name}: a coroutine returning an async iterator")
            self.emit(*layout(self.portal_call("iterate", name, call_args, "return "), ind))
        elif kind == "wrapped":
            assert wrapped is not None
            sync_cls = self.imports.add(wrapped.sync_module, wrapped.name)
            if is_coro:
                self.emit(*layout(self.portal_call("call", name, call_args, "obj = "), ind))
                self.emit(f"{ind}return {sync_cls}(self._runtime, lambda: obj)")
            else:
                view = Call(f"lambda: {target}(", list(call_args))
                self.emit(*layout(Call(f"return {sync_cls}(", ["self._runtime", view]), ind))
        elif is_coro:
            prefix = "" if returns == "None" else "return "
            self.emit(*layout(self.portal_call("call", name, call_args, prefix), ind))
        else:
            self.emit(*layout(Call(f"return {target}(", list(call_args)), ind))

    def write_awaited_fields(
        self, twin: str, node: ast.FunctionDef | ast.AsyncFunctionDef, namespace: dict[str, Any]
    ) -> None:
        """The awaited attrs object's fields as lazy properties (``pager.items``)."""
        ret = node.returns
        assert isinstance(ret, ast.Subscript) and isinstance(ret.slice, ast.Tuple)
        awaited_node = ret.slice.elts[2]
        head = awaited_node.value if isinstance(awaited_node, ast.Subscript) else awaited_node
        if not isinstance(head, ast.Name):
            return
        result_cls = lookup(head.id, namespace)
        fields = getattr(result_cls, "__attrs_attrs__", None)
        if fields is None or not isinstance(result_cls, type):
            return
        # Substitute the result class's type parameters with the awaited type's arguments.
        substitutions: dict[str, ast.expr] = {}
        cls_params = getattr(result_cls, "__parameters__", ())
        if isinstance(awaited_node, ast.Subscript):
            args = (
                awaited_node.slice.elts
                if isinstance(awaited_node.slice, ast.Tuple)
                else [awaited_node.slice]
            )
            substitutions = {p.__name__: a for p, a in zip(cls_params, args, strict=True)}
        result_ns = vars(sys.modules[result_cls.__module__])
        for f in fields:
            if f.name.startswith("_"):
                continue
            ann = f.type if isinstance(f.type, str) else None
            if ann is None:
                raise GenerationError(
                    f"{result_cls.__name__}.{f.name}: annotation must be a string"
                )
            tree = ast.parse(ann, mode="eval").body

            class Sub(ast.NodeTransformer):
                def visit_Name(self, n: ast.Name) -> ast.AST:
                    return substitutions.get(n.id, n)

            tree_sub = Sub().visit(tree)
            # The substituted arguments resolve in the method's namespace, the rest of
            # the annotation in the result class's module.
            arg_names = substitutions_names(substitutions)
            for clash in arg_names & (_names(tree) - set(substitutions)):
                if result_ns.get(clash) is not namespace.get(clash):
                    raise GenerationError(f"{result_cls.__name__}.{f.name}: name clash {clash}")
            mixed = {**result_ns, **{k: namespace[k] for k in arg_names}}
            text = self.types.text(tree_sub, mixed)
            self.emit("", f"{INDENT}@property", f"{INDENT}def {f.name}(self) -> {text}:")
            self.emit(f'{INDENT * 2}"""``{twin}().{f.name}``."""')
            self.emit(f"{INDENT * 2}return self.{twin}().{f.name}")


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def substitutions_names(substitutions: dict[str, ast.expr]) -> set[str]:
    out: set[str] = set()
    for expr in substitutions.values():
        out |= _names(expr)
    return out


# --------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------


def header(source: str) -> list[str]:
    return [
        "# GENERATED FILE - DO NOT EDIT.",
        f"# Generated by scripts/generate_sync.py from {source}.",
        f"# Regenerate with: {COMMAND}",
    ]


def module_text(
    source: str, doc: str | None, imports: Imports, body: list[str], all_: list[str] | None = None
) -> str:
    lines = header(source)
    lines += render_docstring(doc, "")
    lines += ["", "from __future__ import annotations"]
    import_lines = imports.render()
    if import_lines:
        lines += ["", *import_lines]
    if all_ is not None:
        lines += ["", "__all__ = ["] + [f'{INDENT}"{n}",' for n in sort_all(all_)] + ["]"]
    if body:
        lines += ["", "", *body]
    return "\n".join(lines).rstrip() + "\n"


def sort_all(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=_member_key)


def generate(registry: Registry) -> dict[str, str]:
    """The files of vi_sync: relative path -> text."""
    files: dict[str, str] = {"py.typed": ""}
    by_module: dict[str, list[Wrapped]] = {}
    for w in registry.wrapped.values():
        by_module.setdefault(w.async_module, []).append(w)
    packages: set[str] = {ASYNC_PKG}
    for module_name, classes in sorted(by_module.items()):
        classes.sort(key=lambda w: w.line())
        imports = Imports(sync_module_of(module_name))
        body: list[str] = []
        for w in classes:
            if body:
                body += ["", ""]
            body += ClassWriter(w, registry, imports).write()
        source = source_of(module_name)
        module = sys.modules[module_name]
        exported = [w.name for w in classes]
        reexport = [
            n for n in getattr(module, "__all__", []) if n not in {w.cls.__name__ for w in classes}
        ]
        for name in reexport:
            check_reexport(module_name, name)
            imports.add(module_name, name)
        all_ = exported + reexport if hasattr(module, "__all__") else None
        files[rel_file(module_name)] = module_text(
            source.rel_path(), docstring_of(source.tree), imports, body, all_
        )
        parts = module_name.split(".")
        for i in range(1, len(parts)):
            packages.add(".".join(parts[:i]))
    for name in MIRRORED_MODULES:
        module_name = f"{ASYNC_PKG}.{name}"
        if module_name in by_module:
            continue
        files[rel_file(module_name)] = reexport_module(module_name, registry)
    for package in sorted(packages):
        files[rel_file(package, package=True)] = package_module(package, registry)
    return files


def rel_file(module_name: str, package: bool = False) -> str:
    parts = sync_module_of(module_name).split(".")[1:]
    if package:
        return "/".join([*parts, "__init__.py"])
    return "/".join(parts) + ".py"


def check_reexport(module_name: str, name: str) -> None:
    obj = getattr(sys.modules[module_name], name)
    if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
        raise GenerationError(f"{module_name}.{name} is an async function: no sync twin rule")
    if isinstance(obj, type) and has_async_surface(obj):
        raise GenerationError(f"{module_name}.{name} is async but was not wrapped")


def reexport_module(module_name: str, registry: Registry) -> str:
    module = importlib.import_module(module_name)
    names = list(getattr(module, "__all__", []))
    imports = Imports(sync_module_of(module_name))
    for name in names:
        check_reexport(module_name, name)
        imports.add(module_name, name)
    source = source_of(module_name)
    doc = docstring_of(source.tree)
    note = f"The same objects as ``{module_name}``: both packages share them."
    doc = f"{doc}\n\n{note}" if doc else note
    return module_text(source.rel_path(), doc, imports, [], names)


def package_module(package: str, registry: Registry) -> str:
    module = importlib.import_module(package)
    imports = Imports(sync_module_of(package))
    names: list[str] = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        wrapped = registry.get(obj)
        if wrapped is not None:
            names.append(imports.add(wrapped.sync_module, wrapped.name))
        else:
            check_reexport(package, name)
            names.append(imports.add(package, name))
    source = source_of(package)
    doc = docstring_of(source.tree)
    if package == ASYNC_PKG:
        doc = PACKAGE_DOC
    return module_text(source.rel_path(), doc, imports, [], names)


PACKAGE_DOC = """vi_sync: the blocking twin of vi_async, for scripts and notebooks.

Same classes, methods, parameters and docstrings as vi_async, without ``await``:

    import vi_sync as vi

    with vi.Client() as client:  # or client = vi.Client(); ...; client.close()
        for flow in client.flows.list().all_items():
            print(flow.flow_id)
        run = client.runs.create(flow="flow_id")
        run = client.runs.wait_for(run.run_id)

Each client runs vi_async on its own event-loop thread (an anyio blocking
portal), started on first use and stopped by ``close()``. It works inside a
running event loop (Jupyter), from several threads at once, and after a fork.
Ctrl-C cancels the call in progress. Callbacks such as ``on_update`` run on the
client's loop thread and must not call the client (that raises RuntimeError).
Models and errors are the vi_async classes themselves.

This package is generated from vi_async by scripts/generate_sync.py."""


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def write_tree(files: dict[str, str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    wanted = {out / rel for rel in files}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path not in wanted and "__pycache__" not in path.parts:
            path.unlink()  # a stale generated file
    for path in sorted(out.rglob("*"), reverse=True):
        if path.is_dir() and path.name != "__pycache__" and not any(path.iterdir()):
            path.rmdir()
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


def diff_tree(files: dict[str, str], out: Path) -> list[str]:
    problems: list[str] = []
    existing = {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    for rel in sorted(existing - set(files)):
        problems.append(f"{rel}: not generated any more (delete it)")
    for rel, text in sorted(files.items()):
        path = out / rel
        if not path.exists():
            problems.append(f"{rel}: missing")
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"{rel} (committed)",
                f"{rel} (generated)",
                lineterm="",
            )
            problems.append("\n".join(diff))
    return problems


def check_lines(files: dict[str, str]) -> None:
    for rel, text in files.items():
        for number, line in enumerate(text.splitlines(), 1):
            if len(line) > LINE_LENGTH:
                raise GenerationError(f"{rel}:{number}: line longer than {LINE_LENGTH}: {line!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--output", type=Path, default=REPO / SYNC_PKG, help="where to write vi_sync"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the output is stale")
    args = parser.parse_args(argv)
    files = generate(Registry())
    check_lines(files)
    if args.check:
        problems = diff_tree(files, args.output)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"vi_sync is stale; regenerate with: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    write_tree(files, args.output)
    print(f"wrote {len(files)} files to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
