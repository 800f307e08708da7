"""Bad input catalogue: hostile answers over real HTTP, and ids that must send nothing.

Each case names an answer the hostile server gives, an SDK call, and the
outcome: a typed ``ViError`` subclass, or a documented tolerant result checked
by a function. Every case is bounded by ``anyio.fail_after``, so a hang fails
the test instead of blocking the suite, and the number of requests the server
saw is checked where it is part of the contract (no retry of non-transient
failures, no request at all for an invalid id).

Documented tolerant results:

- unknown fields are ignored; an unknown condition name gives ``RunPhase.UNKNOWN``;
- ``kind: null`` counts as absent;
- an empty ``nextPage`` ends the listing; a repeated token (a loop) is a ViDecodeError,
  raised before any page is fetched twice;
- a page larger than the size asked for is returned whole;
- a negative or past Retry-After means "retry now"; a garbage, NaN or infinite
  one is ignored (exponential backoff instead); one above ``max_retry_after``
  is not waited for;
- a 2xx DELETE answer with any body (empty, ``{}`` or text) means deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from aiohttp import web

from vi_async import (
    Client,
    DeletedResource,
    Flow,
    LogLine,
    Page,
    Run,
    RunPhase,
    ViAuthenticationError,
    ViConnectionError,
    ViDecodeError,
    ViError,
    ViNotFoundError,
    ViRateLimitError,
    ViServerError,
    ViTimeoutError,
    ViValidationError,
    pagination,
)
from vi_async.bulk import BulkReport

from .conftest import FAKE_SECRET, hostile_client
from .hostile import (
    Handler,
    HostileServer,
    as_json,
    by_token,
    flow_doc,
    hang_up,
    page_doc,
    raw,
    run_doc,
    sequence,
    stall_body,
    stall_headers,
    truncated_transfer,
)

pytestmark = pytest.mark.anyio

Op = Callable[[Client], Awaitable[Any]]
Check = Callable[[Any], None]

HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    + "<p>upstream is sad</p>" * 400
    + "</body></html>"
)
CASE_BOUND = 20.0  # seconds; only a hang comes near this


# -- operations -----------------------------------------------------------------------------


async def get_flow(client: Client) -> Flow:
    return await client.flows.get("f1")


async def get_run(client: Client) -> Run:
    return await client.runs.get("r1")


async def first_page(client: Client) -> Page[Flow]:
    return await client.flows.list()


async def all_flows(client: Client) -> list[Flow]:
    return [flow async for flow in client.flows.list().all_items()]


async def delete_flow(client: Client) -> DeletedResource:
    return await client.flows.delete("f1")


async def read_logs(client: Client) -> list[LogLine]:
    return [line async for line in client.runs.logs("r1", tail=None)]


async def wait_run(client: Client) -> Run:
    return await client.runs.wait_for("r1", timeout=1.0, poll_interval=0.05)


# -- checks of tolerant results -------------------------------------------------------------


def is_flow(result: Any) -> None:
    assert isinstance(result, Flow)
    assert result.flow_id == "f1"


def flows_count(n: int) -> Check:
    def check(result: Any) -> None:
        items = result.items if isinstance(result, Page) else result
        assert len(items) == n
        assert all(isinstance(item, Flow) for item in items)

    return check


def phase_is(phase: RunPhase) -> Check:
    def check(result: Any) -> None:
        assert isinstance(result, Run)
        assert result.phase is phase

    return check


def deleted(result: Any) -> None:
    assert result == DeletedResource(id="f1")


def retry_after_is(value: float | None) -> Callable[[ViError], None]:
    def check(error: ViError) -> None:
        if value is None:
            assert error.retry_after is None
        else:
            assert error.retry_after == pytest.approx(value, abs=1.0)

    return check


def short_message(error: ViError) -> None:
    """Error messages quote at most a snippet of a huge body."""
    assert len(error.message) < 300


@dataclass(frozen=True)
class Case:
    """One catalogue entry."""

    handler: Handler
    op: Op
    expect: type[ViError] | Check
    requests: int | None = None  # API requests the server must see
    error_check: Callable[[ViError], None] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    bug: str | None = None  # a known SDK bug: the case is a strict xfail until it is fixed


def flow_with(**overrides: Any) -> Handler:
    return as_json(flow_doc(**overrides))


def flow_spec_with(**spec_overrides: Any) -> Handler:
    doc = flow_doc()
    doc["spec"] = {**doc["spec"], **spec_overrides}
    return as_json(doc)


def flow_meta_with(**meta_overrides: Any) -> Handler:
    doc = flow_doc()
    doc["metadata"] = {**doc["metadata"], **meta_overrides}
    return as_json(doc)


def without(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != key}


def limited(status: int, retry_after: str) -> Handler:
    return raw(
        json.dumps({"error": "RateLimited", "message": "slow down"}),
        status,
        headers={"Retry-After": retry_after},
    )


def logs_doc(items: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": "RunLogs", "runId": "r1", "items": items, "complete": True, **extra}


LINE = {"seq": 1, "timestamp": 1, "level": "INFO", "message": "hello", "block": None}
NO_RETRY = {"max_retries": 0}

CASES: dict[str, Case] = {
    # -- non-JSON answers and error pages
    "html-200-page": Case(raw(HTML_PAGE, content_type="text/html"), get_flow, ViDecodeError, 1,
                          short_message),
    "html-502-page": Case(raw(HTML_PAGE, 502, "text/html"), get_flow, ViServerError, 3,
                          short_message),
    "html-404-page": Case(raw(HTML_PAGE, 404, "text/html"), get_flow, ViNotFoundError, 1,
                          short_message),
    "html-401-page": Case(raw("<h1>nope</h1>", 401, "text/html"), get_flow,
                          ViAuthenticationError, 1),
    "plain-text-200": Case(raw("OK", content_type="text/plain"), get_flow, ViDecodeError, 1),
    "empty-200-on-get": Case(raw(b""), get_flow, ViDecodeError, 1),
    "invalid-utf8": Case(raw(b'{"kind": "\xff\xfe"}'), get_flow, ViDecodeError, 1),
    "nested-100k-deep": Case(raw("[" * 100_000), get_flow, ViDecodeError, 1),
    "huge-html-500": Case(raw("<p>x</p>" * 500_000, 500, "text/html"), get_flow, ViServerError,
                          1, short_message),
    "status-418": Case(as_json({"message": "teapot"}, 418), get_flow, ViValidationError, 1),
    "status-599": Case(as_json({"message": "odd"}, 599), get_flow, ViServerError, 1),
    # -- truncated answers and broken connections
    "truncated-json-body": Case(raw('{"kind": "Flow", "flowId": "f1", "spec": {'), get_flow,
                                ViDecodeError, 1),
    "truncated-transfer": Case(truncated_transfer, get_flow, ViConnectionError, 3),
    "hang-up-without-answer": Case(hang_up, get_flow, ViConnectionError, 3),
    "bogus-gzip-encoding": Case(raw(b"not gzip", headers={"Content-Encoding": "gzip"}),
                                get_flow, ViConnectionError, 3),
    "never-answers": Case(stall_headers, get_flow, ViTimeoutError, 1, settings=NO_RETRY),
    "body-stalls-midway": Case(stall_body, first_page, ViTimeoutError, 1, settings=NO_RETRY),
    # -- wrong field types
    "flow-id-is-int": Case(flow_with(flowId=17), get_flow, ViDecodeError, 1),
    "blocks-is-string": Case(flow_spec_with(blocks="b1,b2"), get_flow, ViDecodeError, 1),
    "time-created-is-string": Case(flow_meta_with(timeCreated="yesterday"), get_flow,
                                   ViDecodeError, 1),
    "generation-is-bool": Case(flow_meta_with(generation=True), get_flow, ViDecodeError, 1),
    "attribute-value-is-int": Case(flow_meta_with(attributes={"a": 1}), get_flow,
                                   ViDecodeError, 1),
    "conditions-not-a-list": Case(as_json(run_doc(status={"conditions": "Running"})), get_run,
                                  ViDecodeError, 1),
    # -- missing required fields
    "missing-flow-id": Case(as_json(without(flow_doc(), "flowId")), get_flow, ViDecodeError, 1),
    "missing-spec": Case(as_json(without(flow_doc(), "spec")), get_flow, ViDecodeError, 1),
    "run-missing-spec-flow": Case(as_json(run_doc(spec={"killedAt": None})), get_run,
                                  ViDecodeError, 1),
    # -- kind
    "unknown-kind": Case(flow_with(kind="Mystery"), get_flow, ViDecodeError, 1),
    "kind-run-for-flow": Case(flow_with(kind="Run"), get_flow, ViDecodeError, 1),
    "kind-null-tolerated": Case(flow_with(kind=None), get_flow, is_flow, 1),
    "unknown-kind-in-page": Case(
        as_json(page_doc([flow_doc(kind="Mystery")])), first_page, ViDecodeError, 1),
    # -- unknown values are tolerated
    "unknown-fields-ignored": Case(flow_with(future={"x": [1, 2]}, hint="new"), get_flow,
                                   is_flow, 1),
    "unknown-condition-name": Case(
        as_json(run_doc(conditions=[{"condition": "Quantum", "status": "Reached"}])),
        get_run, phase_is(RunPhase.UNKNOWN), 1),
    "unknown-condition-status": Case(
        as_json(run_doc(conditions=[{"condition": "Running", "status": "Maybe"}])),
        get_run, phase_is(RunPhase.RUNNING), 1),
    "wait-on-unknown-phase-times-out": Case(
        as_json(run_doc(conditions=[{"condition": "Quantum", "status": "Reached"}])),
        wait_run, ViTimeoutError),
    "wait-on-html-answer-fails-fast": Case(raw(HTML_PAGE, content_type="text/html"), wait_run,
                                           ViDecodeError, 1),
    # -- bodies that are not objects
    "body-is-array": Case(as_json([flow_doc()]), get_flow, ViDecodeError, 1),
    "body-is-string": Case(as_json("flow"), get_flow, ViDecodeError, 1),
    "body-is-number": Case(as_json(42), get_flow, ViDecodeError, 1),
    "body-is-null": Case(raw("null"), get_flow, ViDecodeError, 1),
    "page-is-array": Case(as_json([flow_doc()]), first_page, ViDecodeError, 1),
    "page-items-is-object": Case(as_json({"items": {"f1": flow_doc()}}), first_page,
                                 ViDecodeError, 1),
    "page-item-is-number": Case(as_json(page_doc([flow_doc(), 5])), first_page,
                                ViDecodeError, 1),
    "error-body-is-array": Case(as_json([1, 2], 400), get_flow, ViValidationError, 1),
    "error-message-is-number": Case(as_json({"message": 42}, 400), get_flow,
                                    ViValidationError, 1),
    "logs-body-is-array": Case(as_json([LINE]), read_logs, ViDecodeError, 1),
    "logs-items-not-a-list": Case(as_json(logs_doc("hello")), read_logs, ViDecodeError, 1),
    "logs-seq-is-string": Case(as_json(logs_doc([{**LINE, "seq": "1"}])), read_logs,
                               ViDecodeError, 1),
    # -- pagination
    "next-page-is-int": Case(as_json(page_doc([flow_doc()], next_page=7)), first_page,
                             ViDecodeError, 1),
    "next-page-empty-ends": Case(as_json(page_doc([flow_doc()], next_page="")), all_flows,
                                 flows_count(1), 1),
    "next-page-repeats": Case(as_json(page_doc([flow_doc()], next_page="same")), all_flows,
                              ViDecodeError, 2),
    "next-page-cycle": Case(
        by_token({
            None: page_doc([flow_doc("a")], "A"),
            "A": page_doc([flow_doc("b")], "B"),
            "B": page_doc([flow_doc("c")], "A"),
        }),
        all_flows, ViDecodeError, 3),
    "huge-page": Case(as_json(page_doc([flow_doc(f"f{i}") for i in range(20_000)])),
                      first_page, flows_count(20_000), 1),
    "huge-string-field": Case(flow_spec_with(name="n" * 5_000_000), get_flow, is_flow, 1),
    # -- Retry-After
    "retry-after-negative": Case(sequence(limited(429, "-5"), flow_with()), get_flow, is_flow,
                                 2),
    "retry-after-garbage-then-ok": Case(sequence(limited(429, "soon"), flow_with()), get_flow,
                                        is_flow, 2),
    "retry-after-past-date": Case(
        sequence(limited(429, "Wed, 21 Oct 2015 07:28:00 GMT"), flow_with()), get_flow,
        is_flow, 2),
    "retry-after-huge-not-waited": Case(limited(429, "999999999"), get_flow, ViRateLimitError,
                                        1, retry_after_is(999999999)),
    "retry-after-huge-on-503": Case(limited(503, "86400"), get_flow, ViServerError, 1,
                                    retry_after_is(86400)),
    "retry-after-garbage": Case(limited(429, "<script>"), get_flow, ViRateLimitError, 3,
                                retry_after_is(None)),
    "retry-after-nan": Case(limited(429, "nan"), get_flow, ViRateLimitError, 3,
                            retry_after_is(None)),
    "retry-after-inf": Case(limited(429, "1e400"), get_flow, ViRateLimitError, 3,
                            retry_after_is(None)),
    # -- delete answers
    "delete-204-empty": Case(raw(b"", 204), delete_flow, deleted, 1),
    "delete-200-json-object": Case(as_json({}), delete_flow, deleted, 1),
    "delete-200-text-body": Case(
        raw("Deleted", content_type="text/plain"), delete_flow, deleted, 1),
}


def _case_params() -> list[Any]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=case.bug))
        if case.bug
        else name
        for name, case in CASES.items()
    ]


@pytest.mark.parametrize("name", _case_params())
async def test_hostile_answer(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    """A hostile answer gives a typed error or a documented tolerant result, never a hang."""
    case = CASES[name]
    hostile.handler = case.handler
    caplog.set_level(logging.DEBUG)
    async with hostile_client(hostile, **case.settings) as client:
        with anyio.fail_after(CASE_BOUND):
            if isinstance(case.expect, type):
                with pytest.raises(case.expect) as info:
                    await case.op(client)
                error = info.value
                assert isinstance(error, ViError)
                assert type(error).__module__ == "vi_async.errors"
                text = f"{error!s} {error!r}"
                assert FAKE_SECRET not in text
                if case.error_check is not None:
                    case.error_check(error)
            else:
                case.expect(await case.op(client))
    if case.requests is not None:
        assert len(hostile.api_requests()) == case.requests
    assert FAKE_SECRET not in caplog.text


def test_catalogue_is_large_enough() -> None:
    """The issue asks for at least 30 hostile cases (plus the invalid ids below)."""
    assert len(CASES) >= 30


# -- invalid ids: refused before any request ------------------------------------------------

BAD_IDS = {
    "slash": "a/b",
    "dot-dot": "..",
    "dot-dot-slash": "../../etc/passwd",
    "encoded-slash": "%2F",
    "encoded-dot-dot": "%2E%2E",
    "space": "a b",
    "leading-space": " a",
    "nul": "a\x00b",
    "newline": "a\nb",
    "crlf-header-injection": "a\r\nX-Evil: 1",
    "tab": "\t",
    "empty": "",
    "10kb": "x" * 10_240,
    "256-chars": "y" * 256,
    "unicode-ligature": "\ufb02ow",
    "rtl-override": "a\u202eb",
    "query": "a?s=1000",
    "fragment": "a#b",
}


def _calls(client: Client, bad: str) -> list[Callable[[], Awaitable[Any]]]:
    async def collect_logs() -> None:
        async for _ in client.runs.logs(bad):
            pass

    async def collect_completed() -> None:
        async for _ in client.runs.as_completed(["ok-id", bad]):
            pass

    return [
        lambda: client.flows.get(bad),
        lambda: client.flows.update(bad, metadata={"a": "b"}),
        lambda: client.flows.delete(bad),
        lambda: client.runs.get(bad),
        lambda: client.runs.update(bad, metadata={"a": "b"}),
        lambda: client.runs.kill(bad),
        lambda: client.runs.delete(bad),
        lambda: client.runs.create(flow=bad),
        lambda: client.runs.start(bad),
        lambda: client.runs.wait_for(bad, timeout=1),
        collect_logs,
        collect_completed,
    ]


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
async def test_invalid_id_sends_no_request(hostile: HostileServer, bad: str) -> None:
    """Every call taking an id refuses a bad one with ValueError and sends nothing."""
    hostile.handler = as_json(flow_doc())
    async with hostile_client(hostile) as client:
        with anyio.fail_after(CASE_BOUND):
            for call in _calls(client, bad):
                with pytest.raises(ValueError) as info:
                    await call()
                assert "\n" not in str(info.value) and "\r" not in str(info.value)
    assert hostile.requests == []


async def endless_pages(request: web.Request, server: HostileServer) -> web.StreamResponse:
    """Every page has one new flow and a fresh next token: the listing never ends."""
    n = int(request.query.get("p", "0"))
    return web.json_response(page_doc([flow_doc(f"f{n}")], next_page=str(n + 1)))


async def test_page_cap_is_not_a_silent_truncation(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that never stops paging hits the page cap: that must be an error, so a
    cleanup over it does not report itself complete after seeing only part of the list."""
    monkeypatch.setattr(pagination, "MAX_PAGES", 50)
    hostile.handler = endless_pages
    async with hostile_client(hostile) as client:
        with anyio.fail_after(CASE_BOUND):
            with pytest.raises(ViError):
                async for _ in client.flows.list().all_items():
                    pass
            assert len(hostile.api_requests()) == 50
            report = BulkReport()
            with pytest.raises(ViError):
                await client.flows.cleanup(dry_run=True, report=report)
    assert not report.complete
