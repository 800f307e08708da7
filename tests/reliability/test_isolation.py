"""Isolation and auth on the local server: every route refuses bad credentials,
one organization can neither see nor touch another's flows and runs, and the
server listens on loopback unless told otherwise."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from run_support import LONG_RUN

from vi_async import (
    Client,
    FlowSpec,
    RunPhase,
    ViAuthenticationError,
    ViNotFoundError,
    ViPermissionError,
)
from vi_async.local import LocalServer
from vi_async.local.cli import build_parser

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(name="tenant-a")
FLOW_BODY = {"spec": {"name": "x"}}
RUN_BODY = {"spec": {"flow": {"name": "x"}}}

# (method, path under /workspaces/{org}/, body); {flow} / {run} are existing ids.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "flows", None),
    ("GET", "flows/{flow}", None),
    ("PUT", "flows/new-flow", FLOW_BODY),
    ("PATCH", "flows/{flow}", {"metadata": {"attributes": {"x": "y"}}}),
    ("DELETE", "flows/{flow}", None),
    ("GET", "runs", None),
    ("GET", "runs/{run}", None),
    ("PUT", "runs/new-run", RUN_BODY),
    ("PATCH", "runs/{run}", {"spec": {"killedAt": 1}}),
    ("DELETE", "runs/{run}", None),
    ("GET", "runs/{run}/logs", None),
]


class Tenant:
    """One organization of the server, with its data."""

    def __init__(self, org: str, key: str, flow_id: str, run_id: str) -> None:
        self.org, self.key, self.flow_id, self.run_id = org, key, flow_id, run_id


@pytest.fixture
async def tenants(vi_server: LocalServer) -> AsyncIterator[tuple[Tenant, Tenant]]:
    """Two organizations, each with a flow and a long active run of it."""
    made = []
    for org, key in [
        (vi_server.organization_id, vi_server.secret_key),
        await vi_server.add_organization(),
    ]:
        async with Client(key, org, vi_server.endpoint) as client:
            flow = await client.flows.create(spec=SPEC)
            run = await client.runs.create(flow=flow.flow_id, metadata=LONG_RUN)
        made.append(Tenant(org, key, flow.flow_id, run.run_id))
    yield made[0], made[1]


async def snapshot(server: LocalServer, tenant: Tenant) -> dict[str, Any]:
    """Everything a tenant owns, as the server reports it."""
    async with Client(tenant.key, tenant.org, server.endpoint) as client:
        flows = [f async for f in client.flows.list().all_items()]
        runs = [r async for r in client.runs.list().all_items()]
    return {
        "flows": sorted((f.flow_id, f.etag, f.metadata.generation) for f in flows),
        "runs": sorted((r.run_id, r.etag, r.spec.killed_at) for r in runs),
    }


def headers_variants(a: Tenant, b: Tenant) -> dict[str, tuple[str, dict[str, str], int]]:
    """Name -> (organization in the path, headers, expected status)."""
    return {
        "no-headers": (a.org, {}, 401),
        "only-authorization": (a.org, {"Authorization": f"Bearer {a.key}"}, 401),
        "only-organization": (a.org, {"Organization-Id": a.org}, 401),
        "basic-scheme": (a.org, {"Authorization": f"Basic {a.key}", "Organization-Id": a.org}, 401),
        "empty-bearer": (a.org, {"Authorization": "Bearer ", "Organization-Id": a.org}, 401),
        "raw-key-no-scheme": (a.org, {"Authorization": a.key, "Organization-Id": a.org}, 401),
        "unknown-key": (
            a.org,
            {"Authorization": "Bearer dtvi_" + "0" * 98, "Organization-Id": a.org},
            401,
        ),
        "truncated-key": (
            a.org,
            {"Authorization": f"Bearer {a.key[:-1]}", "Organization-Id": a.org},
            401,
        ),
        "b-key-on-a-path": (
            a.org,
            {"Authorization": f"Bearer {b.key}", "Organization-Id": b.org},
            403,
        ),
        "b-key-a-header": (
            a.org,
            {"Authorization": f"Bearer {b.key}", "Organization-Id": a.org},
            403,
        ),
        "a-key-b-header": (
            a.org,
            {"Authorization": f"Bearer {a.key}", "Organization-Id": b.org},
            403,
        ),
    }


async def test_every_route_refuses_bad_credentials(
    vi_server: LocalServer, tenants: tuple[Tenant, Tenant]
) -> None:
    """11 routes x 11 credential variants: 401 or 403 with a JSON error, nothing changes."""
    a, b = tenants
    before = (await snapshot(vi_server, a), await snapshot(vi_server, b))
    checked = 0
    async with aiohttp.ClientSession() as session:
        for name, (org, headers, status) in headers_variants(a, b).items():
            for method, template, body in ROUTES:
                path = template.format(flow=a.flow_id, run=a.run_id)
                url = f"{vi_server.endpoint}workspaces/{org}/{path}"
                async with session.request(method, url, json=body, headers=headers) as resp:
                    data = await resp.json()
                assert resp.status == status, (name, method, path, data)
                assert set(data) >= {"error", "message"}, data
                assert "items" not in data and "spec" not in data
                checked += 1
    assert checked == 121
    assert (await snapshot(vi_server, a), await snapshot(vi_server, b)) == before


async def test_another_organizations_ids_are_not_found(
    vi_server: LocalServer, tenants: tuple[Tenant, Tenant]
) -> None:
    """Organization B addressing A's flow and run by id gets 404s and changes nothing."""
    a, b = tenants
    before = await snapshot(vi_server, a)
    async with Client(b.key, b.org, vi_server.endpoint, max_retries=0) as client:
        calls = [
            client.flows.get(a.flow_id),
            client.flows.update(a.flow_id, metadata={"owned": "by-b"}),
            client.flows.delete(a.flow_id),
            client.runs.get(a.run_id),
            client.runs.update(a.run_id, metadata={"owned": "by-b"}),
            client.runs.kill(a.run_id),
            client.runs.delete(a.run_id),
            client.runs.wait_for(a.run_id, timeout=5),
            client.runs.create(flow=a.flow_id),
        ]
        for call in calls:
            with pytest.raises(ViNotFoundError):
                await call
        with pytest.raises(ViNotFoundError):
            async for _ in client.runs.logs(a.run_id):
                pass
        report = await client.flows.delete_many([a.flow_id])
        assert [r.flow_id for r in report.not_found] == [a.flow_id]
        listed = [f.flow_id async for f in client.flows.list().all_items()]
        assert a.flow_id not in listed and b.flow_id in listed
    assert await snapshot(vi_server, a) == before


