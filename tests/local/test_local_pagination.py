"""List pages: opaque cursors that never skip or repeat items, page size and token errors."""

from __future__ import annotations

import base64
import json

import pytest
from local_support import Api

from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio


async def _all_pages(api: Api, kind: str, size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        params = {"s": str(size)} | ({"p": token} if token else {})
        r = await api.get(kind, params=params)
        assert r.status == 200, r.body
        pages.append([item[f"{kind[:-1]}Id"] for item in r.body["items"]])
        token = r.body["nextPage"]
        if token is None:
            return pages


async def test_walk_250_flows_with_deletes_in_between(server: LocalServer, api: Api) -> None:
    ids = await server.seed_flows(250, name_prefix="pg-")
    assert await server.flow_ids() == ids
    seen: list[str] = []
    deleted: set[str] = set()
    token: str | None = None
    tokens: set[str] = set()
    page_no = 0
    while True:
        params = {"s": "7"} | ({"p": token} if token else {})
        r = await api.get("flows", params=params)
        assert r.status == 200
        items = [f["flowId"] for f in r.body["items"]]
        assert len(items) <= 7
        seen += items
        # Delete some already-seen items and some not-yet-seen ones.
        victims = {items[0]} if items else set()
        if page_no % 3 == 0:
            position = len(seen) + 5
            if position < len(ids):
                victims.add(ids[position])
        for victim in victims:
            assert (await api.delete(f"flows/{victim}")).status == 204
        deleted |= victims
        token = r.body["nextPage"]
        page_no += 1
        if token is None:
            break
        assert token not in tokens
        tokens.add(token)
    assert len(seen) == len(set(seen)), "an item was repeated"
    expected = [i for i in ids if i in seen or i not in deleted]
    assert seen == expected, "an item was skipped or out of order"
    assert page_no >= 250 // 7 - 15


async def test_order_is_creation_order_and_new_items_appear_at_end(api: Api) -> None:
    for i in range(5):
        await api.create_flow(f"o{i}")
    first = await api.get("flows", params={"s": "3"})
    assert [f["flowId"] for f in first.body["items"]] == ["o0", "o1", "o2"]
    assert first.body["prevPage"] is None
    await api.create_flow("o5")
    second = await api.get("flows", params={"s": "3", "p": first.body["nextPage"]})
    assert [f["flowId"] for f in second.body["items"]] == ["o3", "o4", "o5"]
    assert second.body["nextPage"] is None
    back = await api.get("flows", params={"s": "3", "p": second.body["prevPage"]})
    assert [f["flowId"] for f in back.body["items"]] == ["o0", "o1", "o2"]


async def test_default_page_size_is_10(server: LocalServer, api: Api) -> None:
    await server.seed_flows(12)
    r = await api.get("flows")
    assert len(r.body["items"]) == 10
    assert r.body["nextPage"]
    assert (await api.get("flows", params={"s": "1000"})).status == 200


@pytest.mark.parametrize("size", ["0", "1001", "-1", "ten", "1.5"])
async def test_bad_page_size_is_400(api: Api, size: str) -> None:
    r = await api.get("flows", params={"s": size})
    assert r.status == 400
    assert r.body["error"] == "InvalidArgument"


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token!",
        "%%%",
        _token([1]),
        _token({"k": "runs", "a": 1}),
        _token({"k": "flows"}),
        _token({"k": "flows", "a": "1"}),
        _token({"k": "flows", "a": 1, "b": 2}),
    ],
)
async def test_bad_page_token_is_400(api: Api, token: str) -> None:
    r = await api.get("flows", params={"p": token})
    assert r.status == 400, r.body


async def test_runs_pagination(api: Api) -> None:
    for i in range(9):
        await api.create_run(f"r{i}")
    pages = await _all_pages(api, "runs", 4)
    assert pages == [["r0", "r1", "r2", "r3"], ["r4", "r5", "r6", "r7"], ["r8"]]
    flows_token = (await api.get("flows", params={"s": "1"})).body["nextPage"]
    assert flows_token is None


async def test_empty_list(api: Api) -> None:
    r = await api.get("runs")
    assert r.body == {"items": [], "nextPage": None, "prevPage": None}
