"""run_bulk itself: bounded concurrency and read-ahead, exactly one result per item."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from vi_async.bulk import BulkItemResult, BulkOutcome, BulkReport
from vi_async.bulk.engine import run_bulk
from vi_async.bulk.options import BulkOptions

pytestmark = pytest.mark.anyio


def _skipped(item: str) -> BulkItemResult:
    return BulkItemResult(item, BulkOutcome.SKIPPED, "cancelled")


class Probe:
    """A handler that records how many items are in flight and how far the source ran."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay
        self.active = self.peak = self.taken = self.done = self.max_ahead = 0

    async def source(self, n: int) -> AsyncIterator[str]:
        for i in range(n):
            self.taken += 1
            self.max_ahead = max(self.max_ahead, self.taken - self.done)
            yield f"item-{i}"

    async def handle(self, item: str) -> BulkItemResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await anyio.sleep(self.delay)
        finally:
            self.active -= 1
        self.done += 1
        return BulkItemResult(item, BulkOutcome.DELETED)


async def test_concurrency_and_read_ahead_are_bounded() -> None:
    probe = Probe()
    options = BulkOptions(concurrency=7)
    report = await run_bulk(probe.source(300), probe.handle, interrupted=_skipped, options=options)
    assert len(report.deleted) == 300 and report.ok
    assert probe.peak == 7  # adaptive: started lower, grew to the ceiling
    assert probe.max_ahead <= 7  # a worker takes an item only once it holds a slot


async def test_fixed_concurrency_starts_at_the_ceiling() -> None:
    probe = Probe(delay=0.05)
    with anyio.move_on_after(0.02):
        await run_bulk(
            probe.source(300),
            probe.handle,
            interrupted=_skipped,
            options=BulkOptions(concurrency=7, adaptive=False),
        )
    assert probe.taken == 7 and probe.active == 0


async def test_cancel_reports_every_taken_item_once() -> None:
    probe = Probe(delay=10)
    report = BulkReport()
    closed = anyio.Event()

    async def source() -> AsyncIterator[str]:
        try:
            async for item in probe.source(100):
                yield item
        finally:
            closed.set()

    with anyio.move_on_after(0.05):
        await run_bulk(
            source(),
            probe.handle,
            interrupted=_skipped,
            options=BulkOptions(concurrency=5, report=report, adaptive=False),
        )
    assert report.cancelled and closed.is_set() and report.finished
    assert [r.flow_id for r in report.skipped] == [f"item-{i}" for i in range(probe.taken)]
    assert probe.taken == 5  # five in flight; no item is read before a slot is free
    assert probe.active == 0


async def test_a_bug_in_a_handler_stops_the_job_unwrapped() -> None:
    async def handle(item: int) -> BulkItemResult:
        if item == 3:
            raise KeyError("bug")
        await anyio.sleep(0.01)
        return BulkItemResult(str(item), BulkOutcome.DELETED)

    report = BulkReport()
    with pytest.raises(KeyError):
        await run_bulk(
            range(50),
            handle,
            interrupted=lambda i: _skipped(str(i)),
            options=BulkOptions(concurrency=4, report=report),
        )
    assert isinstance(report.error, KeyError) and not report.cancelled
    assert report.total < 50 and not report.complete


async def test_progress_sees_known_totals() -> None:
    probe = Probe(delay=0)
    calls: list[tuple[int, int | None]] = []
    items = [f"x{i}" for i in range(5)]
    await run_bulk(
        items,
        probe.handle,
        interrupted=_skipped,
        options=BulkOptions(progress=lambda done, total, last: calls.append((done, total))),
    )
    assert calls == [(i, 5) for i in range(1, 6)]
