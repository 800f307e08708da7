"""Run lifecycle over HTTP: wait_for, coalescing, as_completed, logs, list by status."""

from __future__ import annotations

from contextlib import aclosing

import anyio
import anyio.lowlevel
import pytest
from run_support import GET_LOGS, GET_RUN, assert_polling_stopped, run_meta, sdk_tasks

from vi_async import Client, FlowSpec, Run, RunPhase, ViNotFoundError, ViTimeoutError
from vi_async.local import FaultConfig, LocalServer, RunSchedule

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(name="lifecycle")


@pytest.mark.parametrize(
    ("outcome", "phase"),
    [("Succeeded", RunPhase.SUCCEEDED), ("Failed", RunPhase.FAILED), ("Error", RunPhase.ERROR)],
)
async def test_wait_for_reaches_each_outcome(
    vi_client: Client, outcome: str, phase: RunPhase
) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(outcome))
    done = await vi_client.runs.wait_for(run.run_id, timeout=10)
    assert done.phase is phase
    assert done.is_terminal
    assert done.status.conditions[-1].condition.value == outcome


async def test_wait_for_a_killed_run_is_cancelled(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=30))
    async with anyio.create_task_group() as tg:
        tg.start_soon(vi_client.runs.kill, run.run_id)
        done = await vi_client.runs.wait_for(run.run_id, timeout=10)
    assert done.phase is RunPhase.CANCELLED


async def test_create_with_wait_returns_the_terminal_run(vi_client: Client) -> None:
    meta = run_meta("Failed")
    done = await vi_client.runs.create(flow=SPEC, metadata=meta, wait=True, timeout=10)
    assert done.phase is RunPhase.FAILED


async def test_timeout_carries_the_last_run(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=30))
    with pytest.raises(ViTimeoutError) as info:
        await vi_client.runs.wait_for(run.run_id, timeout=0.3, poll_interval=0.05)
    last = info.value.last_run
    assert isinstance(last, Run)
    assert last.run_id == run.run_id
    assert last.phase in (RunPhase.PENDING, RunPhase.RUNNING)
    assert sdk_tasks() == []
    await vi_client.runs.kill(run.run_id)


async def test_on_update_is_called_once_per_phase_change(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.2, running=0.4))
    seen: list[RunPhase] = []
    done = await vi_client.runs.wait_for(
        run.run_id, timeout=10, poll_interval=0.02, on_update=lambda r: seen.append(r.phase)
    )
    assert seen == [RunPhase.PENDING, RunPhase.RUNNING, RunPhase.SUCCEEDED]
    assert done.phase is RunPhase.SUCCEEDED


async def test_async_on_update_is_awaited(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC)
    seen: list[RunPhase] = []

    async def record(r: Run) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(r.phase)

    await vi_client.runs.wait_for(run.run_id, timeout=10, on_update=record)
    assert seen[-1] is RunPhase.SUCCEEDED


async def test_wait_for_a_missing_run_raises_not_found(vi_client: Client) -> None:
    with pytest.raises(ViNotFoundError):
        await vi_client.runs.wait_for("no-such-run", timeout=5)
    assert sdk_tasks() == []


async def test_concurrent_waiters_share_one_poll_stream(
    vi_client: Client, vi_server: LocalServer
) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.1, running=0.5))
    vi_server.reset_counts()
    await vi_client.runs.wait_for(run.run_id, timeout=10, poll_interval=0.05)
    single = vi_server.request_counts[GET_RUN]

    run2 = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.1, running=0.5))
    vi_server.reset_counts()
    results: list[Run] = []

    async def waiter() -> None:
        results.append(await vi_client.runs.wait_for(run2.run_id, timeout=10, poll_interval=0.05))

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(waiter)
    assert len(results) == 100
    assert all(r.phase is RunPhase.SUCCEEDED for r in results)
    # One poll stream: about as many polls as the single waiter made, never 100x.
    assert vi_server.request_counts[GET_RUN] <= single + 3
    assert sdk_tasks() == []


