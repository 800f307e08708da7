"""Flow CRUD over HTTP: shapes, idempotent PUT, merge-patch, delete, validation errors."""

from __future__ import annotations

import uuid

import pytest
from local_support import Api

pytestmark = pytest.mark.anyio

SPEC = {
    "name": "train-yolo",
    "schema": "v1",
    "tolerations": {"gpu": ["a100"]},
    "settings": {"epochs": 3},
    "blocks": [{"block": "dataset", "settings": {"split": 0.8}, "style": {}}],
}


async def test_create_get_shape(api: Api) -> None:
    r = await api.put("flows/f1", {"spec": SPEC, "metadata": {"attributes": {"team": "cv"}}})
    assert r.status == 201
    flow = r.body
    assert flow["kind"] == "Flow"
    assert flow["workspaceId"] == api.org
    assert flow["flowId"] == "f1"
    assert flow["selfLink"] == f"/workspaces/{api.org}/flows/f1"
    assert flow["spec"] == {**SPEC, "trainingProject": None}
    meta = flow["metadata"]
    assert meta["generation"] == 1
    assert meta["attributes"] == {"team": "cv"}
    assert isinstance(meta["timeCreated"], int) and meta["timeCreated"] == meta["lastUpdated"]
    assert meta["timeCreated"] > 1_600_000_000_000  # epoch milliseconds
    uuid.UUID(r.headers["X-Request-Id"])

    got = await api.get("flows/f1")
    assert got.status == 200
    assert got.body == flow


async def test_defaults_filled_and_attributes_always_present(api: Api) -> None:
    flow = await api.create_flow("minimal", name="m")
    assert flow["spec"] == {
        "name": "m",
        "schema": "v1",
        "tolerations": {},
        "settings": {},
        "blocks": [],
        "trainingProject": None,
    }
    assert flow["metadata"]["attributes"] == {}


async def test_put_identical_retry_is_idempotent(api: Api) -> None:
    body = {"spec": SPEC, "metadata": {"attributes": {"a": "1"}}}
    first = await api.put("flows/retry", body)
    assert first.status == 201
    again = await api.put("flows/retry", body)
    assert again.status == 200
    assert again.body == first.body
    list_page = await api.get("flows")
    assert [f["flowId"] for f in list_page.body["items"]] == ["retry"]


async def test_put_different_body_on_existing_id_conflicts(api: Api) -> None:
    await api.create_flow("taken")
    r = await api.put("flows/taken", {"spec": {"name": "other"}})
    assert r.status == 409
    assert r.body["error"] == "AlreadyExists"
    assert r.body["requestId"] == r.headers["X-Request-Id"]


async def test_patch_merges_spec_and_attributes(api: Api) -> None:
    created = (
        await api.put("flows/p", {"spec": SPEC, "metadata": {"attributes": {"a": "1"}}})
    ).body
    r = await api.patch(
        "flows/p",
        {
            "spec": {"name": "renamed", "settings": {"lr": 0.1}, "trainingProject": "tp"},
            "metadata": {"attributes": {"a": None, "b": "2"}},
        },
    )
    assert r.status == 200, r.body
    flow = r.body
    assert flow["spec"]["name"] == "renamed"
    assert flow["spec"]["settings"] == {"epochs": 3, "lr": 0.1}
    assert flow["spec"]["trainingProject"] == "tp"
    assert flow["spec"]["blocks"] == SPEC["blocks"]
    assert flow["metadata"]["attributes"] == {"b": "2"}
    assert flow["metadata"]["generation"] == 2
    assert flow["etag"] != created["etag"]
    assert flow["metadata"]["lastUpdated"] >= created["metadata"]["lastUpdated"]
    assert flow["metadata"]["timeCreated"] == created["metadata"]["timeCreated"]

    again = (await api.patch("flows/p", {})).body
    assert again["metadata"]["generation"] == 3
    assert again["etag"] != flow["etag"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"kind": "Flow"}, "kind"),
        ({"spec": {"name": "x"}, "status": {}}, "status"),
        ({"metadata": {"generation": 3}}, "generation"),
        ({"spec": "nope"}, "spec"),
        ({"spec": {"name": 5}}, "spec.name"),
        ({"spec": {"blocks": "x"}}, "spec.blocks"),
        ({"spec": {"blocks": [{"settings": {}}]}}, "block"),
        ({"spec": {"tolerations": {"k": [1]}}}, "tolerations"),
        ({"spec": {"trainingProject": 7}}, "trainingProject"),
        ({"spec": {"name": None}}, "spec.name"),
        ({"metadata": {"attributes": {"a": 1}}}, "attributes"),
        ([1, 2], "object"),
    ],
)
async def test_patch_rejects_bad_bodies(api: Api, body: object, fragment: str) -> None:
    await api.create_flow("bad")
    r = await api.patch("flows/bad", body)
    assert r.status == 400, r.body
    assert fragment in r.body["message"]
    assert r.body["error"] == "InvalidArgument"
    unchanged = await api.get("flows/bad")
    assert unchanged.body["metadata"]["generation"] == 1


