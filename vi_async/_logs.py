"""Reading a run's log: the last lines, or every line as it is written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from ._convert import converter, describe
from ._polling import PollSchedule
from ._transport import Transport
from .errors import ViDecodeError
from .models import LogLine

PAGE_LIMIT = 1000
FetchTerminal = Callable[[], Awaitable[bool]]


async def read_logs(
    transport: Transport,
    path: str,
    *,
    tail: int | None,
    follow: bool,
    is_terminal: FetchTerminal,
    poll_interval: float | None = None,
) -> AsyncGenerator[LogLine, None]:
    """Yield log lines of the run at ``path``.

    ``tail=N`` starts with the last N lines (None: from the first line). With
    ``follow`` it keeps fetching after the ``nextSince`` cursor until the run
    is terminal and its log is drained, so no line is lost or repeated.
    """
    if tail is not None and tail < 0:
        raise ValueError(f"tail must be >= 0, got {tail}")
    schedule = PollSchedule(poll_interval, initial=0.1, ceiling=2.0)
    cursor: str | None = None
    first = True
    while True:
        params = {"limit": str(PAGE_LIMIT)}
        if cursor is not None:
            params["since"] = cursor
        elif first and tail is not None:
            params["tail"] = str(tail)
        response = await transport.request("GET", path, params=params)
        lines, next_cursor, complete = _decode(response.data)
        if first and tail is not None and len(lines) > tail:  # a server that ignores tail
            lines = lines[-tail:] if tail else []
        first = False
        for line in lines:
            yield line
        if next_cursor is None and lines:  # a server without cursors: resume after the last seq
            next_cursor = str(lines[-1].seq)
        cursor = next_cursor or cursor
        if len(lines) >= PAGE_LIMIT:
            continue  # a full page: more lines are waiting now (also a tail longer than a page)
        if not follow:
            return
        if complete is True or (complete is None and not lines and await is_terminal()):
            return
        if lines:
            schedule.reset()
        await asyncio.sleep(schedule.next_delay())


def _decode(data: Any) -> tuple[list[LogLine], str | None, bool | None]:
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ViDecodeError("Expected a logs object with an 'items' list")
    lines = _lines(data["items"])
    cursor = data.get("nextSince")
    complete = data.get("complete")
    return (
        lines,
        cursor if isinstance(cursor, str) and cursor else None,
        complete if isinstance(complete, bool) else None,
    )


def _lines(items: list[Any]) -> list[LogLine]:
    try:
        return [converter.structure(item, LogLine) for item in items]
    except Exception as exc:
        problem = describe(exc)
    raise ViDecodeError(f"Could not decode a log line: {problem}")  # unchained: see describe()
