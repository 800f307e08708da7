"""Bulk delete: ours (``flows.delete_many``) vs the official client vs raw aiohttp (the floor).

The server (own process) adds 20 ms of latency to every API request. Ours and
the floor delete at concurrency 32; the official client, having no bulk or
async API, deletes one by one. Ours and the floor alternate and each keeps its
best of several rounds, so machine noise hits both alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from typing import Any

import aiohttp

from benchmarks._common import (
    Goal,
    Result,
    ServerProcess,
    Stopwatch,
    fmt_s,
    have,
    official_env,
    run_child,
    temp_home,
)

LATENCY = 0.020
CONCURRENCY = 32
GOAL_VS_OFFICIAL = 25.0  # at least this many times faster
GOAL_VS_FLOOR = 1.05  # at most this many times the floor's time (issue 17)


async def delete_ours(server: ServerProcess, ids: list[str]) -> Stopwatch:
    """Delete ``ids`` with our client; returns the wall and CPU time it took."""
    from vi_async import Client

    async with Client(**server.credentials()) as client:
        if hasattr(client.flows, "delete_many"):
            with Stopwatch() as watch:
                report = await client.flows.delete_many(ids, concurrency=CONCURRENCY)
            if len(report.deleted) != len(ids):
                raise RuntimeError(
                    f"delete_many deleted {len(report.deleted)} of {len(ids)} flows "
                    f"({len(report.failed)} failed, {len(report.not_found)} not found)"
                )
        else:  # without delete_many: the same thing by hand
            import anyio

            limiter = anyio.CapacityLimiter(CONCURRENCY)

            async def one(flow_id: str) -> None:
                async with limiter:
                    await client.flows.delete(flow_id)

            with Stopwatch() as watch:
                async with anyio.create_task_group() as tg:
                    for flow_id in ids:
                        tg.start_soon(one, flow_id)
    return watch


async def delete_floor(server: ServerProcess, ids: list[str], *, keyed: bool = False) -> Stopwatch:
    """Delete ``ids`` with bare aiohttp at the same concurrency; returns its wall and CPU time.

    ``keyed``: send what our client sends, an ``Idempotency-Key`` on every DELETE
    (the keys made before the clock starts), so the server does the same work
    for both (the local server records each key: a database write per DELETE).
    """
    headers = {
        "Authorization": f"Bearer {server.secret_key}",
        "Organization-Id": server.organization_id,
    }
    base = f"{server.endpoint}workspaces/{server.organization_id}/flows/"
    keys = [{"Idempotency-Key": str(uuid.uuid4())} if keyed else None for _ in ids]
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(flow_id: str, key: dict[str, str] | None) -> None:
            async with sem, session.delete(base + flow_id, headers=key) as resp:
                await resp.read()
                if resp.status >= 300:
                    raise RuntimeError(f"DELETE {flow_id}: HTTP {resp.status}")

        with Stopwatch() as watch:
            await asyncio.gather(*(one(flow_id, key) for flow_id, key in zip(ids, keys)))
        return watch


def delete_official(server: ServerProcess, ids: list[str]) -> float:
    """Delete ``ids`` one by one with the official client (child process)."""
    with temp_home() as home, tempfile.TemporaryDirectory() as tmp:
        ids_file = os.path.join(tmp, "ids.json")
        with open(ids_file, "w", encoding="utf-8") as fh:
            json.dump(ids, fh)
        env = official_env(home)
        env.update(
            DATATURE_VI_SECRET_KEY=server.secret_key,
            DATATURE_VI_ORGANIZATION_ID=server.organization_id,
            DATATURE_VI_API_ENDPOINT=server.endpoint,
        )
        answer: dict[str, Any] = run_child(["-m", "benchmarks._official", "delete", ids_file],
                                           env=env)
    return float(answer["elapsed"])


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    n = 200 if quick else 1000
    n_official = 40 if quick else n
    rounds = 1 if quick else 3
    ours: list[float] = []
    floor: list[float] = []
    official: float | None = None
    with ServerProcess() as server:
        # seeding is an admin route: the injected latency does not apply to it
        server.set_faults(latency=LATENCY)
        for _ in range(rounds):
            floor.append(asyncio.run(delete_floor(server, server.seed_flows(n, "floor-"))).wall)
            ours.append(asyncio.run(delete_ours(server, server.seed_flows(n, "ours-"))).wall)
        if have("vi"):
            official = delete_official(server, server.seed_flows(n_official, "official-"))
        left = server.stats()
    best_ours, best_floor = min(ours), min(floor)
    vs_floor = best_ours / best_floor
    metrics: dict[str, Any] = {
        "flows": n,
        "latency_s": LATENCY,
        "concurrency": CONCURRENCY,
        "ours_s": best_ours,
        "floor_s": best_floor,
        "ours_rounds_s": ours,
        "floor_rounds_s": floor,
        "ours_over_floor": vs_floor,
        "deletes_counted": left.get("DELETE /workspaces/{org}/flows/{flowId}", 0),
    }
    summary = (
        f"{n} flows, {LATENCY * 1000:.0f} ms latency: ours {fmt_s(best_ours)}, "
        f"floor (raw aiohttp) {fmt_s(best_floor)}"
    )
    goals = []
    if official is not None:
        # per flow, in case the official client deleted fewer (quick mode)
        official_total = official * n / n_official
        speedup = official_total / best_ours
        metrics.update(
            official_flows=n_official,
            official_s=official,
            official_scaled_s=official_total,
            ours_over_official=best_ours / official_total,
            speedup_vs_official=speedup,
        )
        scaled = "" if n_official == n else f" (measured on {n_official}, scaled)"
        summary += (
            f", official one-by-one {fmt_s(official_total)}{scaled}; "
            f"ours/official={best_ours / official_total:.3f} ({speedup:.1f}x faster)"
        )
        goals.append(Goal.at_least(f">= {GOAL_VS_OFFICIAL:.0f}x faster than official",
                                   speedup, GOAL_VS_OFFICIAL))
    else:
        summary += ", official client not installed"
        goals.append(Goal(f">= {GOAL_VS_OFFICIAL:.0f}x faster than official", None,
                          "vi-sdk not installed"))
    summary += f"; ours/floor={vs_floor:.2f}"
    goals.append(Goal.at_most(f"ours/floor <= {GOAL_VS_FLOOR}", vs_floor, GOAL_VS_FLOOR))
    return Result("bulk_delete", summary, metrics, goals)


if __name__ == "__main__":
    print(run().line())
