"""Adaptive concurrency: a job finds the server's rate limit by itself; a Retry-After
slows the whole job, and stops it when the server refuses the slower pace too."""

from __future__ import annotations

import time

import anyio
import pytest
from bulk_support import assert_exact, senders_wait

from vi_async import Client
from vi_async.bulk.adaptive import TRIAL_REFUSALS, AdaptiveLimit
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio

RATE = 100.0


async def test_delete_many_adapts_to_a_rate_limit(
    vi_server: LocalServer, vi_client: Client
) -> None:
    seeded = await vi_server.seed_flows(200)
    vi_server.faults = FaultConfig(rate_limit=RATE, rate_limit_burst=10, paths=r"/flows/")
    started = time.monotonic()
    with anyio.fail_after(30):
        report = await vi_client.flows.delete_many(seeded, concurrency=32)
    elapsed = time.monotonic() - started
    vi_server.faults = FaultConfig()
    # Every delete went through: a paced job's 429s get more attempts and do not drain
    # the retry budget while the job learns the rate.
    assert report.complete and len(report.deleted) == 200, report.summary()
    await assert_exact(vi_server, report, seeded)
    requests = vi_server.request_counts["DELETE /workspaces/{org}/flows/{flowId}"]
    # The job finished (speed is measured in benchmarks/rate_limited_delete.py, not
    # here), and 429s stayed a small share: a fixed concurrency of 32 meets ~90%.
    assert elapsed < 10 * 200 / RATE
    assert vi_server.rate_limited <= 0.2 * requests, (vi_server.rate_limited, requests)


async def test_retry_after_slows_the_job_then_pauses_it_if_refused_again() -> None:
    limit = AdaptiveLimit(32)
    now = time.monotonic()
    limit.after_answer(now, 429, {"Retry-After": "0.2"})
    assert limit.limit < 8 and limit.rate is not None  # halved, and paced from now on
    # Answers to requests sent before the decrease do not decrease it again.
    before = limit.limit
    limit.after_answer(now, 429, None)
    assert limit.limit == before
    # Refused at the slower pace too: every new request of the job waits the Retry-After.
    for _ in range(TRIAL_REFUSALS):
        limit.after_answer(time.monotonic(), 429, {"Retry-After": "0.2"})
    assert await senders_wait(limit) >= 0.19  # every sender waited for the one Retry-After
    limit.close()
    t0 = time.monotonic()
    limit.after_answer(time.monotonic(), 429, {"Retry-After": "5"})
    await limit.before_send(t0 + 10)
    assert time.monotonic() - t0 < 0.1  # a finished job no longer holds anyone back


async def test_a_spent_quota_paces_the_job_then_pauses_it_until_the_reset() -> None:
    limit = AdaptiveLimit(8)
    spent = {"RateLimit-Remaining": "0", "RateLimit-Reset": "0.2"}
    limit.after_answer(time.monotonic(), 200, spent)
    assert limit.rate is not None  # paced from the spent quota on, not stopped
    for _ in range(TRIAL_REFUSALS):  # and refused at that pace: closed until the reset
        limit.after_answer(time.monotonic(), 429, spent)
    started = time.monotonic()
    await limit.before_send(started + 10)
    assert time.monotonic() - started >= 0.19
