"""Bulk jobs under injected faults, cancellation and listing failures: exact reports."""

from __future__ import annotations

import anyio
import pytest
from bulk_support import assert_exact, ids

from vi_async import Client, ViServerError
from vi_async.bulk import UNKNOWN_REASON, BulkError, BulkOutcome, BulkReport
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio

FAULTS = FaultConfig(
    seed=7,
    error_503_rate=0.08,
    error_429_rate=0.05,
    retry_after=0.02,
    reset_before_rate=0.05,
    reset_after_rate=0.08,
)


def _client(server: LocalServer, **kwargs: object) -> Client:
    options: dict[str, object] = {"retry_base_delay": 0.01, "timeout": 5.0}
    options.update(kwargs)
    client: Client = server.client(**options)
    return client


FAULTED_FLOWS = 150  # the adaptive job paces itself after the 429s: ~5-10 s


@pytest.mark.slow  # a small soak: 150 flows under every kind of fault
async def test_faults_every_flow_accounted_for_once(vi_server: LocalServer) -> None:
    seeded = await vi_server.seed_flows(FAULTED_FLOWS, name_prefix="f-")
    vi_server.faults = FAULTS
    async with _client(vi_server) as client:
        report = await client.flows.cleanup(concurrency=16)
    vi_server.faults = FaultConfig()
    await assert_exact(vi_server, report, seeded)
    counts = vi_server.request_counts
    # faults forced retries
    assert counts["DELETE /workspaces/{org}/flows/{flowId}"] > FAULTED_FLOWS
    assert report.complete
    # Lost answers (reset after the delete) were confirmed, not guessed:
    assert report.total == FAULTED_FLOWS
    assert len(report.deleted) > FAULTED_FLOWS * 5 // 6


async def test_faults_with_exhausted_retries_stay_exact(vi_server: LocalServer) -> None:
    seeded = await vi_server.seed_flows(120)
    vi_server.faults = FaultConfig(
        seed=3, error_503_rate=0.3, reset_after_rate=0.2, retry_after=0.01, paths=r"/flows/"
    )
    async with _client(vi_server, max_retries=1) as client:
        report = await client.flows.delete_many(seeded, concurrency=12)
    vi_server.faults = FaultConfig()
    assert report.failed, "with one retry some deletes must fail"
    assert all(r.error is not None for r in report.failed)
    assert all(r.reason != UNKNOWN_REASON for r in report.failed)
    await assert_exact(vi_server, report, seeded)
    assert all(r.reason == UNKNOWN_REASON for r in report.unknown)
    # Only a delete whose answer was lost can be unknown: its confirming GETs failed
    # 6 times, or could not be paid once the client's retry budget was spent (it is
    # here, and how many lost answers come after that depends on timing). Most lost
    # answers are still confirmed.
    assert all(r.error is not None and r.error.after_lost_answer for r in report.unknown)
    assert len(report.unknown) <= len(seeded) // 4


async def test_cancel_mid_job_reports_exactly(vi_server: LocalServer) -> None:
    seeded = await vi_server.seed_flows(400)
    vi_server.faults = FaultConfig(latency=0.02, paths=r"/flows/")
    report = BulkReport()
    async with _client(vi_server) as client:
        with anyio.move_on_after(0.25) as scope:
            await client.flows.delete_many(seeded, concurrency=8, report=report)
    vi_server.faults = FaultConfig()
    assert scope.cancelled_caught and report.cancelled and not report.ok
    assert 0 < len(report.deleted) < 400
    # Items started but cut short are reported as skipped ("cancelled"); the
    # others were never taken from the list.
    assert all(r.reason == "cancelled" for r in report.skipped)
    done = ids(report)
    assert set(seeded[: len(done)]) == done
    remaining = set(await vi_server.flow_ids())
    assert remaining == set(seeded) - ids(report, BulkOutcome.DELETED)
    with pytest.raises(BulkError):
        report.raise_for_failures()
    assert "cancelled" in report.summary()


