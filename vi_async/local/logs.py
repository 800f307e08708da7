"""The run logs endpoint: query parsing and the ``RunLogs`` document.

Query: ``since`` (cursor, exclusive: the ``seq`` of the last line seen; absent
or ``"0"`` = from the start), ``until`` (cursor, exclusive upper bound),
``limit`` (default 1000, 1..10000), ``tail`` (only the last N lines available,
a local extension) and ``block`` (only lines of that flow block).

Answer: ``{"kind": "RunLogs", "runId", "items": [{"seq", "timestamp", "block",
"level", "message"}], "nextSince", "complete"}``. Passing ``nextSince`` back as
``since`` returns every later line exactly once; ``complete`` is true once the
run is terminal and no line after ``nextSince`` is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vi_async.local import engine
from vi_async.local.errors import bad_request
from vi_async.local.records import RunRecord

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000


def _int(query: Mapping[str, str], name: str, low: int, high: int | None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name!r} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise bad_request(f"{name!r} must be {bound}")
    return value


@dataclass(frozen=True)
class LogQuery:
    """A parsed logs query."""

    since: int = 0
    until: int | None = None
    limit: int = DEFAULT_LIMIT
    tail: int | None = None
    block: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> LogQuery:
        """Read the query string; bad values are a 400 error."""
        limit = _int(query, "limit", 1, MAX_LIMIT)
        return cls(
            since=_int(query, "since", 0, None) or 0,
            until=_int(query, "until", 0, None),
            limit=DEFAULT_LIMIT if limit is None else limit,
            tail=_int(query, "tail", 0, None),
            block=query.get("block") or None,
        )


def logs_document(record: RunRecord, query: LogQuery, now: int) -> dict[str, Any]:
    """The lines of ``record`` matching ``query`` at ``now``."""
    lines = [
        line
        for line in engine.iter_lines(record.plan, now, record.blocks, after=query.since)
        if query.block is None or line["block"] == query.block
    ]
    window = [line for line in lines if query.until is None or line["seq"] < query.until]
    baseline = query.since
    if query.tail is not None:
        keep = len(window) - min(query.tail, len(window))
        if keep:
            baseline = window[keep - 1]["seq"]  # lines skipped by tail count as seen
        window = window[keep:]
    items = window[: query.limit]
    next_since = items[-1]["seq"] if items else baseline
    remaining = any(line["seq"] > next_since for line in lines)
    return {
        "kind": "RunLogs",
        "runId": record.run_id,
        "items": items,
        "nextSince": str(next_since),
        "complete": record.plan.is_terminal(now) and not remaining,
    }
