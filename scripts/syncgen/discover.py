"""What to wrap: vi_async's classes with an async surface and their sync names."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import GenerationError
from .settings import ASYNC_PKG, ROOT_CLASS, SYNC_PKG
from .source import find_node, function_node, lookup, referenced_objects


def has_async_surface(cls: type) -> bool:
    """True if the class has async methods or async dunders (through its MRO)."""
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
    """The sync twin's class name (``AsyncPager`` -> ``SyncPager``)."""
    name = cls.__name__
    return "Sync" + name[len("Async") :] if name.startswith("Async") else name


def sync_module_of(module: str) -> str:
    """The vi_sync module mirroring a vi_async module."""
    assert module == ASYNC_PKG or module.startswith(ASYNC_PKG + ".")
    return SYNC_PKG + module[len(ASYNC_PKG) :]


@dataclass
class Wrapped:
    """A vi_async class that gets a sync twin."""

    cls: type
    is_root: bool

    @property
    def name(self) -> str:
        """The sync twin's class name."""
        return sync_name_of(self.cls)

    @property
    def async_module(self) -> str:
        """The vi_async module defining the class."""
        return self.cls.__module__

    @property
    def sync_module(self) -> str:
        """The vi_sync module the twin is written to."""
        return sync_module_of(self.cls.__module__)

    @property
    def async_alias(self) -> str:
        """The name the async twin is imported under in the sync module."""
        return self.cls.__name__ if self.name != self.cls.__name__ else "_Async" + self.name

    def line(self) -> int:
        """The class's line in its module (generated classes keep this order)."""
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
                for ref in referenced_objects(node.returns, inspect.unwrap(func).__globals__):
                    if is_own_async_class(ref):
                        found.append(ref)
        for attr in init_attributes(cls):
            if is_own_async_class(attr.cls):
                found.append(attr.cls)
        return found

    def get(self, obj: object) -> Wrapped | None:
        """The wrapped class for ``obj``, or None."""
        return self.wrapped.get(obj) if isinstance(obj, type) else None


def class_members(cls: type) -> dict[str, tuple[type, Any]]:
    """Name -> (defining class, value) over the MRO, subclasses winning."""
    members: dict[str, tuple[type, Any]] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass is typing.Generic:
            continue
        for name, value in vars(klass).items():
            members[name] = (klass, value)
    return members


@dataclass
class InitAttribute:
    """A public attribute set in ``__init__``."""

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
