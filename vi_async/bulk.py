"""Concurrent bulk jobs: a bounded pipeline, exactly one outcome per item, a report.

``run_bulk`` reads items from any iterable or async iterable (for a cleanup:
the flow listing, page by page) and hands each one to a worker task, with at
most ``concurrency`` items in flight: reading waits for a free slot, so memory
stays bounded however many items there are, and listing overlaps deleting.

Every item taken from the source ends in exactly one ``BulkItemResult`` in the
``BulkReport``. A per-item error is a result, never the end of the job.
Cancelling the job stops reading at once; items whose work was interrupted
before it changed anything are reported as skipped (reason ``"cancelled"``);
work that must not be cut short (a DELETE and the check of its outcome) is
shielded by the item handler. The report is filled live, so a caller that
passed its own ``report=`` keeps it when the call is cancelled.

Repeated items. Given a ``key`` (for flows: the flow id), an item whose key
was already taken is dropped without a second result, so one flow never has
two outcomes. The keys taken are remembered for the whole job: a set of ids,
roughly 100 bytes each (about 10 MB per 100,000 flows), which is the same
order as the report itself, which keeps one result per item.

A progress callback that raises. Recording never depends on the callback: the
result is stored first. The first exception from ``progress`` stops the job
the way cancellation does (no new item starts; in-flight items finish or end
as interrupted), the callback is not called again, every item taken still
gets exactly one result, ``report.error`` is that exception, and it is
raised to the caller once the report is complete.

Errors kept in results lose their tracebacks (and those of their causes), so
a report of thousands of failures does not keep thousands of stack frames.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Sized,
)
from contextlib import aclosing
from typing import Any, Generic, Literal, TypeVar

import anyio
import attrs
from anyio.abc import TaskGroup

from .errors import ViError

__all__ = [
    "CANCELLED_REASON",
    "UNKNOWN_REASON",
    "BulkError",
    "BulkItemResult",
    "BulkOutcome",
    "BulkReport",
    "OnActiveRun",
    "Progress",
    "run_bulk",
]

T = TypeVar("T")

CANCELLED_REASON = "cancelled"
"""The reason of a flow skipped because the job was cancelled before its DELETE was sent."""
UNKNOWN_REASON = "outcome unknown: the answer was lost and could not be confirmed"
"""The reason of a failed flow whose DELETE may or may not have gone through: its
answer was lost and every attempt to check (GET) failed too. The only such case."""


OnActiveRun = Literal["skip", "kill", "fail"]
"""What a bulk delete does with a flow that has an active (Pending/Running) run."""


class BulkOutcome(str, enum.Enum):
    """How one item of a bulk job ended."""

    DELETED = "deleted"
    """The flow was deleted (by this job; a lost answer is confirmed first)."""
    SKIPPED = "skipped"
    """Left in place on purpose: see ``reason`` (an active run, or ``"cancelled"``)."""
    NOT_FOUND = "not_found"
    """The flow was already gone."""
    FAILED = "failed"
    """The delete failed; ``error`` holds the typed ViError. The flow is still there."""
    WOULD_DELETE = "would_delete"
    """Dry run: the flow would have been deleted."""

    def __str__(self) -> str:
        return self.value


def _without_traceback(error: ViError | None) -> ViError | None:
    """Drop the traceback of ``error`` and of its causes and contexts (in place):
    a stored error must not keep the stack frames of the failure alive."""
    seen: set[int] = set()
    exc: BaseException | None = error
    pending: list[BaseException] = []
    while exc is not None or pending:
        if exc is None:
            exc = pending.pop()
        if id(exc) not in seen:
            seen.add(id(exc))
            exc.__traceback__ = None
            if exc.__context__ is not None:
                pending.append(exc.__context__)
            exc = exc.__cause__
        else:
            exc = None
    return error


@attrs.frozen
class BulkItemResult:
    """The outcome of one flow in a bulk job."""

    flow_id: str
    outcome: BulkOutcome
    reason: str | None = None
    """Why it was skipped or failed, in words."""
    error: ViError | None = attrs.field(default=None, converter=_without_traceback)
    """The typed error of a failed item (kept without its traceback)."""
    name: str | None = None
    """The flow's name, when the job saw the flow."""
    killed_runs: tuple[str, ...] = ()
    """Runs killed so that the flow could be deleted (``on_active_run="kill"``)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (snake_case keys; the error as type, message and status)."""
        error = None
        if self.error is not None:
            error = {
                "type": type(self.error).__name__,
                "message": self.error.message,
                "status": self.error.status,
            }
        return {
            "flow_id": self.flow_id,
            "name": self.name,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "error": error,
            "killed_runs": list(self.killed_runs),
        }


