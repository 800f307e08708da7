"""Event hooks: once per attempt (retries included), sync or async, no secret, abort."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

import vi_sync
from vi_async import Client, FlowSpec, RequestInfo, ResponseInfo, ViNotFoundError, ViServerError
from vi_async.local import FaultConfig, LocalServer

from .obs_support import assert_no_secret

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(name="hooks")
# Every GET of one flow fails with 503 about half the time; Retry-After: 0.
FLAKY_GETS = FaultConfig(seed=7, error_503_rate=0.5, retry_after=0.0, paths="/flows/flaky-flow")


class Recorder:
    """A sync request hook and an async response hook that keep what they saw."""

    def __init__(self) -> None:
        self.requests: list[RequestInfo] = []
        self.responses: list[ResponseInfo] = []

    def on_request(self, info: RequestInfo) -> None:
        self.requests.append(info)

    async def on_response(self, info: ResponseInfo) -> None:
        self.responses.append(info)

    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [self.on_request], "response": [self.on_response]}


async def test_hooks_see_every_attempt_under_injected_503s(vi_server: LocalServer) -> None:
    # A fixed path, so the seeded faults are the same on every run: each GET meets
    # some 503s, then the server's real answer (404: the flow does not exist).
    seen = Recorder()
    async with vi_server.client(event_hooks=seen.hooks(), max_retries=20) as client:
        vi_server.faults = FLAKY_GETS
        for _ in range(10):
            with pytest.raises(ViNotFoundError):
                await client.flows.get("flaky-flow")
        vi_server.faults = FaultConfig()
    attempts = vi_server.request_counts["GET /workspaces/{org}/flows/{flowId}"]
    assert attempts > 10, "the fault seed must cause retries"
    assert len(seen.requests) == len(seen.responses) == attempts
    statuses = [r.status for r in seen.responses]
    assert statuses.count(404) == 10 and statuses.count(503) == attempts - 10
    # attempt numbers restart at 1 for each call and count up through its retries
    starts = [i for i, r in enumerate(seen.requests) if r.attempt == 1]
    assert len(starts) == 10
    for begin, end in zip(starts, [*starts[1:], len(seen.requests)], strict=True):
        assert [r.attempt for r in seen.requests[begin:end]] == list(range(1, end - begin + 1))
        assert seen.responses[end - 1].status == 404
    for request, response in zip(seen.requests, seen.responses, strict=True):
        assert response.request == request
        assert request.method == "GET"
        assert request.path == "flows/flaky-flow"
        assert request.path_template == "flows/{flow_id}"
        base = f"{vi_server.endpoint}workspaces/{vi_server.organization_id}/"
        assert request.url == base + request.path
        assert request.headers["Authorization"] == "Bearer ***"
        assert response.request_id and response.headers["X-Request-Id"] == response.request_id
        assert response.elapsed >= 0
    assert_no_secret(vi_server.secret_key, seen.requests, seen.responses)


async def test_a_raising_request_hook_aborts_before_sending(vi_server: LocalServer) -> None:
    class Refused(Exception):
        pass

    def refuse(info: RequestInfo) -> None:
        if info.method == "PUT":
            raise Refused(info.path_template)

    async with vi_server.client(event_hooks={"request": [refuse]}) as client:
        vi_server.reset_counts()
        with pytest.raises(Refused, match=r"flows/\{flow_id\}"):
            await client.flows.create(SPEC)
        assert sum(vi_server.request_counts.values()) == 0
        assert await vi_server.flow_ids() == []


async def test_a_raising_response_hook_aborts_without_retry(vi_server: LocalServer) -> None:
    calls: list[int] = []

    async def reject(info: ResponseInfo) -> None:
        calls.append(info.status)
        raise RuntimeError("hook says no")

    vi_server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.0)
    async with vi_server.client(event_hooks={"response": [reject]}) as client:
        with pytest.raises(RuntimeError, match="hook says no"):
            await client.flows.get("some-flow")
    assert calls == [503]


async def test_without_hooks_the_error_is_unchanged(vi_server: LocalServer) -> None:
    vi_server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.0)
    async with vi_server.client(max_retries=2) as client:
        with pytest.raises(ViServerError):
            await client.flows.get("some-flow")


@pytest.mark.parametrize(
    ("hooks", "error"),
    [
        ({"requests": []}, ValueError),
        ({"request": print}, TypeError),
        ({"response": ["not callable"]}, TypeError),
        ([("request", [])], TypeError),
    ],
)
def test_bad_event_hooks_are_refused_up_front(hooks: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Client(secret_key="dtvi_" + "a" * 98, organization_id="org", event_hooks=hooks)


async def test_trace_configs_callbacks_fire(vi_server: LocalServer) -> None:
    started: list[str] = []
    ended: list[int] = []

    async def on_start(session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(params.method)

    async def on_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        ended.append(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    async with vi_server.client(trace_configs=[trace]) as client:
        flow = await client.flows.create(SPEC)
        await client.flows.get(flow.flow_id)
        await client.flows.delete(flow.flow_id)
    assert started == ["PUT", "GET", "DELETE"]
    assert len(ended) == 3 and all(200 <= status < 300 for status in ended)


def test_vi_sync_takes_the_same_hooks(vi_server_thread: LocalServer) -> None:
    seen = Recorder()
    with vi_sync.Client(
        endpoint=vi_server_thread.endpoint,
        organization_id=vi_server_thread.organization_id,
        secret_key=vi_server_thread.secret_key,
        event_hooks=seen.hooks(),
    ) as client:
        flow = client.flows.create(SPEC)
        client.flows.get(flow.flow_id)
        last = client.last_response
    assert [r.method for r in seen.requests] == ["PUT", "GET"]
    assert all(200 <= r.status < 300 for r in seen.responses) and len(seen.responses) == 2
    assert last is not None and last.request.path == f"flows/{flow.flow_id}"
    assert last.request_id == seen.responses[-1].request_id
    assert_no_secret(vi_server_thread.secret_key, seen.requests, seen.responses, last)
