"""Waiting at scale over HTTP: one list poller per client, watch(), until=, raise_on_failure."""

from __future__ import annotations

import time
from contextlib import aclosing
from functools import partial

import anyio
import pytest
from run_support import (
    GET_RUN,
    LIST_RUNS,
    assert_polling_stopped,
    run_meta,
    run_polls,
    sdk_tasks,
)

from vi_async import (
    Client,
    FlowSpec,
    Run,
    RunEvent,
    RunPhase,
    ViNotFoundError,
    ViRunFailedError,
    ViUnreachablePhaseError,
)
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(name="at-scale")


async def _create(client: Client, n: int, meta: dict[str, str]) -> list[str]:
    limiter = anyio.CapacityLimiter(32)
    ids: list[str] = []

    async def one() -> None:
        async with limiter:
            ids.append((await client.runs.create(flow=SPEC, metadata=meta)).run_id)

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return ids


@pytest.mark.slow  # 300 waits at once: scale
async def test_300_concurrent_waits_poll_with_a_few_requests_per_interval(
    vi_client: Client, vi_server: LocalServer
) -> None:
    ids = await _create(vi_client, 300, run_meta(pending=0.2, running=1.5))
    interval = 0.25
    vi_server.reset_counts()
    started = time.monotonic()
    results: list[Run] = []

    async def wait(run_id: str) -> None:
        results.append(await vi_client.runs.wait_for(run_id, timeout=30, poll_interval=interval))

    async with anyio.create_task_group() as tg:
        for run_id in ids:
            tg.start_soon(wait, run_id)
    intervals = (time.monotonic() - started) / interval
    assert sorted(r.run_id for r in results) == sorted(ids)
    assert all(r.phase is RunPhase.SUCCEEDED for r in results)
    assert vi_server.request_counts[LIST_RUNS] > 0  # it walked the list
    assert run_polls(vi_server) / intervals <= 6, dict(vi_server.request_counts)
    assert sdk_tasks() == []


async def test_a_few_waits_in_a_small_organization_share_one_list_page(
    vi_client: Client, vi_server: LocalServer
) -> None:
    ids = await _create(vi_client, 3, run_meta(running=0.4))
    vi_server.reset_counts()
    async with anyio.create_task_group() as tg:
        for run_id in ids:
            tg.start_soon(partial(vi_client.runs.wait_for, run_id, poll_interval=0.05))
    # One page shows all three runs: cheaper than a GET each (the big organization's
    # case, where a few waits stay per run, is in reliability/test_list_poller_hostile).
    assert vi_server.request_counts[LIST_RUNS] > 0
    assert vi_server.request_counts[GET_RUN] <= 3, dict(vi_server.request_counts)


async def test_a_run_missing_from_the_list_ends_its_waiters_with_not_found(
    vi_client: Client, vi_server: LocalServer
) -> None:
    ids = await _create(vi_client, 29, run_meta(pending=0.1, running=0.8))
    # the deleted run cannot end before its delete, however loaded the machine is
    (doomed,) = await _create(vi_client, 1, run_meta(pending=0.1, running=600))
    ids.insert(7, doomed)
    outcomes: dict[str, object] = {}

    async def wait(run_id: str) -> None:
        try:
            outcomes[run_id] = await vi_client.runs.wait_for(run_id, timeout=20, poll_interval=0.05)
        except ViNotFoundError as exc:
            outcomes[run_id] = exc

    async with anyio.create_task_group() as tg:
        for run_id in [*ids, "never-created"]:
            tg.start_soon(wait, run_id)
        await anyio.sleep(0.3)
        await vi_client.runs.delete(doomed)
    assert isinstance(outcomes.pop("never-created"), ViNotFoundError)
    assert isinstance(outcomes.pop(doomed), ViNotFoundError)
    assert all(isinstance(r, Run) and r.phase is RunPhase.SUCCEEDED for r in outcomes.values())
    assert vi_server.request_counts[LIST_RUNS] > 0


async def test_list_walks_ride_out_an_outage(vi_client: Client, vi_server: LocalServer) -> None:
    ids = await _create(vi_client, 20, run_meta(running=0.6))
    vi_server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.01, paths=r".*/runs.*")
    async with vi_server.client(max_retries=1, retry_base_delay=0.01) as fragile:
        done: list[Run] = []

        async def wait(run_id: str) -> None:
            done.append(await fragile.runs.wait_for(run_id, timeout=20, poll_interval=0.05))

        async with anyio.create_task_group() as tg:
            for run_id in ids:
                tg.start_soon(wait, run_id)
            await anyio.sleep(0.6)
            assert done == []
            vi_server.faults = FaultConfig()
    assert len(done) == 20
    assert all(r.phase is RunPhase.SUCCEEDED for r in done)


# -- until and raise_on_failure ---------------------------------------------------------


async def test_until_running_returns_while_running(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.2, running=30))
    got = await vi_client.runs.wait_for(run.run_id, until=RunPhase.RUNNING, timeout=10)
    assert got.phase is RunPhase.RUNNING
    assert (await vi_client.runs.get(run.run_id)).phase is RunPhase.RUNNING
    await vi_client.runs.kill(run.run_id)


