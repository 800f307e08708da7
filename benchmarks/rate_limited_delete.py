"""Bulk delete against a rate-limited server: does the job find the server's pace?

The server (own process) serves at most ``RATE`` requests/s to the flow routes
(a token bucket of ``BURST``, answering 429 with a fractional Retry-After). The
ideal time is ``flows / RATE``. Ours adapts (``concurrency=32`` is a ceiling);
beside it the same client at a fixed concurrency of 32 (``adaptive=False``: each
task waits out its own 429s, the old behaviour), and the official client, one
by one. Reported: time, time over the ideal, and the share of requests
answered 429 (counted by the server).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from benchmarks._common import Goal, Result, ServerProcess, fmt_s, have
from benchmarks.bulk_delete import official_delete

RATE = 100.0
BURST = 10.0
CONCURRENCY = 32
GOAL_TIME = 1.15  # at most this many times the ideal
GOAL_429_SHARE = 0.05


async def _delete(server: ServerProcess, ids: list[str], adaptive: bool) -> tuple[float, int]:
    from vi_async import Client

    # The fixed run exhausts its retry budget by design: keep its warnings off the output.
    logging.getLogger("vi_async").addHandler(logging.NullHandler())
    async with Client(**server.credentials()) as client:
        started = time.perf_counter()
        report = await client.flows.delete_many(ids, concurrency=CONCURRENCY, adaptive=adaptive)
        return time.perf_counter() - started, len(report.deleted)


def _one(server: ServerProcess, n: int, label: str, adaptive: bool | None) -> dict[str, Any]:
    ids = server.seed_flows(n, f"{label}-")
    server.reset_stats()
    server.set_faults(rate_limit=RATE, rate_limit_burst=BURST, paths="/flows/")
    try:
        if adaptive is None:
            answer = official_delete(server, ids)
            elapsed, deleted = float(answer["elapsed"]), int(answer["deleted"])
        else:
            elapsed, deleted = asyncio.run(_delete(server, ids, adaptive))
    finally:
        server.set_faults()
    requests = server.stats().get("DELETE /workspaces/{org}/flows/{flowId}", 0)
    limited = server.rate_limited()
    return {
        "elapsed_s": elapsed,
        "deleted": deleted,
        "requests": requests,
        "rate_limited": limited,
        "share_429": limited / requests if requests else 0.0,
    }


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    n = 150 if quick else 2000
    ideal = n / RATE
    with ServerProcess() as server:
        ours = _one(server, n, "ours", True)
        fixed = _one(server, n, "fixed", False)
        official = _one(server, n if not quick else 50, "official", None) if have("vi") else None
    ratio = ours["elapsed_s"] / ideal
    metrics: dict[str, Any] = {
        "flows": n,
        "rate_limit": RATE,
        "burst": BURST,
        "ideal_s": ideal,
        "ours": ours,
        "fixed_32": fixed,
        "official": official,
        "ours_over_ideal": ratio,
    }

    def part(name: str, m: dict[str, Any]) -> str:
        return (
            f"{name} {fmt_s(m['elapsed_s'])}, {m['deleted']} deleted, "
            f"{m['share_429']:.1%} of {m['requests']} requests 429"
        )

    summary = f"{n} flows at {RATE:.0f} req/s (ideal {fmt_s(ideal)}): " + part("ours", ours)
    summary += f" ({ratio:.2f}x ideal); " + part("fixed 32", fixed)
    if official is not None:
        summary += "; " + part("official one by one", official)
    goals = [
        Goal(f"time <= {GOAL_TIME}x ideal", ratio <= GOAL_TIME, f"{ratio:.2f}x"),
        Goal(
            f"429 share <= {GOAL_429_SHARE:.0%}",
            ours["share_429"] <= GOAL_429_SHARE,
            f"{ours['share_429']:.1%}",
        ),
    ]
    return Result("rate_limited_delete", summary, metrics, goals)


if __name__ == "__main__":
    print(run().line())
