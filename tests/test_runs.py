"""client.runs CRUD over HTTP against the local server."""

from __future__ import annotations

import pytest

from vi_async import Client, FlowSpec, RunPhase, ViConflictError, ViNotFoundError
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(name="detector", blocks=[])


async def test_create_from_a_flow_id_embeds_the_spec_and_links_the_flow(
    vi_client: Client, vi_server: LocalServer
) -> None:
    flow = await vi_client.flows.create(spec=SPEC)
    run = await vi_client.runs.create(flow=flow.flow_id, training_project="proj-9")
    assert run.spec.flow == flow.spec
    assert run.spec.training_project == "proj-9"
    assert run.phase in (RunPhase.PENDING, RunPhase.RUNNING)
    # The server knows the run came from this flow: deleting the flow is refused.
    with pytest.raises(ViConflictError) as info:
        await vi_client.flows.delete(flow.flow_id)
    assert info.value.status == 409
    await vi_client.runs.wait_for(run.run_id, timeout=10)
    await vi_client.flows.delete(flow.flow_id)
    # Deleting a flow leaves its runs.
    assert (await vi_client.runs.get(run.run_id)).run_id == run.run_id


GET_FLOW = "GET /workspaces/{org}/flows/{flowId}"


async def test_create_from_a_flow_object_uses_its_spec_and_id_without_a_get(
    vi_client: Client, vi_server: LocalServer
) -> None:
    flow = await vi_client.flows.create(spec=SPEC)
    vi_server.reset_counts()
    runs = [await vi_client.runs.create(flow=flow) for _ in range(3)]
    assert all(run.spec.flow == flow.spec for run in runs)
    assert vi_server.request_counts[GET_FLOW] == 0
    if not vi_server.strict:  # linked through Vi-Flow-Id: the flow cannot go while they run
        with pytest.raises(ViConflictError):
            await vi_client.flows.delete(flow.flow_id)


@pytest.mark.parametrize("flow", [42, None, ["f1"], FlowSpec], ids=["int", "none", "list", "cls"])
async def test_create_refuses_what_is_no_flow_before_sending(
    vi_client: Client, vi_server: LocalServer, flow: object
) -> None:
    run = await vi_client.runs.create(flow=SPEC)
    vi_server.reset_counts()
    for bad in (flow, run):  # a Run is no flow either
        with pytest.raises(TypeError, match="flow must be a flow id, a Flow"):
            await vi_client.runs.create(flow=bad)  # type: ignore[arg-type]
    assert sum(vi_server.request_counts.values()) == 0


async def test_create_from_spec_and_dict(vi_client: Client) -> None:
    a = await vi_client.runs.create(flow=SPEC, metadata={"experiment": "baseline"})
    b = await vi_client.runs.start(flow={"name": "Quick", "schema": "v1", "blocks": []})
    assert a.metadata.attributes["experiment"] == "baseline"
    assert b.spec.flow.name == "Quick"
    assert a.run_id != b.run_id


async def test_get_update_delete(vi_client: Client, vi_server: LocalServer) -> None:
    run = await vi_client.runs.create(flow=SPEC)
    assert (await vi_client.runs.get(run_id=run.run_id)).run_id == run.run_id
    updated = await vi_client.runs.update(run.run_id, metadata={"notes": "better"})
    assert updated.metadata.attributes["notes"] == "better"
    updated = await vi_client.runs.update(run_id=run.run_id, spec={"training_project": "p2"})
    assert updated.spec.training_project == "p2"
    await vi_client.runs.kill(run.run_id)
    deleted = await vi_client.runs.delete(run_id=run.run_id)
    assert deleted.id == run.run_id
    assert run.run_id not in await vi_server.run_ids()
    with pytest.raises(ViNotFoundError):
        await vi_client.runs.delete(run.run_id)


async def test_kill_cancels_and_is_idempotent(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC, metadata={"vi-local/running-seconds": "30"})
    killed = await vi_client.runs.kill(run_id=run.run_id)
    assert killed.spec.killed_at is not None
    assert killed.phase is RunPhase.CANCELLED
    again = await vi_client.runs.kill(run.run_id)
    assert again.phase is RunPhase.CANCELLED
    assert again.spec.killed_at == killed.spec.killed_at
    assert again.metadata.generation == killed.metadata.generation


async def test_kill_after_success_returns_the_run_unchanged(vi_client: Client) -> None:
    run = await vi_client.runs.create(flow=SPEC)
    done = await vi_client.runs.wait_for(run.run_id, timeout=10)
    assert done.phase is RunPhase.SUCCEEDED
    after = await vi_client.runs.kill(run.run_id)
    assert after == done
