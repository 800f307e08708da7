"""The awaited result's fields as lazy properties of a sync class (``pager.items``)."""

from __future__ import annotations

import ast
import sys
from typing import Any

from .errors import GenerationError
from .settings import INDENT
from .source import lookup
from .type_mapping import TypeWriter


def awaited_field_lines(
    twin: str,
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    namespace: dict[str, Any],
    types_: TypeWriter,
) -> list[str]:
    """The awaited attrs object's fields as lazy properties (``pager.items``).

    ``node`` is ``__await__`` (annotated ``Generator[..., ..., T]``), ``twin`` the
    sync method that fetches ``T`` once."""
    ret = node.returns
    assert isinstance(ret, ast.Subscript) and isinstance(ret.slice, ast.Tuple)
    awaited_node = ret.slice.elts[2]
    head = awaited_node.value if isinstance(awaited_node, ast.Subscript) else awaited_node
    if not isinstance(head, ast.Name):
        return []
    result_cls = lookup(head.id, namespace)
    fields = getattr(result_cls, "__attrs_attrs__", None)
    if fields is None or not isinstance(result_cls, type):
        return []
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
    out: list[str] = []
    for f in fields:
        if f.name.startswith("_"):
            continue
        ann = f.type if isinstance(f.type, str) else None
        if ann is None:
            raise GenerationError(f"{result_cls.__name__}.{f.name}: annotation must be a string")
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
        text = types_.text(tree_sub, mixed)
        out += ["", f"{INDENT}@property", f"{INDENT}def {f.name}(self) -> {text}:"]
        out.append(f'{INDENT * 2}"""``{twin}().{f.name}``."""')
        out.append(f"{INDENT * 2}return self.{twin}().{f.name}")
    return out


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def substitutions_names(substitutions: dict[str, ast.expr]) -> set[str]:
    """The names used by the substituted type arguments."""
    out: set[str] = set()
    for expr in substitutions.values():
        out |= _names(expr)
    return out
