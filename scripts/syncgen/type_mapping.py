"""Async -> sync type mapping: rewrites vi_async annotations for vi_sync."""

from __future__ import annotations

import ast
import builtins
import collections.abc
import importlib
import types
import typing
from typing import Any

from .discover import Registry, Wrapped, has_async_surface
from .errors import GenerationError
from .imports import Imports
from .layout import unparse
from .source import import_origins, lookup

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
                if is_self(name_node.id, namespace):
                    return ast.Name(writer.imports.add_self(), ast.Load())
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
        """The rewritten type as source text."""
        return unparse(self.rewrite(node, namespace, **kw))


def is_self(name: str, namespace: dict[str, Any]) -> bool:
    """True if ``name`` is ``Self`` in ``namespace``: typing's (3.11+), or imported for
    type checkers only from typing_extensions (which need not be installed)."""
    if name in namespace:
        obj = namespace[name]
        return obj is getattr(typing, "Self", None) or repr(obj) == "typing_extensions.Self"
    module = namespace.get("__name__")
    origin = import_origins(module).get(name) if isinstance(module, str) else None
    return origin in (("typing", "Self"), ("typing_extensions", "Self"))


def returns_self(node: ast.FunctionDef | ast.AsyncFunctionDef, namespace: dict[str, Any]) -> bool:
    """True if the method is annotated ``-> Self``."""
    ret = node.returns
    if isinstance(ret, ast.Constant) and isinstance(ret.value, str):
        ret = ast.parse(ret.value, mode="eval").body
    return isinstance(ret, ast.Name) and is_self(ret.id, namespace)


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
