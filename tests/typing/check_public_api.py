"""User code over the public API, with the types a user's checker must see.

Not a test module (pytest does not collect it): ``nox -s typecheck`` checks it
with ``mypy --strict`` and ``basedpyright`` (strict). Each ``assert_type`` is the
contract of one public name; a name typed ``Any`` fails it, as it would leave a
user's code unchecked. Nothing here runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

from typing_extensions import assert_type

import vi_async
import vi_sync
from vi_async import (
    AsyncPager,
    BulkReport,
    CleanupPlan,
    DeletedResource,
    Flow,
    LogLine,
    Model,
    ModelDownload,
    Page,
    Run,
    RunEvent,
    RunPhase,
    ViRunFailedError,
    ViTimeoutError,
    ViUnreachablePhaseError,
)
from vi_async.local import LocalServer
from vi_async.resources.flows import FlowsResource
from vi_async.resources.models import ModelsResource
from vi_async.resources.runs import RunsResource
from vi_sync import SyncPager


async def async_api(client: vi_async.Client, server: LocalServer) -> None:
    assert_type(client.flows, FlowsResource)
    assert_type(client.runs, RunsResource)
    assert_type(client.models, ModelsResource)
    async with vi_async.Client() as entered:
        assert_type(entered, vi_async.Client)
    async with server.client() as bound:
        assert_type(bound, vi_async.Client)

    # Pages: awaiting a pager gives the first page; iterating it, every page.
    pager = client.flows.list()
    assert_type(pager, AsyncPager[Flow])
    assert_type(await pager, Page[Flow])
    assert_type((await pager).items, list[Flow])
    async for page in client.flows.list():
        assert_type(page, Page[Flow])
    async for flow in client.flows.list().all_items():
        assert_type(flow, Flow)
    assert_type(await client.flows.get("flow"), Flow)
    assert_type(await client.flows.delete("flow"), DeletedResource)

    # Runs: waits, events, logs.
    run = await client.runs.create(flow="flow", wait=True, timeout=60)
    assert_type(run, Run)
    assert_type(run.phase, RunPhase)
    assert_type(await client.runs.wait_for(run.run_id, timeout=60), Run)
    async for done in client.runs.as_completed([run.run_id]):
        assert_type(done, Run)
    async for event in client.runs.watch([run.run_id]):
        assert_type(event, RunEvent)
        assert_type(event.run, Run)
        assert_type(event.previous, Run | None)
    lines = client.runs.logs(run.run_id, tail=10)
    assert_type(lines, AsyncIterator[LogLine])

    # Models and downloads.
    assert_type(await client.models.get(run.run_id), Model)
    result = await client.models.download(run.run_id, save_dir=Path("models"))
    assert_type(result, ModelDownload)
    assert_type(result.model_dir, Path)
    assert_type(await client.get_model(run.run_id), ModelDownload)

    # Bulk reports and plans.
    report = await client.flows.delete_many(["a", "b"])
    assert_type(report, BulkReport)
    plan = await client.flows.plan_cleanup(name="tmp-*", older_than=timedelta(days=7))
    assert_type(plan, CleanupPlan)
    assert_type(await client.flows.apply(plan), BulkReport)
    assert_type(await client.flows.cleanup(name="tmp-*"), BulkReport)


def errors(exc: Exception) -> None:
    if isinstance(exc, ViUnreachablePhaseError):
        assert_type(exc.run, Run)
        assert_type(exc.until, frozenset[RunPhase])
    if isinstance(exc, ViRunFailedError):
        assert_type(exc.run, Run)
        assert_type(exc.phase, RunPhase)
    if isinstance(exc, ViTimeoutError):
        assert_type(exc.last_run, Run | None)


def sync_api(client: vi_sync.Client) -> None:
    with vi_sync.Client() as entered:
        assert_type(entered, vi_sync.Client)
    pager = client.flows.list()
    assert_type(pager, SyncPager[Flow])
    assert_type(pager.items, list[Flow])
    for page in client.flows.list():
        assert_type(page, Page[Flow])
    all_flows: Iterator[Flow] = client.flows.list().all_items()
    for flow in all_flows:
        assert_type(flow, Flow)
    run = client.runs.wait_for("run", timeout=60)
    assert_type(run, Run)
    for event in client.runs.watch(["run"]):
        assert_type(event, RunEvent)
    for line in client.runs.logs("run", tail=None):
        assert_type(line, LogLine)
    assert_type(client.models.download("run"), ModelDownload)
    assert_type(client.flows.delete_many(["a"]), BulkReport)
