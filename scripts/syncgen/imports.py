"""The import block of a generated module."""

from __future__ import annotations

import sys

from .errors import GenerationError
from .settings import ASYNC_PKG, INDENT, LINE_LENGTH, SYNC_PKG


def member_sort_key(name: str) -> tuple[int, str, str]:
    """Sort key for imported names: CONSTANTS, then Classes, then functions."""
    if len(name) > 1 and name.isupper():
        rank = 0
    elif name[:1].isupper():
        rank = 1
    else:
        rank = 2
    return (rank, name.lower(), name)


class Imports:
    """The imports of one generated module, rendered in ruff's (isort) order."""

    def __init__(self, own_module: str) -> None:
        self.own_module = own_module
        self.froms: dict[str, set[tuple[str, str | None]]] = {}
        self.plain: set[tuple[str, str | None]] = set()
        self.names: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        self.wants_self = False

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
        """``import module [as alias]``; returns the local name."""
        self.plain.add((module, alias))
        return alias or module

    def add_self(self) -> str:
        """``Self``: from typing on 3.11+, else (type checkers only) typing_extensions,
        which is no dependency; returns the local name."""
        self.add_module("sys")
        self.add("typing", "TYPE_CHECKING")
        self.wants_self = True
        return "Self"

    def self_lines(self) -> list[str]:
        """The conditional import of ``Self`` (after the other imports), if used."""
        if not self.wants_self:
            return []
        return [
            "",
            "if sys.version_info >= (3, 11):",
            f"{INDENT}from typing import Self",
            "elif TYPE_CHECKING:  # typing_extensions is no dependency: type checkers ship it",
            f"{INDENT}from typing_extensions import Self",
        ]

    def render(self) -> list[str]:
        """The import lines: __future__, stdlib, third party, vi_async/vi_sync."""
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
            items = sorted(members, key=lambda m: member_sort_key(m[0]))
            # like isort/ruff without combine-as-imports: each `x as y` on its own line
            parts = [name for name, alias in items if not alias]
            lines = []
            if parts:
                one = f"from {module} import {', '.join(parts)}"
                if len(one) <= LINE_LENGTH:
                    lines = [one]
                else:
                    lines = [f"from {module} import ("] + [f"{INDENT}{p}," for p in parts] + [")"]
            lines += [f"from {module} import {name} as {alias}" for name, alias in items if alias]
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
        return out + self.self_lines()