async def test_page_tokens_do_not_cross_organizations(
    vi_server: LocalServer, tenants: tuple[Tenant, Tenant]
) -> None:
    """A page token taken from A's listing, replayed by B, shows only B's flows."""
    a, b = tenants
    await vi_server.seed_flows(30, org_id=a.org)
    await vi_server.seed_flows(5, org_id=b.org)
    async with Client(a.key, a.org, vi_server.endpoint) as client_a:
        page = await client_a.flows.list(pagination={"page_size": 2})
    assert page.next_page
    a_ids = set(await vi_server.flow_ids(a.org))
    async with Client(b.key, b.org, vi_server.endpoint) as client_b:
        seen = [
            f.flow_id
            async for f in client_b.flows.list(
                pagination={"page_size": 3, "page_token": page.next_page}
            ).all_items()
        ]
    assert not a_ids & set(seen)
    assert set(seen) <= set(await vi_server.flow_ids(b.org))


async def test_a_foreign_run_never_blocks_a_delete(
    vi_server: LocalServer, tenants: tuple[Tenant, Tenant]
) -> None:
    """B starts runs naming A's flow (header) and copying its spec: A's delete still works."""
    a, b = tenants
    async with Client(a.key, a.org, vi_server.endpoint) as client_a:
        await client_a.runs.kill(a.run_id)
        await client_a.runs.wait_for(a.run_id, timeout=10)
        flow = await client_a.flows.get(a.flow_id)
    async with aiohttp.ClientSession() as session:
        headers = {
            "Authorization": f"Bearer {b.key}",
            "Organization-Id": b.org,
            "Vi-Flow-Id": a.flow_id,
        }
        body = {"spec": {"flow": {"name": flow.spec.name}}, "metadata": {"attributes": LONG_RUN}}
        url = f"{vi_server.endpoint}workspaces/{b.org}/runs/foreign-run"
        async with session.put(url, json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
    async with Client(a.key, a.org, vi_server.endpoint) as client_a:
        deleted = await client_a.flows.delete(a.flow_id)
    assert deleted.id == a.flow_id
    assert a.flow_id not in await vi_server.flow_ids(a.org)
    async with Client(b.key, b.org, vi_server.endpoint) as client_b:
        assert (await client_b.runs.get("foreign-run")).phase in (
            RunPhase.PENDING,
            RunPhase.RUNNING,
        )
        await client_b.runs.kill("foreign-run")
        await client_b.runs.kill(b.run_id)


async def test_sdk_auth_errors_are_typed_and_not_retried(
    vi_server: LocalServer, tenants: tuple[Tenant, Tenant]
) -> None:
    """A wrong key is a 401, a wrong organization a 403; neither is retried."""
    a, b = tenants
    vi_server.reset_counts()
    async with Client("dtvi_" + "1" * 98, a.org, vi_server.endpoint, max_retries=5) as client:
        with pytest.raises(ViAuthenticationError) as info:
            await client.flows.get(a.flow_id)
    assert info.value.status == 401 and not isinstance(info.value, ViPermissionError)
    async with Client(a.key, b.org, vi_server.endpoint, max_retries=5) as client:
        with pytest.raises(ViPermissionError) as denied:
            await client.flows.get(a.flow_id)
    assert denied.value.status == 403
    assert sum(vi_server.request_counts.values()) == 2


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def test_bound_to_loopback_by_default() -> None:
    """LocalServer and the CLI default to 127.0.0.1 and do not answer on other interfaces."""
    assert build_parser().parse_args([]).host == "127.0.0.1"
    async with LocalServer() as server:
        assert server.host == "127.0.0.1"
        assert server.endpoint.startswith("http://127.0.0.1:")
        assert server._runner is not None
        addresses = [address[0] for address in server._runner.addresses]
        assert addresses and all(a == "127.0.0.1" for a in addresses), addresses
        other = _non_loopback_address()
        if other is not None:
            with socket.socket() as sock:
                sock.settimeout(2)
                assert sock.connect_ex((other, server.port)) != 0
