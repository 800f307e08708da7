"""The plain mode: the strict wire with nothing of ours on top, not even a request id."""

from __future__ import annotations

import aiohttp
import pytest
from local_support import Api

from vi_async import ViNotFoundError
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio


async def test_plain_answers_carry_no_request_id_and_no_extension() -> None:
    async with LocalServer(plain=True) as server, aiohttp.ClientSession() as session:
        assert server.plain and server.strict
        api = Api(session, server.endpoint, server.organization_id, server.secret_key)
        created = await api.put("flows/f", {"spec": {"name": "x"}})
        assert created.status == 201
        missing = await api.get("flows/nope")
        assert missing.status == 404 and "message" in missing.body
        for answer in (created, missing):
            assert "X-Request-Id" not in answer.headers
            assert "Idempotency-Key" not in answer.headers
        assert "requestId" not in missing.body


async def test_the_sdk_works_against_a_plain_server() -> None:
    async with LocalServer(plain=True) as server, server.client() as client:
        flow = await client.flows.create({"name": "plain"})
        assert (await client.flows.get(flow.flow_id)).flow_id == flow.flow_id
        with pytest.raises(ViNotFoundError) as caught:
            await client.flows.get("nope")
        assert caught.value.request_id is None
