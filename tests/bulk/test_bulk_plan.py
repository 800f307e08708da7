"""Plan, review, apply: only what was planned, and only if unchanged since the plan."""

from __future__ import annotations

import json
from datetime import timedelta

import anyio
import pytest
from bulk_support import assert_exact
from run_support import LONG_RUN

from vi_async import CleanupPlan, Client, Flow, FlowSpec, PlannedDelete, ViPlanError
from vi_async.bulk import CHANGED_REASON, BulkOutcome, BulkReport
from vi_async.bulk.filter import FlowFilter
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
    assert again.filters == {"older_than": "0s", "name": "tmp-*"}
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
    data["onActiveRun"] = "explode"
    with pytest.raises(ViPlanError, match="malformed: ValueError: on_active_run must be one of"):
        CleanupPlan.from_json(json.dumps(data))
    data["onActiveRun"] = "kill"
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


PLAN_WRITTEN_BEFORE = """{
  "format": "vi-async/cleanup-plan",
  "version": 1,
  "organizationId": "org-1",
  "createdAt": 1700000000.0,
  "onActiveRun": "kill",
  "filters": {"older_than": "7 days, 0:00:00", "name": "tmp-*", "where": "stale"},
  "items": [{"flowId": "f1", "etag": "e1", "name": "tmp-1", "reason": "name matches 'tmp-*'"}]
}"""


def test_a_plan_written_before_reads_and_describes_its_filters_as_the_filter_does() -> None:
    plan = CleanupPlan.from_json(PLAN_WRITTEN_BEFORE, organization_id="org-1")
    assert plan.items == (PlannedDelete("f1", "e1", "tmp-1", "name matches 'tmp-*'"),)

    def stale(flow: Flow) -> bool:
        return True

    keep = FlowFilter(name="tmp-*", older_than=timedelta(days=7), where=stale)
    assert keep.describe() == "older_than=7d, name=tmp-*, where=stale"
    assert f"filters:       {keep.describe()}\n" in plan.summary()  # the old form reads as new
    assert FlowFilter(older_than=timedelta(days=1, hours=12, seconds=0.5)).to_record() == {
        "older_than": "1d12h0.5s"
    }
    assert FlowFilter().describe() == "none (every flow)"


BAD_ETAGS = ["*", '"*"', "stale, {etag}", "{etag}\r\nX-Evil: 1", 'W/"{etag}"', "", "a b"]


async def test_a_plan_item_whose_etag_is_not_one_token_fails_alone(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flows = await vi_server.seed_flows(len(BAD_ETAGS) + 2, name_prefix="tmp-")
    plan = await vi_client.flows.plan_cleanup(name="tmp-*")
    data = json.loads(plan.to_json())
    for item, bad in zip(data["items"][1:], BAD_ETAGS, strict=False):  # the first stays good
        item["etag"] = bad.format(etag=item["etag"])
        await vi_client.flows.update(item["flowId"], metadata={"edited": "after the plan"})
    hostile = CleanupPlan.from_json(json.dumps(data), organization_id=vi_client.organization_id)
    assert "7 flow(s) will fail: their etag is not one opaque token" in hostile.summary()

    report = await vi_client.flows.apply(hostile, concurrency=2)

    assert report.complete and not report.ok
    assert {r.flow_id for r in report.deleted} == {flows[0], flows[-1]}
    assert len(report.failed) == len(BAD_ETAGS)
    assert all("not one opaque token" in (r.reason or "") for r in report.failed)
    assert set(await vi_server.flow_ids()) == set(flows[1:-1])  # none edited was deleted


@pytest.mark.parametrize("created_at", ["NaN", "Infinity", "1e400", "1e300", "-1e300"])
def test_a_plan_made_at_an_impossible_time_still_has_a_summary(created_at: str) -> None:
    text = PLAN_WRITTEN_BEFORE.replace("1700000000.0", created_at)
    plan = CleanupPlan.from_json(text)
    assert "made:          unknown" in plan.summary()


def test_a_deeply_nested_plan_is_a_plan_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ViPlanError, match="nests too deeply"):
        CleanupPlan.from_json(deep)
    nested = '"where": ' + "[" * 500 + "]" * 500
    nested_filters = PLAN_WRITTEN_BEFORE.replace('"where": "stale"', nested)
    with pytest.raises(ViPlanError, match="malformed"):
        CleanupPlan.from_json(nested_filters)
