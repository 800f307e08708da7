"""The source of one sync class, wrapping its async twin."""

from __future__ import annotations

import ast
import inspect
import sys
import typing
from typing import Any

from .awaited_fields import awaited_field_lines
from .discover import InitAttribute, Registry, Wrapped, class_members, init_attributes
from .docstrings import render_docstring
from .errors import GenerationError
from .imports import Imports
from .layout import Call, layout, unparse
from .settings import (
    AWAIT_TWINS,
    INDENT,
    ROOT_CLOSE,
    RUNTIME_MODULE,
    SYNC_PKG,
    TRANSPARENT_DECORATORS,
)
from .signatures import Param, body_is, def_lines, params_of
from .source import SourceModule, docstring_of, find_node, function_node, lookup, source_of
from .type_mapping import TypeWriter, return_kind, returns_self

SPECIAL_DUNDERS = {"__init__", "__repr__", "__aenter__", "__aexit__", "__aiter__", "__await__"}


def transparent(decorator: ast.expr, namespace: dict[str, Any]) -> bool:
    """True for a decorator that keeps the method's signature and kind (settings)."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if not isinstance(target, ast.Name):
        return False
    obj = lookup(target.id, namespace)
    return f"{obj.__module__}.{obj.__qualname__}" in TRANSPARENT_DECORATORS


class ClassWriter:
    """Writes the sync twin of one wrapped class, adding what it needs to ``imports``."""

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
        """Append lines to the class source."""
        self.lines.extend(lines)

    def method_context(
        self, func: Any
    ) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, dict[str, Any], SourceModule]:
        """A method's node, globals and source module."""
        node = function_node(func)
        # A decorated method (functools.wraps) resolves names where it was written.
        return node, inspect.unwrap(func).__globals__, source_of(func.__module__)

    @staticmethod
    def portal_call(how: str, method: str, args: list[str], prefix: str = "") -> Call:
        """``self._runtime.<how>(self._target().<method>, *args)``."""
        target = f"self._target().{method}"
        return Call(f"{prefix}self._runtime.{how}(", [target, *args])

    def runtime_type(self) -> str:
        """The annotation of the ``runtime`` parameter (``SyncRuntime[Any]``)."""
        self.imports.add("typing", "Any")
        return self.imports.add(RUNTIME_MODULE, "SyncRuntime") + "[Any]"

    # -- the class

    def write(self) -> list[str]:
        """The lines of the class: header, docstring, constants, ``__init__``, members."""
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
        """``__init__``: the root builds the runtime, other classes bind to a target."""
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
                prefix = f"self.{attr.name}: {sync_cls} = "
                self.emit(*layout(view, ind, prefix=prefix))
                self.emit(*render_docstring(attr.doc, ind))
        # plain public attributes become properties (written after __init__)
        for attr in attributes:
            if self.registry.get(attr.cls) is None:
                self.write_attribute_property(attr)

    def type_params(self) -> str:
        """``[T, ...]`` for a generic class, else an empty string."""
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
        """A plain public ``__init__`` attribute as a property."""
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
        """A property delegated to the async twin."""
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
        """The type ``await obj`` gives (the ``T`` of ``Generator[..., ..., T]``)."""
        node, namespace, _ = self.method_context(class_members(self.cls)["__await__"][1])
        ret = node.returns
        if not (isinstance(ret, ast.Subscript) and isinstance(ret.slice, ast.Tuple)):
            raise GenerationError(
                f"{self.cls.__name__}.__await__: annotate it Generator[..., ..., T]"
            )
        return self.types.text(ret.slice.elts[2], namespace)

    def write_method(self, name: str, func: Any) -> None:
        """The blocking twin of one method (or dunder) of the async class."""
        node, namespace, source = self.method_context(func)
        if any(not transparent(d, namespace) for d in node.decorator_list):
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
            self.emit(*awaited_field_lines(twin, node, namespace, self.types))
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
