"""Reading a run's log: the last lines, or every line as it is written.

Guarantee: every line is yielded once, in the server's order; ``follow=True``
ends once the run is terminal and its log drained; a read with
``follow=False`` makes a bounded number of requests, and a server whose
answers do not advance never makes the reader loop.

The Vi wire promises only lines ``{"timestamp", "block", "level", "message"}``
and ``since`` / ``until`` in epoch milliseconds. So the reader resumes by time:
it asks ``since = T - 1``, T being the last timestamp yielded, which returns
every line from T on whether the server's ``since`` is inclusive or
exclusive, and drops the lines at T it already yielded (it remembers them, as
a multiset: equal lines in one millisecond are counted). Lines below T are
dropped too. Once an answer shows that ``since`` is inclusive (a line at
exactly ``since``), it asks ``since = T``.

Many lines may share one millisecond. If a full page holds nothing new (more
lines at T than a page), the reader asks once for the largest page; if that
is still not enough, it warns, skips the rest of that millisecond and reads
on. That is the one case where lines can be lost, and it says so.

Extensions, used only when the answer carries them: ``nextSince`` (a cursor:
passed back as ``since``), ``seq`` (lines with a ``seq`` at or below the last
one yielded are repeats), ``complete`` (the run is over and drained, so no
extra GET of the run is needed) and ``tail`` (the server kept only the last
N lines; without it the reader reads to the end and keeps the last N itself,
in a bounded deque).

A page that does not advance (the same cursor with old lines, a full page of
old lines, or the very same page again) is a stall: once the remedies above
are spent, ``follow=False`` stops with a warning and ``follow=True`` waits one
poll interval (and ends, with a warning, once the run is terminal).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from .._constants import MAX_PAGE_SIZE
from .._convert import converter, describe
from .._http.transport import Transport
from .._observe.logging import sdk_logger
from .._validate import check_number
from ..errors import ViDecodeError, ViValidationError
from ..models import LogLine
from .cadence import PollSchedule

logger = sdk_logger("vi_async.runs")

PAGE_LIMIT = MAX_PAGE_SIZE
MAX_PAGE_LIMIT = 10000
"""The largest page asked for, when more lines than a page share one millisecond."""
MAX_REQUESTS = 10_000
"""Requests a ``follow=False`` read makes at most (ten million lines at a page a request)."""
MAX_STALLS = 4
"""Answers in a row that do not advance, each met with a remedy, before the reader gives up."""
FetchTerminal = Callable[[], Awaitable[bool]]


class _Answer:
    """One logs page as read: its lines and what the server said about the rest."""

    __slots__ = ("complete", "cursor", "lines", "tail")

    def __init__(
        self, lines: list[LogLine], cursor: str | None, complete: bool | None, tail: int | None
    ) -> None:
        self.lines = lines
        self.cursor = cursor
        self.complete = complete
        self.tail = tail


class _Position:
    """Where the read resumes, and which lines it already yielded."""

    def __init__(self) -> None:
        self.limit = PAGE_LIMIT
        self.cursor: str | None = None  # the server's nextSince (extension)
        self.last_seq: int | None = None
        self.low: int | None = None  # the last timestamp yielded: lines below it are old
        self.at_low: Counter[LogLine] = Counter()  # lines yielded at timestamp == low
        self.inclusive = False  # the server's ``since`` is known to include ``since`` itself
        self.ceiling = MAX_PAGE_LIMIT

    def params(self) -> dict[str, str]:
        """The query of the next request."""
        params = {"limit": str(self.limit)}
        if self.cursor is not None:
            params["since"] = self.cursor
        elif self.low is not None:
            params["since"] = str(self.low if self.inclusive else max(0, self.low - 1))
        return params

    def take(self, answer: _Answer, since: str | None) -> list[LogLine]:
        """The lines of ``answer`` not yielded before, and move past them."""
        by_time = answer.cursor is None
        if by_time and since is not None and not self.inclusive:
            self.inclusive = any(str(line.timestamp) == since for line in answer.lines)
        repeats = Counter(self.at_low)
        fresh: list[LogLine] = []
        for line in answer.lines:
            if self.last_seq is not None and line.seq is not None and line.seq <= self.last_seq:
                continue
            if by_time and self.low is not None:
                if line.timestamp < self.low:
                    continue
                if line.timestamp == self.low and repeats[line] > 0:
                    repeats[line] -= 1
                    continue
            fresh.append(line)
            self._passed(line)
        if answer.cursor is not None:
            self.cursor = answer.cursor
        return fresh

    def _passed(self, line: LogLine) -> None:
        if line.seq is not None:
            self.last_seq = max(line.seq, self.last_seq or 0)
        if self.low is None or line.timestamp > self.low:
            self.low = line.timestamp
            self.at_low.clear()
        if line.timestamp == self.low:
            self.at_low[line] += 1

    def unstick(self, lines: list[LogLine]) -> bool:
        """One remedy for a full page of old ``lines``; False when none is left."""
        if self.cursor is not None or self.low is None:
            return False  # a cursor that does not advance: nothing to change on our side
        if any(line.timestamp < self.low - 1 for line in lines):
            return False  # not a crowded millisecond: the server ignores since
        if self.limit < self.ceiling:
            self.limit = self.ceiling
            return True
        logger.warning(
            "More than %d log lines share the millisecond %d; skipping the rest of it",
            self.limit,
            self.low,
        )
        self.low += 1
        self.at_low.clear()
        return True

    def refused_limit(self) -> bool:
        """The server refused a page larger than the default: never ask for one again."""
        if self.limit <= PAGE_LIMIT:
            return False
        self.limit = self.ceiling = PAGE_LIMIT
        return True


class _Reader:
    """One read of a run's log: where it resumes, and what the last answers showed."""

    def __init__(self, tail: int | None) -> None:
        self.tail = tail
        self.position = _Position()
        self.kept: deque[LogLine] | None = None  # the last N lines, when the server ignores tail
        self.previous: list[LogLine] = []  # the last page read by cursor
        self.first = True
        self.stalls = 0  # answers in a row that did not advance

    def query(self, sent: dict[str, str]) -> dict[str, str]:
        """The next request's query: the position's, and ``tail`` on the first request."""
        params = dict(sent)
        if self.first and self.tail is not None:
            params["tail"] = str(self.tail)
        return params

    def read(self, answer: _Answer, params: dict[str, str]) -> tuple[list[LogLine], bool, bool]:
        """Take one answer to the query ``params``.

        Args:
            answer: The decoded page.
            params: The query it answers.

        Returns:
            The lines to yield now, whether new lines may be waiting at once
            (ask again), and whether the answer stalled (did not advance).
        """
        by_cursor = answer.cursor is not None
        if by_cursor and answer.lines and answer.lines == self.previous:
            fresh = []  # the very same page again, whatever its cursor says
        else:
            fresh = self.position.take(answer, params.get("since"))
        self.previous = answer.lines if by_cursor else []
        full = len(answer.lines) >= int(params["limit"])
        # By time, any new line means "ask again": a server may cut pages shorter than asked.
        more = bool(fresh) and (full or not by_cursor)
        unmoved = by_cursor and bool(answer.lines) and answer.cursor == params.get("since")
        stalled = not fresh and (full or unmoved)
        self.stalls = self.stalls + 1 if stalled else 0
        if self.first:
            self.first = False
            fresh = self._first_answer(answer, fresh)
        if self.kept is not None:
            self.kept.extend(fresh)  # reading towards the end, to keep its last lines
            return [], more, stalled
        return fresh, more, stalled

    def _first_answer(self, answer: _Answer, fresh: list[LogLine]) -> list[LogLine]:
        """Honour ``tail``: cut the lines if the server did not, else keep the last N."""
        tail = self.tail
        if tail is not None and answer.tail == tail:
            return fresh[-tail:] if tail else []
        if tail is not None:
            self.kept = deque(maxlen=tail)
        return fresh

    def remedied(self, answer: _Answer, stalled: bool, sent: dict[str, str]) -> bool:
        """Whether a stalled answer taught a remedy (e.g. how the server reads since)."""
        if not stalled or self.stalls > MAX_STALLS:
            return False
        return self.position.params() != sent or self.position.unstick(answer.lines)

    def flush(self) -> list[LogLine]:
        """The kept last N lines, once the read has reached the end (then none are kept)."""
        if self.kept is None:
            return []
        lines, self.kept = list(self.kept), None
        return lines


