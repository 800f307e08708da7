"""LocalServer itself: persistence, thread mode, credentials, stats and seeding."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from local_support import FAST, Api, phase

from vi_async.local import LocalServer, RunSchedule
from vi_async.local.auth import new_secret_key


def _urlopen(
    method: str, url: str, headers: dict[str, str], body: object = None
) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={**headers, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_sync_context_manager_runs_on_a_thread() -> None:
    before = threading.active_count()
    with LocalServer(schedule=FAST) as server:
        assert server.endpoint.startswith("http://127.0.0.1:")
        assert server.endpoint.endswith("/")
        headers = {
            "Authorization": f"Bearer {server.secret_key}",
            "Organization-Id": server.organization_id,
        }
        base = f"{server.endpoint}workspaces/{server.organization_id}"
        status, text = _urlopen("PUT", f"{base}/flows/sync", headers, {"spec": {"name": "s"}})
        assert status == 201, text
        status, text = _urlopen("GET", f"{base}/flows/sync", headers)
        assert status == 200 and json.loads(text)["flowId"] == "sync"
        status, text = _urlopen("DELETE", f"{base}/flows/sync", headers)
        assert (status, text) == (204, "")
        # Async helpers work from another event loop too.
        assert asyncio.run(server.flow_ids()) == []
        assert server.request_counts["PUT /workspaces/{org}/flows/{flowId}"] == 1
    assert threading.active_count() == before
    with pytest.raises(RuntimeError):
        _ = server.endpoint


def test_repr_and_env_do_not_leak_or_break() -> None:
    key = new_secret_key()
    with LocalServer(organization_id="my-org", secret_key=key) as server:
        assert server.organization_id == "my-org"
        assert server.secret_key == key
        assert key not in repr(server)
        assert "my-org" in repr(server)
        assert server.env() == {
            "DATATURE_VI_API_ENDPOINT": server.endpoint,
            "DATATURE_VI_ORGANIZATION_ID": "my-org",
            "DATATURE_VI_SECRET_KEY": key,
        }
    assert key not in repr(server)


def test_invalid_credentials_are_rejected() -> None:
    with pytest.raises(ValueError):
        LocalServer(secret_key="dtvi_short")
    with pytest.raises(ValueError):
        LocalServer(secret_key="x" * 103)
    with pytest.raises(Exception, match="organization"):
        LocalServer(organization_id="bad org")


def test_default_key_format() -> None:
    with LocalServer() as server:
        assert server.secret_key.startswith("dtvi_")
        assert len(server.secret_key) == 103


@pytest.mark.anyio
async def test_data_and_credentials_survive_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "vi.sqlite")
    schedule = RunSchedule(pending_seconds=0.01, running_seconds=0.05, log_interval_seconds=0.01)
    async with LocalServer(db_path=db, schedule=schedule) as first:
        org, key = first.organization_id, first.secret_key
        extra_org, extra_key = await first.add_organization()
        async with aiohttp.ClientSession() as session:
            api = Api(session, first.endpoint, org, key)
            await api.create_flow("kept", name="persisted")
            await api.patch("flows/kept", {"metadata": {"attributes": {"v": "2"}}})
            await api.create_run("run-kept")
            await api.create_flow("dropped")
            await api.delete("flows/dropped")
            await api.wait_terminal("run-kept")
            logs_before = (await api.get("runs/run-kept/logs")).body
    async with LocalServer(db_path=db) as second:
        assert (second.organization_id, second.secret_key) == (org, key)
        assert await second.flow_ids() == ["kept"]
        async with aiohttp.ClientSession() as session:
            api = Api(session, second.endpoint, org, key)
            flow = (await api.get("flows/kept")).body
            assert flow["metadata"]["attributes"] == {"v": "2"}
            assert flow["metadata"]["generation"] == 2
            run = (await api.get("runs/run-kept")).body
            assert phase(run) == "Succeeded"
            assert (await api.get("runs/run-kept/logs")).body == logs_before
            other = Api(session, second.endpoint, extra_org, extra_key)
            assert (await other.get("flows")).status == 200
            # New items sort after the old ones.
            await api.create_flow("later")
            assert await second.flow_ids() == ["kept", "later"]
    # Explicit credentials override the stored default.
    async with LocalServer(db_path=db, organization_id=extra_org) as third:
        assert (third.organization_id, third.secret_key) == (extra_org, extra_key)
    async with LocalServer(db_path=db) as fourth:
        assert fourth.organization_id == extra_org


@pytest.mark.anyio
async def test_stats_and_counts(server: LocalServer, api: Api) -> None:
    await api.create_flow("s1")
    await api.get("flows/s1")
    await api.get("flows/s1")
    await api.get("flows")
    await api.get("flows/missing")
    counts = server.request_counts
    assert counts["GET /workspaces/{org}/flows/{flowId}"] == 3
    assert counts["PUT /workspaces/{org}/flows/{flowId}"] == 1
    assert counts["GET /workspaces/{org}/flows"] == 1
    admin = server.admin_headers()
    stats = (await api.raw("GET", f"{server.endpoint}_local/stats", headers=admin)).body
    assert stats["requests"] == dict(counts)
    assert not any(key.startswith("GET /_local") for key in counts)
    server.reset_counts()
    assert server.request_counts == {}
    await api.get("flows")
    url = f"{server.endpoint}_local/stats"
    assert (await api.raw("DELETE", url, headers=admin)).status == 204
    assert (await api.raw("GET", url, headers=admin)).body == {"requests": {}, "rateLimited": 0}


@pytest.mark.anyio
async def test_seed_route_and_helper(server: LocalServer, api: Api) -> None:
    url = f"{server.endpoint}_local/seed"
    admin = server.admin_headers()
    r = await api.raw("POST", url, json={"flows": 30, "namePrefix": "bench-"}, headers=admin)
    assert r.status == 200
    assert r.body["organizationId"] == server.organization_id
    ids = r.body["flowIds"]
    assert len(ids) == 30 == len(set(ids))
    first = (await api.get(f"flows/{ids[0]}")).body
    assert first["spec"]["name"] == "bench-0"
    assert first["metadata"]["generation"] == 1
    other_org, _ = await server.add_organization()
    r = await api.raw("POST", url, json={"organizationId": other_org, "flows": 3}, headers=admin)
    assert await server.flow_ids(other_org) == r.body["flowIds"]
    assert (await api.raw("POST", url, json={"flows": -1}, headers=admin)).status == 400
    assert (await api.raw("POST", url, json={"flows": "many"}, headers=admin)).status == 400
    # Unknown keys are refused, by name, and nothing is seeded.
    before = await server.flow_ids()
    typo = {"flows": 2000, "prefix": "nightly-", "ageDays": 10}
    r = await api.raw("POST", url, json=typo, headers=admin)
    assert r.status == 400 and "ageDays" in r.body["message"] and "prefix" in r.body["message"]
    assert await server.flow_ids() == before
    more = await server.seed_flows(5, name_prefix="h-")
    assert (await server.flow_ids())[-5:] == more


@pytest.mark.anyio
@pytest.mark.slow
async def test_seed_100k_flows_and_page_through_the_end(server: LocalServer, api: Api) -> None:
    ids = await server.seed_flows(100_000)
    page = await api.get("flows", params={"s": "1000"})
    assert len(page.body["items"]) == 1000
    assert (await api.delete(f"flows/{ids[500]}")).status == 204
    assert (await api.get(f"flows/{ids[-1]}")).status == 200


@pytest.mark.anyio
async def test_concurrent_deletes(server: LocalServer, api: Api) -> None:
    ids = await server.seed_flows(300)
    semaphore = asyncio.Semaphore(32)

    async def delete(flow_id: str) -> int:
        async with semaphore:
            return (await api.delete(f"flows/{flow_id}")).status

    statuses = await asyncio.gather(*(delete(i) for i in ids))
    assert set(statuses) == {204}
    assert await server.flow_ids() == []


@pytest.mark.anyio
async def test_start_twice_and_stop_twice(server: LocalServer) -> None:
    with pytest.raises(RuntimeError):
        await server.start()
    other = LocalServer()
    await other.stop()  # not started: no-op


def test_port_in_use_is_reported() -> None:
    with LocalServer() as first, pytest.raises(OSError):
        with LocalServer(port=first.port):
            pass
