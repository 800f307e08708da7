"""client.flows over HTTP against the local server."""

from __future__ import annotations

import pytest

from vi_async import (
    Client,
    DeletedResource,
    Flow,
    FlowBlock,
    FlowSpec,
    PaginationParams,
    ViNotFoundError,
    ViValidationError,
)
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(
    name="resnet",
    blocks=[FlowBlock(block="dataset", settings={"split": 0.8}), FlowBlock(block="train")],
    tolerations={"gpu": ["a100"]},
    settings={"epochs": 3},
)


async def test_create_get_update_delete(vi_client: Client, vi_server: LocalServer) -> None:
    flow = await vi_client.flows.create(spec=SPEC, metadata={"team": "vision"})
    assert isinstance(flow, Flow)
    assert flow.spec == SPEC
    assert flow.organization_id == vi_server.organization_id
    assert flow.metadata.attributes == {"team": "vision"}
    assert flow.metadata.time_created > 0

    got = await vi_client.flows.get(flow.flow_id)
    assert got == flow

    updated = await vi_client.flows.update(flow.flow_id, spec={"name": "resnet-2"})
    assert updated.spec.name == "resnet-2"
    assert updated.spec.blocks == SPEC.blocks
    assert updated.metadata.generation > flow.metadata.generation
    assert updated.etag != flow.etag

    updated = await vi_client.flows.update(flow_id=flow.flow_id, metadata={"stage": "dev"})
    assert updated.metadata.attributes["stage"] == "dev"

    deleted = await vi_client.flows.delete(flow.flow_id)
    assert deleted == DeletedResource(id=flow.flow_id, deleted=True)
    assert await vi_server.flow_ids() == []
    with pytest.raises(ViNotFoundError):
        await vi_client.flows.get(flow.flow_id)


async def test_create_from_a_dict_with_snake_case_keys(vi_client: Client) -> None:
    flow = await vi_client.flows.create(
        spec={
            "name": "from-dict",
            "schema": "v1",
            "blocks": [],
            "settings": {},
            "tolerations": {},
            "training_project": "proj-1",
        }
    )
    assert flow.spec.training_project == "proj-1"
    assert flow.spec.name == "from-dict"


async def test_not_found_carries_status_request_id_and_path(vi_client: Client) -> None:
    with pytest.raises(ViNotFoundError) as info:
        await vi_client.flows.get("does-not-exist")
    err = info.value
    assert err.status == 404
    assert err.request_id
    assert err.method == "GET"
    assert err.path == "flows/does-not-exist"
    assert "does-not-exist" in str(err)


async def test_server_validation_error_is_typed(vi_client: Client) -> None:
    flow = await vi_client.flows.create(spec=SPEC)
    with pytest.raises(ViValidationError) as info:
        await vi_client.flows.update(flow.flow_id, spec={"name": 12})
    assert info.value.status in (400, 422)
    assert (await vi_client.flows.get(flow.flow_id)).spec.name == SPEC.name


async def test_pagination_over_hundreds_of_flows(vi_client: Client, vi_server: LocalServer) -> None:
    ids = await vi_server.seed_flows(230, name_prefix="bulk")
    pager = vi_client.flows.list(pagination=PaginationParams(page_size=25))
    first = await pager
    assert len(first.items) == 25
    assert first.next_page

    pages = [page async for page in vi_client.flows.list(pagination={"page_size": 25})]
    assert len(pages) == 10
    assert [len(p.items) for p in pages][-1] == 5
    seen = [
        f.flow_id async for f in vi_client.flows.list(PaginationParams(page_size=100)).all_items()
    ]
    assert seen == ids


async def test_all_items_does_not_skip_when_deleting_while_paging(
    vi_client: Client, vi_server: LocalServer
) -> None:
    ids = await vi_server.seed_flows(60)
    seen = []
    async for flow in vi_client.flows.list(PaginationParams(page_size=7)).all_items():
        seen.append(flow.flow_id)
        await vi_client.flows.delete(flow.flow_id)
    assert seen == ids
    assert await vi_server.flow_ids() == []


async def test_info_prints_a_summary(vi_client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    flow = await vi_client.flows.create(spec=SPEC)
    flow.info()
    out = capsys.readouterr().out
    assert flow.flow_id in out
    assert "resnet" in out
    assert "1. dataset" in out


async def test_update_with_a_flowspec_changes_only_its_non_default_fields(
    vi_client: Client,
) -> None:
    flow = await vi_client.flows.create(spec=SPEC)
    renamed = await vi_client.flows.update(flow.flow_id, spec=FlowSpec(name="renamed"))
    assert renamed.spec.name == "renamed"
    assert renamed.spec.blocks == SPEC.blocks
    assert renamed.spec.settings == SPEC.settings
    cleared = await vi_client.flows.update(flow.flow_id, spec={"blocks": []})
    assert cleared.spec.blocks == []
    assert cleared.spec.name == "renamed"
