"""cleanup() and delete_many() over HTTP against the local server: filters, dry run, outcomes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial

import anyio
import pytest
from bulk_support import assert_exact, ids

from vi_async import CleanupPlan, Client, Flow, FlowSpec, ViValidationError
from vi_async.bulk import BulkError, BulkItemResult, BulkOutcome, BulkReport
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio

DELETE = "DELETE /workspaces/{org}/flows/{flowId}"
LIST = "GET /workspaces/{org}/flows"


async def test_cleanup_500_by_name_dry_run_then_for_real(
    vi_server: LocalServer, vi_client: Client
) -> None:
    stale = await vi_server.seed_flows(500, name_prefix="tmp-")
    keep = await vi_server.seed_flows(30, name_prefix="keep-tmp-")
    vi_server.reset_counts()

    dry = await vi_client.flows.cleanup(name="tmp-*", dry_run=True)
    assert dry.dry_run and dry.ok
    assert ids(dry, BulkOutcome.WOULD_DELETE) == set(stale)
    assert dry.counts["deleted"] == 0 and dry.total == 500
    assert DELETE not in vi_server.request_counts
    assert set(await vi_server.flow_ids()) == set(stale) | set(keep)

    seen: list[tuple[int, int | None, BulkItemResult]] = []
    report = await vi_client.flows.cleanup(
        name="tmp-*", progress=lambda done, total, last: seen.append((done, total, last))
    )
    assert report.ok and not report.dry_run and report.elapsed > 0
    assert len(report.deleted) == 500 and report.total == 500
    assert {r.name for r in report.deleted} == {f"tmp-{i}" for i in range(500)}
    await assert_exact(vi_server, report, stale, untouched=keep)
    assert vi_server.request_counts[DELETE] == 500
    # Deleting while paging skipped nothing: 530 flows, pages of 200, one walk.
    assert vi_server.request_counts[LIST] == 3 + 3  # dry run + real run
    assert [done for done, _, _ in seen] == list(range(1, 501))
    assert seen[-1][1] == 500 and seen[0][1] is None  # the total is known once listed
    report.raise_for_failures()


async def test_cleanup_older_than_cuts_between_two_batches(
    vi_server: LocalServer, vi_client: Client
) -> None:
    old = await vi_server.seed_flows(40, name_prefix="a-")
    await anyio.sleep(0.15)
    cutoff = time.time()
    await anyio.sleep(0.15)
    new = await vi_server.seed_flows(40, name_prefix="b-")
    report = await vi_client.flows.cleanup(older_than=timedelta(seconds=time.time() - cutoff))
    assert ids(report, BulkOutcome.DELETED) == set(old)
    await assert_exact(vi_server, report, old, untouched=new)


async def test_cleanup_where_and_training_project(
    vi_server: LocalServer, vi_client: Client
) -> None:
    def make(name: str, project: str | None) -> FlowSpec:
        return FlowSpec(name=name, training_project=project)

    a = await vi_client.flows.create(make("exp-1", "p1"))
    b = await vi_client.flows.create(make("exp-2", "p1"))
    c = await vi_client.flows.create(make("exp-3", "p2"))
    report = await vi_client.flows.cleanup(
        training_project="p1", where=lambda f: f.spec.name.endswith("2")
    )
    assert ids(report) == {b.flow_id}
    await assert_exact(vi_server, report, [b.flow_id], untouched=[a.flow_id, c.flow_id])


async def test_bad_arguments_are_refused_before_any_request(
    vi_server: LocalServer, vi_client: Client
) -> None:
    await vi_server.seed_flows(2)
    vi_server.reset_counts()
    flows, bad = vi_client.flows, "explode"
    plan = CleanupPlan(vi_client.organization_id, ())
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: flows.cleanup(on_active_run=bad),  # type: ignore[arg-type]
        lambda: flows.delete_many(["f"], on_active_run=bad),  # type: ignore[arg-type]
        lambda: flows.plan_cleanup(on_active_run=bad),  # type: ignore[arg-type]
        lambda: flows.apply(plan, on_active_run=bad),  # type: ignore[arg-type]
    ]
    for call in calls:  # one check, one message, wherever the policy is given
        with pytest.raises(ValueError, match=r"^on_active_run must be one of skip, kill, fail;"):
            await call()
    with pytest.raises(ValueError, match="concurrency"):
        await flows.cleanup(concurrency=0)
    with pytest.raises(TypeError, match="timedelta"):
        await flows.cleanup(older_than=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        await flows.plan_cleanup(where="tmp")  # type: ignore[arg-type]
    assert sum(vi_server.request_counts.values()) == 0


async def test_delete_many_every_item_one_outcome(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flows = await vi_server.seed_flows(20)
    missing = "no-such-flow"
    flow_obj = await vi_client.flows.get(flows[0])
    items: list[str | Flow] = [flow_obj, *flows[1:], missing, "bad id/..", flows[1]]
    report = await vi_client.flows.delete_many(items, concurrency=4)
    # flows[1] is given twice: it is handled once, with one result.
    assert not report.ok and report.complete and report.total == len(items) - 1
    assert ids(report, BulkOutcome.DELETED) == set(flows)
    names = {r.flow_id: r.name for r in report.deleted}
    assert names[flows[0]] == "seed-0" and names[flows[2]] is None  # a Flow item gives a name
    assert missing in ids(report, BulkOutcome.NOT_FOUND)
    assert [r.flow_id for r in report.not_found] == [missing]
    [bad] = report.failed
    assert bad.flow_id == "bad id/.." and isinstance(bad.error, ViValidationError)
    assert await vi_server.flow_ids() == []
    with pytest.raises(BulkError) as caught:
        report.raise_for_failures()
    assert caught.value.report is report
    assert "failed" in str(caught.value)


async def test_delete_many_takes_async_iterables_and_generators(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flows = await vi_server.seed_flows(30)

    async def stream() -> object:
        for flow_id in flows[:15]:
            yield flow_id

    totals: list[int | None] = []
    first = await vi_client.flows.delete_many(
        stream(),
        progress=lambda d, t, r: totals.append(t),  # type: ignore[arg-type]
    )
    assert ids(first, BulkOutcome.DELETED) == set(flows[:15])
    assert totals[-1] == 15
    second = await vi_client.flows.delete_many(f for f in flows[15:])
    assert ids(second, BulkOutcome.DELETED) == set(flows[15:])
    assert await vi_server.flow_ids() == []


async def test_delete_many_dry_run_checks_existence(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flows = await vi_server.seed_flows(5, name_prefix="dry-")
    vi_server.reset_counts()
    report = await vi_client.flows.delete_many([*flows, "gone"], dry_run=True)
    assert report.dry_run and ids(report, BulkOutcome.WOULD_DELETE) == set(flows)
    assert {r.name for r in report.would_delete} == {f"dry-{i}" for i in range(5)}
    assert ids(report, BulkOutcome.NOT_FOUND) == {"gone"}
    assert DELETE not in vi_server.request_counts
    assert len(await vi_server.flow_ids()) == 5
    assert "Dry run done: 6 flow(s)" in report.summary()


async def test_report_to_dict_and_summary(vi_server: LocalServer, vi_client: Client) -> None:
    flows = await vi_server.seed_flows(3)
    report = await vi_client.flows.delete_many([*flows, "gone"])
    data = report.to_dict()
    assert data["counts"] == {
        "deleted": 3,
        "skipped": 0,
        "not_found": 1,
        "failed": 0,
        "would_delete": 0,
        "unknown": 0,
    }
    assert data["total"] == 4 and data["cancelled"] is False and data["dry_run"] is False
    assert data["not_found"][0] == {
        "flow_id": "gone",
        "name": None,
        "outcome": "not_found",
        "reason": None,
        "error": None,
        "killed_runs": [],
    }
    text = report.summary()
    assert "Bulk delete done: 4 flow(s)" in text and "deleted" in text and "not_found" in text
    assert str(report) == text
    assert isinstance(BulkReport().elapsed, float)


async def _cancel_after_some_deletes(
    server: LocalServer, job: Callable[[], Awaitable[object]]
) -> None:
    """Run ``job`` and cancel it once a few flows were deleted."""
    before = len(await server.flow_ids())
    async with anyio.create_task_group() as tg:
        tg.start_soon(job)
        with anyio.fail_after(20):
            while len(await server.flow_ids()) > before - 5:  # noqa: ASYNC110 - server state
                await anyio.sleep(0.02)
        tg.cancel_scope.cancel()


async def test_an_interrupted_job_says_what_it_left_untouched(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flows = await vi_server.seed_flows(600, name_prefix="tmp-")
    plan = await vi_client.flows.plan_cleanup(name="tmp-*")
    vi_server.faults = FaultConfig(latency=0.02, paths=r"/flows/")
    listing, planned = BulkReport(), BulkReport()
    await _cancel_after_some_deletes(vi_server, partial(
        vi_client.flows.cleanup, name="tmp-*", concurrency=4, report=listing))  # fmt: skip
    await _cancel_after_some_deletes(vi_server, partial(
        vi_client.flows.apply, plan, concurrency=4, report=planned))  # fmt: skip
    vi_server.faults = FaultConfig()

    assert listing.cancelled and listing.not_reached is None
    assert "not reached:  unknown (the listing was not read to its end" in listing.summary()
    assert planned.cancelled and planned.not_reached is not None
    left = len(await vi_server.flow_ids())
    assert 0 < planned.not_reached <= left
    assert f"not reached:  {planned.not_reached} flow(s) left untouched" in planned.summary()
    assert planned.to_dict()["not_reached"] == planned.not_reached
    assert len(flows) - left == len(listing.deleted) + len(planned.deleted)
