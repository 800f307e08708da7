"""A flow with an active run under each on_active_run policy; runs survive flow deletion."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from bulk_support import assert_exact
from run_support import LONG_RUN, wait_until

from vi_async import CleanupPlan, Client, FlowSpec, Run, RunPhase, ViConflictError
from vi_async.bulk import BulkReport
from vi_async.bulk.active import ACTIVE_RUN_REASON
from vi_async.bulk.delete import KILL_WAIT_TIMEOUT
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio


async def _flow_with_active_run(client: Client, name: str) -> tuple[str, str]:
    flow = await client.flows.create(FlowSpec(name=name))
    run = await client.runs.create(flow.flow_id, metadata=LONG_RUN)
    assert not run.is_terminal
    return flow.flow_id, run.run_id


async def test_skip_leaves_the_flow_and_its_run(vi_server: LocalServer, vi_client: Client) -> None:
    flow_id, run_id = await _flow_with_active_run(vi_client, "busy")
    idle = await vi_server.seed_flows(3)
    report = await vi_client.flows.cleanup()  # on_active_run="skip" is the default
    [skipped] = report.skipped
    assert skipped.flow_id == flow_id and skipped.reason == "active run"
    assert isinstance(skipped.error, ViConflictError)
    assert report.ok  # a skip is not a failure
    await assert_exact(vi_server, report, [flow_id, *idle])
    assert not (await vi_client.runs.get(run_id)).is_terminal
    assert "skipped: 1 x active run" in report.summary()


async def test_fail_records_the_conflict(vi_server: LocalServer, vi_client: Client) -> None:
    flow_id, run_id = await _flow_with_active_run(vi_client, "busy")
    report = await vi_client.flows.delete_many([flow_id], on_active_run="fail")
    [failed] = report.failed
    assert isinstance(failed.error, ViConflictError) and failed.error.status == 409
    assert not report.ok
    await assert_exact(vi_server, report, [flow_id])
    assert not (await vi_client.runs.get(run_id)).is_terminal


async def test_kill_stops_runs_then_deletes(vi_server: LocalServer, vi_client: Client) -> None:
    busy = [await _flow_with_active_run(vi_client, f"busy-{i}") for i in range(3)]
    bystander_flow, bystander_run = await _flow_with_active_run(vi_client, "other")
    idle = await vi_server.seed_flows(5)
    targets = [flow_id for flow_id, _ in busy] + idle
    vi_server.reset_counts()
    vi_server.requests.clear()
    report = await vi_client.flows.delete_many(targets, on_active_run="kill", concurrency=8)
    assert report.ok and len(report.deleted) == 8
    killed = {r.flow_id: r.killed_runs for r in report.deleted}
    for flow_id, run_id in busy:
        assert killed[flow_id] == (run_id,)
        run = await vi_client.runs.get(run_id)  # the run survives its flow
        assert run.phase is RunPhase.CANCELLED
    await assert_exact(vi_server, report, targets, untouched=[bystander_flow])
    assert not (await vi_client.runs.get(bystander_run)).is_terminal
    # Three conflicts at once share the listing of the runs: fewer listings than
    # conflicts before the first kill (what lists the runs after it is the poller
    # seeing the kills land, which may walk the list too).
    journal = list(vi_server.requests)
    first_kill = next(i for i, e in enumerate(journal) if e.method == "PATCH")
    listings = [e for e in journal[:first_kill] if e.method == "GET" and e.relative_path == "runs"]
    assert len(listings) < len(busy), [(e.method, e.relative_path) for e in journal[:first_kill]]


async def test_runs_survive_flow_deletion(vi_server: LocalServer, vi_client: Client) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="done"))
    run = await vi_client.runs.create(flow.flow_id, wait=True, timeout=10)
    assert run.phase is RunPhase.SUCCEEDED
    report = await vi_client.flows.cleanup(name="done")
    assert [r.flow_id for r in report.deleted] == [flow.flow_id]
    assert await vi_server.run_ids() == [run.run_id]
    assert (await vi_client.runs.get(run.run_id)).phase is RunPhase.SUCCEEDED


async def test_dry_run_sends_no_kill(vi_server: LocalServer, vi_client: Client) -> None:
    flow_id, run_id = await _flow_with_active_run(vi_client, "busy")
    report = await vi_client.flows.cleanup(dry_run=True, on_active_run="kill")
    assert [r.flow_id for r in report.would_delete] == [flow_id]
    assert not (await vi_client.runs.get(run_id)).is_terminal
    assert await vi_server.flow_ids() == [flow_id]


async def test_cancel_while_waiting_for_killed_runs_reports_them(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flow_id, run_id = await _flow_with_active_run(vi_client, "busy")
    vi_server.faults = FaultConfig(latency=0.4, paths=r"/runs/")
    counts = vi_server.request_counts
    patch, get = "PATCH /workspaces/{org}/runs/{runId}", "GET /workspaces/{org}/runs/{runId}"
    report = BulkReport()

    async def cancel_once_the_wait_polls(scope: anyio.CancelScope) -> None:
        await wait_until(lambda: counts[patch] > 0)  # the kill is on its way
        polls = counts[get]
        await wait_until(lambda: counts[get] > polls)  # answered; the wait is polling
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancel_once_the_wait_polls, tg.cancel_scope)
        await vi_client.flows.delete_many([flow_id], on_active_run="kill", report=report)
    vi_server.faults = FaultConfig()
    [cut] = report.skipped
    assert report.cancelled and cut.reason == "cancelled" and cut.killed_runs == (run_id,)
    assert await vi_server.flow_ids() == [flow_id]
    assert (await vi_client.runs.get(run_id)).phase is RunPhase.CANCELLED


async def test_kill_spares_runs_of_no_flow_with_the_same_spec(
    vi_server: LocalServer, vi_client: Client
) -> None:
    spec = FlowSpec(name="tmp-train")
    # Started from the bare spec before any flow had it: the server links it to no flow.
    orphan = await vi_client.runs.create(spec, metadata=LONG_RUN)
    await anyio.sleep(0.01)  # without links (strict), the run's age is what spares it
    flow = await vi_client.flows.create(spec)
    linked = await vi_client.runs.create(flow.flow_id, metadata=LONG_RUN)
    if not vi_server.strict:
        assert orphan.status.flow_id is None and linked.status.flow_id == flow.flow_id
    other = await vi_client.flows.create(FlowSpec(name="other"))
    other_run = await vi_client.runs.create(other.flow_id, metadata=LONG_RUN)

    report = await vi_client.flows.delete_many([flow.flow_id], on_active_run="kill")
    [deleted] = report.deleted
    assert deleted.killed_runs == (linked.run_id,)
    assert (await vi_client.runs.get(linked.run_id)).phase is RunPhase.CANCELLED
    assert not (await vi_client.runs.get(orphan.run_id)).is_terminal
    assert not (await vi_client.runs.get(other_run.run_id)).is_terminal
    await assert_exact(vi_server, report, [flow.flow_id], untouched=[other.flow_id])


def test_the_spec_rule_applies_only_without_links() -> None:
    from vi_async._convert import structure
    from vi_async.bulk.delete import belongs_to
    from vi_async.models import Flow, Run

    spec = {"name": "same", "blocks": []}
    flow = structure({"flowId": "f1", "spec": spec, "metadata": {"timeCreated": 1000}}, Flow)

    def run(created: int, flow_id: str | None) -> Run:
        status = {"conditions": [], "flowId": flow_id}
        body = {"runId": "r", "spec": {"flow": spec}, "status": status}
        return structure({**body, "metadata": {"timeCreated": created}}, Run)

    # Links reported: only the link counts.
    assert belongs_to(run(2000, "f1"), flow, links_reported=True)
    assert not belongs_to(run(2000, None), flow, links_reported=True)
    assert not belongs_to(run(2000, "f2"), flow, links_reported=True)
    # No links (the Vi API): equal specs, and not older than the flow.
    assert belongs_to(run(2000, None), flow, links_reported=False)
    assert belongs_to(run(1000, None), flow, links_reported=False)
    assert not belongs_to(run(999, None), flow, links_reported=False)


async def test_kill_uses_the_clients_runs_and_waits_concurrently(
    vi_server: LocalServer, vi_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="busy"))
    runs = [await vi_client.runs.create(flow.flow_id, metadata=LONG_RUN) for _ in range(3)]
    real_wait = vi_client.runs.wait_for
    waiting, peak, timeouts = 0, 0, []

    async def wait_for(run_id: str, **kwargs: Any) -> Run:
        nonlocal waiting, peak
        timeouts.append(kwargs.get("timeout"))
        waiting += 1
        peak = max(peak, waiting)
        try:
            await anyio.sleep(0.2)  # every wait is in flight at once, or none overlap
            return await real_wait(run_id, **kwargs)
        finally:
            waiting -= 1

    # The bulk job kills and waits through the client's own runs resource
    # (one RunWaiter: a run the user also waits for is polled once).
    monkeypatch.setattr(vi_client.runs, "wait_for", wait_for)
    started = time.monotonic()
    report = await vi_client.flows.delete_many([flow.flow_id], on_active_run="kill")
    assert time.monotonic() - started < 0.55  # three waits of 0.2 s, not one after another
    [deleted] = report.deleted
    assert deleted.killed_runs == tuple(r.run_id for r in runs)
    assert peak == 3 and len(timeouts) == 3
    assert all(t is not None and 0 < t <= KILL_WAIT_TIMEOUT for t in timeouts)
    await assert_exact(vi_server, report, [flow.flow_id])


async def test_dry_runs_and_plans_show_active_runs_from_one_listing(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flows = await vi_server.seed_flows(30, name_prefix="tmp-")
    busy = flows[3:6]
    runs = [(await vi_client.runs.create(f, metadata=LONG_RUN)).run_id for f in busy]
    vi_server.reset_counts()

    plan = await vi_client.flows.plan_cleanup(name="tmp-*")
    dry = await vi_client.flows.cleanup(name="tmp-*", dry_run=True)
    dry_kill = await vi_client.flows.delete_many(flows, dry_run=True, on_active_run="kill")

    assert vi_server.request_counts["GET /workspaces/{org}/runs"] == 3  # one walk per job
    assert {i.flow_id: i.active_runs for i in plan.items if i.active_runs} == {
        f: (r,) for f, r in zip(busy, runs, strict=True)
    }
    summary = plan.summary()
    assert "3 flow(s) with active runs: they will be skipped" in summary
    assert f"[{ACTIVE_RUN_REASON}: will be skipped]" in summary
    assert {r.flow_id for r in dry.skipped} == set(busy) and len(dry.would_delete) == 27
    assert "skipped: 3 x active run: will be skipped" in dry.summary()
    killing = {r.flow_id: r.reason for r in dry_kill.would_delete if r.reason}
    assert killing == {
        f: f"will kill 1 active run(s): {r}" for f, r in zip(busy, runs, strict=True)
    }
    again = CleanupPlan.from_json(plan.to_json())
    assert again.items == plan.items
    assert len(await vi_server.flow_ids()) == 30  # nothing was deleted
