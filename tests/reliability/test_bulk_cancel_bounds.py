"""Issue 13 (11, 12): a cancelled bulk job ends in bounded time against a server
that never answers, and confirming lost answers cannot escape the retry budget."""

from __future__ import annotations

import time

import anyio
import pytest

from vi_async.bulk import GRACE_REASON, UNKNOWN_REASON, BulkOutcome, BulkReport

from .conftest import hostile_client
from .hostile import HostileServer, hang_up, stall_headers

pytestmark = pytest.mark.anyio

IDS = [f"flow-{i:03d}" for i in range(40)]
GRACE = 1.0
MARGIN = 1.5


async def test_cancel_against_a_server_that_never_answers_is_bounded(
    hostile: HostileServer,
) -> None:
    hostile.handler = stall_headers
    report = BulkReport()
    async with hostile_client(hostile, timeout=60.0, cancel_grace=GRACE) as client:
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            await client.flows.delete_many(IDS, concurrency=8, report=report)
        elapsed = time.monotonic() - started
    assert scope.cancelled_caught
    assert elapsed < 0.3 + GRACE + MARGIN, f"cancel took {elapsed:.1f}s"
    assert elapsed >= 0.3 + GRACE * 0.9  # the in-flight deletes did get their grace
    assert report.cancelled and report.finished and not report.ok
    in_flight = len(hostile.api_requests())
    assert in_flight >= 1
    # Sent and never answered: unknown, never deleted nor failed.
    assert len(report.unknown) == in_flight == report.total
    assert all(r.reason == GRACE_REASON for r in report.unknown)
    assert not report.deleted and not report.failed
    assert report.counts["unknown"] == in_flight


async def test_no_retry_or_confirm_starts_after_the_grace(hostile: HostileServer) -> None:
    # Every answer is lost: each delete would retry, then confirm by GET, for minutes.
    hostile.handler = hang_up
    report = BulkReport()
    async with hostile_client(
        hostile, timeout=5.0, cancel_grace=GRACE, max_retries=50, retry_deadline=600.0
    ) as client:
        started = time.monotonic()
        with anyio.move_on_after(0.2):
            await client.flows.delete_many(IDS, concurrency=4, report=report)
        elapsed = time.monotonic() - started
        sent_by_then = len(hostile.api_requests())
        await anyio.sleep(0.5)
    assert elapsed < 0.2 + GRACE + MARGIN
    assert len(hostile.api_requests()) == sent_by_then  # nothing left running
    assert report.cancelled and report.total >= 1
    assert {r.outcome for r in report.results()} <= {BulkOutcome.UNKNOWN, BulkOutcome.SKIPPED}


async def test_confirm_gets_draw_on_the_retry_budget(hostile: HostileServer) -> None:
    # A server that resets every connection: before, each of N deletes cost its own
    # retries plus six confirm GETs (7N requests). Now retries and confirms share the
    # client's budget (500 tokens, 10 per retry after a dropped connection).
    hostile.handler = hang_up
    n = 200
    flow_ids = [f"reset-{i:03d}" for i in range(n)]
    async with hostile_client(hostile, retry_base_delay=0.01, max_retries=4) as client:
        with anyio.fail_after(60):
            report = await client.flows.delete_many(flow_ids, concurrency=16)
    sent = hostile.api_requests()
    retries_allowed = 500 // 10
    assert len(sent) <= n + retries_allowed, len(sent)
    assert len(report.unknown) == n and report.finished and not report.cancelled
    assert all(r.reason == UNKNOWN_REASON for r in report.unknown)
    confirms = [r for r in sent if r.method == "GET"]
    assert len(confirms) <= retries_allowed