async def test_until_running_fails_fast_on_a_run_killed_while_pending(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=30, running=30))
    started = time.monotonic()
    errors: list[BaseException] = []

    async def wait() -> None:
        try:
            await vi_client.runs.wait_for(run.run_id, timeout=30, until="Running")
        except ViUnreachablePhaseError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.sleep(0.2)
        await vi_client.runs.kill(run.run_id)
    assert time.monotonic() - started < 5
    (err,) = errors
    assert isinstance(err, ViUnreachablePhaseError)
    assert isinstance(err, ViRunFailedError)
    assert err.run.run_id == run.run_id
    assert err.run.phase is RunPhase.CANCELLED
    assert err.until == {RunPhase.RUNNING}
    assert "Running" in str(err)


async def test_until_accepts_a_set_and_rejects_unknown_phases(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.1, running=0.3))
    got = await vi_client.runs.wait_for(
        run.run_id, until={RunPhase.RUNNING, RunPhase.SUCCEEDED}, timeout=10
    )
    assert got.phase in (RunPhase.RUNNING, RunPhase.SUCCEEDED)
    with pytest.raises(ValueError, match="until"):
        await vi_client.runs.wait_for(run.run_id, until="Sleeping")
    with pytest.raises(ValueError, match="until"):
        await vi_client.runs.wait_for(run.run_id, until=[])


async def test_a_run_seen_only_after_it_passed_until_counts_as_reached(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.0, running=0.05))
    await anyio.sleep(0.3)  # ended before the wait starts, having run
    got = await vi_client.runs.wait_for(run.run_id, until=RunPhase.RUNNING, timeout=10)
    assert got.phase is RunPhase.SUCCEEDED


@pytest.mark.parametrize("outcome", ["Failed", "Error"])
async def test_raise_on_failure_raises_with_the_run_attached(
    vi_client: Client, outcome: str
) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(outcome))
    with pytest.raises(ViRunFailedError) as info:
        await vi_client.runs.wait_for(run.run_id, timeout=10, raise_on_failure=True)
    err = info.value
    assert err.run.run_id == run.run_id
    assert err.phase is RunPhase(outcome)
    latest = err.run.status.conditions[-1]
    assert (err.reason, err.condition_message) == (latest.reason, latest.message)
    assert latest.message and latest.message in str(err)
    # Without the flag the failed run is returned.
    assert (await vi_client.runs.wait_for(run.run_id, timeout=10)).phase is RunPhase(outcome)


async def test_raise_on_failure_on_create_and_as_completed(vi_client: Client) -> None:
    with pytest.raises(ViRunFailedError) as info:
        await vi_client.runs.create(
            flow=SPEC, metadata=run_meta("Error"), wait=True, timeout=10, raise_on_failure=True
        )
    assert info.value.run.phase is RunPhase.ERROR
    ok = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.1))
    bad = await vi_client.runs.create(flow=SPEC, metadata=run_meta("Failed", running=0.6))
    seen: list[str] = []
    with pytest.raises(ViRunFailedError) as info:
        async for run in vi_client.runs.as_completed(
            [ok.run_id, bad.run_id], timeout=10, raise_on_failure=True
        ):
            seen.append(run.run_id)
    assert seen == [ok.run_id]
    assert info.value.run.run_id == bad.run_id
    assert sdk_tasks() == []


# -- watch ------------------------------------------------------------------------------


async def _collect(events: list[RunEvent], it: object, ids: set[str]) -> None:
    """Take events until every run in ``ids`` is terminal."""
    live = set(ids)
    async for event in it:  # type: ignore[attr-defined]
        events.append(event)
        if event.run.is_terminal:
            live.discard(event.run.run_id)
        if not live:
            return


def _transitions(events: list[RunEvent], run_id: str) -> list[tuple[str, RunPhase]]:
    return [(e.type, e.run.phase) for e in events if e.run.run_id == run_id]


EVERY_TRANSITION = [
    ("added", RunPhase.PENDING),
    ("changed", RunPhase.RUNNING),
    ("changed", RunPhase.SUCCEEDED),
]


@pytest.mark.parametrize("by_id", [True, False], ids=["by-id", "whole-list"])
async def test_watch_yields_every_transition_of_three_runs_exactly_once(
    vi_client: Client, vi_server: LocalServer, by_id: bool
) -> None:
    ids = await _create(vi_client, 3, run_meta(pending=0.5, running=0.5))  # 10 polls a phase
    events: list[RunEvent] = []
    watch = vi_client.runs.watch(ids if by_id else None, poll_interval=0.05)
    async with aclosing(watch) as it:
        with anyio.fail_after(10):
            await _collect(events, it, set(ids))
    for run_id in ids:
        assert _transitions(events, run_id) == EVERY_TRANSITION
    for event in events:
        if event.type == "changed":
            assert event.previous is not None and event.previous.phase is not event.run.phase
    assert sdk_tasks() == []
    await assert_polling_stopped(vi_server)