async def test_cancelling_waiters_leaves_no_task_and_no_connection(
    vi_client: Client, vi_server: LocalServer
) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=30))
    with anyio.move_on_after(0.3):
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(vi_client.runs.wait_for, run.run_id)
    assert sdk_tasks() == []
    await assert_polling_stopped(vi_server)  # nobody polls any more
    await vi_client.runs.kill(run.run_id)


async def test_as_completed_yields_in_finishing_order(vi_client: Client) -> None:
    slow = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.9))
    fast = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.1))
    middle = await vi_client.runs.create(flow=SPEC, metadata=run_meta("Failed", running=0.5))
    order = [
        r.run_id
        async for r in vi_client.runs.as_completed(
            [slow.run_id, fast.run_id, middle.run_id], timeout=10
        )
    ]
    assert order == [fast.run_id, middle.run_id, slow.run_id]


async def test_as_completed_left_early_cancels_the_rest(vi_client: Client) -> None:
    fast = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.1))
    slow = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=30))
    async with aclosing(vi_client.runs.as_completed([fast.run_id, slow.run_id])) as it:
        async for run in it:
            assert run.run_id == fast.run_id
            break
    assert sdk_tasks() == []
    await vi_client.runs.kill(slow.run_id)


async def test_as_completed_timeout(vi_client: Client) -> None:
    slow = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=30))
    with pytest.raises(ViTimeoutError):
        async for _ in vi_client.runs.as_completed([slow.run_id], timeout=0.2):
            pass
    assert sdk_tasks() == []
    await vi_client.runs.kill(slow.run_id)


async def test_logs_follow_yields_every_line_once(
    vi_client: Client, vi_server: LocalServer
) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.6))
    lines = [line async for line in vi_client.runs.logs(run.run_id, tail=None, follow=True)]
    assert len(set(lines)) == len(lines)  # every line once (each line's text is unique)
    assert [line.timestamp for line in lines] == sorted(line.timestamp for line in lines)
    assert lines[0].message == "Run queued (Pending)"
    assert lines[-1].message.startswith("Run finished")
    if vi_server.strict:
        assert {line.seq for line in lines} == {None}
    else:
        assert [line.seq for line in lines] == list(range(1, len(lines) + 1))
    assert (await vi_client.runs.get(run.run_id)).is_terminal
    # Everything the server has, exactly once.
    everything = [line async for line in vi_client.runs.logs(run.run_id, tail=None)]
    assert lines == everything
    assert len(everything) > 3
    assert vi_server.request_counts[GET_LOGS] >= 2


async def test_logs_tail(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.3))
    await vi_client.runs.wait_for(run.run_id, timeout=10)
    everything = [line async for line in vi_client.runs.logs(run.run_id, tail=None)]
    last3 = [line async for line in vi_client.runs.logs(run.run_id, tail=3)]
    assert last3 == everything[-3:]
    assert [line async for line in vi_client.runs.logs(run.run_id, tail=0)] == []
    assert str(last3[-1]).endswith(last3[-1].message)


async def test_logs_tail_then_follow(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.6))
    await anyio.sleep(0.3)
    lines = [line async for line in vi_client.runs.logs(run.run_id, tail=2, follow=True)]
    everything = [line async for line in vi_client.runs.logs(run.run_id, tail=None)]
    assert len(set(lines)) == len(lines)
    assert lines == everything[-len(lines) :]
    assert lines[-1].message.startswith("Run finished")


async def test_list_by_status_with_limit(vi_client: Client, vi_server: LocalServer) -> None:
    finished = [
        await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.05)) for _ in range(3)
    ]
    for run in finished:
        await vi_client.runs.wait_for(run.run_id, timeout=10)
    running = [
        await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.0, running=30))
        for _ in range(12)
    ]
    await anyio.sleep(0.1)

    page = await vi_client.runs.list(status=RunPhase.SUCCEEDED)
    assert {r.run_id for r in page.items} == {r.run_id for r in finished}

    vi_server.reset_counts()
    got = [
        r
        async for r in vi_client.runs.list(
            {"page_size": 5}, status=[RunPhase.RUNNING], limit=4
        ).all_items()
    ]
    assert len(got) == 4
    assert all(r.phase is RunPhase.RUNNING for r in got)
    # 3 finished + 4 running fit in two pages of 5: no third page was fetched.
    assert vi_server.request_counts["GET /workspaces/{org}/runs"] == 2

    assert len((await vi_client.runs.list(limit=2)).items) == 2
    for run in running:
        await vi_client.runs.kill(run.run_id)