async def test_cancel_from_progress_callback(vi_server: LocalServer, vi_client: Client) -> None:
    seeded = await vi_server.seed_flows(300)
    report = BulkReport()
    with anyio.CancelScope() as scope:

        def progress(done: int, total: int | None, last: object) -> None:
            if done == 50:
                scope.cancel()

        await vi_client.flows.cleanup(progress=progress, report=report, concurrency=10)
    assert report.cancelled and len(report.deleted) >= 50
    await assert_exact(vi_server, report, ids(report), untouched=set(seeded) - ids(report))


async def test_listing_failure_raises_with_partial_report(vi_server: LocalServer) -> None:
    seeded = await vi_server.seed_flows(500)
    broken = FaultConfig(error_503_rate=1.0, retry_after=0.01, paths=r"/flows$")

    def break_listing(done: int, total: int | None, last: object) -> None:
        if done == 1:
            vi_server.faults = broken  # the next page fetch fails

    async with _client(vi_server, max_retries=1) as client:
        with pytest.raises(BulkError) as caught:
            await client.flows.cleanup(progress=break_listing)
    vi_server.faults = FaultConfig()
    report = caught.value.report
    assert isinstance(report.error, ViServerError) and not report.complete
    assert isinstance(caught.value.__cause__, ViServerError)
    assert len(report.deleted) == 200  # the whole first page, nothing after
    await assert_exact(vi_server, report, seeded[:200], untouched=seeded[200:])


async def test_a_bug_in_the_filter_propagates_unwrapped(
    vi_server: LocalServer, vi_client: Client
) -> None:
    await vi_server.seed_flows(5)

    def where(flow: object) -> bool:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        await vi_client.flows.cleanup(where=where)
    assert len(await vi_server.flow_ids()) == 5


async def test_a_raising_progress_callback_loses_no_outcome(
    vi_server: LocalServer, vi_client: Client
) -> None:
    seeded = await vi_server.seed_flows(100)
    report = BulkReport()
    calls = 0

    def progress(done: int, total: int | None, last: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the progress bar broke")

    with pytest.raises(RuntimeError, match="progress bar broke") as caught:
        await vi_client.flows.delete_many(seeded, progress=progress, report=report, concurrency=10)
    assert calls == 3  # never called again after it raised
    assert report.error is caught.value and not report.complete and not report.cancelled
    # Every flow taken has exactly one result, and the server agrees with the report.
    assert report.total >= 3 and len(ids(report)) == report.total
    assert {r.reason for r in report.skipped} <= {"cancelled"}
    await assert_exact(vi_server, report, ids(report), untouched=set(seeded) - ids(report))
    assert "stopped early" in report.summary()


async def test_duplicate_ids_get_one_outcome(vi_server: LocalServer, vi_client: Client) -> None:
    [flow_id, other] = await vi_server.seed_flows(2)
    flow = await vi_client.flows.get(flow_id)
    vi_server.reset_counts()
    report = await vi_client.flows.delete_many([flow_id, flow_id, flow, other, other])
    assert report.ok and report.total == 2
    assert sorted(r.flow_id for r in report.deleted) == sorted([flow_id, other])
    assert vi_server.request_counts["DELETE /workspaces/{org}/flows/{flowId}"] == 2
    await assert_exact(vi_server, report, [flow_id, other])


async def test_stored_errors_keep_no_traceback(vi_server: LocalServer) -> None:
    seeded = await vi_server.seed_flows(3)
    vi_server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.01, paths=r"/flows/")
    async with _client(vi_server, max_retries=1) as client:
        report = await client.flows.delete_many(seeded)
    vi_server.faults = FaultConfig()
    assert len(report.failed) == 3
    for result in report.failed:
        error: BaseException | None = result.error
        assert isinstance(error, ViServerError)
        while error is not None:  # nor do its causes
            assert error.__traceback__ is None
            error = error.__cause__ or error.__context__
    await assert_exact(vi_server, report, seeded)