async def test_invalid_json_is_400(api: Api) -> None:
    await api.create_flow("j")
    for method in ("PATCH", "PUT"):
        r = await api.call(
            method,
            "flows/j",
            data=b"{not json",
            headers={**api.auth(), "Content-Type": "application/json"},
        )
        assert r.status == 400
        assert "JSON" in r.body["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"spec": {}},
        {"spec": {"name": "x"}, "kind": "Run"},
        {"spec": {"name": "x"}, "extra": 1},
        {"spec": {"name": "x"}, "metadata": {"attributes": ["a"]}},
        "text",
    ],
)
async def test_create_rejects_bad_bodies(api: Api, body: object) -> None:
    r = await api.put("flows/nope", body)
    assert r.status == 400, r.body
    assert (await api.get("flows/nope")).status == 404


async def test_create_accepts_kind_flow(api: Api) -> None:
    r = await api.put("flows/k", {"kind": "Flow", "spec": {"name": "k"}})
    assert r.status == 201


async def test_delete_returns_empty_body(api: Api) -> None:
    await api.create_flow("gone")
    r = await api.delete("flows/gone")
    assert r.status in (200, 204)
    assert r.body == ""
    assert "X-Request-Id" in r.headers
    assert (await api.get("flows/gone")).status == 404
    again = await api.delete("flows/gone")
    assert again.status == 404
    assert again.body["error"] == "NotFound"


async def test_missing_ids_are_404(api: Api) -> None:
    for method, body in (("GET", None), ("PATCH", {}), ("DELETE", None)):
        r = await api.call(method, "flows/missing", json=body)
        assert r.status == 404, (method, r.body)
        assert set(r.body) == {"error", "message", "requestId"}


async def test_invalid_ids_are_400(api: Api) -> None:
    long_id = "a" * 256
    for flow_id in ("has.dot", "sp%20ace", long_id):
        r = await api.put(f"flows/{flow_id}", {"spec": {"name": "x"}})
        assert r.status == 400, (flow_id, r.body)
    assert (await api.put("flows/" + "a" * 255, {"spec": {"name": "x"}})).status == 201


async def test_unknown_route_and_method_are_json(api: Api) -> None:
    r = await api.raw("GET", f"{api.endpoint}nothing/here")
    assert r.status == 404
    assert r.body["error"] == "NotFound"
    assert r.headers["X-Request-Id"] == r.body["requestId"]
    r = await api.call("POST", "flows/x", json={})
    assert r.status == 405
    assert r.body["requestId"] == r.headers["X-Request-Id"]


@pytest.mark.parametrize("kind", ["flows", "runs"])
async def test_delete_with_an_idempotency_key_is_replayed(api: Api, kind: str) -> None:
    if kind == "flows":
        await api.create_flow("once")
    else:
        await api.create_run("once", attributes={"vi-local/running-seconds": "0"})
    keyed = {**api.auth(), "Idempotency-Key": "key-1"}
    first = await api.delete(f"{kind}/once", headers=keyed)
    assert first.status == 204
    assert first.headers["Idempotency-Key"] == "key-1"
    assert "Idempotent-Replayed" not in first.headers
    replay = await api.delete(f"{kind}/once", headers=keyed)
    assert replay.status == 204
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = await api.delete(f"{kind}/once", headers={**api.auth(), "Idempotency-Key": "key-2"})
    assert other.status == 404
    assert other.headers["Idempotency-Key"] == "key-2"  # echoed: the 404 is exact
    plain = await api.delete(f"{kind}/once")
    assert plain.status == 404
    assert "Idempotency-Key" not in plain.headers
