"""Shutdown: cancelling waits, log follows, pagination and bulk jobs at seeded random
points leaves no task, no open connection (client connector and server side) and
no thread, and a cancelled bulk job's report matches the server exactly.

Requests are slowed by a little server latency so that cancellations land while
requests are in flight, not only between them. Seeds 1-5 are marked ``slow``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, cast

import anyio
import pytest

from vi_async import Client, FlowSpec, LogLine, Run, RunPhase
from vi_async.bulk import BulkReport
from vi_async.local import FaultConfig, LocalServer

from .leaks import LeakCheck

pytestmark = pytest.mark.anyio

# Six seeded cancellation points per test; the first runs in the quick set too,
# the other five are part of the ``slow`` sweep.
SEEDS = [pytest.param(seed, marks=[pytest.mark.slow] if seed else []) for seed in range(6)]
SPEC = FlowSpec(name="shutdown")
Work = Callable[[Client, random.Random], Awaitable[Any]]


async def cancel_at_random(server: LocalServer, seed: int, span: float, work: Work) -> Any:
    """Run ``work`` with one client, cancel it after a seeded random delay, check leaks."""
    rng = random.Random(seed)
    check = LeakCheck(server)
    async with server.client(max_retries=8, timeout=2.0) as client:
        connector = client._transport.session().connector
        assert connector is not None
        result = None
        with anyio.move_on_after(rng.uniform(0.0, span)):
            result = await work(client, rng)
        await check.after_cancel(connector)
    await check.after_close(connector)
    return result


@pytest.fixture
async def slow_server(vi_server: LocalServer) -> LocalServer:
    """The test server with some latency, so cancellations hit requests in flight."""
    vi_server.faults = FaultConfig(seed=1, latency=0.01)
    return vi_server


@pytest.mark.parametrize("seed", SEEDS)
async def test_cancel_wait_for(slow_server: LocalServer, seed: int) -> None:
    """Many waiters on a few runs, cancelled together at a random point."""
    async with slow_server.client() as setup:
        runs = [
            await setup.runs.create(flow=SPEC, metadata={"vi-local/running-seconds": "5"})
            for _ in range(3)
        ]

    async def work(client: Client, rng: random.Random) -> None:
        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(client.runs.wait_for, runs[i % 3].run_id)

    await cancel_at_random(slow_server, seed, 0.6, work)
    async with slow_server.client() as cleanup:
        for run in runs:
            await cleanup.runs.kill(run.run_id)


@pytest.mark.parametrize("seed", SEEDS)
async def test_cancel_task_running_create_with_wait(slow_server: LocalServer, seed: int) -> None:
    """``runs.create(wait=True)`` in a plain asyncio task, cancelled with ``task.cancel()``."""
    rng = random.Random(seed)
    check = LeakCheck(slow_server)
    async with slow_server.client() as client:
        connector = client._transport.session().connector
        assert connector is not None
        task = asyncio.create_task(
            client.runs.create(flow=SPEC, metadata={"vi-local/running-seconds": "5"}, wait=True)
        )
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await check.after_cancel(connector)
        async for run in client.runs.list().all_items():
            await client.runs.kill(run.run_id)
    await check.after_close(connector)


@pytest.mark.parametrize("seed", SEEDS)
async def test_cancel_logs_follow(slow_server: LocalServer, seed: int) -> None:
    """Following a log, cancelled at a random point: lines so far are in order, once each."""
    async with slow_server.client() as setup:
        run = await setup.runs.create(
            flow=SPEC,
            metadata={"vi-local/running-seconds": "3", "vi-local/log-interval-seconds": "0.02"},
        )
    lines: list[LogLine] = []

    async def work(client: Client, rng: random.Random) -> None:
        async for line in client.runs.logs(run.run_id, tail=None, follow=True):
            lines.append(line)

    await cancel_at_random(slow_server, seed, 1.0, work)
    assert len(set(lines)) == len(lines)
    assert [line.timestamp for line in lines] == sorted(line.timestamp for line in lines)
    async with slow_server.client() as cleanup:
        await cleanup.runs.kill(run.run_id)


@pytest.mark.parametrize("seed", SEEDS)
async def test_cancel_pagination(slow_server: LocalServer, seed: int) -> None:
    """Walking 300 flows 7 at a time, cancelled at a random point."""
    ids = await slow_server.seed_flows(300)
    seen: list[str] = []

    async def work(client: Client, rng: random.Random) -> None:
        async for flow in client.flows.list(pagination={"page_size": 7}).all_items():
            seen.append(flow.flow_id)

    await cancel_at_random(slow_server, seed, 0.5, work)
    assert seen == ids[: len(seen)]


@pytest.mark.parametrize("seed", SEEDS)
async def test_break_out_of_pagination_without_aclosing(
    slow_server: LocalServer, seed: int
) -> None:
    """Leaving ``async for`` early (no aclosing) leaks nothing once the generator is dropped."""
    await slow_server.seed_flows(100)
    stop_after = random.Random(seed).randrange(1, 100)

    async def work(client: Client, rng: random.Random) -> int:
        count = 0
        async for _ in client.flows.list(pagination={"page_size": 9}).all_items():
            count += 1
            if count == stop_after:
                break
        async for page in client.runs.list():
            assert page.items == []
            break
        return count

    assert await cancel_at_random(slow_server, seed, 60.0, work) == stop_after


@pytest.mark.parametrize("seed", SEEDS)
async def test_cancel_as_completed(slow_server: LocalServer, seed: int) -> None:
    """Iterating as_completed over runs of different lengths, cancelled at random."""
    async with slow_server.client() as setup:
        runs = [
            await setup.runs.create(flow=SPEC, metadata={"vi-local/running-seconds": str(s)})
            for s in (0.1, 0.3, 0.6, 3.0)
        ]
    done: list[str] = []

    async def work(client: Client, rng: random.Random) -> None:
        completed = client.runs.as_completed([r.run_id for r in runs])
        async with aclosing(cast(AsyncGenerator[Run, None], completed)) as finished:
            async for run in finished:
                assert run.phase is RunPhase.SUCCEEDED
                done.append(run.run_id)

    await cancel_at_random(slow_server, seed, 1.0, work)
    assert len(done) == len(set(done))
    async with slow_server.client() as cleanup:
        for run in runs:
            await cleanup.runs.kill(run.run_id)


def assert_report_matches(report: BulkReport, asked: list[str], remaining: set[str]) -> None:
    """Each flow the job took has one result, and the server agrees with every result."""
    results = list(report.results())
    ids = [r.flow_id for r in results]
    assert len(ids) == len(set(ids)), "a flow has two results"
    assert set(ids) <= set(asked)
    deleted = {r.flow_id for r in report.deleted}
    assert remaining == set(asked) - deleted
    for result in report.skipped:
        assert result.reason == "cancelled"
    assert not report.failed and not report.not_found


@pytest.mark.parametrize("seed", SEEDS)
async def test_cancel_delete_many(slow_server: LocalServer, seed: int) -> None:
    """A bulk delete of 200 flows cancelled at random: nothing is lost or half-done."""
    ids = await slow_server.seed_flows(200)
    report = BulkReport()

    async def work(client: Client, rng: random.Random) -> None:
        await client.flows.delete_many(ids, concurrency=16, report=report)

    await cancel_at_random(slow_server, seed, 0.25, work)
    slow_server.faults = FaultConfig()
    assert_report_matches(report, ids, set(await slow_server.flow_ids()))
    if not report.complete:
        assert report.cancelled


@pytest.mark.parametrize("seed", SEEDS)
async def test_cancel_cleanup(slow_server: LocalServer, seed: int) -> None:
    """A cleanup (listing and deleting at once) cancelled at random."""
    doomed = await slow_server.seed_flows(150, name_prefix="tmp-")
    kept = await slow_server.seed_flows(30, name_prefix="keep-")
    report = BulkReport()

    async def work(client: Client, rng: random.Random) -> None:
        await client.flows.cleanup(name="tmp-*", concurrency=8, report=report)

    await cancel_at_random(slow_server, seed, 0.25, work)
    slow_server.faults = FaultConfig()
    remaining = set(await slow_server.flow_ids())
    assert set(kept) <= remaining
    assert_report_matches(report, doomed, remaining - set(kept))
