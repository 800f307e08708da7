"""Plan, review, apply: only what was planned, and only if unchanged since the plan."""

from __future__ import annotations

import json
from datetime import timedelta

import anyio
import pytest
from bulk_support import assert_exact
from run_support import LONG_RUN

from vi_async import CleanupPlan, Client, FlowSpec, PlannedDelete, ViPlanError
from vi_async.bulk import CHANGED_REASON, BulkOutcome, BulkReport
from vi_async.bulk.plan import PLAN_VERSION
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio

GET_FLOW = "GET /workspaces/{org}/flows/{flowId}"
DELETE_FLOW = "DELETE /workspaces/{org}/flows/{flowId}"


async def test_apply_after_an_edit_and_a_delete_out_of_band(
    vi_server: LocalServer, vi_client: Client
) -> None:
    server = vi_server  # both dialects: the strict one ignores If-Match
    doomed = await server.seed_flows(10, name_prefix="tmp-")
    kept = await server.seed_flows(3, name_prefix="keep-")
    plan = await vi_client.flows.plan_cleanup(name="tmp-*")
    assert [i.flow_id for i in plan.items] == doomed
    assert all(i.etag and i.reason == "name matches 'tmp-*'" for i in plan.items)
    edited, gone = doomed[-1], doomed[-2]  # met after the server said it honours If-Match
    await vi_client.flows.update(edited, metadata={"touched": "yes"})
    await vi_client.flows.delete(gone)
    late = await vi_client.flows.create(FlowSpec(name="tmp-late"))  # matches, not planned
    server.reset_counts()

    report = await vi_client.flows.apply(plan)

    assert report.complete and report.ok
    [skipped] = report.skipped
    assert skipped.flow_id == edited and skipped.reason == CHANGED_REASON
    assert [r.flow_id for r in report.not_found] == [gone]
    assert {r.flow_id for r in report.deleted} == set(doomed[:-2])
    await assert_exact(server, report, doomed, untouched=[*kept, late.flow_id])
    counts = server.request_counts
    if server.strict:
        # No precondition on the server: each flow was read right before its DELETE.
        assert counts[GET_FLOW] == 10 and counts[DELETE_FLOW] == 8
    else:
        # The server honours If-Match: reads stop once it said so, the 412 does the check.
        assert counts[DELETE_FLOW] == 10 and counts[GET_FLOW] <= 8
        assert skipped.error is not None and skipped.error.status == 412


async def test_plan_json_round_trip_and_summary(vi_server: LocalServer, vi_client: Client) -> None:
    await vi_server.seed_flows(3, name_prefix="tmp-")
    await anyio.sleep(0.01)
    plan = await vi_client.flows.plan_cleanup(
        name="tmp-*", older_than=timedelta(0), on_active_run="kill"
    )
    text = plan.to_json()
    again = CleanupPlan.from_json(text, organization_id=vi_client.organization_id)
    assert again == plan
    assert again.filters == {"older_than": "0:00:00", "name": "tmp-*"}
    assert again.on_active_run == "kill" and len(again) == 3
    summary = plan.summary()
    assert "3 flow(s) to delete" in summary and "tmp-0" in summary and "changed" in summary


async def test_plan_refusals(vi_server: LocalServer, vi_client: Client) -> None:
    await vi_server.seed_flows(2, name_prefix="tmp-")
    plan = await vi_client.flows.plan_cleanup()
    with pytest.raises(ViPlanError, match="organization"):
        CleanupPlan.from_json(plan.to_json(), organization_id="another-org")
    data = plan.to_dict()
    data["version"] = PLAN_VERSION + 1
    with pytest.raises(ViPlanError, match="newer"):
        CleanupPlan.from_json(json.dumps(data))
    with pytest.raises(ViPlanError, match="Not a cleanup plan"):
        CleanupPlan.from_json('{"items": []}')
    with pytest.raises(ViPlanError, match="not JSON"):
        CleanupPlan.from_json("{")
    data["version"] = PLAN_VERSION
    data["items"][0]["etag"] = 7
    with pytest.raises(ViPlanError, match="malformed"):
        CleanupPlan.from_json(json.dumps(data))
    # A plan of another organization is refused before any request.
    other_org, _key = await vi_server.add_organization()
    foreign = CleanupPlan(other_org, (PlannedDelete("f", "e", "n", "r"),))
    vi_server.reset_counts()
    with pytest.raises(ViPlanError, match="organization"):
        await vi_client.flows.apply(foreign)
    assert sum(vi_server.request_counts.values()) == 0


async def test_apply_keeps_the_active_run_policy(vi_server: LocalServer, vi_client: Client) -> None:
    busy = await vi_client.flows.create(FlowSpec(name="tmp-busy"))
    await vi_client.runs.create(busy.flow_id, metadata=LONG_RUN)
    idle = await vi_server.seed_flows(2, name_prefix="tmp-")
    plan = await vi_client.flows.plan_cleanup(name="tmp-*")
    report = await vi_client.flows.apply(plan)
    assert [(r.flow_id, r.reason) for r in report.skipped] == [(busy.flow_id, "active run")]
    await assert_exact(vi_server, report, [busy.flow_id, *idle])


async def test_cancel_during_apply_is_bounded_and_exact(
    vi_server: LocalServer, vi_client: Client
) -> None:
    server = vi_server
    seeded = await server.seed_flows(200, name_prefix="tmp-")
    plan = await vi_client.flows.plan_cleanup(name="tmp-*")
    server.faults = FaultConfig(latency=0.02, paths=r"/flows/")
    report = BulkReport()
    with anyio.fail_after(5):
        with anyio.move_on_after(0.3) as scope:
            await vi_client.flows.apply(plan, concurrency=8, report=report)
    server.faults = FaultConfig()
    assert scope.cancelled_caught and report.cancelled and report.finished
    assert 0 < len(report.deleted) < 200
    assert all(r.reason == "cancelled" for r in report.skipped)
    assert not report.unknown  # the in-flight deletes finished within the grace
    done = {r.flow_id for r in report.results()}
    assert done == set(seeded[: len(done)])
    remaining = set(await server.flow_ids())
    assert remaining == set(seeded) - {r.flow_id for r in report.deleted}
    assert {r.outcome for r in report.results()} <= {BulkOutcome.DELETED, BulkOutcome.SKIPPED}
