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

import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Sized,
)
from contextlib import aclosing
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

from .bulk import BulkError, BulkItemResult, BulkReport, Progress
from .errors import ViError

__all__ = ["run_bulk"]

T = TypeVar("T")

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
