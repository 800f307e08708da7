"""Laying out generated code: calls wrapped to the line length, quoted literals."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .settings import INDENT, LINE_LENGTH


def unparse(node: ast.expr) -> str:
    """``ast.unparse`` with double-quoted strings."""
    text = ast.unparse(node)

    def requote(match: re.Match[str]) -> str:
        body = match.group(1)
        return f'"{body}"' if '"' not in body and "\\" not in body else match.group(0)

    return re.sub(r"'([^'\\]*)'", requote, text)


@dataclass
class Call:
    """A call-like expression to lay out: ``head`` + args + ``close``."""

    head: str  # up to and including the opening parenthesis
    args: list[str | Call]
    close: str = ")"


def flat(expr: str | Call) -> str:
    """``expr`` on one line."""
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
