"""Concurrency safety of one async client shared by 500 tasks.

Every task checks that the answers it gets are its own (no cross-talk between
requests sharing connections), the server ends in exactly the expected state,
the connection cap holds, and nothing is left behind after close.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from run_support import GET_RUN, assert_polling_stopped, sdk_tasks

from vi_async import Client, Flow, FlowSpec, RunPhase, ViError
from vi_async.local import FaultConfig, LocalServer

from .leaks import LeakCheck

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # 500 tasks each: soak-type

TASKS = 500
MAX_CONNECTIONS = 24


class ConnectionWatch:
    """Samples how many connections the server holds while work runs."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.peak = 0
        self.samples = 0

    async def run(self) -> None:
        while True:
            self.peak = max(self.peak, self.server.connection_count)
            self.samples += 1
            await anyio.sleep(0.005)


async def test_500_tasks_share_one_client(vi_server: LocalServer) -> None:
    """500 tasks create, read, update, run, list and delete through one client."""
    vi_server.faults = FaultConfig(seed=5, latency=0.002)
    check = LeakCheck(vi_server)
    kept: set[str] = set()
    runs: dict[int, str] = {}
    outcomes: dict[int, str] = {}
    watch = ConnectionWatch(vi_server)

    async def task(client: Client, i: int) -> None:
        name = f"task-{i}"
        flow = await client.flows.create(spec=FlowSpec(name=name), metadata={"task": str(i)})
        assert flow.spec.name == name
        got = await client.flows.get(flow.flow_id)
        assert (got.flow_id, got.spec.name, got.metadata.attributes) == (
            flow.flow_id,
            name,
            {"task": str(i)},
        )
        updated = await client.flows.update(flow.flow_id, metadata={"step": "2"})
        assert updated.metadata.attributes == {"task": str(i), "step": "2"}
        if i % 3 == 0:
            page = await client.flows.list(pagination={"page_size": 50})
            assert all(isinstance(f, Flow) for f in page.items)
        if i % 5 == 0:
            outcome = ("Succeeded", "Failed", "Error")[i % 3]
            run = await client.runs.create(
                flow=flow.flow_id, metadata={"vi-local/outcome": outcome}
            )
            runs[i] = run.run_id
            done = await client.runs.wait_for(run.run_id, timeout=60)
            assert done.run_id == run.run_id and done.spec.flow.name == name
            outcomes[i] = done.phase.value
            lines = [line async for line in client.runs.logs(run.run_id, tail=None)]
            assert lines and lines[-1].message.startswith("Run finished")
            assert len(set(lines)) == len(lines)
        if i % 7 == 0:
            kept.add(flow.flow_id)
        else:
            deleted = await client.flows.delete(flow.flow_id)
            assert deleted.id == flow.flow_id

    async with vi_server.client(max_connections=MAX_CONNECTIONS) as client:
        async with anyio.create_task_group() as watcher:
            watcher.start_soon(watch.run)
            with anyio.fail_after(120):
                async with anyio.create_task_group() as tg:
                    for i in range(TASKS):
                        tg.start_soon(task, client, i)
            watcher.cancel_scope.cancel()
        connector = client._transport.session().connector
        assert connector is not None
        await check.after_cancel(connector)
    await check.after_close(connector)
    vi_server.faults = FaultConfig()

    assert set(await vi_server.flow_ids()) == kept
    assert len(kept) == len(range(0, TASKS, 7))
    assert sorted(await vi_server.run_ids()) == sorted(runs.values())
    expected = {i: ("Succeeded", "Failed", "Error")[i % 3] for i in range(0, TASKS, 5)}
    assert outcomes == expected
    assert watch.samples > 0
    assert 0 < watch.peak <= MAX_CONNECTIONS


async def test_500_waiters_on_10_runs(vi_client: Client, vi_server: LocalServer) -> None:
    """500 concurrent waits on 10 runs each get their own run's outcome, sharing polls."""
    phases = [RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.ERROR]
    made = [
        await vi_client.runs.create(
            flow=FlowSpec(name=f"r{k}"), metadata={"vi-local/outcome": phases[k % 3].value}
        )
        for k in range(10)
    ]
    vi_server.reset_counts()
    results: dict[int, Any] = {}

    async def waiter(i: int) -> None:
        results[i] = await vi_client.runs.wait_for(made[i % 10].run_id, timeout=60)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for i in range(TASKS):
                tg.start_soon(waiter, i)
    for i, run in results.items():
        assert run.run_id == made[i % 10].run_id
        assert run.phase is phases[(i % 10) % 3]
    assert len(results) == TASKS
    # One poll stream per run, not one per waiter.
    assert vi_server.request_counts[GET_RUN] < TASKS
    # Every wait handed its run back: nothing polls any more.
    assert sdk_tasks() == []
    await assert_polling_stopped(vi_server)


async def test_500_concurrent_listings(vi_client: Client, vi_server: LocalServer) -> None:
    """500 tasks walk the same 120 flows at once; each sees all of them, in order, once."""
    ids = await vi_server.seed_flows(120)

    async def walk(size: int) -> list[str]:
        pager = vi_client.flows.list(pagination={"page_size": size})
        return [flow.flow_id async for flow in pager.all_items()]

    seen: list[list[str]] = []

    async def task(i: int) -> None:
        seen.append(await walk(25 + i % 50))

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for i in range(TASKS):
                tg.start_soon(task, i)
    assert len(seen) == TASKS
    assert all(s == ids for s in seen)


async def test_500_tasks_under_faults(vi_server: LocalServer) -> None:
    """With 503s, 429s and dropped connections, each task gets its own flow or a typed error."""
    ids = await vi_server.seed_flows(50)
    vi_server.faults = FaultConfig(
        seed=9, error_503_rate=0.1, error_429_rate=0.05, retry_after=0.01, reset_before_rate=0.03
    )
    results: dict[int, Flow | ViError] = {}

    async def task(client: Client, i: int) -> None:
        try:
            results[i] = await client.flows.get(ids[i % 50])
        except ViError as exc:
            results[i] = exc

    async with vi_server.client(max_retries=10, retry_base_delay=0.01) as client:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(TASKS):
                    tg.start_soon(task, client, i)
    vi_server.faults = FaultConfig()
    assert vi_server.request_counts["GET /workspaces/{org}/flows/{flowId}"] > TASKS  # retried
    assert len(results) == TASKS
    flows = {i: r for i, r in results.items() if isinstance(r, Flow)}
    assert all(flow.flow_id == ids[i % 50] for i, flow in flows.items())
    errors = [r for r in results.values() if isinstance(r, ViError)]
    assert all(e.status in (None, 429, 503) for e in errors)
    assert len(flows) > TASKS // 2
