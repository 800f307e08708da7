"""Waits and watches against a server that died: told once, given up after retry_deadline."""

from __future__ import annotations

import logging
import time

import anyio
import pytest
from aiohttp import web

from vi_async import ViConnectionError

from .conftest import hostile_client
from .hostile import HostileServer, hang_up, run_doc

pytestmark = pytest.mark.anyio

RUNNING = [{"condition": "Running", "status": "Reached", "lastTransitionTime": 1}]


def _dies_after_first_answer() -> object:
    answered = False

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        nonlocal answered
        if answered:
            return await hang_up(request, server)
        answered = True
        return web.json_response(run_doc(request.path.rsplit("/", 1)[-1], RUNNING))

    return handle


@pytest.mark.parametrize("how", ["wait_for", "watch"])
async def test_an_outage_longer_than_retry_deadline_raises_connection_error(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    hostile.handler = _dies_after_first_answer()  # type: ignore[assignment]
    caplog.set_level(logging.WARNING, logger="vi_async")
    started = time.monotonic()
    async with hostile_client(hostile, retry_deadline=0.5, retry_base_delay=0.01) as client:
        with pytest.raises(ViConnectionError, match="has not answered for"), anyio.fail_after(8):
            if how == "wait_for":
                await client.runs.wait_for("r1", timeout=3600, poll_interval=0.05)
            else:
                async for _event in client.runs.watch(["r1"], poll_interval=0.05):
                    pass
    assert time.monotonic() - started < 5  # not the hour of the wait's deadline
    told = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(told) == 1  # once per outage, however many polls failed
