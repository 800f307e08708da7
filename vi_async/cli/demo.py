"""``python -m vi_async demo``: a tour of the SDK on an embedded local Vi server.

No account needed: a LocalServer runs in-process on a temporary database with
runs that take a few seconds. The tour creates flows, starts runs, waits for
them concurrently while following one run's log, kills one, then cleans up the
stale flows with a progress bar and prints the report.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Iterable

import anyio

from .._client import Client
from ..local import LocalServer, RunSchedule
from ..models import FlowBlock, FlowSpec, Run
from . import output as term
from .terminal import echo

DEMO_SCHEDULE = RunSchedule(pending_seconds=0.5, running_seconds=3.0, log_interval_seconds=0.4)
BLOCKS = [FlowBlock("dataset"), FlowBlock("augment"), FlowBlock("train"), FlowBlock("evaluate")]
LONG_RUN = {"vi-local/running-seconds": "60"}
FAILING_RUN = {"vi-local/outcome": "Failed"}
KILL_AFTER = 1.5


def say(text: str = "") -> None:
    """Print one line of the tour."""
    echo(text)


async def _create_all(client: Client, specs: Iterable[FlowSpec], limit: int = 32) -> None:
    """Create flows, ``limit`` at a time."""
    slots = anyio.Semaphore(limit)

    async def create(spec: FlowSpec) -> None:
        try:
            await client.flows.create(spec)
        finally:
            slots.release()

    async with anyio.create_task_group() as tg:
        for spec in specs:
            await slots.acquire()
            tg.start_soon(create, spec)


async def _create_flows(client: Client, stale: int) -> tuple[list[str], str]:
    """Three experiment flows and ``stale`` scratch ones; returns the experiments' ids
    and one scratch flow's id."""
    say("== 1. Create flows")
    names = ["yolo-detector", "mask-rcnn", "resnet-classifier"]
    flows = [
        await client.flows.create(FlowSpec(name=name, blocks=BLOCKS, training_project="demo"))
        for name in names
    ]
    for flow in flows:
        say(f"   created {flow.flow_id}  {flow.spec.name}")
    started = time.monotonic()
    scratch = await client.flows.create(FlowSpec(name="tmp-scratch-0", blocks=BLOCKS[:1]))
    specs = (FlowSpec(name=f"tmp-scratch-{i}", blocks=BLOCKS[:1]) for i in range(1, stale))
    await _create_all(client, specs)
    say(f"   + {stale} scratch flows named tmp-scratch-* ({time.monotonic() - started:.2f}s)")
    return [flow.flow_id for flow in flows], scratch.flow_id


async def _follow(client: Client, run: Run) -> None:
    async for line in client.runs.logs(run.run_id, tail=None, follow=True):
        say(f"   | {line.level:<7} {line.message}")


async def _runs(client: Client, flow_ids: list[str]) -> None:
    say("\n== 2. Start runs, follow one log, kill one, wait for all (concurrently)")
    good = await client.runs.create(flow_ids[0])
    bad = await client.runs.create(flow_ids[1], metadata=FAILING_RUN)
    doomed = await client.runs.create(flow_ids[2], metadata=LONG_RUN)
    names = {good.run_id: "yolo-detector", bad.run_id: "mask-rcnn", doomed.run_id: "resnet"}
    for run in (good, bad, doomed):
        say(f"   started {run.run_id}  ({names[run.run_id]}: {run.phase.value})")

    async def kill_later() -> None:
        await anyio.sleep(KILL_AFTER)
        killed = await client.runs.kill(doomed.run_id)
        say(f"   killed  {killed.run_id}  ({names[killed.run_id]}: {killed.phase.value})")

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_follow, client, good)
        tg.start_soon(kill_later)
        async for run in client.runs.as_completed(names):
            elapsed = time.monotonic() - started
            say(
                f"   ended   {run.run_id}  ({names[run.run_id]}: {run.phase.value}, {elapsed:.1f}s)"
            )


async def _cleanup(client: Client, stale_flow: str) -> None:
    say("\n== 3. Clean up the stale flows")
    busy = await client.runs.create(stale_flow, metadata=LONG_RUN)
    say(f"   (one scratch flow has an active run, {busy.run_id}: on_active_run='kill')")
    dry = await client.flows.cleanup(name="tmp-*", dry_run=True)
    say(f"   dry run: {len(dry.would_delete)} flows would be deleted, nothing sent")
    bar = term.ProgressBar("   cleaning up")
    try:
        report = await client.flows.cleanup(
            name="tmp-*", on_active_run="kill", progress=term.BulkProgressBar(bar)
        )
    finally:
        bar.close()
    for line in report.summary().splitlines():
        say(f"   {line}")
    killed = [run for result in report.deleted for run in result.killed_runs]
    say(f"   runs killed to delete their flow: {', '.join(killed) or 'none'}")
    report.raise_for_failures()


async def _remaining(client: Client) -> None:
    say("\n== 4. What is left")
    table = term.Table(term.FLOW_COLUMNS, indent="   ")
    async for flow in client.flows.list().all_items():
        term.flow_row(table, flow)
    runs = [run async for run in client.runs.list().all_items()]
    say(f"   {len(runs)} runs kept (deleting a flow keeps its runs)")


async def demo(stale_flows: int = 150) -> None:
    """The tour, on a fresh LocalServer with a temporary database."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vi-demo-") as tmp:
        db_path = os.path.join(tmp, "demo.sqlite")
        async with LocalServer(db_path=db_path, schedule=DEMO_SCHEDULE) as server:
            say(f"Local Vi server on {server.endpoint} (organization {server.organization_id})")
            async with server.client() as client:
                flow_ids, scratch = await _create_flows(client, max(1, stale_flows))
                await _runs(client, flow_ids)
                await _cleanup(client, scratch)
                await _remaining(client)
    say(f"\nDone in {time.monotonic() - started:.1f}s. Next: `python -m vi_async local` starts")
    say("a server to point `vi-async flows list` or your own code at.")


def run_demo(stale_flows: int = 150) -> int:
    """Run the tour; returns the exit code."""
    asyncio.run(demo(stale_flows))
    return 0
