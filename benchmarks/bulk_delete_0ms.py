"""Bulk delete at zero injected latency: the client's own cost per item.

Same as ``bulk_delete`` (1,000 flows, concurrency 32, best of 5 beside raw
aiohttp) but with no latency, so the engine's per-item overhead (tasks,
semaphores, scheduling) is what separates ours from the floor. Also measured:
the bulk engine alone (``run_bulk`` over 20,000 items whose handler yields once
and does nothing else), in CPU microseconds per item: the engine's own cost,
free of HTTP and of the machine's load.
"""

from __future__ import annotations

import time

import anyio
import anyio.lowlevel

from benchmarks._common import Result
from benchmarks.bulk_delete import run as run_bulk_delete

GOAL_VS_FLOOR = 1.5  # issue 17 (issue 16's worker pool measured 1.65; the old engine 2.10)


def engine_overhead_us(n: int = 20_000, rounds: int = 5) -> float:
    """CPU microseconds per item of ``run_bulk`` with a do-nothing handler (best round)."""
    from vi_async.bulk import BulkItemResult, BulkOutcome
    from vi_async.bulk.engine import run_bulk
    from vi_async.bulk.options import BulkOptions

    async def handle(item: str) -> BulkItemResult:
        await anyio.lowlevel.checkpoint()  # one yield, as a request would
        return BulkItemResult(item, BulkOutcome.DELETED)

    def interrupted(item: str) -> BulkItemResult:
        return BulkItemResult(item, BulkOutcome.SKIPPED)

    items = [f"flow-{i}" for i in range(n)]
    options = BulkOptions(concurrency=32)

    async def measure() -> float:
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            await run_bulk(items, handle, interrupted=interrupted, options=options, key=str)
            best = min(best, time.process_time() - started)
        return best

    return anyio.run(measure) / n * 1e6


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    result = run_bulk_delete(quick, latency=0.0, official_too=False, floor_goal=GOAL_VS_FLOOR)
    per_item = engine_overhead_us(2_000 if quick else 20_000, 1 if quick else 5)
    result.metrics["engine_cpu_us_per_item"] = per_item
    result.summary += f"; engine alone {per_item:.1f} us CPU/item"
    return result


if __name__ == "__main__":
    print(run().line())
