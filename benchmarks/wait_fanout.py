"""Wait fan-out: many concurrent ``runs.wait_for`` calls; requests, client CPU and loop lag.

Scenes, each on a fresh server (so the organization holds only its own runs):

- ``many``: N waits on N runs (an organization of N runs) with a fixed
  ``poll_interval``: API requests per poll interval seen by the server (mean, and
  the worst interval and the mean after the first one, from a sampler thread),
  the CPU time of the client's loop thread per interval (``time.thread_time``,
  the median interval between the first and the last; the server is another
  process), and event-loop lag.
- ``per_run``: the same with the client's list polling switched off: one GET per
  run per interval, what every wait cost before the list poller (the baseline of
  the CPU goal, measured in the same run).
- ``many_adaptive``: ``many`` with the default (adaptive, jittered) interval.
- ``big_org``: 10 waits in an organization of 10,000 runs: few waits stay per run.
- ``one``: M waiters on one run: one poll stream (M would mean each polls alone).
- ``staggered``: 20 waits started 0.3 s apart (a service starting runs on requests),
  adaptive interval, against one wait on one run of the same life: requests in all,
  and per second of waiting.

A 10 ms ticker on the client's loop records the worst event-loop lag (split into
the start burst and the steady state); CPython's GC pauses are recorded alongside.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from functools import partial
from typing import Any

import anyio

from benchmarks._common import GcPauses, Goal, LagTicker, Result, ServerProcess, fmt_s

GET_RUN = "GET /workspaces/{org}/runs/{runId}"
LIST_RUNS = "GET /workspaces/{org}/runs"
GOAL_REQUESTS = 2.0  # requests per poll interval, 1,000 waits on 1,000 runs
GOAL_CPU_RATIO = 0.1  # client CPU per interval, against one GET per run
GOAL_BIG_ORG = 10.0  # requests per interval, 10 waits among 10,000 runs
GOAL_STREAMS = 1.1  # poll streams per run, with a little slack for timing edges
GOAL_LAG = 0.050
GOAL_STAGGERED = 2.0  # 20 waits started apart, against one wait (requests in all)
STAGGER_GAP = 0.3

FLOW_SPEC = {
    "name": "bench-wait",
    "blocks": [{"block": "dataset"}, {"block": "model"}, {"block": "train"}],
}


def _timing(pending: float, running: float) -> dict[str, str]:
    return {"vi-local/pending-seconds": str(pending), "vi-local/running-seconds": str(running)}


async def _create_runs(client: Any, n: int, life: float, spread: float = 0.0) -> list[str]:
    """Create ``n`` runs that end ``life`` (plus up to ``spread``) seconds after creation."""
    limiter = anyio.CapacityLimiter(64)
    ids: list[str] = []

    async def one(i: int) -> None:
        async with limiter:
            total = life + spread * (i % 10) / 10
            metadata = _timing(pending=total / 4, running=total * 3 / 4)
            run = await client.runs.create(flow=FLOW_SPEC, metadata=metadata)
            ids.append(run.run_id)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return ids


class _Sampler:
    """Reads the server's request counts every ``period`` seconds on a thread:
    the most polling requests any one interval saw."""

    def __init__(self, server: ServerProcess, period: float) -> None:
        self._server, self._period = server, period
        self._stop = threading.Event()
        self.windows: list[int] = []
        self._marks: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _polls(self) -> int:
        stats = self._server.stats()
        return stats.get(GET_RUN, 0) + stats.get(LIST_RUNS, 0)

    def _run(self) -> None:
        last = self._polls()
        self._marks = [(time.monotonic(), last)]
        while not self._stop.wait(self._period):
            now = self._polls()
            self._marks.append((time.monotonic(), now))
            self.windows.append(now - last)
            last = now

    @property
    def worst(self) -> int:
        """The most requests one interval saw."""
        return max(self.windows, default=0)

    @property
    def steady(self) -> float:
        """Requests per interval after the first one (every wait's first poll), by the
        clock: the sampler's windows run a little longer than an interval."""
        if len(self._marks) < 3:
            return float("nan")
        (t0, n0), (t1, n1) = self._marks[1], self._marks[-1]
        return (n1 - n0) / (t1 - t0) * self._period

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _cpu_windows(period: float, out: list[float]) -> None:
    """Append the loop thread's CPU seconds of each ``period`` (not the sampler thread's)."""
    last = time.thread_time()
    while True:
        await asyncio.sleep(period)
        now = time.thread_time()
        out.append(now - last)
        last = now


async def _wait_all(
    client: Any, run_ids: list[str], interval: float | None, lag: bool
) -> tuple[list[float], LagTicker, GcPauses, float, list[float]]:
    """Wait on every id concurrently (ids may repeat); durations, lag, GC pauses, the
    loop thread's CPU seconds in all and per interval."""
    durations: list[float] = []
    windows: list[float] = []
    started = time.monotonic()

    async def one(run_id: str) -> None:
        run = await client.runs.wait_for(run_id, poll_interval=interval, timeout=300)
        if not run.is_terminal:
            raise RuntimeError(f"wait_for returned a live run {run_id}")
        durations.append(time.monotonic() - started)

    # The 10 ms ticker costs the loop 5-15 ms of CPU a second itself, so the scenes
    # that measure CPU run without it.
    ticker = LagTicker(period=3600.0 if not lag else 0.010)
    cpu = time.thread_time()
    with GcPauses() as pauses:
        async with ticker:
            async with anyio.create_task_group() as sampling:
                sampling.start_soon(_cpu_windows, interval or 1.0, windows)
                async with anyio.create_task_group() as tg:
                    for run_id in run_ids:
                        tg.start_soon(one, run_id)
                sampling.cancel_scope.cancel()
    return durations, ticker, pauses, time.thread_time() - cpu, windows


def _expected_polls(duration: float, interval: float) -> int:
    return round(duration / interval) + 1


async def _scene(
    server: ServerProcess,
    *,
    runs: int,
    waiters_per_run: int = 1,
    interval: float | None,
    life: float,
    spread: float = 0.0,
    list_polling: bool = True,
    background: int = 0,
    lag: bool = True,
) -> dict[str, Any]:
    from vi_async import Client

    async with Client(**server.credentials()) as client:
        if background:  # runs that ended long ago, older than the waited ones
            await _create_runs(client, background, 0.0)
        ids = await _create_runs(client, runs, life, spread)
        client.runs._poller.list_enabled = list_polling
        server.reset_stats()
        with _Sampler(server, interval or 1.0) as sampler:
            durations, ticker, pauses, cpu, windows = await _wait_all(
                client, ids * waiters_per_run, interval, lag
            )
        pages = client.runs._poller.pages
    stats = server.stats()
    gets, lists = stats.get(GET_RUN, 0), stats.get(LIST_RUNS, 0)
    wall = max(durations)
    intervals = wall / (interval or 1.0)
    out: dict[str, Any] = {
        "runs": runs,
        "org_runs": runs + background,
        "waiters": runs * waiters_per_run,
        "poll_interval_s": interval,
        "list_polling": list_polling,
        "wall_s": wall,
        "server_gets": gets,
        "server_list_pages": lists,
        "list_pages_last_walk": pages,
        "requests_per_interval": (gets + lists) / intervals,
        "worst_interval_requests": sampler.worst,
        "steady_requests_per_interval": sampler.steady,
        "interval_requests": sampler.windows,
        "client_cpu_s": cpu,
        "client_cpu_mean_per_interval_s": cpu / intervals,
        # The start (every wait set up) and the end (every wait torn down) are the
        # same in every scene; the steady state is what the polling costs.
        "client_cpu_per_interval_s": statistics.median(windows[1:-1] or windows or [0.0]),
        "cpu_windows_s": windows,
        "max_lag_s": ticker.max_lag,
        "max_lag_start_s": ticker.max_lag_start,
        "max_lag_steady_s": ticker.max_lag_steady,
        "max_lag_cpu_s": ticker.max_lag_cpu,
        "gc": pauses.summary(),
    }
    if interval is not None and waiters_per_run > 1:
        expected = _expected_polls(wall, interval) * runs
        out["expected_gets_one_stream"] = expected
        out["streams_per_run"] = (gets + lists) / expected
    return out


async def _staggered_scene(server: ServerProcess, *, waits: int, life: float) -> dict[str, Any]:
    """``waits`` runs created and waited on one after another, STAGGER_GAP apart."""
    from vi_async import Client

    metadata = _timing(pending=life / 4, running=life * 3 / 4)
    async with Client(**server.credentials()) as client:
        server.reset_stats()
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(waits):
                run = await client.runs.create(flow=FLOW_SPEC, metadata=metadata)
                tg.start_soon(partial(client.runs.wait_for, run.run_id, timeout=300))
                await anyio.sleep(STAGGER_GAP)
        wall = time.monotonic() - started
    stats = server.stats()
    polls = stats.get(GET_RUN, 0) + stats.get(LIST_RUNS, 0)
    gets, pages = stats.get(GET_RUN, 0), stats.get(LIST_RUNS, 0)
    return {"waits": waits, "wall_s": wall, "polls": polls, "polls_per_s": polls / wall,
            "server_gets": gets, "server_list_pages": pages}  # fmt: skip


def _staggered(life: float) -> dict[str, Any]:
    with ServerProcess() as server:
        one = asyncio.run(_staggered_scene(server, waits=1, life=life))
    with ServerProcess() as server:
        twenty = asyncio.run(_staggered_scene(server, waits=20, life=life))
    return {"one": one, "twenty": twenty, "ratio": twenty["polls"] / max(1, one["polls"])}


def _fresh(**scene: Any) -> dict[str, Any]:
    with ServerProcess() as server:
        return asyncio.run(_scene(server, **scene))


def _lag_text(scene: dict[str, Any]) -> str:
    gen2 = scene["gc"]["gen2"]
    return (
        f"max lag {fmt_s(scene['max_lag_s'])} (start {fmt_s(scene['max_lag_start_s'])}, "
        f"steady {fmt_s(scene['max_lag_steady_s'])}; the loop busy: "
        f"{fmt_s(scene['max_lag_cpu_s'])}; {gen2['count']} full GCs, "
        f"longest {fmt_s(gen2['max_s'])})"
    )


def _requests_text(scene: dict[str, Any]) -> str:
    return (
        f"{scene['requests_per_interval']:.2f} requests/interval (after the first interval "
        f"{scene['steady_requests_per_interval']:.2f}, worst {scene['worst_interval_requests']}; "
        f"{scene['server_list_pages']} list pages + {scene['server_gets']} GETs)"
    )


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    n_runs = 100 if quick else 1000
    life = 2.0 if quick else 12.0
    interval = 0.5 if quick else 1.0
    scene = {"runs": n_runs, "life": life, "spread": life / 6}
    many = _fresh(interval=interval, lag=False, **scene)
    per_run = _fresh(interval=interval, lag=False, list_polling=False, **scene)
    many_lag = _fresh(interval=interval, **scene)
    adaptive = _fresh(interval=None, **scene)
    big_org = _fresh(
        runs=10, interval=interval, life=life, background=1_100 if quick else 9_990
    )
    one = _fresh(runs=1, waiters_per_run=50 if quick else 200, interval=interval / 4, life=life)
    staggered = _staggered(life)
    metrics = {
        "many": many, "per_run": per_run, "many_lag": many_lag, "many_adaptive": adaptive,
        "big_org": big_org, "one": one, "staggered": staggered,
    }
    cpu_ratio = many["client_cpu_per_interval_s"] / per_run["client_cpu_per_interval_s"]
    metrics["cpu_ratio"] = cpu_ratio
    summary = (
        f"{many['waiters']} waits on {many['runs']} runs, every {interval}s: "
        f"{_requests_text(many)}, client CPU {fmt_s(many['client_cpu_per_interval_s'])}/interval "
        f"vs {fmt_s(per_run['client_cpu_per_interval_s'])} one GET per run "
        f"({per_run['requests_per_interval']:.0f} requests/interval) = {cpu_ratio:.3f}x, "
        f"{_lag_text(many_lag)}; adaptive: {_requests_text(adaptive)}, {_lag_text(adaptive)}; "
        f"{big_org['waiters']} waits among {big_org['org_runs']} runs: {_requests_text(big_org)}; "
        f"{one['waiters']} waiters on 1 run: {one['streams_per_run']:.2f} streams; "
        f"20 waits {STAGGER_GAP}s apart: {staggered['twenty']['polls']} requests "
        f"({staggered['twenty']['polls_per_s']:.2f}/s) vs one wait "
        f"{staggered['one']['polls']} ({staggered['one']['polls_per_s']:.2f}/s) = "
        f"{staggered['ratio']:.2f}x"
    )
    lag = max(many_lag["max_lag_s"], one["max_lag_s"])
    worst = many["worst_interval_requests"]
    goals = [
        Goal(f"<= {GOAL_REQUESTS:.0f} requests per interval ({many['waiters']} waits)",
             many["requests_per_interval"] <= GOAL_REQUESTS and worst <= GOAL_REQUESTS,
             f"{many['requests_per_interval']:.2f} mean, worst {worst}"),
        Goal(f"client CPU per interval <= {GOAL_CPU_RATIO}x one GET per run",
             cpu_ratio <= GOAL_CPU_RATIO, f"{cpu_ratio:.3f}x"),
        Goal(f"<= {GOAL_BIG_ORG:.0f} requests per interval (10 waits, big organization)",
             big_org["steady_requests_per_interval"] <= GOAL_BIG_ORG,
             f"{big_org['steady_requests_per_interval']:.2f} after the first interval, worst "
             f"{big_org['worst_interval_requests']}"),
        Goal("1 poll stream per run", one["streams_per_run"] <= GOAL_STREAMS,
             f"{one['streams_per_run']:.2f}"),
        Goal(f"20 waits started apart <= {GOAL_STAGGERED:.0f}x one wait (requests)",
             staggered["ratio"] <= GOAL_STAGGERED, f"{staggered['ratio']:.2f}x"),
        Goal(f"loop lag < {GOAL_LAG * 1000:.0f} ms (fixed interval)", lag < GOAL_LAG, fmt_s(lag)),
        Goal(f"loop lag < {GOAL_LAG * 1000:.0f} ms (adaptive interval)",
             adaptive["max_lag_s"] < GOAL_LAG, fmt_s(adaptive["max_lag_s"])),
    ]
    return Result("wait_fanout", summary, metrics, goals)


if __name__ == "__main__":
    print(run().line())
