"""Sync overhead: the same ``flows.get`` through ``vi_sync`` and through ``vi_async``.

Sequential calls against the local server (own process). Two settings: no
injected latency (a loopback round trip of a few hundred microseconds, so the
per-call cost of the sync facade is as visible as it can be: the goal is judged
here) and 20 ms of latency (closer to a real API). Blocks of calls alternate
between the contenders; each keeps its best block.

A third contender, the bare thread hand-off floor (the async client on a loop
thread, called with ``asyncio.run_coroutine_threadsafe(...).result()``), shows
how much of the overhead any sync-over-a-loop-thread design pays on this machine.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks._common import Goal, Result, ServerProcess, fmt_s, have

GOAL_RATIO = 1.3
LATENCY = 0.020


@contextmanager
def _loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running on a background thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _async_block(creds: dict[str, str], flow_id: str, calls: int) -> float:
    from vi_async import Client

    async with Client(**creds) as client:
        await client.flows.get(flow_id)  # warm-up: session and connection
        started = time.perf_counter()
        for _ in range(calls):
            await client.flows.get(flow_id)
        return (time.perf_counter() - started) / calls


def _handoff_block(
    loop: asyncio.AbstractEventLoop, client: Any, flow_id: str, calls: int
) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        asyncio.run_coroutine_threadsafe(client.flows.get(flow_id), loop).result()
    return (time.perf_counter() - started) / calls


def _sync_block(client: Any, flow_id: str, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        client.flows.get(flow_id)
    return (time.perf_counter() - started) / calls


def _rounds(
    creds: dict[str, str],
    flow_id: str,
    calls: int,
    rounds: int,
    sync_client: Any,
    loop: asyncio.AbstractEventLoop,
    threaded: Any,
) -> dict[str, list[float]]:
    per: dict[str, list[float]] = {"async": [], "sync": [], "handoff": []}
    for _ in range(rounds):
        per["async"].append(asyncio.run(_async_block(creds, flow_id, calls)))
        per["sync"].append(_sync_block(sync_client, flow_id, calls))
        per["handoff"].append(_handoff_block(loop, threaded, flow_id, calls))
    return per


def _scene(per: dict[str, list[float]], calls: int) -> dict[str, Any]:
    best = {name: min(values) for name, values in per.items()}
    return {
        "calls_per_round": calls,
        "async_per_call_s": best["async"],
        "sync_per_call_s": best["sync"],
        "handoff_floor_per_call_s": best["handoff"],
        "sync_over_async": best["sync"] / best["async"],
        "handoff_over_async": best["handoff"] / best["async"],
        "overhead_per_call_s": best["sync"] - best["async"],
        "rounds_per_call_s": per,
    }


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    goal_text = f"vi_sync within {GOAL_RATIO}x of vi_async"
    if not have("vi_sync"):
        return Result("sync_overhead", "vi_sync not available",
                      goals=[Goal(goal_text, None, "no vi_sync")])
    import vi_sync

    fast_calls, fast_rounds = (50, 2) if quick else (200, 10)
    slow_calls, slow_rounds = (5, 1) if quick else (25, 3)
    with ServerProcess() as server, _loop_thread() as loop:
        creds = server.credentials()
        (flow_id,) = server.seed_flows(1, "sync-")

        async def make_client() -> Any:
            from vi_async import Client

            return Client(**creds)

        threaded = asyncio.run_coroutine_threadsafe(make_client(), loop).result()
        try:
            _handoff_block(loop, threaded, flow_id, 1)  # warm-up
            with vi_sync.Client(**creds) as sync_client:
                sync_client.flows.get(flow_id)  # warm-up: loop thread, session, connection
                args = (sync_client, loop, threaded)
                fast = _rounds(creds, flow_id, fast_calls, fast_rounds, *args)
                server.set_faults(latency=LATENCY)
                slow = _rounds(creds, flow_id, slow_calls, slow_rounds, *args)
        finally:
            asyncio.run_coroutine_threadsafe(threaded.close(), loop).result()
    metrics = {"no_latency": _scene(fast, fast_calls), "latency_20ms": _scene(slow, slow_calls)}
    f, s = metrics["no_latency"], metrics["latency_20ms"]
    summary = (
        f"flows.get, no latency: vi_async {fmt_s(f['async_per_call_s'])}/call, "
        f"vi_sync {fmt_s(f['sync_per_call_s'])}/call, "
        f"hand-off floor {fmt_s(f['handoff_floor_per_call_s'])}/call; "
        f"sync/async={f['sync_over_async']:.2f} (+{fmt_s(f['overhead_per_call_s'])}/call), "
        f"floor/async={f['handoff_over_async']:.2f}; "
        f"with {LATENCY * 1000:.0f} ms latency: sync/async={s['sync_over_async']:.3f}"
    )
    ratio = f["sync_over_async"]
    goal = Goal.at_most(goal_text + " (no latency)", ratio, GOAL_RATIO)
    return Result("sync_overhead", summary, metrics, [goal])


if __name__ == "__main__":
    print(run().line())