Progress = Callable[[int, "int | None", BulkItemResult], object]
"""``progress(done, total_or_None, last_result)``: called after every item (sync)."""


@attrs.define(eq=False)
class BulkReport:
    """What a bulk job did, one result per flow, grouped by outcome.

    The lists fill up while the job runs. ``cancelled`` is true when the job
    was cancelled before it had read every item; ``error`` holds the error
    that stopped it early (e.g. the flow listing failed), if any.
    """

    deleted: list[BulkItemResult] = attrs.field(factory=list)
    skipped: list[BulkItemResult] = attrs.field(factory=list)
    not_found: list[BulkItemResult] = attrs.field(factory=list)
    failed: list[BulkItemResult] = attrs.field(factory=list)
    would_delete: list[BulkItemResult] = attrs.field(factory=list)
    """Dry run only: the flows that would have been deleted."""
    dry_run: bool = False
    cancelled: bool = False
    error: BaseException | None = None
    elapsed: float = 0.0
    """Seconds the job took (set when it ends, however it ends)."""

    def add(self, result: BulkItemResult) -> None:
        """Record one item's result under its outcome."""
        getattr(self, result.outcome.value).append(result)

    def results(self) -> Iterator[BulkItemResult]:
        """Every result, grouped by outcome."""
        return itertools.chain(*(getattr(self, o.value) for o in BulkOutcome))

    @property
    def total(self) -> int:
        """How many items have a result."""
        return sum(self.counts.values())

    @property
    def counts(self) -> dict[str, int]:
        """The number of results per outcome, keyed by outcome value."""
        return {o.value: len(getattr(self, o.value)) for o in BulkOutcome}

    @property
    def complete(self) -> bool:
        """True when the job read and handled every item (not cancelled, no job error)."""
        return not self.cancelled and self.error is None

    @property
    def ok(self) -> bool:
        """True when the job is complete and no item failed."""
        return self.complete and not self.failed

    def raise_for_failures(self) -> None:
        """Raise BulkError (carrying this report) if an item failed or the job stopped early."""
        if not self.ok:
            raise BulkError(self.summary(), report=self)

    def summary(self) -> str:
        """A readable multi-line summary: counts, reasons and failures."""
        verb = "Dry run" if self.dry_run else "Bulk delete"
        state = "cancelled" if self.cancelled else "stopped early" if self.error else "done"
        lines = [f"{verb} {state}: {self.total} flow(s) in {self.elapsed:.2f}s"]
        lines += [f"  {outcome:<13} {n}" for outcome, n in self.counts.items() if n]
        lines += _grouped_reasons(self.skipped, "skipped")
        lines += [f"  failed {r.flow_id}: {r.reason or r.error}" for r in self.failed[:_MAX_LISTED]]
        if len(self.failed) > _MAX_LISTED:
            lines.append(f"  ... and {len(self.failed) - _MAX_LISTED} more failure(s)")
        if self.error is not None:
            lines.append(f"  stopped by: {type(self.error).__name__}: {self.error}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: flags, counts and every result."""
        data: dict[str, Any] = {
            "dry_run": self.dry_run,
            "cancelled": self.cancelled,
            "error": None if self.error is None else str(self.error),
            "elapsed": round(self.elapsed, 3),
            "total": self.total,
            "counts": self.counts,
        }
        for outcome in BulkOutcome:
            data[outcome.value] = [r.to_dict() for r in getattr(self, outcome.value)]
        return data


_MAX_LISTED = 10


def _grouped_reasons(results: list[BulkItemResult], label: str) -> list[str]:
    counts: dict[str, int] = {}
    for result in results:
        reason = result.reason or "no reason given"
        counts[reason] = counts.get(reason, 0) + 1
    return [f"  {label}: {n} x {reason}" for reason, n in counts.items()]


class BulkError(ViError):
    """A bulk job had failures or stopped early; ``report`` says what was done."""

    def __init__(self, message: str, *, report: BulkReport) -> None:
        super().__init__(message)
        self.report = report


Handler = Callable[[T], Awaitable[BulkItemResult]]


class _Job(Generic[T]):
    """The shared state of one running bulk job."""

    def __init__(
        self,
        handle: Handler[T],
        interrupted: Callable[[T], BulkItemResult],
        report: BulkReport,
        progress: Progress | None,
        total: int | None,
    ) -> None:
        self.handle = handle
        self.interrupted = interrupted
        self.report = report
        self.progress = progress
        self.total = total
        self.done = 0
        self.pending: dict[int, T] = {}
        self.crash: BaseException | None = None
        self.scope: anyio.CancelScope | None = None
        """The job's task group scope while it runs (a crash cancels it)."""

    def stop(self, exc: BaseException) -> None:
        """Stop the job because of ``exc`` (the first such error is kept)."""
        if self.crash is None:
            self.crash = exc
        if self.scope is not None:
            self.scope.cancel()

    def record(self, key: int, result: BulkItemResult) -> None:
        """Store a result (synchronously: a result is never half recorded), then
        tell the progress callback; a callback that raises stops the job, is
        never called again and never loses a result."""
        self.pending.pop(key, None)
        self.report.add(result)
        self.done += 1
        if self.progress is not None:
            try:
                self.progress(self.done, self.total, result)
            except Exception as exc:
                self.progress = None
                self.stop(exc)

    async def work(self, key: int, item: T, slots: anyio.Semaphore) -> None:
        """Handle one item; an unexpected exception stops the whole job."""
        try:
            result = await self.handle(item)
        except Exception as exc:  # a bug (ViErrors are results): stop the job, re-raise later
            self.stop(exc)
        else:
            self.record(key, result)
        finally:
            slots.release()

    def settle(self) -> None:
        """Report every item that was taken but never finished as interrupted."""
        for key, item in list(self.pending.items()):
            self.record(key, self.interrupted(item))


async def _aiter(items: Iterable[T] | AsyncIterable[T]) -> AsyncGenerator[T, None]:
    """Iterate either kind of iterable; an async iterator is closed when left early."""
    if isinstance(items, AsyncIterable):
        iterator = aiter(items)
        try:
            async for item in iterator:
                yield item
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
    else:
        for item in items:
            yield item


async def run_bulk(
    items: Iterable[T] | AsyncIterable[T],
    handle: Handler[T],
    *,
    interrupted: Callable[[T], BulkItemResult],
    concurrency: int = 32,
    progress: Progress | None = None,
    report: BulkReport | None = None,
    key: Callable[[T], Hashable | None] | None = None,
) -> BulkReport:
    """Run ``handle(item)`` for every item, ``concurrency`` at a time; return the report.

    ``handle`` returns the item's result and must turn ViErrors into results.
    ``interrupted(item)`` makes the result of an item cut short by cancellation.
    ``key(item)`` (optional) identifies an item: a later item with a key already
    taken is dropped (``None`` means "never a duplicate"); see the module notes
    on memory. A ViError while reading the source stops reading, lets started
    items finish and raises BulkError carrying the report; any other exception
    (a bug in the handler or the source, or an exception from ``progress``)
    stops the job like a cancellation and is re-raised once every taken item
    has its result, with ``report.error`` set to it. On cancellation the
    report (pass ``report=`` to keep it) has ``cancelled=True`` and the
    cancellation propagates.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    report = BulkReport() if report is None else report
    total = len(items) if isinstance(items, Sized) else None
    job = _Job(handle, interrupted, report, progress, total)
    slots = anyio.Semaphore(concurrency)
    started = time.monotonic()
    try:
        async with anyio.create_task_group() as tg:
            job.scope = tg.cancel_scope
            await _feed(job, items, slots, tg, key)
        job.scope = None
        job.settle()
    except anyio.get_cancelled_exc_class():
        job.scope = None
        report.cancelled = True
        job.settle()
        raise
    finally:
        report.elapsed = time.monotonic() - started
        if job.crash is not None:
            report.error = job.crash
    if job.crash is not None:
        raise job.crash
    if report.error is not None:
        raise BulkError(f"The job stopped early: {report.error}", report=report) from report.error
    return report


async def _feed(
    job: _Job[T],
    items: Iterable[T] | AsyncIterable[T],
    slots: anyio.Semaphore,
    tg: TaskGroup,
    key: Callable[[T], Hashable | None] | None,
) -> None:
    """Read the source and start one task per item, waiting for a free slot each time."""
    taken = 0
    seen: set[Hashable] = set()
    try:
        async with aclosing(_aiter(items)) as source:
            async for item in source:
                if key is not None:
                    ident = key(item)
                    if ident is not None:
                        if ident in seen:
                            continue  # the same item again: it already has (or will have) a result
                        seen.add(ident)
                index, taken = taken, taken + 1
                job.pending[index] = item
                await slots.acquire()
                tg.start_soon(job.work, index, item, slots)
    except ViError as exc:
        job.report.error = exc
    except Exception as exc:
        job.stop(exc)
    else:
        job.total = taken
