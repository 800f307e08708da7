"""client.models list/get against the local server, and the wire it serves."""

from __future__ import annotations

import aiohttp
import pytest
from models_support import succeeded_run

from vi_async import Client, Model, ViNotFoundError
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio


async def test_list_and_get(vi_client: Client) -> None:
    run_id = await succeeded_run(vi_client, checkpoints=3)
    page = await vi_client.models.list(run_id)
    assert [m.model_id for m in page.items] == ["checkpoint_1", "checkpoint_2", "checkpoint_3"]
    assert all(isinstance(m, Model) and m.run_id == run_id for m in page.items)
    assert page.items[0].spec.epoch == 10 and "mAP" in (page.items[0].spec.evaluation_metrics or {})
    assert page.items[0].download_url is None
    latest = await vi_client.models.get(run_id)
    assert latest.model_id == "checkpoint_3" and latest.download_url is None
    named = await vi_client.models.get(run_id, ckpt="checkpoint_1", contents=True)
    assert named.model_id == "checkpoint_1"
    assert named.download_url is not None and "sig=" in named.download_url.url
    assert "sig=" not in repr(named.download_url)  # the signature stays out of reprs
    assert "Model checkpoint_1" in named.summary()


async def test_pages(vi_client: Client) -> None:
    run_id = await succeeded_run(vi_client, checkpoints=12)
    first = await vi_client.models.list(run_id, pagination={"page_size": 5})
    assert len(first.items) == 5 and first.next_page
    ids = [m.model_id async for m in vi_client.models.list(run_id, {"page_size": 5}).all_items()]
    assert ids == [f"checkpoint_{i}" for i in range(1, 13)]
    assert (await vi_client.models.get(run_id)).model_id == "checkpoint_12"


async def test_no_checkpoints_until_succeeded(vi_client: Client) -> None:
    run = await vi_client.runs.create(
        flow={"name": "slow"}, metadata={"vi-local/pending-seconds": "60"}
    )
    assert (await vi_client.models.list(run.run_id)).items == []
    with pytest.raises(ViNotFoundError, match="has no checkpoint"):
        await vi_client.models.get(run.run_id)
    failed = await vi_client.runs.create(
        flow={"name": "f"}, metadata={"vi-local/outcome": "Failed"}, wait=True, timeout=30
    )
    assert (await vi_client.models.list(failed.run_id)).items == []


async def test_no_checkpoint_is_an_error_concluded_here_that_says_what_was_seen(
    vi_client: Client,
) -> None:
    run = await vi_client.runs.create(
        flow={"name": "killed"}, metadata={"vi-local/pending-seconds": "60"}
    )
    await vi_client.runs.kill(run.run_id)
    with pytest.raises(ViNotFoundError) as info:
        await vi_client.get_model(run.run_id)
    assert info.value.status is None  # the server answered 200: no HTTP status to claim
    assert "has no checkpoints: it ended Cancelled" in str(info.value)
    assert "status" not in str(info.value)
    live = await vi_client.runs.create(
        flow={"name": "slow"}, metadata={"vi-local/pending-seconds": "60"}
    )
    with pytest.raises(ViNotFoundError, match="has no checkpoints: it is Pending") as info:
        await vi_client.models.get(live.run_id)
    assert info.value.status is None
    with pytest.raises(ViNotFoundError) as info:
        await vi_client.models.get("no-such-run")
    assert info.value.status == 404  # the server said so


async def test_missing_run_and_checkpoint(vi_client: Client) -> None:
    with pytest.raises(ViNotFoundError):
        await vi_client.models.get("no-such-run")
    run_id = await succeeded_run(vi_client)
    with pytest.raises(ViNotFoundError):
        await vi_client.models.get(run_id, ckpt="checkpoint_9")


async def test_doubled_question_mark(vi_server: LocalServer, vi_client: Client) -> None:
    """The official client's list URL: ``?intent=sdkLocalDeploy?s=1&p=...``."""
    run_id = await succeeded_run(vi_client, checkpoints=3)
    base = f"{vi_server.endpoint}workspaces/{vi_server.organization_id}/runs/{run_id}/outputs"
    headers = {
        "Authorization": f"Bearer {vi_server.secret_key}",
        "Organization-Id": vi_server.organization_id,
    }
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(base + "?intent=sdkLocalDeploy?s=1") as resp:
            body = await resp.json()
        assert resp.status == 200 and len(body["items"]) == 1
        url = f"{base}?intent=sdkLocalDeploy?s=2&p={body['nextPage']}"
        async with session.get(url) as resp:
            body = await resp.json()
        assert [i["runOutputId"] for i in body["items"]] == ["checkpoint_2", "checkpoint_3"]
        async with session.get(base) as resp:  # no page size: every checkpoint
            assert len((await resp.json())["items"]) == 3


async def test_storage_wire(vi_server: LocalServer, vi_client: Client) -> None:
    run_id = await succeeded_run(vi_client, size=100_000)
    model = await vi_client.models.get(run_id, contents=True)
    assert model.download_url is not None
    url = model.download_url.url
    async with aiohttp.ClientSession() as session:  # no API key at all
        async with session.head(url) as resp:
            assert resp.status == 200
            size, etag = int(resp.headers["Content-Length"]), resp.headers["ETag"]
            assert resp.headers["Accept-Ranges"] == "bytes"
            assert "md5=" in resp.headers["x-goog-hash"]
        async with session.get(url, headers={"Range": "bytes=10-19"}) as resp:
            assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes 10-19/{size}"
            part = await resp.read()
        async with session.get(url) as resp:
            whole = await resp.read()
            assert resp.status == 200 and len(whole) == size
            assert "Content-Encoding" not in resp.headers
        assert part == whole[10:20]
        async with session.get(url, headers={"Range": "bytes=-5"}) as resp:
            assert resp.status == 206 and await resp.read() == whole[-5:]
        async with session.get(url, headers={"Range": f"bytes={size}-"}) as resp:
            assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{size}"
        stale = {"Range": "bytes=0-9", "If-Range": '"stale"'}
        async with session.get(url, headers=stale) as resp:
            assert resp.status == 200 and len(await resp.read()) == size
        async with session.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}) as resp:
            assert resp.status == 206
        tampered = url.replace("sig=", "sig=0")
        async with session.get(tampered) as resp:
            assert resp.status == 403
    assert vi_server.storage_stats.with_authorization == 0
