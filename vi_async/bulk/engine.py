"""Concurrent bulk jobs: a fixed pool of workers, exactly one outcome per item, a report.

``run_bulk`` reads items from any iterable or async iterable (for a cleanup:
the flow listing, page by page) through one shared source, taken by a fixed
pool of ``concurrency`` long-lived workers. A worker takes an item slot from
the job's :class:`~vi_async.bulk.adaptive.AdaptiveLimit` (so at most ``limit``
items are in flight, and ``concurrency`` is only its ceiling), then the next
item, handles it and loops. Reading happens only when a slot is free, so
memory stays bounded however many items there are, and listing overlaps
deleting. Neither the slot nor the source yields to the event loop when it
needs not: a job costs no task and no scheduling per item.

Every item taken from the source ends in exactly one ``BulkItemResult`` in the
``BulkReport``. A per-item error is a result, never the end of the job.

Cancellation. Every worker checks for cancellation before it takes an item;
the source is closed in a shielded ``finally``. Items whose work was cut short
before it changed anything are reported by ``interrupted(item)`` (for flows:
skipped, reason ``"cancelled"``). Work that must not be cut short (a DELETE
and the check of its outcome) runs in a :meth:`Grace.shield`: shielded, but
once the job is cancelled each shield gets a deadline ``grace`` seconds later
(the client's ``cancel_grace``), so a cancelled job ends in bounded time even
against a server that never answers; the handler reports what is then still
unknown as such. ``report.cancelled`` is set the moment the cancellation
reaches the job, and ``report.finished`` once every item taken has its
result: a report read before that (a second Ctrl-C in vi_sync) is partial,
and says so. The report is filled live, so a caller that passed its own
``report=`` keeps it when the call is cancelled.

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

import math
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Hashable,
    Iterable,
    Iterator,
    Sized,
)
from contextlib import contextmanager
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from .._constants import DEFAULT_CANCEL_GRACE
from .._http.retry import current_pacer
from ..errors import ViError
from .adaptive import AdaptiveLimit
from .options import BulkOptions
from .report import BulkError, BulkItemResult, BulkProgress, BulkReport

__all__ = ["DEFAULT_CANCEL_GRACE", "Grace", "run_bulk"]

T = TypeVar("T")

Handler = Callable[[T], Awaitable[BulkItemResult]]


class Grace:
    """The shielded sections of one job, bounded once the job is cancelled."""

    def __init__(self, seconds: float = DEFAULT_CANCEL_GRACE) -> None:
        self.seconds = seconds
        self.deadline: float = math.inf
        self._scopes: set[anyio.CancelScope] = set()

    @property
    def started(self) -> bool:
        """True once the job was cancelled (the grace runs)."""
        return self.deadline != math.inf

    @contextmanager
    def shield(self) -> Generator[anyio.CancelScope, None, None]:
        """A shielded scope that the end of the grace cancels (check ``cancelled_caught``)."""
        scope = anyio.CancelScope(shield=True, deadline=self.deadline)
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)

    def start(self) -> None:
        """The job was cancelled: every shield, current or later, ends by the deadline."""
        if not self.started:
            self.deadline = anyio.current_time() + self.seconds
            for scope in self._scopes:
                scope.deadline = min(scope.deadline, self.deadline)


class _Source(Generic[T]):
    """The one source every worker takes items from, numbered, without repeats."""

    def __init__(
        self, items: Iterable[T] | AsyncIterable[T], key: Callable[[T], Hashable | None] | None
    ) -> None:
        self._sync: Iterator[T] | None = None
        self._async: AsyncIterator[T] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
            self._lock = anyio.Lock()  # an async iterator must not be advanced twice at once
        else:
            self._sync = iter(items)
        self._key = key
        self._seen: set[Hashable] = set()
        self.taken = 0
        self.pulled = 0
        """Items read from the source, repeats included."""
        self.ended = False
        """True once the source said it had no more items (read to its end)."""
        self.exhausted = False

    async def take(self) -> tuple[int, T] | None:
        """The next new item and its number; None once the source is exhausted."""
        while not self.exhausted:
            if self._sync is not None:
                item = next(self._sync, _END)
            else:
                async with self._lock:
                    if self.exhausted:
                        return None
                    item = await anext(self._async, _END)  # type: ignore[arg-type]
            if item is _END:
                self.exhausted = self.ended = True
                return None
            self.pulled += 1
            if self._key is not None:
                ident = self._key(item)  # type: ignore[arg-type]
                if ident is not None:
                    if ident in self._seen:
                        continue  # the same item again: it already has (or will have) a result
                    self._seen.add(ident)
            index, self.taken = self.taken, self.taken + 1
            return index, item  # type: ignore[return-value]
        return None

    async def aclose(self) -> None:
        """Close an async source left early (a listing's generator)."""
        self.exhausted = True
        aclose = getattr(self._async, "aclose", None)
        if aclose is not None:
            await aclose()


_END: object = object()


class _BulkJob(Generic[T]):
    """The shared state of one running bulk job."""

    def __init__(
        self,
        handle: Handler[T],
        interrupted: Callable[[T], BulkItemResult],
        report: BulkReport,
        progress: BulkProgress | None,
        total: int | None,
        limit: AdaptiveLimit,
        grace: Grace,
    ) -> None:
        self.handle = handle
        self.interrupted = interrupted
        self.report = report
        self.progress = progress
        self.total = total
        self.limit = limit
        self.grace = grace
        self.done = 0
        self.pending: dict[int, T] = {}
        self.crash: BaseException | None = None
        self.scope: anyio.CancelScope | None = None
        """The job's task group scope while it runs (a crash cancels it)."""
        self.workers = 0
        self.finished = anyio.Event()

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

    async def worker(self, source: _Source[T]) -> None:
        """Take items one at a time until the source is exhausted or the job stops."""
        try:
            while not source.exhausted:
                await anyio.lowlevel.checkpoint_if_cancelled()
                await self.limit.acquire()
                try:
                    try:
                        taken = await source.take()
                    except ViError as exc:  # the listing failed: stop reading, finish the rest
                        if self.report.error is None:
                            self.report.error = exc
                        source.exhausted = True
                        return
                    if taken is None:
                        if self.report.error is None:
                            self.total = source.taken
                        return
                    index, item = taken
                    self.pending[index] = item
                    try:
                        result = await self.handle(item)
                    except Exception as exc:  # a bug (ViErrors are results): stop, re-raise later
                        self.stop(exc)
                        return
                    self.record(index, result)
                    self.limit.item_done()
                finally:
                    self.limit.release()
        except Exception as exc:  # the source itself raised something else: a bug
            self.stop(exc)
        finally:
            self.workers -= 1
            if self.workers == 0:
                self.finished.set()

    async def watch(self) -> None:
        """Notice the cancellation of the job the moment it arrives."""
        try:
            await self.finished.wait()
        except anyio.get_cancelled_exc_class():
            self.grace.start()
            if self.crash is None:
                self.report.cancelled = True
            raise

    def settle(self) -> None:
        """Report every item that was taken but never finished as interrupted."""
        for key, item in list(self.pending.items()):
            self.record(key, self.interrupted(item))


async def run_bulk(
    items: Iterable[T] | AsyncIterable[T],
    handle: Handler[T],
    *,
    interrupted: Callable[[T], BulkItemResult],
    options: BulkOptions | None = None,
    key: Callable[[T], Hashable | None] | None = None,
    grace: Grace | None = None,
) -> BulkReport:
    """Run ``handle(item)`` for every item, at most ``options.concurrency`` at a time.

    Args:
        items: Any iterable or async iterable, read lazily (see the module notes).
        handle: Makes the result of one item; it must turn ViErrors into results,
            and run the work that must not be cut short under ``grace.shield()``.
        interrupted: Makes the result of an item cut short by cancellation.
        options: The job's concurrency (a ceiling when ``adaptive``, see
            ``vi_async.bulk.adaptive``; else fixed), progress callback, report
            (``dry_run`` is copied onto it) and ``cancel_grace``.
        key: Identifies an item: a later item with a key already taken is dropped
            (``None`` means "never a duplicate"); see the module notes on memory.
        grace: The handler's grace (default: a new one of ``options.cancel_grace``).

    Returns:
        The report, one result per item taken.

    Raises:
        BulkError: Reading the source raised a ViError: reading stopped, the
            started items finished, and the report is attached.
        Exception: A bug in the handler or the source, or an exception from
            ``progress``: the job stopped like a cancellation and every taken
            item has its result (``report.error`` is this exception).

    On cancellation the report (pass ``options.report`` to keep it) has
    ``cancelled=True`` and the cancellation propagates.
    """
    options = BulkOptions() if options is None else options
    concurrency, adaptive, progress = options.concurrency, options.adaptive, options.progress
    report = BulkReport() if options.report is None else options.report
    report.dry_run = options.dry_run
    report.finished = False
    total = len(items) if isinstance(items, Sized) else None
    limit = AdaptiveLimit(concurrency, adaptive=adaptive)
    grace = Grace(options.cancel_grace) if grace is None else grace
    job = _BulkJob(handle, interrupted, report, progress, total, limit, grace)
    source = _Source(items, key)
    started = time.monotonic()
    token = current_pacer.set(limit if adaptive else None)
    try:
        async with anyio.create_task_group() as tg:
            job.scope = tg.cancel_scope
            job.workers = concurrency
            for _ in range(concurrency):
                tg.start_soon(job.worker, source)
            tg.start_soon(job.watch)
        job.scope = None
        job.settle()
    except anyio.get_cancelled_exc_class():
        job.scope = None
        report.cancelled = True
        job.settle()
        raise
    finally:
        current_pacer.reset(token)
        limit.close()
        with anyio.CancelScope(shield=True):
            await source.aclose()
        report.elapsed = time.monotonic() - started
        report.not_reached = 0 if source.ended else None if total is None else total - source.pulled
        report.finished = True
        if job.crash is not None:
            report.error = job.crash
    if job.crash is not None:
        raise job.crash
    if report.error is not None:
        raise BulkError(f"The job stopped early: {report.error}", report=report) from report.error
    return report
