"""Tables of the command line: rows streamed one at a time, fitted to the terminal.

Guarantee: an id is never cut nor dropped. The first column of every table
holds what users copy (a flow, run or checkpoint id), printed whole even when
it is longer than its column; on a narrow terminal the other columns give way
first: those marked ``shrink`` (names, reasons) are cut down to
``MIN_WIDTH``, then columns are dropped from the right until a row fits. For a
pipe nothing is cut, whatever ``COLUMNS`` says (a script reads whole rows).
Every cell is made safe for a terminal (``terminal.safe``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import IO

import attrs
from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.text import Text

from .terminal import safe

__all__ = ["GAP", "MIN_WIDTH", "PIPE_WIDTH", "Column", "Table", "console", "fit_columns"]

#: Width of output that is not a terminal: rows are never wrapped or cut for a pipe.
PIPE_WIDTH = 1000
#: Blanks between two columns.
GAP = 2
#: The narrowest a shrinking column gets before columns are dropped instead.
MIN_WIDTH = 8


class _Console(Console):
    """A rich Console that lets a closed pipe surface as BrokenPipeError (rich's
    own handler exits with status 1), so the entry point ends quietly."""

    def on_broken_pipe(self) -> None:
        """Raise instead of exiting."""
        raise BrokenPipeError


def console(stream: IO[str] | None = None) -> Console:
    """A rich Console on ``stream``.

    No markup, emoji or highlighting: cells are printed as given.

    Args:
        stream: Where to print (default: sys.stdout, looked up at each write, so
            that output goes above a live bar).

    Returns:
        The console: as wide as the terminal (``COLUMNS`` if set), else
        ``PIPE_WIDTH``.
    """
    target = stream if stream is not None else sys.stdout
    return _Console(
        file=stream,
        width=None if target.isatty() else PIPE_WIDTH,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
    )


@attrs.frozen
class Column:
    """One column of a table.

    Attributes:
        header: Its title.
        width: Its width in cells; 0 for "as wide as the text" (a last column).
        shrink: Whether it may be cut on a narrow terminal (a name, a reason);
            other columns are dropped whole rather than cut.
    """

    header: str
    width: int = 0
    shrink: bool = False


def _fit(columns: Sequence[Column], total: int) -> list[int] | None:
    """The widths of ``columns`` on a line of ``total`` cells, or None if they do not fit."""
    widths = [column.width or MIN_WIDTH for column in columns]
    excess = sum(widths) + GAP * (len(widths) - 1) - total
    for i in reversed(range(1, len(columns))):  # the id, first, never shrinks
        if excess <= 0:
            break
        if columns[i].shrink and widths[i] > MIN_WIDTH:
            cut = min(excess, widths[i] - MIN_WIDTH)
            widths[i] -= cut
            excess -= cut
    if excess > 0:
        return None
    if not columns[-1].width:  # an open last column takes the rest of the line
        widths[-1] += -excess
    return widths


def fit_columns(columns: Sequence[Column], total: int) -> list[int]:
    """How wide each column is on a line of ``total`` cells.

    Args:
        columns: The table's columns, the id first.
        total: The line's width.

    Returns:
        The width of each column kept: the first ones, as many as fit (at
        least the id's, even when it alone is wider than the line).
    """
    for kept in range(len(columns), 1, -1):
        widths = _fit(columns[:kept], total)
        if widths is not None:
            return widths
    return [columns[0].width]


def _cell(text: str, width: int, *, whole: bool, last: bool) -> str:
    """One cell: cut to ``width`` (marked ``~``) unless ``whole``, padded unless ``last``."""
    if not whole and cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "~"
    return text if last else text + " " * max(0, width - cell_len(text))


class Table:
    """A table printed row by row (a bold header first), so long listings stream.

    Args:
        columns: Its columns, the id first (``Column``, or ``(header, width)``).
        out: Where to print (default: sys.stdout).
        indent: Printed before each row.
    """

    def __init__(
        self,
        columns: Sequence[Column | tuple[str, int]],
        out: IO[str] | None = None,
        indent: str = "",
    ) -> None:
        self.columns = [c if isinstance(c, Column) else Column(*c) for c in columns]
        self.out = out
        self.indent = indent
        self.rows: int = 0
        self._console = console(out)
        self.widths = fit_columns(self.columns, self._console.width - len(indent))

    def _print(self, cells: Iterable[str], style: str = "") -> None:
        last = len(self.widths) - 1
        line = (" " * GAP).join(
            _cell(safe(cell), width, whole=i == 0, last=i == last)
            for i, (cell, width) in enumerate(zip(cells, self.widths, strict=False))
        )
        # soft_wrap: rich neither cuts nor wraps the line; an id wider than the
        # terminal is wrapped by the terminal itself, whole.
        self._console.print(Text(self.indent + line, style=style), soft_wrap=True)
        self._console.file.flush()

    def row(self, *cells: str) -> None:
        """Print one row (and the header before the first one).

        Args:
            cells: One text per column, the id first.

        Raises:
            ValueError: Not one cell per column.
        """
        if len(cells) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} cells, got {len(cells)}")
        if self.rows == 0:
            self._print((column.header for column in self.columns), style="bold")
        self.rows += 1
        self._print(cells)
