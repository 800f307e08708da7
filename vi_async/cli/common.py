"""What every command of the command line shares: the context, the usage error,
streamed listings, one object shown, and reading the user's files and attributes.

Guarantee: a command reports a bad input as ``UsageError`` (exit code 2)
before it sends anything for it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio
import attrs

from .._client import Client
from ..bulk.report import BulkReport
from ..models import Flow, Run
from . import output as term
from .terminal import echo

T = TypeVar("T")


class UsageError(Exception):
    """The command line was well formed but cannot be acted on (exit code 2)."""


@attrs.define
class Context:
    """What the commands share with the entry point."""

    json: bool = False
    report: BulkReport | None = None
    """The running bulk job's report, so that Ctrl-C can still print it."""
    printed: bool = False
    """True once the bulk report has been printed (so it is printed once)."""
    allow_skipped: bool = False
    """``--allow-skipped``: flows skipped by policy or already gone do not fail the command."""


Command = Callable[[Client, argparse.Namespace, Context], Awaitable[int]]
"""A command: takes the client, the parsed arguments and the context; returns the
exit code (0 success, 1 failures in the result)."""


async def print_items(
    items: AsyncIterator[T], ctx: Context, limit: int | None, view: term.View[T]
) -> None:
    """Print items as they arrive: a table, or one JSON array with ``--json``.

    No items print nothing on stdout (``[]`` with ``--json``); a note says so
    on stderr when it is a terminal.

    The JSON array is closed however the listing ends, so stdout is always one
    valid JSON document (a listing that failed half way still exits non-zero,
    with the error on stderr).

    Args:
        items: The items, e.g. a pager's ``all_items()``.
        ctx: The command's context (``--json``).
        limit: Print at most this many (None: all).
        view: How an item becomes a row and a JSON object.
    """
    array, table = term.JsonArray(), term.Table(view.columns)
    shown = 0
    try:
        async for item in items:
            if limit is not None and shown >= limit:
                break
            shown += 1
            if ctx.json:
                array.add(view.to_json(item))
            else:
                view.row(table, item)
    finally:
        if ctx.json:
            array.close()
    if not ctx.json and shown == 0 and sys.stderr.isatty():
        echo(f"no {view.plural}", err=True)  # stdout stays empty: nothing to parse


def show(obj: Flow | Run, ctx: Context) -> None:
    """Print one flow or run: its summary, or its JSON with ``--json``."""
    if ctx.json:
        term.dump(term.flow_json(obj) if isinstance(obj, Flow) else term.run_json(obj))
    else:
        echo(obj.summary())


async def read_text(path: str, what: str, *, stdin: bool = False) -> str:
    """Read a text file named on the command line.

    Args:
        path: The file.
        what: What it holds, for the error message (``"plan"``, ``"spec"``).
        stdin: ``-`` reads stdin.

    Returns:
        The file's text.

    Raises:
        UsageError: The file cannot be read.
    """
    try:
        if stdin and path == "-":
            return await anyio.to_thread.run_sync(sys.stdin.read)
        return await anyio.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the {what}: {exc}") from None


MAX_JSON_DEPTH = 64
"""How deeply a JSON file given on the command line may nest (the local server's bound)."""


def _depth(value: object) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def load_json(text: str, what: str) -> object:
    """Decode a JSON file given on the command line.

    Args:
        text: The file's text.
        what: What it holds, for the error message (``"spec"``).

    Returns:
        The decoded value.

    Raises:
        UsageError: The text is not JSON, or nests deeper than ``MAX_JSON_DEPTH``.
    """
    too_deep = UsageError(f"the {what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the {what} is not JSON: {exc}") from None
    except RecursionError:
        raise too_deep from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise too_deep
    return value


def attributes(pairs: list[str]) -> dict[str, str] | None:
    """Read the ``--attr KEY=VALUE`` options.

    Args:
        pairs: The options' values.

    Returns:
        The metadata attributes, or None when there are none.

    Raises:
        UsageError: A value is not ``KEY=VALUE``.
    """
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--attr expects KEY=VALUE, got {pair!r}")
        found[key] = value
    return found or None
