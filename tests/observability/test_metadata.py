"""Rate limits, the last response of each task, structured log records."""

from __future__ import annotations

import logging
import time

import anyio
import anyio.lowlevel
import pytest
from reliability.conftest import FAKE_SECRET, hostile_client
from reliability.hostile import HostileServer, as_json, flow_doc, sequence

from vi_async import Client, FlowSpec, RateLimitInfo, ViRateLimitError
from vi_async._http.rate_limit import parse_rate_limit
from vi_async._observe.logging import FIELDS
from vi_async.local import LocalServer

from .obs_support import FailFirstAttempts, Spans, assert_no_secret

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(name="metadata")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"RateLimit-Limit": "100", "RateLimit-Remaining": "7", "RateLimit-Reset": "30"},
            (100, 7, 30.0),
        ),
        ({"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0"}, (60, 0, None)),
        ({"RateLimit": "limit=10, remaining=3;w=60, reset=5"}, (10, 3, 5.0)),
        ({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "6m0s"}, (None, 5, 360.0)),
        ({"X-RateLimit-Reset": "250ms"}, (None, None, 0.25)),
        ({"RateLimit-Limit": "100, 100;w=60", "RateLimit-Remaining": "junk"}, (100, None, None)),
        (
            {"Date": "x", "Server": "y", "Content-Type": "z", "X-RATELIMIT-REMAINING": "4"},
            (None, 4, None),
        ),
    ],
)
def test_rate_limit_headers_are_read(headers: dict[str, str], expected: tuple[object, ...]) -> None:
    from multidict import CIMultiDict

    info = parse_rate_limit(CIMultiDict(headers))
    assert info is not None
    assert (info.limit, info.remaining, info.reset) == expected


def test_an_epoch_reset_becomes_a_delay() -> None:
    from multidict import CIMultiDict

    info = parse_rate_limit(CIMultiDict({"X-RateLimit-Reset": str(int(time.time()) + 42)}))
    assert info is not None and info.reset is not None and 40 <= info.reset <= 43
    assert info.resets_at is not None and abs(info.resets_at - (time.time() + info.reset)) < 2
    assert parse_rate_limit(CIMultiDict({"Content-Type": "x"})) is None


async def test_client_rate_limit_and_rate_limit_error(hostile: HostileServer) -> None:
    limits = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9"}
    hostile.handler = sequence(
        as_json(flow_doc("f1"), headers={"RateLimit-Limit": "50", "RateLimit-Remaining": "49"}),
        as_json(flow_doc("f1")),  # no headers: the last values seen stay
        as_json({"message": "slow down"}, status=429, headers={**limits, "Retry-After": "9"}),
    )
    async with hostile_client(hostile, max_retries=0) as client:
        assert client.rate_limit is None
        await client.flows.get("f1")
        assert client.rate_limit == RateLimitInfo(limit=50, remaining=49, reset=None)
        await client.flows.get("f1")
        assert client.rate_limit is not None and client.rate_limit.remaining == 49
        with pytest.raises(ViRateLimitError) as caught:
            await client.flows.get("f1")
    assert caught.value.rate_limit == RateLimitInfo(limit=50, remaining=0, reset=9.0)
    assert client.rate_limit == caught.value.rate_limit


@pytest.mark.parametrize("name", ["X-Request-Id", "request-id", "X-AMZN-REQUESTID"])
async def test_a_request_id_under_any_of_its_names_and_cases(
    hostile: HostileServer, name: str
) -> None:
    hostile.handler = sequence(
        as_json(flow_doc("f1"), headers={name: "req-1"}),
        as_json(flow_doc("f1")),  # none: no request id, not the last one's
    )
    async with hostile_client(hostile) as client:
        await client.flows.get("f1")
        last = client.last_response
        assert last is not None and last.request_id == "req-1"
        await client.flows.get("f1")
        last = client.last_response
        assert last is not None and last.request_id is None


async def test_last_response_is_per_task(vi_client: Client, vi_server: LocalServer) -> None:
    assert vi_client.last_response is None
    flows = [await vi_client.flows.create(SPEC) for _ in range(8)]
    mismatches: list[str] = []

    async def read(flow_id: str) -> None:
        for _ in range(5):
            await vi_client.flows.get(flow_id)
            await anyio.lowlevel.checkpoint()  # let the other tasks' answers land in between
            last = vi_client.last_response
            if last is None or last.request.path != f"flows/{flow_id}":
                mismatches.append(flow_id)

    async with anyio.create_task_group() as tg:
        for flow in flows:
            tg.start_soon(read, flow.flow_id)
    assert mismatches == []
    last = vi_client.last_response  # this task's own last call: the last create
    assert last is not None and last.request.method == "PUT"
    assert last.request.path == f"flows/{flows[-1].flow_id}"
    assert last.request_id and last.headers["X-Request-Id"] == last.request_id
    assert last.request.headers["Authorization"] == "Bearer ***"
    assert_no_secret(vi_server.secret_key, last)


async def test_every_log_record_carries_the_fields_and_no_key(
    vi_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="vi_async")
    async with vi_server.client() as client:
        flow = await client.flows.create(SPEC)
    async with vi_server.client(event_hooks=FailFirstAttempts(vi_server, 1).hooks()) as client:
        for _ in range(2):
            await client.flows.get(flow.flow_id)
    records = [r for r in caplog.records if r.name == "vi_async.transport"]
    assert any(r.levelno == logging.INFO and "retrying" in r.getMessage() for r in records)
    for record in records:
        for field in FIELDS:
            assert hasattr(record, field), (field, record.getMessage())
        assert record.method in ("PUT", "GET")  # type: ignore[attr-defined]
        assert record.path_template == "flows/{flow_id}"  # type: ignore[attr-defined]
        assert isinstance(record.attempt, int)  # type: ignore[attr-defined]
    attempts = [r for r in records if r.levelno == logging.DEBUG]
    statuses = {r.status for r in attempts}  # type: ignore[attr-defined]
    assert 503 in statuses and statuses - {503} <= {200, 201}
    for record in attempts:
        assert record.request_id and record.elapsed >= 0  # type: ignore[attr-defined]
    assert_no_secret(vi_server.secret_key, [(r.getMessage(), vars(r)) for r in caplog.records])


async def test_a_record_outside_any_request_has_the_fields_as_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from vi_async._http.transport import logger

    caplog.set_level(logging.INFO, logger="vi_async")
    logger.info("plain")
    (record,) = [r for r in caplog.records if r.getMessage() == "plain"]
    assert all(getattr(record, field) is None for field in FIELDS)


async def test_a_key_echoed_in_headers_is_masked_everywhere(
    hostile: HostileServer, spans: Spans, caplog: pytest.LogCaptureFixture
) -> None:
    echo = {"X-Request-Id": FAKE_SECRET, "X-Echo": f"key={FAKE_SECRET}"}
    hostile.handler = as_json(flow_doc("f1"), headers=echo)
    seen: list[object] = []
    caplog.set_level(logging.DEBUG, logger="vi_async")
    hooks = {"request": [seen.append], "response": [seen.append]}
    async with hostile_client(hostile, event_hooks=hooks) as client:
        await client.flows.get("f1")
        last = client.last_response
    assert last is not None and last.request_id == "dtvi_***"
    assert last.headers["X-Echo"] == "key=dtvi_***"
    attributes = [dict(s.attributes or {}) for s in spans.all()]
    assert {"vi.request_id": "dtvi_***"}.items() <= attributes[0].items()
    assert_no_secret(FAKE_SECRET, seen, last, attributes, [vars(r) for r in caplog.records])
