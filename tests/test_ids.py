"""Invalid ids are refused before any request is sent."""

from __future__ import annotations

import pytest

from vi_async import Client
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio

BAD_IDS = [
    "",
    " ",
    "a b",
    "a/b",
    "..",
    "../x",
    "%2F",
    "a\x00b",
    "tab\t",
    "x\n",
    "é",
    "a" * 256,
    "a" * 10_000,
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_ids_send_nothing(vi_client: Client, vi_server: LocalServer, bad: str) -> None:
    await vi_client.flows.list()  # open the session; counted once
    before = sum(vi_server.request_counts.values())
    calls = [
        lambda: vi_client.flows.get(bad),
        lambda: vi_client.flows.delete(bad),
        lambda: vi_client.flows.update(bad, metadata={"a": "b"}),
        lambda: vi_client.runs.get(bad),
        lambda: vi_client.runs.kill(bad),
        lambda: vi_client.runs.delete(bad),
        lambda: vi_client.runs.create(flow=bad),
        lambda: vi_client.runs.wait_for(bad),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            await call()
    with pytest.raises(ValueError):
        async for _ in vi_client.runs.logs(bad):
            pass
    assert sum(vi_server.request_counts.values()) == before


async def test_non_string_id_is_a_type_error(vi_client: Client) -> None:
    with pytest.raises(TypeError):
        await vi_client.flows.get(123)  # type: ignore[arg-type]