async def _get_page(
    transport: Transport, path: str, params: dict[str, str], position: _Position
) -> _Answer | None:
    """One logs page; None when the server refused the page size (ask again, smaller)."""
    try:
        response = await transport.request("GET", path, params=params)
    except ViValidationError:
        if position.refused_limit():
            return None
        raise
    return _decode(response.data)


async def read_logs(
    transport: Transport,
    path: str,
    *,
    tail: int | None,
    follow: bool,
    is_terminal: FetchTerminal,
    poll_interval: float | None = None,
) -> AsyncGenerator[LogLine, None]:
    """Yield the log lines of the run at ``path`` (see the module docstring).

    Args:
        transport: The client's transport.
        path: The run's logs path (``runs/{id}/logs``).
        tail: Start with the last N lines; None starts from the first line.
        follow: Go on until the run is terminal and its log is drained.
        is_terminal: Tells whether the run has ended (one GET of the run).
        poll_interval: Poll every this many seconds instead of backing off.

    Yields:
        Each line once, in the server's order.

    Raises:
        TypeError: ``tail`` is not an integer or None.
        ValueError: ``tail`` is negative.
        ViDecodeError: An answer is not a logs page.
    """
    check_number(tail, "tail", integer=True)
    schedule = PollSchedule(poll_interval, initial=0.1, ceiling=2.0)
    reader = _Reader(tail)
    ended = False  # the run was seen terminal before the current request
    requests = 0
    while True:
        if not follow and requests >= MAX_REQUESTS:
            logger.warning("The log did not end after %d requests; stopping", requests)
            return
        sent = reader.position.params()
        params = reader.query(sent)
        requests += 1
        answer = await _get_page(transport, path, params, reader.position)
        if answer is None:
            continue
        fresh, more, stalled = reader.read(answer, params)
        for line in fresh:
            yield line
        if more or reader.remedied(answer, stalled, sent):
            continue  # new lines may be waiting now, or a remedy to try
        flushed = reader.flush()
        for line in flushed:
            yield line
        if stalled:
            logger.warning("The log of %s did not advance (the same lines again)", path)
        if not follow or (answer.complete is True and not stalled):
            return
        if answer.complete is None or stalled:
            if ended:
                return  # drained after the run had ended
            ended = await is_terminal()
            if ended:
                continue  # read once more: every line written before the end is there now
        if fresh or flushed:
            schedule.reset()
        await asyncio.sleep(schedule.next_delay())


def _decode(data: Any) -> _Answer:
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ViDecodeError("Expected a logs object with an 'items' list")
    lines = _lines(data["items"])
    cursor = data.get("nextSince")
    complete = data.get("complete")
    tail = data.get("tail")
    return _Answer(
        lines,
        cursor if isinstance(cursor, str) and cursor else None,
        complete if isinstance(complete, bool) else None,
        tail if isinstance(tail, int) and not isinstance(tail, bool) else None,
    )


def _lines(items: list[Any]) -> list[LogLine]:
    try:
        return [converter.structure(item, LogLine) for item in items]
    except Exception as exc:
        problem = describe(exc)
    raise ViDecodeError(f"Could not decode a log line: {problem}")  # unchained: see describe()
