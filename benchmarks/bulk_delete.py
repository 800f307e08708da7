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
import time
import uuid
from typing import Any

import aiohttp

from benchmarks._common import (
    Goal,
    Result,
    ServerProcess,
    fmt_s,
    have,
    official_env,
    run_child,
    temp_home,
)

LATENCY = 0.020
CONCURRENCY = 32
GOAL_VS_OFFICIAL = 25.0  # at least this many times faster
GOAL_VS_FLOOR = 1.05  # at most this many times the floor's time (issue 17; was 1.25)


async def delete_ours(server: ServerProcess, ids: list[str]) -> float:
    """Delete ``ids`` with our client; returns the elapsed seconds."""
    from vi_async import Client

    async with Client(**server.credentials()) as client:
        started = time.perf_counter()
        if hasattr(client.flows, "delete_many"):
            report = await client.flows.delete_many(ids, concurrency=CONCURRENCY)
            elapsed = time.perf_counter() - started
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

            async with anyio.create_task_group() as tg:
                for flow_id in ids:
                    tg.start_soon(one, flow_id)
            elapsed = time.perf_counter() - started
    return elapsed


async def delete_floor(server: ServerProcess, ids: list[str]) -> float:
    """Delete ``ids`` with bare aiohttp at the same concurrency; returns the elapsed seconds.

    The floor sends what our client sends, an ``Idempotency-Key`` on every
    DELETE (the keys made before the clock starts): the local server writes each
    key to its database, server work that is not the client's (at 0 ms latency
    it made a floor without keys about 15% faster).
    """
    headers = {
        "Authorization": f"Bearer {server.secret_key}",
        "Organization-Id": server.organization_id,
    }
    base = f"{server.endpoint}workspaces/{server.organization_id}/flows/"
    keys = [{"Idempotency-Key": str(uuid.uuid4())} for _ in ids]
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(flow_id: str, key: dict[str, str]) -> None:
            async with sem, session.delete(base + flow_id, headers=key) as resp:
                await resp.read()
                if resp.status >= 300:
                    raise RuntimeError(f"DELETE {flow_id}: HTTP {resp.status}")

        started = time.perf_counter()
        await asyncio.gather(*(one(flow_id, key) for flow_id, key in zip(ids, keys, strict=True)))
        return time.perf_counter() - started


def delete_official(server: ServerProcess, ids: list[str]) -> float:
    """Delete ``ids`` one by one with the official client (child process)."""
    return float(official_delete(server, ids)["elapsed"])


def official_delete(server: ServerProcess, ids: list[str]) -> dict[str, Any]:
    """Delete ``ids`` one by one with the official client; its JSON answer
    (``elapsed``, ``deleted``, ``failed``)."""
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
    return answer


def run(
    quick: bool = False,
    latency: float = LATENCY,
    official_too: bool = True,
    floor_goal: float = GOAL_VS_FLOOR,
) -> Result:
    """Run the measure and return its result."""
    n = 200 if quick else 1000
    n_official = 40 if quick else n
    rounds = 1 if quick else 5
    ours: list[float] = []
    floor: list[float] = []
    ours_cpu: list[float] = []
    floor_cpu: list[float] = []
    official: float | None = None
    with ServerProcess() as server:
        # seeding is an admin route: the injected latency does not apply to it
        server.set_faults(latency=latency)
        for _ in range(rounds):
            ids = server.seed_flows(n, "floor-")
            cpu = time.process_time()
            floor.append(asyncio.run(delete_floor(server, ids)))
            floor_cpu.append(time.process_time() - cpu)
            ids = server.seed_flows(n, "ours-")
            cpu = time.process_time()
            ours.append(asyncio.run(delete_ours(server, ids)))
            ours_cpu.append(time.process_time() - cpu)
        if official_too and have("vi"):
            official = delete_official(server, server.seed_flows(n_official, "official-"))
        left = server.stats()
    best_ours, best_floor = min(ours), min(floor)
    vs_floor = best_ours / best_floor
    metrics: dict[str, Any] = {
        "flows": n,
        "latency_s": latency,
        "concurrency": CONCURRENCY,
        "ours_s": best_ours,
        "floor_s": best_floor,
        "ours_rounds_s": ours,
        "floor_rounds_s": floor,
        "ours_over_floor": vs_floor,
        "ours_cpu_s": min(ours_cpu),
        "floor_cpu_s": min(floor_cpu),
        "ours_cpu_over_floor": min(ours_cpu) / min(floor_cpu),
        "deletes_counted": left.get("DELETE /workspaces/{org}/flows/{flowId}", 0),
    }
    summary = (
        f"{n} flows, {latency * 1000:.0f} ms latency: ours {fmt_s(best_ours)}, "
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
    elif official_too:
        summary += ", official client not installed"
        goals.append(Goal(f">= {GOAL_VS_OFFICIAL:.0f}x faster than official", None,
                          "vi-sdk not installed"))
    summary += f"; ours/floor={vs_floor:.2f}"
    summary += f" (client CPU {min(ours_cpu) / min(floor_cpu):.2f}x the floor's)"
    goals.append(Goal.at_most(f"ours/floor <= {floor_goal}", vs_floor, floor_goal))
    return Result("bulk_delete" if official_too else "bulk_delete_0ms", summary, metrics, goals)


if __name__ == "__main__":
    print(run().line())
