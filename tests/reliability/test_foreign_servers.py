"""Servers that are not ours: runs.logs on the plain wire and on hostile logs; a PUT retry.

``PlainLog`` serves a log as WIRE.md has it (``timestamp``/``block``/``level``/
``message``, ``since``/``until`` in epoch ms, ``limit``; no ``seq``, no cursor),
with ``since`` inclusive or exclusive, a cap on the page size, and lines that
arrive while a reader follows. The hostile ones repeat pages and never move
their cursor. Every read must end, yield each line once, in order, and make a
bounded number of requests. And a create whose answer was lost must come back
from a server that answers the retried PUT with 409.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from aiohttp import web

from vi_async import Client, ViConflictError

from .conftest import hostile_client
from .hostile import HostileServer, as_json, flow_doc, run_doc

pytestmark = pytest.mark.anyio

RUNNING = [{"condition": "Running", "status": "Reached", "lastTransitionTime": 1}]


def line(ts: int, text: str, **extra: Any) -> dict[str, Any]:
    """A log line as the Vi wire has it (``extra`` adds extension fields)."""
    return {"timestamp": ts, "block": None, "level": "INFO", "message": text, **extra}


@dataclass
class PlainLog:
    """A Vi-wire log server: ``lines`` in order, ``since`` inclusive or exclusive."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    inclusive: bool = True
    max_limit: int = 10000
    page_cap: int | None = None  # answers at most this many, whatever was asked
    terminal: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # extra top-level answer keys

    async def __call__(self, request: web.Request, server: HostileServer) -> web.StreamResponse:
        if not request.path.endswith("/logs"):
            return web.json_response(run_doc() if self.terminal else run_doc(conditions=RUNNING))
        limit = int(request.query.get("limit", "1000"))
        if limit > self.max_limit:
            return web.json_response({"message": "limit too large"}, status=400)
        items = self.lines
        if "since" in request.query:
            since = int(request.query["since"])
            items = [x for x in items if x["timestamp"] >= since + (0 if self.inclusive else 1)]
        if "until" in request.query:
            items = [x for x in items if x["timestamp"] < int(request.query["until"])]
        items = items[: min(limit, self.page_cap or limit)]
        return web.json_response({"kind": "RunLogs", "runId": "r1", "items": items, **self.extra})


def _logs_requests(server: HostileServer) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/logs"))


async def _read(client: Client, **kwargs: Any) -> list[tuple[int, str]]:
    with anyio.fail_after(20):
        return [(x.timestamp, x.message) async for x in client.runs.logs("r1", **kwargs)]


def _expected(log: PlainLog) -> list[tuple[int, str]]:
    return [(x["timestamp"], x["message"]) for x in log.lines]


def _crowded() -> list[dict[str, Any]]:
    """2,500 lines in one millisecond (more than a page), equal texts among them."""
    crowd = [line(50, f"same ms {i % 700}") for i in range(2500)]
    return [line(10, "before"), *crowd, line(51, "after"), line(51, "after")]


@pytest.mark.parametrize("inclusive", [True, False], ids=["since-inclusive", "since-exclusive"])
async def test_a_crowded_millisecond_is_read_whole(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture, inclusive: bool
) -> None:
    log = PlainLog(_crowded(), inclusive=inclusive)
    hostile.handler = log
    async with hostile_client(hostile) as client:
        assert await _read(client, tail=None) == _expected(log)
        assert await _read(client, tail=3) == _expected(log)[-3:]
    assert _logs_requests(hostile) <= 2 * 6
    assert not caplog.records


@pytest.mark.parametrize("inclusive", [True, False], ids=["since-inclusive", "since-exclusive"])
async def test_more_lines_in_a_millisecond_than_the_largest_page_is_bounded_and_warned(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture, inclusive: bool
) -> None:
    crowd = [line(50, f"line {i}") for i in range(3000)]
    log = PlainLog([*crowd, line(60, "after")], inclusive=inclusive, max_limit=1000)
    hostile.handler = log
    async with hostile_client(hostile) as client:
        got = await _read(client, tail=None)
    assert got[:1000] == _expected(log)[:1000] and got[-1] == (60, "after")
    assert len(set(got)) == len(got)  # lines may be lost, never repeated
    assert "share the millisecond 50" in caplog.text
    assert _logs_requests(hostile) <= 10


