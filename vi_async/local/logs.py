"""The run logs endpoint: query parsing and the ``RunLogs`` document, in two dialects.

Both answer ``{"kind": "RunLogs", "runId", "items": [...]}`` with the lines in
order, at most ``limit`` of them (default 1000, 1..10000), and ``block`` keeps
only the lines of that flow block.

Strict (the Vi wire, WIRE.md): a line is ``{"timestamp", "block", "level",
"message"}``; ``since`` and ``until`` are epoch milliseconds, ``since``
inclusive (``timestamp >= since``) and ``until`` exclusive (``timestamp <
until``). Many lines may share a millisecond; nothing else is promised.

Extended (the default; local extensions): every line also has ``seq``
(numbered from 1), and ``since`` / ``until`` are ``seq`` cursors, both
exclusive. The answer adds ``nextSince`` (pass it back as ``since`` to get
every later line exactly once) and ``complete`` (true once the run is
terminal and no line after ``nextSince`` is left). ``tail=N`` keeps only the
last N lines of the window (the lines it skips count as read for
``nextSince``), and the answer then carries ``"tail": N`` to say so.

The lines are computed from the run's plan, never listed: a page costs time
and memory proportional to the page (plus a binary search over time in the
strict dialect), however many lines the run has produced. Lines added with
``LocalServer.append_logs`` (stored, at most ``MAX_EXTRA_LINES`` a run) are
merged in where they were added: after the run's own lines made by then.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vi_async.local import engine
from vi_async.local.errors import bad_request
from vi_async.local.records import ExtraLine, RunRecord

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000


def _int(query: Mapping[str, str], name: str, low: int, high: int | None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name!r} must be an integer, got {raw[:40]!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise bad_request(f"{name!r} must be {bound}")
    return value


@dataclass(frozen=True)
class LogQuery:
    """A parsed logs query (``since`` / ``until`` are seqs or epoch ms, by dialect)."""

    since: int = 0
    until: int | None = None
    limit: int = DEFAULT_LIMIT
    tail: int | None = None
    block: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str], *, strict: bool = False) -> LogQuery:
        """Read the query string; bad values are a 400 error. Strict ignores ``tail``."""
        limit = _int(query, "limit", 1, MAX_LIMIT)
        return cls(
            since=_int(query, "since", 0, None) or 0,
            until=_int(query, "until", 0, None),
            limit=DEFAULT_LIMIT if limit is None else limit,
            tail=None if strict else _int(query, "tail", 0, None),
            block=query.get("block") or None,
        )


class LogView:
    """The lines of one run available at ``now`` (optionally of one block), by index.

    Line ``j`` (from 0) is computed on demand in O(1); nothing is listed.
    """

    def __init__(
        self, plan: engine.RunPlan, blocks: tuple[str, ...], now: int, block: str | None
    ) -> None:
        """Describe the lines of ``plan`` at ``now``; ``block`` keeps only that block's."""
        self._plan = plan
        self._blocks = blocks
        self._residues: list[int] | None = None
        if block is None:
            self._len = engine.line_count(plan, now)
        else:
            # Only "Running" lines have a block: line k of them belongs to blocks[k % n].
            self._residues = [i for i, name in enumerate(blocks) if name == block]
            self._len = self._running_before(engine.running_line_count(plan, now))

    def __len__(self) -> int:
        """How many lines there are."""
        return self._len

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Line ``index`` (0 <= index < len), as the extended dialect serves it."""
        return engine.log_line(self._plan, self.seq(index), self._blocks)

    def _running_before(self, k: int) -> int:
        """How many lines of the block are among the first ``k`` Running lines."""
        assert self._residues is not None
        if not self._residues or k <= 0:
            return 0
        n = len(self._blocks)
        return (k // n) * len(self._residues) + bisect_left(self._residues, k % n)

    def seq(self, index: int) -> int:
        """The ``seq`` of line ``index``."""
        if self._residues is None:
            return index + 1
        n, r = len(self._blocks), len(self._residues)
        return (index // r) * n + self._residues[index % r] + 2  # Running line k is seq k + 2

    def after_seq(self, seq: int) -> int:
        """The index of the first line with a ``seq`` greater than ``seq``."""
        if self._residues is None:
            first = seq
        else:
            first = self._running_before(seq - 1)  # Running lines with k + 2 <= seq
        return min(max(first, 0), self._len)


class MergedView:
    """A :class:`LogView` with the lines added by ``append_logs`` merged in.

    ``seq`` numbers count every line of the run, own and added; an added line
    with ``rank`` r comes after the run's own line r. Added lines are few, so
    their positions are listed; the run's own lines stay computed.
    """

    def __init__(self, base: LogView, extras: list[ExtraLine], block: str | None) -> None:
        """Merge ``extras`` (all of the run's, in order) into ``base`` (filtered by ``block``)."""
        self._base = base
        ordered = sorted(range(len(extras)), key=lambda i: (extras[i].rank, i))
        self._ranks = [extras[i].rank for i in ordered]
        kept = [m for m, i in enumerate(ordered) if block is None or extras[i].block == block]
        self._lines = [(self._ranks[m] + m + 1, extras[ordered[m]]) for m in kept]
        self._at = [
            base.after_seq(line.rank) + position for position, (_, line) in enumerate(self._lines)
        ]

    def __len__(self) -> int:
        """How many lines there are."""
        return len(self._base) + len(self._lines)

    def _locate(self, index: int) -> tuple[int, bool]:
        """``(k, True)`` when line ``index`` is added line k, else ``(base index, False)``."""
        k = bisect_left(self._at, index)
        if k < len(self._at) and self._at[k] == index:
            return k, True
        return index - k, False

    def seq(self, index: int) -> int:
        """The ``seq`` of line ``index``."""
        k, added = self._locate(index)
        if added:
            return self._lines[k][0]
        own = self._base.seq(k)
        return own + bisect_left(self._ranks, own)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Line ``index`` (0 <= index < len), as the extended dialect serves it."""
        k, added = self._locate(index)
        if not added:
            line = self._base[k]
            return {**line, "seq": line["seq"] + bisect_left(self._ranks, line["seq"])}
        seq, extra = self._lines[k]
        return {
            "seq": seq,
            "timestamp": extra.at,
            "block": extra.block,
            "level": extra.level,
            "message": extra.message,
        }

    def after_seq(self, seq: int) -> int:
        """The index of the first line with a ``seq`` greater than ``seq``."""
        if not self._ranks:
            return self._base.after_seq(seq)
        return _first(len(self), lambda j: self.seq(j) > seq)

    def at_time(self, ms: int) -> int:
        """The index of the first line with ``timestamp >= ms`` (timestamps never decrease)."""
        return _first(len(self), lambda j: self[j]["timestamp"] >= ms)


def _first(length: int, reached: Any) -> int:
    """The first index in ``range(length)`` where the monotone ``reached(index)`` holds."""
    low, high = 0, length
    while low < high:
        mid = (low + high) // 2
        if reached(mid):
            high = mid
        else:
            low = mid + 1
    return low


def _wire_line(line: dict[str, Any]) -> dict[str, Any]:
    """A line as the Vi wire has it: without ``seq``."""
    return {key: line[key] for key in ("timestamp", "block", "level", "message")}


def logs_document(
    record: RunRecord,
    query: LogQuery,
    now: int,
    *,
    strict: bool = False,
    extras: list[ExtraLine] | None = None,
) -> dict[str, Any]:
    """The lines of ``record`` matching ``query`` at ``now``, in the chosen dialect.

    ``extras`` are the lines added to the run with ``append_logs``.
    """
    base = LogView(record.plan, record.blocks, now, query.block)
    view = MergedView(base, extras or [], query.block)
    document: dict[str, Any] = {"kind": "RunLogs", "runId": record.run_id}
    if strict:
        start = view.at_time(query.since)
        end = len(view) if query.until is None else view.at_time(query.until)
        stop = max(start, min(end, start + query.limit))
        document["items"] = [_wire_line(view[j]) for j in range(start, stop)]
        return document
    start = view.after_seq(query.since)
    end = len(view) if query.until is None else view.after_seq(query.until - 1)
    end = max(start, end)
    baseline = query.since
    if query.tail is not None:
        keep_from = max(start, end - query.tail)
        if keep_from > start:
            baseline = view.seq(keep_from - 1)  # lines skipped by tail count as seen
        start = keep_from
        document["tail"] = query.tail
    items = [view[j] for j in range(start, min(end, start + query.limit))]
    next_since = items[-1]["seq"] if items else baseline
    document["items"] = items
    document["nextSince"] = str(next_since)
    document["complete"] = record.plan.is_terminal(now) and view.after_seq(next_since) >= len(view)
    return document
