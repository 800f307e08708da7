"""Client overhead per request: ours against raw aiohttp on the same server, same concurrency.

With no injected latency a loopback round trip costs a few hundred
microseconds, so the client's own CPU per request is what sets the pace. The
server runs in its own process (its CPU is never billed to the client); each
contender is timed by wall clock and by the client process's CPU time
(``time.process_time``). Scenes, each against the raw-aiohttp floor:

- ``bulk_0ms`` / ``bulk_20ms``: ``flows.delete_many`` of 1,000 freshly seeded
  flows at concurrency 32, against a bare aiohttp loop at 32 (no latency, then
  20 ms per request). The floor the goals are judged on sends the same requests
  as ours, an ``Idempotency-Key`` on every DELETE (keys made before its clock
  starts): the local server writes each key to its database, and that server
  work is not the client's. The floor without keys (``bare``) is shown too.
- ``gather_get``: ``asyncio.gather`` of 1,000 ``flows.get``, against 1,000
  bare GETs with an orjson decode of each body (the same connection limit, 100).
- ``sequential_get``: one ``flows.get`` after another, against bare GET + orjson.

Contenders alternate round by round and each keeps its best round (wall and
CPU separately), so the noise of a shared machine hits both alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from benchmarks._common import Goal, Result, ServerProcess, Stopwatch, fmt_s
from benchmarks.bulk_delete import delete_floor, delete_ours

FLOWS = 1000
GET_CONNECTIONS = 100  # the client's default max_connections
GOAL_BULK_0MS = 1.5
GOAL_BULK_20MS = 1.05
GOAL_GATHER = 1.15
GOAL_SEQUENTIAL_US = 25.0

Timed = Callable[[], Awaitable[Stopwatch]]


def _raw_session(server: ServerProcess, limit: int) -> aiohttp.ClientSession:
    headers = {
        "Authorization": f"Bearer {server.secret_key}",
        "Organization-Id": server.organization_id,
    }
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), headers=headers)


def _flows_url(server: ServerProcess) -> str:
    return f"{server.endpoint}workspaces/{server.organization_id}/flows/"


async def _raw_get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {resp.status}")
        return orjson.loads(body)


async def gather_ours(server: ServerProcess, ids: list[str]) -> Stopwatch:
    """``gather`` of ``flows.get`` over ``ids`` (after one warm-up call)."""
    from vi_async import Client

    async with Client(**server.credentials()) as client:
        await client.flows.get(ids[0])
        with Stopwatch() as watch:
            await asyncio.gather(*(client.flows.get(flow_id) for flow_id in ids))
    return watch


async def gather_raw(server: ServerProcess, ids: list[str]) -> Stopwatch:
    """The same GETs with bare aiohttp, each body decoded with orjson."""
    base = _flows_url(server)
    async with _raw_session(server, GET_CONNECTIONS) as session:
        await _raw_get(session, base + ids[0])
        with Stopwatch() as watch:
            await asyncio.gather(*(_raw_get(session, base + flow_id) for flow_id in ids))
    return watch


async def sequential_ours(server: ServerProcess, flow_id: str, calls: int) -> Stopwatch:
    """``calls`` sequential ``flows.get`` (after one warm-up call)."""
    from vi_async import Client

    async with Client(**server.credentials()) as client:
        await client.flows.get(flow_id)
        with Stopwatch() as watch:
            for _ in range(calls):
                await client.flows.get(flow_id)
    return watch


async def sequential_raw(server: ServerProcess, flow_id: str, calls: int) -> Stopwatch:
    """The same sequential GETs with bare aiohttp + orjson."""
    url = _flows_url(server) + flow_id
    async with _raw_session(server, GET_CONNECTIONS) as session:
        await _raw_get(session, url)
        with Stopwatch() as watch:
            for _ in range(calls):
                await _raw_get(session, url)
    return watch


def _alternate(contenders: dict[str, Callable[[], Stopwatch]], rounds: int) -> dict[str, Any]:
    """Run the contenders in turn for ``rounds``; the best wall and CPU of each, and all rounds."""
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(rounds):
        # alternate who goes first, so neither always runs right after the server warmed up
        order = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
        for name in order:
            watch = contenders[name]()
            walls[name].append(watch.wall)
            cpus[name].append(watch.cpu)
    return {
        "wall_s": {name: min(v) for name, v in walls.items()},
        "cpu_s": {name: min(v) for name, v in cpus.items()},
        "rounds_wall_s": walls,
        "rounds_cpu_s": cpus,
    }


def _ratios(scene: dict[str, Any]) -> dict[str, Any]:
    wall, cpu = scene["wall_s"], scene["cpu_s"]
    scene["wall_ratio"] = wall["ours"] / wall["raw"]
    scene["cpu_ratio"] = cpu["ours"] / cpu["raw"]
    return scene


def bulk_scene(server: ServerProcess, n: int, rounds: int, latency: float) -> dict[str, Any]:
    """delete_many vs the floor at ``latency`` seconds per request."""
    server.set_faults(latency=latency)
    try:
        scene = _alternate({
            "ours": lambda: asyncio.run(delete_ours(server, server.seed_flows(n, "ours-"))),
            "raw": lambda: asyncio.run(
                delete_floor(server, server.seed_flows(n, "floor-"), keyed=True)
            ),
            "bare": lambda: asyncio.run(delete_floor(server, server.seed_flows(n, "bare-"))),
        }, rounds)
    finally:
        server.set_faults()
    scene.update(flows=n, latency_s=latency)
    scene["bare_wall_ratio"] = scene["wall_s"]["ours"] / scene["wall_s"]["bare"]
    return _ratios(scene)


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    n = 200 if quick else FLOWS
    bulk_rounds, slow_rounds, gather_rounds = (1, 1, 1) if quick else (7, 3, 9)
    calls, seq_rounds = (50, 2) if quick else (300, 12)
    metrics: dict[str, Any] = {}
    with ServerProcess() as server:
        metrics["bulk_0ms"] = bulk_scene(server, n, bulk_rounds, 0.0)
        metrics["bulk_20ms"] = bulk_scene(server, n, slow_rounds, 0.020)
        ids = server.seed_flows(n, "get-")
        metrics["gather_get"] = _ratios(_alternate({
            "ours": lambda: asyncio.run(gather_ours(server, ids)),
            "raw": lambda: asyncio.run(gather_raw(server, ids)),
        }, gather_rounds))
        metrics["gather_get"]["gets"] = n
        seq = _ratios(_alternate({
            "ours": lambda: asyncio.run(sequential_ours(server, ids[0], calls)),
            "raw": lambda: asyncio.run(sequential_raw(server, ids[0], calls)),
        }, seq_rounds))
    seq["calls_per_round"] = calls
    seq["over_raw_us"] = (seq["wall_s"]["ours"] - seq["wall_s"]["raw"]) / calls * 1e6
    seq["cpu_over_raw_us"] = (seq["cpu_s"]["ours"] - seq["cpu_s"]["raw"]) / calls * 1e6
    seq["ours_per_call_s"] = seq["wall_s"]["ours"] / calls
    seq["raw_per_call_s"] = seq["wall_s"]["raw"] / calls
    metrics["sequential_get"] = seq

    b0, b20, g = metrics["bulk_0ms"], metrics["bulk_20ms"], metrics["gather_get"]
    summary = "; ".join([
        f"delete_many {n} at 0 ms: ours {fmt_s(b0['wall_s']['ours'])} vs raw "
        f"{fmt_s(b0['wall_s']['raw'])} = {b0['wall_ratio']:.2f}x (CPU {b0['cpu_ratio']:.2f}x; "
        f"{b0['bare_wall_ratio']:.2f}x the floor without keys)",
        f"at 20 ms: {b20['wall_ratio']:.3f}x (CPU {b20['cpu_ratio']:.2f}x)",
        f"gather {n} get: {g['wall_ratio']:.2f}x raw+orjson (CPU {g['cpu_ratio']:.2f}x)",
        f"sequential get: {fmt_s(seq['ours_per_call_s'])} vs {fmt_s(seq['raw_per_call_s'])}"
        f" = +{seq['over_raw_us']:.0f}us/call (CPU +{seq['cpu_over_raw_us']:.0f}us)",
    ])
    goals = [
        Goal.at_most(f"delete_many at 0 ms <= {GOAL_BULK_0MS}x raw", b0["wall_ratio"],
                     GOAL_BULK_0MS),
        Goal.at_most(f"delete_many at 20 ms <= {GOAL_BULK_20MS}x raw", b20["wall_ratio"],
                     GOAL_BULK_20MS),
        Goal.at_most(f"gather of flows.get <= {GOAL_GATHER}x raw+orjson", g["wall_ratio"],
                     GOAL_GATHER),
        Goal.at_most(f"sequential flows.get <= {GOAL_SEQUENTIAL_US:g} us over raw",
                     seq["over_raw_us"], GOAL_SEQUENTIAL_US, "us"),
    ]
    return Result("client_overhead", summary, metrics, goals)


if __name__ == "__main__":
    print(run().line())