async def test_wait_survives_an_outage_longer_than_the_retries(
    vi_server: LocalServer, vi_client: Client
) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.5))
    # Every poll fails: the run's GET and the runs list alike.
    vi_server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.01, paths=r".*/runs.*")
    async with vi_server.client(max_retries=1, retry_base_delay=0.01) as fragile:
        async with anyio.create_task_group() as tg:
            done: list[Run] = []

            async def wait() -> None:
                done.append(await fragile.runs.wait_for(run.run_id, timeout=20, poll_interval=0.05))

            tg.start_soon(wait)
            await anyio.sleep(0.6)  # the retries of several polls run out meanwhile
            assert done == []
            vi_server.faults = FaultConfig()
    assert done[0].phase is RunPhase.SUCCEEDED


async def test_slow_async_on_update_still_sees_every_phase(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.2, running=0.3))
    seen: list[RunPhase] = []

    async def slow(r: Run) -> None:
        seen.append(r.phase)
        await anyio.sleep(0.6)

    await vi_client.runs.wait_for(run.run_id, timeout=10, poll_interval=0.02, on_update=slow)
    assert seen == [RunPhase.PENDING, RunPhase.RUNNING, RunPhase.SUCCEEDED]


async def test_a_timeout_raised_by_on_update_is_not_taken_for_the_wait_timeout(
    vi_client: Client,
) -> None:
    run = await vi_client.runs.create(flow=SPEC)

    def broken(r: Run) -> None:
        raise TimeoutError("from the callback")

    with pytest.raises(TimeoutError, match="from the callback") as info:
        await vi_client.runs.wait_for(run.run_id, timeout=10, on_update=broken)
    assert not isinstance(info.value, ViTimeoutError)
    assert sdk_tasks() == []


async def test_each_waiter_gets_its_own_error_object(vi_client: Client) -> None:
    errors: list[BaseException] = []

    async def waiter() -> None:
        try:
            await vi_client.runs.wait_for("missing-run", timeout=5)
        except ViNotFoundError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(waiter)
    assert len(errors) == 5
    assert len({id(e) for e in errors}) == 5
    assert all(e.status == 404 for e in errors)


async def test_a_tail_longer_than_one_page(vi_client: Client, vi_server: LocalServer) -> None:
    # A 1 ms log interval is below what a client may ask for, but the operator may set it.
    vi_server.schedule = RunSchedule(0, running_seconds=2.6, log_interval_seconds=0.001)
    run = await vi_client.runs.create(flow=SPEC)
    await vi_client.runs.wait_for(run.run_id, timeout=20)
    everything = [line async for line in vi_client.runs.logs(run.run_id, tail=None)]
    assert len(everything) > 2000  # more than two pages of 1,000
    last = [line async for line in vi_client.runs.logs(run.run_id, tail=1500)]
    assert last == everything[-1500:]


async def test_awaiting_a_filtered_list_reads_on_to_the_matches(vi_client: Client) -> None:
    for _ in range(12):
        await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.0, running=0.0))
    live = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.0, running=30))
    await anyio.sleep(0.1)
    page = await vi_client.runs.list({"page_size": 5}, status=RunPhase.RUNNING)
    assert [r.run_id for r in page.items] == [live.run_id]
    assert len((await vi_client.runs.list(limit=12)).items) == 12
    assert len((await vi_client.runs.list({"page_size": 5}, limit=7)).items) == 7
    await vi_client.runs.kill(live.run_id)


async def test_create_and_wait_timeout_names_the_created_run(vi_client: Client) -> None:
    with pytest.raises(ViTimeoutError) as info:
        await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=30), wait=True, timeout=0)
    created = info.value.last_run
    assert isinstance(created, Run)
    await vi_client.runs.kill(created.run_id)
