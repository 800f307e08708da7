"""Authentication and organization isolation."""

from __future__ import annotations

import pytest
from local_support import Api

from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio


async def test_missing_headers_are_401(api: Api) -> None:
    cases = [
        {},
        {"Organization-Id": api.org},
        {"Authorization": f"Bearer {api.key}"},
        {"Authorization": api.key, "Organization-Id": api.org},
        {"Authorization": "Bearer ", "Organization-Id": api.org},
    ]
    for headers in cases:
        r = await api.call("GET", "flows", headers=headers)
        assert r.status == 401, headers
        assert r.body["error"] == "Unauthenticated"
        assert r.headers["X-Request-Id"] == r.body["requestId"]


async def test_unknown_key_is_401(api: Api) -> None:
    r = await api.call("GET", "flows", headers=api.auth(key="dtvi_" + "0" * 98))
    assert r.status == 401


async def test_other_org_is_403(server: LocalServer, api: Api) -> None:
    other_org, other_key = await server.add_organization()
    assert other_key.startswith("dtvi_") and len(other_key) == 103
    # Valid key, but the header names another organization.
    r = await api.call("GET", "flows", headers=api.auth(org=other_org))
    assert r.status == 403
    assert r.body["error"] == "PermissionDenied"
    # Valid key and header, but the path names another organization.
    r = await api.call("GET", "flows", org=other_org, headers=api.auth())
    assert r.status == 403
    # Unknown organization in the path is also forbidden for this key.
    r = await api.call("PUT", "flows/x", org="nobody", headers=api.auth(), json={})
    assert r.status == 403


async def test_organizations_are_isolated(server: LocalServer, api: Api) -> None:
    other_org, other_key = await server.add_organization("team-b")
    assert other_org == "team-b"
    await api.create_flow("mine")
    await api.create_run("my-run")
    other = {"Authorization": f"Bearer {other_key}", "Organization-Id": other_org}
    assert (await api.call("GET", "flows/mine", org=other_org, headers=other)).status == 404
    assert (await api.call("GET", "runs/my-run", org=other_org, headers=other)).status == 404
    assert (await api.call("DELETE", "flows/mine", org=other_org, headers=other)).status == 404
    listing = await api.call("GET", "flows", org=other_org, headers=other)
    assert listing.body["items"] == []
    # The same id can exist in both organizations.
    r = await api.call(
        "PUT", "flows/mine", org=other_org, headers=other, json={"spec": {"name": "theirs"}}
    )
    assert r.status == 201
    assert (await api.get("flows/mine")).body["spec"]["name"] == "flow"
    assert await server.flow_ids(other_org) == ["mine"]
    assert await server.flow_ids() == ["mine"]


async def test_admin_routes_need_no_auth(server: LocalServer, api: Api) -> None:
    r = await api.raw("GET", f"{server.endpoint}_local/health")
    assert r.status == 200 and r.body == {"status": "ok"}
