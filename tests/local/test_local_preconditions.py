"""If-Match on flow PATCH and DELETE (an extension of the local server), and the
rate-limit fault."""

from __future__ import annotations

import pytest
from local_support import Api

from vi_async import ViPreconditionFailedError
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio


def _if_match(api: Api, etag: str) -> dict[str, str]:
    return {**api.auth(), "If-Match": etag}


async def test_patch_and_delete_honour_if_match(server: LocalServer, api: Api) -> None:
    flow = await api.create_flow("f1")
    etag = flow["etag"]
    r = await api.patch(
        "flows/f1", {"metadata": {"attributes": {"a": "1"}}}, headers=_if_match(api, "stale")
    )
    assert r.status == 412 and r.body["error"] == "FailedPrecondition"
    assert (await api.get("flows/f1")).body["etag"] == etag  # nothing changed
    r = await api.patch(
        "flows/f1", {"metadata": {"attributes": {"a": "1"}}}, headers=_if_match(api, f'"{etag}"')
    )  # quoted, as RFC 9110 writes it
    assert r.status == 200 and r.body["etag"] != etag
    assert r.headers["Vi-Preconditions"] == "If-Match"
    new_etag = r.body["etag"]
    r = await api.delete("flows/f1", headers=_if_match(api, etag))
    assert r.status == 412
    assert (await api.get("flows/f1")).status == 200
    r = await api.delete("flows/f1", headers=_if_match(api, f"other, {new_etag}"))
    assert r.status == 204
    r = await api.delete("flows/f1", headers=_if_match(api, "*"))
    assert r.status == 404  # a missing flow is a 404, whatever the precondition


async def test_the_sdk_raises_precondition_failed(server: LocalServer) -> None:
    async with server.client() as client:
        flow = await client.flows.create({"name": "x"})
        with pytest.raises(ViPreconditionFailedError) as caught:
            await client.flows.update(flow.flow_id, metadata={"a": "b"}, if_match="stale")
        assert caught.value.status == 412
        with pytest.raises(ViPreconditionFailedError):
            await client.flows.delete(flow.flow_id, if_match="stale")
        await client.flows.delete(flow.flow_id, if_match=flow.etag)


async def test_rate_limit_fault_is_a_token_bucket(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(rate_limit=5, rate_limit_burst=3)
    statuses = [(await api.get("flows")).status for _ in range(6)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    r = await api.get("flows")
    assert r.status == 429 and 0 < float(r.headers["Retry-After"]) <= 0.2 + 1e-9
    assert server.rate_limited == statuses.count(429) + 1
    stats_url = f"{server.endpoint}_local/stats"
    stats = (await api.raw("GET", stats_url, headers=server.admin_headers())).body
    assert stats["rateLimited"] == server.rate_limited
    with pytest.raises(ValueError):
        FaultConfig(rate_limit=-1)
    with pytest.raises(ValueError):
        FaultConfig(rate_limit=1, rate_limit_burst=0.5)


async def test_the_strict_dialect_ignores_if_match() -> None:
    async with LocalServer(strict=True) as strict, strict.client() as client:
        flow = await client.flows.create({"name": "x"})
        changed = await client.flows.update(flow.flow_id, metadata={"a": "b"}, if_match="stale")
        assert changed.etag != flow.etag
        _, honoured = await client.flows._get_for_delete(flow.flow_id)
        assert not honoured  # no Vi-Preconditions header: the SDK reads before deleting
        await client.flows.delete(flow.flow_id, if_match="stale")  # deleted all the same
        assert await strict.flow_ids() == []
