"""The rate-limit fault's variants: how the token bucket writes Retry-After and
which rate-limit headers every answer of a limited route carries."""

from __future__ import annotations

import pytest
from local_support import Api

from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio

IETF = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")
X = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


async def _drain(api: Api, n: int) -> list[int]:
    return [(await api.get("flows")).status for _ in range(n)]


async def test_ceil_writes_whole_seconds(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(rate_limit=5, rate_limit_burst=2, rate_limit_retry_after="ceil")
    assert await _drain(api, 2) == [200, 200]
    refused = await api.get("flows")
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"  # the wait is at most 0.2 s, rounded up
    assert not any(name in refused.headers for name in IETF + X)  # headers="none"


async def test_exact_writes_fractional_seconds(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(rate_limit=5, rate_limit_burst=1)
    await _drain(api, 1)
    refused = await api.get("flows")
    assert refused.status == 429
    assert 0 < float(refused.headers["Retry-After"]) <= 0.2
    assert "." in refused.headers["Retry-After"]


async def test_ietf_headers_announce_the_limit_with_its_window(
    server: LocalServer, api: Api
) -> None:
    server.faults = FaultConfig(
        rate_limit=5, rate_limit_burst=3, rate_limit_headers="ietf", rate_limit_retry_after="ceil"
    )
    first = await api.get("flows")
    assert first.status == 200
    assert first.headers["RateLimit-Limit"] == "5"
    assert first.headers["RateLimit-Remaining"] == "2"
    assert first.headers["RateLimit-Reset"] == "1"  # 0.2 s until full, in whole seconds
    assert first.headers["RateLimit-Policy"] == "5;w=1;burst=3"
    assert not any(name in first.headers for name in X)
    statuses = await _drain(api, 3)
    assert statuses[:2] == [200, 200] and statuses[2] == 429
    refused = await api.get("flows")
    assert refused.status == 429
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["RateLimit-Reset"] == "1"
    # An error of the route itself carries them too.
    server.faults = FaultConfig(rate_limit=5, rate_limit_burst=3, rate_limit_headers="ietf")
    missing = await api.get("flows/nope")
    assert missing.status == 404 and missing.headers["RateLimit-Remaining"] == "2"
    assert float(missing.headers["RateLimit-Reset"]) == pytest.approx(0.2, abs=0.05)


async def test_x_headers_name_the_capacity_and_no_window(server: LocalServer, api: Api) -> None:
    server.faults = FaultConfig(rate_limit=100, rate_limit_burst=4, rate_limit_headers="x")
    answer = await api.get("flows")
    assert answer.headers["X-RateLimit-Limit"] == "4"
    assert answer.headers["X-RateLimit-Remaining"] == "3"
    assert 0 < float(answer.headers["X-RateLimit-Reset"]) <= 0.011
    assert not any(name in answer.headers for name in IETF)


async def test_the_sdk_reads_the_announced_rate(server: LocalServer) -> None:
    server.faults = FaultConfig(rate_limit=0.5, rate_limit_burst=5, rate_limit_headers="ietf")
    async with server.client() as client:
        await client.flows.list()
        info = client.rate_limit
        assert info is not None
        assert (info.limit, info.remaining, info.window) == (5, 4, 10.0)
        assert info.rate == 0.5
    server.faults = FaultConfig(rate_limit=50, rate_limit_burst=5, rate_limit_headers="x")
    async with server.client() as client:
        await client.flows.list()
        info = client.rate_limit
        assert info is not None and info.limit == 5 and info.window is None and info.rate is None


async def test_limiter_settings_are_checked_and_parsed(server: LocalServer, api: Api) -> None:
    for bad in ({"rate_limit_retry_after": "round"}, {"rate_limit_headers": "github"}):
        with pytest.raises(ValueError):
            FaultConfig.from_mapping(bad)
    config = FaultConfig.parse("rate_limit=20,rate_limit_headers=x,rate_limit_retry_after=ceil")
    assert (config.rate_limit_headers, config.rate_limit_retry_after) == ("x", "ceil")
    url = f"{server.endpoint}_local/faults"
    admin = server.admin_headers()
    body = {"rate_limit": 7, "rate_limit_headers": "ietf", "rate_limit_retry_after": "ceil"}
    assert (await api.raw("PUT", url, json=body, headers=admin)).status == 200
    assert server.faults.rate_limit_headers == "ietf"
    assert (await api.get("flows")).headers["RateLimit-Policy"] == "7;w=1;burst=10"
    bad = {"rate_limit": 7, "rate_limit_headers": 3}
    assert (await api.raw("PUT", url, json=bad, headers=admin)).status == 400
