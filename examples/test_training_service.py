"""Testing your own service against the local server: a manual clock, a journal, faults.

``TrainingService`` stands for your code: it starts one run per project and
waits for all of them. The tests run it against the embedded local server with
``@pytest.mark.vi_clock("manual")``: runs stand still until the test advances
the server's clock, so nothing sleeps and the outcome is exact. Run them with

    pytest examples/test_training_service.py

(the ``vi_server`` / ``vi_client`` fixtures come from the plugin installed
with vi-async; each test runs once per server dialect).
"""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from vi_async import Client, FlowSpec, RunPhase
from vi_async.local import FaultRule, LocalServer

pytestmark = [pytest.mark.anyio, pytest.mark.vi_clock("manual")]

PROJECTS = [f"project-{i}" for i in range(50)]


class TrainingService:
    """Your service: start one run per project, wait for all, report the phases."""

    def __init__(self, client: Client, *, poll_interval: float | None = None) -> None:
        self.client = client
        self.poll_interval = poll_interval  # short in tests; the server's clock is the pace

    async def train_all(self, projects: list[str]) -> dict[str, RunPhase]:
        flow = FlowSpec(name="nightly-retrain")
        phases: dict[str, RunPhase] = {}

        async def train(project: str) -> None:
            run = await self.client.runs.create(flow=flow, training_project=project)
            done = await self.client.runs.wait_for(
                run.run_id, timeout=30, poll_interval=self.poll_interval
            )
            phases[project] = done.phase

        async with anyio.create_task_group() as group:
            for project in projects:
                group.start_soon(train, project)
        return phases


async def _when_started(server: LocalServer, count: int) -> None:
    """Wait (real time, briefly) until the service has created ``count`` runs."""
    with anyio.fail_after(10):
        while True:
            if len(server.requests.filter(method="PUT", path="runs/*", status=201)) >= count:
                return
            await anyio.sleep(0.005)


async def test_fifty_runs_finish_when_the_clock_moves(
    vi_server: LocalServer, vi_client: Client
) -> None:
    service = TrainingService(vi_client, poll_interval=0.01)
    async with anyio.create_task_group() as group:
        results: dict[str, RunPhase] = {}

        async def run_service() -> None:
            results.update(await service.train_all(PROJECTS))

        group.start_soon(run_service)
        await _when_started(vi_server, len(PROJECTS))
        first = await vi_client.runs.get((await vi_server.run_ids())[0])
        assert first.phase is RunPhase.PENDING  # time stands still: nothing moves by itself
        vi_server.advance(timedelta(minutes=5))  # every run's schedule is well past its end

    assert results == dict.fromkeys(PROJECTS, RunPhase.SUCCEEDED)
    # The journal: exactly one create per project, and polls that did not run away.
    creates = vi_server.requests.filter(method="PUT", path="runs/*")
    assert sorted(entry.body["spec"]["trainingProject"] for entry in creates) == sorted(PROJECTS)
    assert len(vi_server.requests.filter(method="GET")) < 500
    assert all(e.headers["Authorization"] == "***" for e in vi_server.requests)


async def test_a_failed_run_and_a_flaky_create(vi_server: LocalServer, vi_client: Client) -> None:
    # The first run create answers 503 once; the SDK retries it (same run id).
    rule = FaultRule(method="PUT", path="runs/*", times=1, status=503, retry_after=0)
    flaky = vi_server.inject(rule)
    service = TrainingService(vi_client, poll_interval=0.01)
    async with anyio.create_task_group() as group:
        results: dict[str, RunPhase] = {}

        async def run_service() -> None:
            results.update(await service.train_all(["a", "b"]))

        group.start_soon(run_service)
        await _when_started(vi_server, 2)
        doomed = (await vi_server.run_ids())[0]
        vi_server.set_run(doomed, RunPhase.FAILED, reason="OOM", message="CUDA out of memory")
        vi_server.advance(60)

    assert sorted(results.values()) == [RunPhase.FAILED, RunPhase.SUCCEEDED]
    assert (flaky.hits, flaky.remaining) == (1, 0)
    statuses = [e.status for e in vi_server.requests.filter(method="PUT", path="runs/*")]
    assert sorted(statuses) == [201, 201, 503]
