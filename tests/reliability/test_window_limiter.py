"""A window limiter: so many requests per window, then closed until the window ends.

A bulk job that meets a 429 goes on at a slower pace instead of stopping (a
token bucket takes the next request milliseconds later). A window limiter
refuses the slower pace too: the job must then pause until the Retry-After,
not keep sending one refused request per pacing slot.
"""

from __future__ import annotations

import math
import time

import anyio
import pytest
from aiohttp import web

from .conftest import hostile_client
from .hostile import HostileServer

pytestmark = pytest.mark.anyio

PER_WINDOW = 10
WINDOW = 1.0
FLOWS = 40


class FixedWindow:
    """``PER_WINDOW`` requests per ``WINDOW`` seconds; then 429 with the whole seconds
    left (rounded up, as most real APIs write ``Retry-After``)."""

    def __init__(self) -> None:
        self.started = -math.inf
        self.taken = 0
        self.refused = 0

    async def __call__(self, request: web.Request, server: HostileServer) -> web.StreamResponse:
        now = time.monotonic()
        if now - self.started >= WINDOW:
            self.started, self.taken = now, 0
        if self.taken < PER_WINDOW:
            self.taken += 1
            return web.Response(status=204)
        self.refused += 1
        left = WINDOW - (now - self.started)
        return web.Response(status=429, headers={"Retry-After": str(max(1, math.ceil(left)))})


async def test_a_window_limiter_pauses_the_job_instead_of_a_storm(hostile: HostileServer) -> None:
    limiter = FixedWindow()
    hostile.handler = limiter
    flow_ids = [f"window-{i:03d}" for i in range(FLOWS)]
    async with hostile_client(hostile, timeout=5.0, retry_deadline=60.0) as client:
        with anyio.fail_after(30):
            report = await client.flows.delete_many(flow_ids, concurrency=32)
    assert report.complete and len(report.deleted) == FLOWS, report.summary()
    # The opening's wave (at most the 8 in flight a job of 32 starts with), then per
    # window a few sent before the pace slowed and TRIAL_REFUSALS at the slower pace,
    # then a pause until the window ends (measured: 10-21 in all; sending on at the
    # slower pace instead, each wave halving it: 37).
    windows = math.ceil(FLOWS / PER_WINDOW)
    assert limiter.refused <= 8 + 4 * windows, limiter.refused
