"""Seeded fault injection: latency, 503/429, connection resets, slow answers, path filter."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import anyio
import pytest
from local_support import Api

from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio


async def test_faults_are_off_by_default(server: LocalServer) -> None:
    assert server.faults == FaultConfig()
    assert not server.faults.enabled


async def test_latency_is_added(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(latency=0.2)
    started = time.monotonic()
    r = await api.get("flows")
    assert r.status == 200
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(("field", "status"), [("error_503_rate", 503), ("error_429_rate", 429)])
async def test_error_faults_carry_retry_after(
    server: LocalServer, api: Api, field: str, status: int
) -> None:
    server.faults = FaultConfig.from_mapping({field: 1.0, "retry_after": 2.0})
    r = await api.put("flows/f", {"spec": {"name": "x"}})
    assert r.status == status
    assert r.headers["Retry-After"] == "2"
    assert r.body["requestId"] == r.headers["X-Request-Id"]
    assert await server.flow_ids() == []
    server.faults = FaultConfig.from_mapping({field: 1.0, "retry_after": 0.5})
    assert (await api.get("flows")).headers["Retry-After"] == "0.5"


async def test_reset_before_changes_nothing(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(reset_before_rate=1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.put("flows/f", {"spec": {"name": "x"}})
    assert await server.flow_ids() == []


async def test_reset_after_commits_then_retry_is_idempotent(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(reset_after_rate=1.0)
    body = {"spec": {"name": "x"}}
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.put("flows/f", body)
    assert await server.flow_ids() == ["f"]
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.delete("flows/f")
    assert await server.flow_ids() == []
    server.faults = FaultConfig()
    assert (await api.put("flows/g", body)).status == 201
    server.faults = FaultConfig(reset_after_rate=1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.put("flows/g", body)
    server.faults = FaultConfig()
    assert (await api.put("flows/g", body)).status == 200  # the retried create succeeds


async def test_slow_responses(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(slow_rate=1.0, slow_seconds=0.3)
    started = time.monotonic()
    r = await api.put("flows/slow", {"spec": {"name": "x"}})
    assert r.status == 201
    assert time.monotonic() - started >= 0.25
    # A client that gives up before the delay ends leaves nothing behind.
    with pytest.raises(asyncio.TimeoutError):  # aiohttp's, builtin from 3.11
        await api.put(
            "flows/abandoned", {"spec": {"name": "x"}}, timeout=aiohttp.ClientTimeout(total=0.05)
        )
    await anyio.sleep(0.4)
    assert await server.flow_ids() == ["slow"]


def _server_tasks() -> list[asyncio.Task[object]]:
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and getattr(t.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    ]


async def test_abandoned_slow_request_is_dropped_promptly() -> None:
    async with LocalServer(faults=FaultConfig(slow_rate=1.0, slow_seconds=30)) as server:
        async with aiohttp.ClientSession() as session:
            api = Api(session, server.endpoint, server.organization_id, server.secret_key)
            with pytest.raises(asyncio.TimeoutError):  # aiohttp's, builtin from 3.11
                await api.put(
                    "flows/late", {"spec": {"name": "x"}}, timeout=aiohttp.ClientTimeout(total=0.1)
                )
        for _ in range(250):  # up to ~5 s, far below slow_seconds
            if not (_server_tasks() or server.connection_count):
                break
            await anyio.sleep(0.02)
        assert not _server_tasks()
        assert server.connection_count == 0
        assert await server.flow_ids() == []


async def test_paths_filter(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(error_503_rate=1.0, paths=r"/runs(/|$)")
    assert (await api.get("flows")).status == 200
    assert (await api.get("runs")).status == 503
    stats = await api.raw("GET", f"{server.endpoint}_local/stats", headers=server.admin_headers())
    assert stats.status == 200


async def _statuses(api: Api, n: int) -> list[int]:
    return [(await api.get("flows")).status for _ in range(n)]


async def test_faults_are_reproducible_with_a_seed(server: LocalServer, api: Api) -> None:
    config = FaultConfig(seed=7, error_503_rate=0.3, error_429_rate=0.3)
    server.faults = config
    first = await _statuses(api, 30)
    assert set(first) == {200, 429, 503}
    server.faults = config
    assert await _statuses(api, 30) == first
    server.faults = FaultConfig(seed=8, error_503_rate=0.3, error_429_rate=0.3)
    assert await _statuses(api, 30) != first


async def test_admin_faults_route(server: LocalServer, api: Api) -> None:
    url = f"{server.endpoint}_local/faults"
    admin = server.admin_headers()
    r = await api.raw("PUT", url, json={"error_503_rate": 1.0, "retry_after": 3}, headers=admin)
    assert r.status == 200 and r.body["error_503_rate"] == 1.0
    assert server.faults.error_503_rate == 1.0
    assert (await api.get("flows")).status == 503
    assert (await api.raw("GET", url, headers=admin)).body["retry_after"] == 3.0
    assert (await api.raw("PUT", url, json={"error_503_rate": 2}, headers=admin)).status == 400
    assert (await api.raw("PUT", url, json={"bogus": 1}, headers=admin)).status == 400
    assert (await api.raw("PUT", url, json={}, headers=admin)).status == 200
    assert (await api.get("flows")).status == 200


def test_parse_fault_spec() -> None:
    config = FaultConfig.parse(
        "seed=1,latency=0.02,503=0.2,429=0.05,reset_before=0.01,reset_after=0.01,"
        "slow=0.01,slow_seconds=5,retry_after=2,paths=/runs"
    )
    assert config == FaultConfig(
        seed=1,
        latency=0.02,
        error_503_rate=0.2,
        error_429_rate=0.05,
        reset_before_rate=0.01,
        reset_after_rate=0.01,
        slow_rate=0.01,
        slow_seconds=5.0,
        retry_after=2.0,
        paths="/runs",
    )
    assert FaultConfig.parse("") == FaultConfig()
    for bad in ("503", "503=x", "nope=1", "503=0.7,429=0.7", "latency=-1", "paths=("):
        with pytest.raises(ValueError):
            FaultConfig.parse(bad)


async def test_stop_does_not_wait_for_slow_requests() -> None:
    async with LocalServer(faults=FaultConfig(slow_rate=1.0, slow_seconds=30)) as server:
        headers = {
            "Authorization": f"Bearer {server.secret_key}",
            "Organization-Id": server.organization_id,
        }
        url = f"{server.endpoint}workspaces/{server.organization_id}/flows"
        errors: list[BaseException] = []
        async with aiohttp.ClientSession() as session:

            async def call() -> None:
                try:
                    async with session.get(url, headers=headers) as resp:
                        await resp.read()
                except aiohttp.ClientError as exc:
                    errors.append(exc)

            started = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await anyio.sleep(0.1)
                await server.stop()
            assert errors
            assert time.monotonic() - started < 10


async def _concurrent_statuses(config: FaultConfig) -> dict[str, list[int]]:
    async with LocalServer(faults=config) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.endpoint, server.organization_id, server.secret_key)

        async def attempts(flow_id: str) -> list[int]:
            return [(await api.get(f"flows/{flow_id}")).status for _ in range(3)]

        results: dict[str, list[int]] = {}

        async def record(flow_id: str) -> None:
            results[flow_id] = await attempts(flow_id)

        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(record, f"flow-{i}")
        return results


async def test_faults_are_reproducible_across_servers_and_interleavings() -> None:
    config = FaultConfig(seed=11, error_503_rate=0.4, error_429_rate=0.2)
    first = await _concurrent_statuses(config)
    second = await _concurrent_statuses(config)
    assert first == second  # other org ids, other interleaving: same faults per request
    statuses = {s for attempts in first.values() for s in attempts}
    assert statuses == {404, 429, 503}
