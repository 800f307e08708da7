"""Pacing under a rate limit: the job learns the server's rate, or takes the one it
announces, and keeps honouring Retry-After and the rate-limit headers.

Speed is measured in benchmarks/rate_limited_delete.py; these check behaviour:
how many 429s, that every delete goes through, what the engine learned.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from pathlib import Path

import anyio
import pytest
from bulk_support import assert_exact, senders_wait

from vi_async import Client
from vi_async.bulk.adaptive import TRIAL_REFUSALS, AdaptiveLimit
from vi_async.bulk.pacing import ANNOUNCED_MARGIN, RateFinder
from vi_async.local import FaultConfig, LocalServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is not part of the installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.pacing_sim import simulate  # noqa: E402

pytestmark = pytest.mark.anyio

DELETE = "DELETE /workspaces/{org}/flows/{flowId}"


def _limit(headers: str, retry_after: str = "exact", rate: float = 100.0) -> FaultConfig:
    return FaultConfig(
        rate_limit=rate,
        rate_limit_burst=10,
        rate_limit_retry_after=retry_after,
        rate_limit_headers=headers,
        paths=r"/flows/",
    )


async def _delete_all(server: LocalServer, client: Client, n: int) -> None:
    seeded = await server.seed_flows(n)
    with anyio.fail_after(60):
        report = await client.flows.delete_many(seeded, concurrency=32)
    assert report.complete and len(report.deleted) == n, report.summary()
    await assert_exact(server, report, seeded)


@pytest.mark.parametrize(
    ("headers", "most_429"),
    [
        ("ietf", 0),  # paced under 100/s from the first answer: the bucket never empties
        ("x", 16),  # at most the opening's wave, before any answer said anything
    ],
)
async def test_rate_limit_headers_keep_429s_away(
    vi_server: LocalServer, vi_client: Client, headers: str, most_429: int
) -> None:
    vi_server.faults = _limit(headers, "ceil")
    vi_server.reset_counts()
    await _delete_all(vi_server, vi_client, 150)
    assert vi_server.rate_limited <= most_429, vi_server.rate_limited
    assert vi_server.request_counts[DELETE] == 150 + vi_server.rate_limited


@pytest.mark.parametrize("retry_after", ["exact", "ceil"])
async def test_without_headers_the_job_learns_the_rate(
    vi_server: LocalServer, vi_client: Client, retry_after: str
) -> None:
    vi_server.faults = _limit("none", retry_after)
    vi_server.reset_counts()
    await _delete_all(vi_server, vi_client, 200)
    requests = vi_server.request_counts[DELETE]
    # The opening's wave (the requests in flight when the bucket empties, up to the 32 the
    # job may grow to) weighs on a job of 200; the benchmark holds 2,000 to 5%.
    assert vi_server.rate_limited <= 0.25 * requests, (vi_server.rate_limited, requests)


async def test_a_refused_request_waits_its_retry_after_while_the_job_goes_on(
    vi_server: LocalServer, vi_client: Client
) -> None:
    # A whole-second Retry-After is honoured by the request it answered; the rest of
    # the job goes on at a pace under the server's rate instead of stopping a second.
    vi_server.faults = _limit("none", "ceil")
    vi_server.reset_counts()
    vi_server.requests.clear()
    await _delete_all(vi_server, vi_client, 200)
    deletes = vi_server.requests.filter("DELETE", "flows/*")
    refused = [entry for entry in deletes if entry.status == 429]
    assert refused, "the limiter refused nothing: the test proves nothing"
    for entry in refused:
        later = [e.time for e in deletes if e.path == entry.path and e.time > entry.time]
        assert later, f"{entry.path} was refused and never sent again"
        assert (min(later) - entry.time).total_seconds() >= 0.99  # Retry-After: 1
    # ...while others went through within that second: no job-wide pause (which would
    # let none pass once the requests in flight at the first refusal were answered).
    first = refused[0].time
    passed = [
        e for e in deletes if e.status == 204 and 0.2 < (e.time - first).total_seconds() < 0.9
    ]
    assert len(passed) >= 3, len(passed)


async def test_refusals_at_the_slower_pace_pause_the_whole_job() -> None:
    # A window limiter, closed until its reset, refuses whatever the pace: the job
    # then pauses until the Retry-After, as asked.
    limit = AdaptiveLimit(32)
    first = time.monotonic()
    limit.after_answer(first, 429, {"Retry-After": "0.4"})
    assert limit.rate is not None and limit.paused_until < first  # paced, on trial
    for _ in range(TRIAL_REFUSALS):
        limit.after_answer(time.monotonic(), 429, {"Retry-After": "0.4"})
    assert await senders_wait(limit) >= 0.35  # honoured, for every sender


async def test_a_pass_at_the_slower_pace_ends_the_trial() -> None:
    limit = AdaptiveLimit(32)
    limit.after_answer(time.monotonic(), 429, {"Retry-After": "5"})
    limit.after_answer(time.monotonic(), 204, {})  # the server takes requests again
    for _ in range(TRIAL_REFUSALS - 1):
        limit.after_answer(time.monotonic(), 429, {"Retry-After": "5"})
    assert limit.paused_until < time.monotonic()  # a new trial: not closed yet


async def test_the_pace_spaces_sends_after_a_pause() -> None:
    limit = AdaptiveLimit(8)
    limit.finder.announce(50.0, time.monotonic())
    limit.after_answer(time.monotonic(), 429, {"Retry-After": "0.1"})
    sent: list[float] = []

    async def send() -> None:
        await limit.before_send(time.monotonic() + 10)
        sent.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(send)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    # Not a burst at the end of the pause: one send per 1 / (0.98 * 50) s.
    assert min(gaps) >= 0.8 / (ANNOUNCED_MARGIN * 50), gaps


@pytest.mark.parametrize(
    ("rate", "retry_after", "headers", "latency", "within"),
    [
        (100.0, "exact", "none", 0.0, 0.05),
        (100.0, "ceil", "none", 0.0, 0.05),
        (100.0, "ceil", "x", 0.0, 0.05),
        # Whole-second waits and nothing else: a refusal bounds the bucket only to
        # within a token, and at 20/s the job's first second holds few successes.
        (20.0, "ceil", "none", 0.0, 0.1),
        (500.0, "exact", "none", 0.02, 0.05),
        (500.0, "ceil", "none", 0.02, 0.05),
    ],
)
def test_the_fit_finds_a_token_bucket_in_virtual_time(
    rate: float, retry_after: str, headers: str, latency: float, within: float
) -> None:
    # The engine itself against a simulated bucket (benchmarks/pacing_sim.py).
    result = simulate(
        rate=rate, retry_after=retry_after, headers=headers, latency=latency, count=600
    )
    assert result["estimate"] == pytest.approx(rate, rel=within), result
    assert result["share_429"] <= 0.05, result


def test_the_fit_reads_remaining_and_refusals() -> None:
    finder = RateFinder()
    # A bucket of 10 minting 40/s, drained by a job sending 60/s: Remaining falls.
    tokens, t = 10.0, 0.0
    for _ in range(40):
        t += 1 / 60
        tokens = min(10.0, tokens + 40 / 60) - 1
        finder.success(t, t, math.floor(tokens))
    assert finder.estimate == pytest.approx(40.0, rel=0.05)
    assert finder.rate is not None and finder.rate < 40.0  # paced under it
