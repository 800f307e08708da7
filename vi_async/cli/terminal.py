"""What the command line writes for people: text made safe for a terminal.

Guarantee: every character the CLI prints outside JSON goes through
``safe`` (via ``echo``, or the tables and bars of ``output``), so no C0 or C1
control character from a server (a flow name, a log message, an error text)
reaches a terminal or a pipe raw: ``ESC`` becomes the four characters
``\\x1b``. A terminal would otherwise obey an escape sequence in a flow name:
retitle the window, clear the screen, or write the clipboard (OSC 52).
JSON output is left to the encoder, which escapes control characters itself.

Light on purpose (no ``rich``): the entry point prints its errors through it
even when the ``cli`` extra is missing.
"""

from __future__ import annotations

import sys
from typing import IO

__all__ = ["echo", "safe"]

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
_ESCAPES = {code: _NAMED.get(chr(code), f"\\x{code:02x}") for code in _CONTROLS}
_ESCAPES_KEEP_LINES = {**_ESCAPES, ord("\n"): "\n"}


def safe(text: object, *, lines: bool = False) -> str:
    """Escape the C0 and C1 control characters (and DEL) of ``text``.

    Args:
        text: What to print (``str()`` of it).
        lines: Keep newlines, for text of several lines (a summary); by default a
            newline is escaped too, so one cell or event stays one line.

    Returns:
        The text with each control character written as ``\\xNN`` (``\\t``,
        ``\\n``, ``\\r`` for those three).
    """
    return str(text).translate(_ESCAPES_KEEP_LINES if lines else _ESCAPES)


def echo(text: object = "", *, err: bool = False, end: str = "\n", lines: bool = True) -> None:
    """Print ``text`` made safe (``safe``) on stdout, or stderr with ``err``, and flush.

    Args:
        text: What to print.
        err: Print on stderr.
        end: What ends it (not escaped).
        lines: Keep the newlines of multi-line text (False: one line).
    """
    stream: IO[str] = sys.stderr if err else sys.stdout
    print(safe(text, lines=lines), end=end, file=stream, flush=True)
