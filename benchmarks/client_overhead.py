"""Client overhead per request: ours against raw aiohttp on the same server, same concurrency.

With no injected latency a loopback round trip costs a few hundred
microseconds, so the client's own CPU per request is what sets the pace. The
server runs in its own process (its CPU is never billed to the client); each
contender is timed by wall clock and by the client process's CPU time
(``time.process_time``). Scenes, each against the raw-aiohttp floor (the
bulk delete at 0 and 20 ms is measured by ``bulk_delete_0ms`` and
``bulk_delete``):

- ``gather_get``: ``asyncio.gather`` of 1,000 ``flows.get``, against 1,000
  bare GETs with an orjson decode of each body (the same connection limit, 100).
- ``sequential_get``: one ``flows.get`` after another, against bare GET + orjson.
- ``plain_gather_get`` / ``plain_sequential_get``: the same against a server in
  its plain mode (``--plain``: the strict wire, no ``X-Request-Id``, as bare as
  WIRE.md allows, like a server that is not ours), the gather with both clients
  held to 32 connections (``Client(max_connections=32)``), the concurrency
  issue 26 measured a foreign server at.
- ``foreign_gather_get`` / ``foreign_sequential_get``: the same, at 32 connections,
  against ``benchmarks.foreign_server``, a server that is not ours (bare asyncio,
  written from WIRE.md). It answers in a fraction of our local server's time, so
  the gather is bound by the client's own CPU, not by the server's: this is what
  shows the client's overhead that our local server hides.
  ``foreign_chunked_gzip_*``: the same server answering chunked and gzipped (no
  Content-Length: ``read_body``'s bounded streaming read).

Contenders alternate round by round and each keeps its best round (wall and
CPU separately), so the noise of a shared machine hits both alike. Each timed
block starts after a full garbage collection: otherwise one contender's garbage
can set off a full collection (tens of ms) inside the other's round.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from benchmarks._common import (
    ForeignServerProcess,
    Goal,
    Result,
    ServerProcess,
    Stopwatch,
    fmt_s,
)

FLOWS = 1000
GET_CONNECTIONS = 100  # the client's default max_connections
PLAIN_CONNECTIONS = 32
GOAL_GATHER = 1.15
GOAL_SEQUENTIAL_US = 25.0
FOREIGN_VARIANTS = {"foreign": [], "foreign_chunked_gzip": ["--chunked", "--encoding", "gzip"]}
Server = ServerProcess | ForeignServerProcess


def _raw_session(server: Server, limit: int) -> aiohttp.ClientSession:
    headers = {
        "Authorization": f"Bearer {server.secret_key}",
        "Organization-Id": server.organization_id,
    }
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), headers=headers)


def _flows_url(server: Server) -> str:
    return f"{server.endpoint}workspaces/{server.organization_id}/flows/"


async def _raw_get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {resp.status}")
        return orjson.loads(body)


async def gather_ours(
    server: Server, ids: list[str], connections: int = GET_CONNECTIONS
) -> Stopwatch:
    """``gather`` of ``flows.get`` over ``ids`` (after one warm-up call)."""
    from vi_async import Client

    async with Client(**server.credentials(), max_connections=connections) as client:
        await client.flows.get(ids[0])
        gc.collect()
        with Stopwatch() as watch:
            await asyncio.gather(*(client.flows.get(flow_id) for flow_id in ids))
    return watch


async def gather_raw(
    server: Server, ids: list[str], connections: int = GET_CONNECTIONS
) -> Stopwatch:
    """The same GETs with bare aiohttp, each body decoded with orjson."""
    base = _flows_url(server)
    async with _raw_session(server, connections) as session:
        await _raw_get(session, base + ids[0])
        gc.collect()
        with Stopwatch() as watch:
            await asyncio.gather(*(_raw_get(session, base + flow_id) for flow_id in ids))
    return watch


async def sequential_ours(server: Server, flow_id: str, calls: int) -> Stopwatch:
    """``calls`` sequential ``flows.get`` (after one warm-up call)."""
    from vi_async import Client

    async with Client(**server.credentials()) as client:
        await client.flows.get(flow_id)
        gc.collect()
        with Stopwatch() as watch:
            for _ in range(calls):
                await client.flows.get(flow_id)
    return watch


async def sequential_raw(server: Server, flow_id: str, calls: int) -> Stopwatch:
    """The same sequential GETs with bare aiohttp + orjson."""
    url = _flows_url(server) + flow_id
    async with _raw_session(server, GET_CONNECTIONS) as session:
        await _raw_get(session, url)
        gc.collect()
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


def _scenes(server: Server, quick: bool, connections: int) -> dict[str, Any]:
    """The gather and the sequential scene against ``server``."""
    n = 200 if quick else FLOWS
    gather_rounds = 1 if quick else 9
    calls, seq_rounds = (50, 2) if quick else (300, 12)
    ids = server.seed_flows(n, "get-")
    gather = _ratios(_alternate({
        "ours": lambda: asyncio.run(gather_ours(server, ids, connections)),
        "raw": lambda: asyncio.run(gather_raw(server, ids, connections)),
    }, gather_rounds))  # fmt: skip
    gather["gets"] = n
    gather["connections"] = connections
    seq = _ratios(_alternate({
        "ours": lambda: asyncio.run(sequential_ours(server, ids[0], calls)),
        "raw": lambda: asyncio.run(sequential_raw(server, ids[0], calls)),
    }, seq_rounds))  # fmt: skip
    seq["calls_per_round"] = calls
    seq["over_raw_us"] = (seq["wall_s"]["ours"] - seq["wall_s"]["raw"]) / calls * 1e6
    seq["cpu_over_raw_us"] = (seq["cpu_s"]["ours"] - seq["cpu_s"]["raw"]) / calls * 1e6
    seq["ours_per_call_s"] = seq["wall_s"]["ours"] / calls
    seq["raw_per_call_s"] = seq["wall_s"]["raw"] / calls
    return {"gather_get": gather, "sequential_get": seq}


def _describe(name: str, g: dict[str, Any], seq: dict[str, Any]) -> tuple[str, list[Goal]]:
    """The summary part and the goals of one server's scenes."""
    text = (
        f"{name}gather {g['gets']} get at {g['connections']}: ours {fmt_s(g['wall_s']['ours'])}"
        f" vs raw+orjson {fmt_s(g['wall_s']['raw'])} = {g['wall_ratio']:.2f}x"
        f" (CPU {g['cpu_ratio']:.2f}x); {name}sequential get: {fmt_s(seq['ours_per_call_s'])}"
        f" vs {fmt_s(seq['raw_per_call_s'])} = +{seq['over_raw_us']:.0f}us/call"
        f" (CPU +{seq['cpu_over_raw_us']:.0f}us)"
    )
    goals = [
        Goal.at_most(f"{name}gather of flows.get <= {GOAL_GATHER}x raw+orjson",
                     g["wall_ratio"], GOAL_GATHER),
        Goal.at_most(f"{name}sequential flows.get <= {GOAL_SEQUENTIAL_US:g} us over raw",
                     seq["over_raw_us"], GOAL_SEQUENTIAL_US, "us"),
    ]  # fmt: skip
    return text, goals


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    with ServerProcess() as server:
        metrics = _scenes(server, quick, GET_CONNECTIONS)
    ours, goals = _describe("", metrics["gather_get"], metrics["sequential_get"])
    parts = [ours]
    servers: dict[str, Server] = {"plain": ServerProcess(plain=True)}
    servers.update(
        {name: ForeignServerProcess(switches) for name, switches in FOREIGN_VARIANTS.items()}
    )
    for name, process in servers.items():
        with process as server:
            scenes = _scenes(server, quick, PLAIN_CONNECTIONS)
        metrics[f"{name}_gather_get"] = scenes["gather_get"]
        metrics[f"{name}_sequential_get"] = scenes["sequential_get"]
        label = name.replace("_", " ") + " "
        text, more = _describe(label, scenes["gather_get"], scenes["sequential_get"])
        parts.append(text)
        goals += more
    return Result("client_overhead", "; ".join(parts), metrics, goals)


if __name__ == "__main__":
    print(run().line())
