"""Helpers for the bulk tests: report checks against the server's real state."""

from __future__ import annotations

import time
from collections.abc import Iterable

import anyio

from vi_async.bulk import BulkOutcome, BulkReport
from vi_async.bulk.adaptive import AdaptiveLimit
from vi_async.local import LocalServer


def ids(report: BulkReport, *outcomes: BulkOutcome) -> set[str]:
    """Flow ids of the report's results with one of ``outcomes`` (all when none given)."""
    wanted = set(outcomes) or set(BulkOutcome)
    return {r.flow_id for r in report.results() if r.outcome in wanted}


async def assert_exact(
    server: LocalServer, report: BulkReport, seeded: Iterable[str], untouched: Iterable[str] = ()
) -> None:
    """Each seeded flow has exactly one result, and the server holds exactly the
    flows that the report says are still there (plus ``untouched`` ones).

    A flow reported ``unknown`` (its answer was lost and could not be confirmed,
    or a cancelled job's grace ran out) may be either.
    """
    seeded = list(seeded)
    results = [r.flow_id for r in report.results()]
    assert len(results) == len(set(results)), "a flow has more than one result"
    assert set(results) == set(seeded)
    gone = ids(report, BulkOutcome.DELETED, BulkOutcome.NOT_FOUND)
    unknown = ids(report, BulkOutcome.UNKNOWN)
    remaining = set(await server.flow_ids())
    assert remaining - unknown == (set(seeded) - gone - unknown) | set(untouched)


async def senders_wait(limit: AdaptiveLimit, senders: int = 3) -> float:
    """Seconds until ``senders`` attempts at once all passed the job's gate."""
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(senders):
            tg.start_soon(limit.before_send, started + 10)
    return time.monotonic() - started