@pytest.mark.parametrize("inclusive", [True, False], ids=["since-inclusive", "since-exclusive"])
async def test_follow_a_plain_wire_log_to_the_end(hostile: HostileServer, inclusive: bool) -> None:
    log = PlainLog([line(1, "queued")], inclusive=inclusive, terminal=False)
    hostile.handler = log

    async def write() -> None:
        for i in range(30):
            await anyio.sleep(0.01)
            ts = 2 + i // 3  # three lines per millisecond, arriving one by one
            log.lines.append(line(ts, f"step {i}"))
        log.lines.append(line(20, "finished"))
        log.terminal = True

    async with hostile_client(hostile) as client, anyio.create_task_group() as tg:
        tg.start_soon(write)
        got = await _read(client, tail=None, follow=True)
    assert got == _expected(log)


async def test_a_cursor_that_never_advances_ends_the_read(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    page = [line(i, f"l{i}", seq=i) for i in range(1, 1001)]
    hostile.handler = PlainLog(page, extra={"nextSince": "7", "complete": False})
    async with hostile_client(hostile) as client:
        assert len(await _read(client, tail=None)) == 1000
        assert _logs_requests(hostile) <= 3
        assert "did not advance" in caplog.text
        before = _logs_requests(hostile)
        assert len(await _read(client, tail=None, follow=True)) == 1000  # the run is over
    assert _logs_requests(hostile) - before <= 10


@pytest.mark.parametrize("seq", [True, False], ids=["with-seq", "without-seq"])
async def test_lines_that_repeat_end_the_read(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture, seq: bool
) -> None:
    """A server that ignores since and answers the same full page, for ever."""
    page = [line(i, f"l{i}", **({"seq": i} if seq else {})) for i in range(1, 1001)]

    async def same_page(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if not request.path.endswith("/logs"):
            return web.json_response(run_doc())
        limit = int(request.query["limit"])
        return web.json_response({"items": [page[i % 1000] for i in range(limit)]})

    hostile.handler = same_page
    async with hostile_client(hostile) as client:
        got = await _read(client, tail=None)
        assert got[:1000] == [(x["timestamp"], x["message"]) for x in page]
        assert _logs_requests(hostile) <= 3
        assert "did not advance" in caplog.text
        before = _logs_requests(hostile)
        await _read(client, tail=None, follow=True)
    assert _logs_requests(hostile) - before <= 6


async def test_a_tail_longer_than_a_page_without_server_tail(hostile: HostileServer) -> None:
    log = PlainLog([line(i // 2, f"l{i}") for i in range(2600)])
    hostile.handler = log
    async with hostile_client(hostile) as client:
        assert await _read(client, tail=1500) == _expected(log)[-1500:]
        assert await _read(client, tail=0) == []
    tails = [r.query.get("tail") for r in hostile.requests if r.path.endswith("/logs")]
    assert "1500" in tails  # asked, ignored by the server, done by the client


async def test_a_server_that_cuts_pages_short_loses_nothing(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vi_async")
    log = PlainLog([line(i // 3, f"l{i}") for i in range(40)], page_cap=7, inclusive=False)
    hostile.handler = log
    async with hostile_client(hostile) as client:
        assert await _read(client, tail=None) == _expected(log)
    assert not caplog.records


async def test_a_create_whose_answer_was_lost_is_read_back_from_a_409(
    hostile: HostileServer,
) -> None:
    """A server whose PUT is not idempotent: its 409 to the retry means the lost try made it."""
    made: dict[str, dict[str, Any]] = {}

    async def not_idempotent(request: web.Request, server: HostileServer) -> web.StreamResponse:
        flow_id = request.path.rsplit("/", 1)[-1]
        if request.method == "GET":
            return web.json_response(made[flow_id])
        if flow_id in made:
            return web.json_response({"message": "already exists"}, status=409)
        made[flow_id] = flow_doc(flow_id)
        assert request.transport is not None
        request.transport.abort()  # created, but the answer is lost
        return web.Response(status=499)

    hostile.handler = not_idempotent
    async with hostile_client(hostile, retry_base_delay=0.01) as client:
        flow = await client.flows.create({"name": "hostile"})
        assert list(made) == [flow.flow_id]
        hostile.handler = as_json({"message": "already exists"}, status=409)
        with pytest.raises(ViConflictError):  # no answer was lost: the 409 stands
            await client.flows.create({"name": "hostile"})
    assert [r.method for r in hostile.api_requests()] == ["PUT", "PUT", "GET", "PUT"]
