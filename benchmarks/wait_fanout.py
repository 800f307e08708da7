"""Wait fan-out: many concurrent ``runs.wait_for`` calls, polls seen by the server, loop lag.

Two scenes, each with a fixed ``poll_interval`` so the expected number of polls
is known: N waiters on N runs, and M waiters on one run. A lone waiter polls
once at the start and then once per interval until it sees the run end, so a
waiter that waited ``d`` seconds accounts for ``round(d / interval) + 1`` polls.
The ratio of the server's ``GET /runs/{runId}`` count to that expectation is
"poll streams per run": 1.0 means waiters share one stream per run (no
duplicate polling), M would mean every waiter polls on its own. A 10 ms ticker
on the client's loop records the worst event-loop lag meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio

from benchmarks._common import Goal, LagTicker, Result, ServerProcess, fmt_s

GET_RUN = "GET /workspaces/{org}/runs/{runId}"
GOAL_STREAMS = 1.1  # poll streams per run, with a little slack for timing edges
GOAL_LAG = 0.050

FLOW_SPEC = {
    "name": "bench-wait",
    "blocks": [{"block": "dataset"}, {"block": "model"}, {"block": "train"}],
}


def _timing(pending: float, running: float) -> dict[str, str]:
    return {"vi-local/pending-seconds": str(pending), "vi-local/running-seconds": str(running)}


async def _create_runs(client: Any, n: int, pending: float, running: float) -> list[str]:
    limiter = anyio.CapacityLimiter(64)
    ids: list[str] = []

    async def one() -> None:
        async with limiter:
            run = await client.runs.create(flow=FLOW_SPEC, metadata=_timing(pending, running))
            ids.append(run.run_id)

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return ids


async def _wait_all(
    client: Any, run_ids: list[str], interval: float
) -> tuple[list[float], LagTicker]:
    """Wait on every id concurrently (ids may repeat); returns durations and the lag ticker."""
    durations: list[float] = []
    started = time.monotonic()

    async def one(run_id: str) -> None:
        run = await client.runs.wait_for(run_id, poll_interval=interval, timeout=120)
        if not run.is_terminal:
            raise RuntimeError(f"wait_for returned a live run {run_id}")
        durations.append(time.monotonic() - started)

    async with LagTicker() as ticker:
        async with anyio.create_task_group() as tg:
            for run_id in run_ids:
                tg.start_soon(one, run_id)
    return durations, ticker


def _expected_polls(duration: float, interval: float) -> int:
    return round(duration / interval) + 1


async def _scenes(server: ServerProcess, quick: bool) -> dict[str, Any]:
    from vi_async import Client

    n_runs = 100 if quick else 1000
    n_waiters = 50 if quick else 200
    many_interval = 0.5 if quick else 1.0
    one_interval = 0.1 if quick else 0.25
    life = 1.5 if quick else 5.0
    out: dict[str, Any] = {}
    async with Client(**server.credentials()) as client:
        # scene 1: one waiter per run, all runs at once
        created = time.monotonic()
        ids = await _create_runs(client, n_runs, pending=life / 4, running=life * 3 / 4)
        create_s = time.monotonic() - created
        server.reset_stats()
        durations, lag = await _wait_all(client, ids, many_interval)
        gets = server.stats().get(GET_RUN, 0)
        expected = sum(_expected_polls(d, many_interval) for d in durations)
        out["many"] = {
            "runs": n_runs,
            "poll_interval_s": many_interval,
            "create_s": create_s,
            "wall_s": max(durations),
            "server_gets": gets,
            "expected_gets_one_stream": expected,
            "streams_per_run": gets / expected,
            "max_lag_s": lag.max_lag,
            "max_lag_start_s": lag.max_lag_start,
            "max_lag_steady_s": lag.max_lag_steady,
        }
        # scene 2: many waiters on one run
        (run_id,) = await _create_runs(client, 1, pending=life / 4, running=life * 3 / 4)
        server.reset_stats()
        durations, lag = await _wait_all(client, [run_id] * n_waiters, one_interval)
        gets = server.stats().get(GET_RUN, 0)
        expected = _expected_polls(max(durations), one_interval)
        out["one"] = {
            "waiters": n_waiters,
            "poll_interval_s": one_interval,
            "wall_s": max(durations),
            "server_gets": gets,
            "expected_gets_one_stream": expected,
            "streams_per_run": gets / expected,
            "max_lag_s": lag.max_lag,
            "max_lag_start_s": lag.max_lag_start,
            "max_lag_steady_s": lag.max_lag_steady,
        }
    return out


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    with ServerProcess() as server:
        metrics = asyncio.run(_scenes(server, quick))
    many, one = metrics["many"], metrics["one"]
    summary = (
        f"{many['runs']} waiters on {many['runs']} runs: "
        f"{many['streams_per_run']:.2f} poll streams/run "
        f"({many['server_gets']} GETs, {many['expected_gets_one_stream']} expected), "
        f"max lag {fmt_s(many['max_lag_s'])} (start burst {fmt_s(many['max_lag_start_s'])}, "
        f"steady {fmt_s(many['max_lag_steady_s'])}); "
        f"{one['waiters']} waiters on 1 run: {one['streams_per_run']:.2f} streams "
        f"({one['server_gets']} GETs, {one['expected_gets_one_stream']} expected), "
        f"max lag {fmt_s(one['max_lag_s'])}"
    )
    streams = max(many["streams_per_run"], one["streams_per_run"])
    lag = max(many["max_lag_s"], one["max_lag_s"])
    goals = [
        Goal("1 poll stream per run", streams <= GOAL_STREAMS, f"{streams:.2f}"),
        Goal(f"loop lag < {GOAL_LAG * 1000:.0f} ms", lag < GOAL_LAG, fmt_s(lag)),
    ]
    return Result("wait_fanout", summary, metrics, goals)


if __name__ == "__main__":
    print(run().line())