async def test_watch_without_snapshot_filtered_by_phase(vi_client: Client) -> None:
    old = await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.0, running=30))
    await anyio.sleep(0.1)
    events: list[RunEvent] = []
    created: list[Run] = []

    async def create_later() -> None:
        await anyio.sleep(0.5)  # after the watch's first look
        created.append(
            await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.3, running=0.5))
        )

    async with (
        aclosing(
            vi_client.runs.watch(phases=RunPhase.RUNNING, poll_interval=0.05, snapshot=False)
        ) as it,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(create_later)
        with anyio.fail_after(10):
            async for event in it:
                events.append(event)
                if event.type == "removed":
                    break
    (new,) = created
    # The run already running at the start is not reported; the new one enters the
    # watched phase ("added") and leaves it when it ends ("removed").
    assert [(e.type, e.run.run_id, e.run.phase) for e in events] == [
        ("added", new.run_id, RunPhase.RUNNING),
        ("removed", new.run_id, RunPhase.SUCCEEDED),
    ]
    await vi_client.runs.kill(old.run_id)


async def test_watch_reports_a_deleted_run_as_removed(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata=run_meta(running=0.05))
    await vi_client.runs.wait_for(run.run_id, timeout=10)
    async with aclosing(vi_client.runs.watch([run.run_id], poll_interval=0.05)) as it:
        first = await it.__anext__()
        assert (first.type, first.run.phase) == ("added", RunPhase.SUCCEEDED)
        await vi_client.runs.delete(run.run_id)
        with anyio.fail_after(5):
            gone = await it.__anext__()
    assert gone.type == "removed"
    assert gone.run.run_id == run.run_id


# -- cancellation -----------------------------------------------------------------------


async def test_cancelling_waits_and_watches_leaves_no_task_or_request(
    vi_client: Client, vi_server: LocalServer
) -> None:
    ids = await _create(vi_client, 40, run_meta(running=30))

    async def watch() -> None:
        async for _ in vi_client.runs.watch(poll_interval=0.05):
            pass

    with anyio.move_on_after(0.5):
        async with anyio.create_task_group() as tg:
            for run_id in ids:
                tg.start_soon(partial(vi_client.runs.wait_for, run_id, poll_interval=0.05))
            tg.start_soon(watch)
            tg.start_soon(partial(vi_client.runs.wait_for, ids[0], until=RunPhase.SUCCEEDED))
    assert sdk_tasks() == []
    await assert_polling_stopped(vi_server)  # nobody polls any more
    for run_id in ids:
        await vi_client.runs.kill(run_id)


async def test_bad_watch_arguments_raise_before_any_request(
    vi_client: Client, vi_server: LocalServer
) -> None:
    vi_server.reset_counts()
    with pytest.raises(ValueError, match="phases"):
        await vi_client.runs.watch(phases="Sleeping").__anext__()
    with pytest.raises(ValueError, match="poll_interval"):
        await vi_client.runs.watch(poll_interval=0).__anext__()
    with pytest.raises(ValueError):
        await vi_client.runs.watch(["bad/id"]).__anext__()
    assert sum(vi_server.request_counts.values()) == 0


async def test_every_phase_reaches_on_update_in_order_when_walking_the_list(
    vi_client: Client, vi_server: LocalServer
) -> None:
    ids = await _create(vi_client, 20, run_meta(pending=1.5, running=0.5))
    seen: dict[str, list[RunPhase]] = {run_id: [] for run_id in ids}
    async with anyio.create_task_group() as tg:
        for run_id in ids:
            tg.start_soon(
                partial(
                    vi_client.runs.wait_for,
                    run_id,
                    timeout=20,
                    poll_interval=0.05,
                    on_update=lambda r: seen[r.run_id].append(r.phase),
                )
            )
    assert vi_server.request_counts[LIST_RUNS] > 0
    assert all(
        phases == [RunPhase.PENDING, RunPhase.RUNNING, RunPhase.SUCCEEDED]
        for phases in seen.values()
    ), seen


async def test_20_waits_started_apart_cost_at_most_twice_one_wait(
    vi_client: Client, vi_server: LocalServer
) -> None:
    async def waits(n: int) -> int:
        # Run i starts 0.05 s after run i-1, and its wait with it (as a service starts
        # them on requests); created up front so that creating costs no wall time.
        ids = [
            (await vi_client.runs.create(flow=SPEC, metadata=run_meta(pending=0.2 + 0.05 * i,
                                                                      running=1.0))).run_id
            for i in range(n)
        ]  # fmt: skip
        vi_server.reset_counts()
        async with anyio.create_task_group() as tg:
            for run_id in ids:
                tg.start_soon(partial(vi_client.runs.wait_for, run_id, timeout=30))
                await anyio.sleep(0.05)
        return run_polls(vi_server)

    one = await waits(1)
    twenty = await waits(20)
    assert twenty <= 2 * one, (one, twenty)
