"""Signatures of generated methods: parameters, defaults and ``def`` lines."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from .layout import Call, layout, unparse
from .source import SourceModule, lookup, referenced_objects
from .type_mapping import ASYNC_ITER_TYPES, SYNC_ITERABLE_TYPES, TypeWriter


def expr_text(node: ast.expr, source: SourceModule) -> str:
    """A default value as written (single line), else unparsed."""
    segment = ast.get_source_segment(source.text, node)
    if segment is not None and "\n" not in segment:
        return segment
    return unparse(node)


@dataclass
class Param:
    """One parameter of a generated method."""

    name: str
    kind: str  # "posonly", "pos", "vararg", "kwonly", "kwarg"
    annotation: str | None
    default: str | None
    offload: bool = False  # takes a sync or an async iterable: see SyncRuntime.offload

    def decl(self) -> str:
        """The parameter as declared in the ``def``."""
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
        """The parameter as passed on to the async method."""
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
    """The parameters of a vi_async function, with types and defaults for vi_sync."""
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
    """The parameter declarations, with ``*`` and ``/`` where needed."""
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
    """The ``def`` line(s) of a method, wrapped to the line length."""
    close = f") -> {returns}:" if returns else "):"
    return layout(Call(f"def {name}(", list(signature_decls(params)), close), indent)


def body_is(node: ast.FunctionDef | ast.AsyncFunctionDef, text: str) -> bool:
    """True if the function body (docstring aside) is exactly ``text``."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [ast.unparse(s) for s in body] == [text]
