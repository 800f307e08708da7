"""Where the client's time goes per request: ``python -m benchmarks.where_time_goes [SCENE]``.

Not a measure of ``python -m benchmarks`` (a profiler slows what it watches):
a cProfile of one zero-latency scene against the local server in its own
process, repeated (``--repeat``, default 3). Each function's own time is
charged to a layer (aiohttp, asyncio's loop, anyio, our transport, ...) and
each layer keeps its smallest figure over the repeats (time lost to other
processes on a shared machine only ever adds), printed in microseconds per
request, the largest first. cProfile's own cost per call inflates every
layer, most those with many small calls: the shares matter, not the sums. Scenes: ``bulk``
(``delete_many`` of 1,000 flows at concurrency 32), ``gather`` (1,000
``flows.get`` at once) and ``sequential`` (2,000 ``flows.get`` one by one).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
from typing import Any

from benchmarks._common import ServerProcess

# (substring of the function's file, layer), first match wins
LAYERS = (
    ("vi_async/_transport", "vi_async transport"),
    ("vi_async/_retry", "vi_async transport"),
    ("vi_async/_body", "vi_async transport"),
    ("vi_async/_observe", "vi_async transport"),
    ("vi_async/_otel", "vi_async transport"),
    ("vi_async/_rate_limit", "vi_async transport"),
    ("vi_async/_bulk", "vi_async bulk engine"),
    ("vi_async/_adaptive", "vi_async bulk engine"),
    ("vi_async/bulk", "vi_async bulk engine"),
    ("vi_async/resources", "vi_async resources"),
    ("vi_async/_ids", "vi_async resources"),
    ("vi_async generated structure", "vi_async decode"),
    ("vi_async/_convert", "vi_async decode"),
    ("vi_async/_json", "vi_async decode"),
    ("orjson", "vi_async decode"),
    ("vi_async", "vi_async other"),
    ("backoff", "backoff"),
    ("anyio", "anyio"),
    ("aiohttp", "aiohttp"),
    ("yarl", "aiohttp"),
    ("multidict", "aiohttp"),
    ("uuid", "uuid"),
    ("socket", "socket send/recv (kernel)"),
    ("select.epoll", "epoll (waiting for the server)"),
    ("asyncio", "asyncio loop"),
    ("contextvars", "asyncio loop"),
)


def _layer(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for needle, layer in LAYERS:
        if needle in where:
            return layer
    return "other (builtins)"


def layers(profile: cProfile.Profile, requests: int) -> list[tuple[str, float]]:
    """Own time per layer in microseconds per request, largest first."""
    stats: Any = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    per: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, own, _cum, _callers) in stats.items():
        layer = _layer(filename, name)
        per[layer] = per.get(layer, 0.0) + own
    rows = [(layer, own / requests * 1e6) for layer, own in per.items()]
    return sorted(rows, key=lambda row: row[1], reverse=True)


async def _scene(server: ServerProcess, scene: str) -> tuple[cProfile.Profile, int]:
    from vi_async import Client

    profile = cProfile.Profile()
    async with Client(**server.credentials()) as client:
        if scene == "bulk":
            ids = server.seed_flows(1000)
            profile.enable()
            await client.flows.delete_many(ids, concurrency=32)
            profile.disable()
            return profile, len(ids)
        ids = server.seed_flows(1000 if scene == "gather" else 1)
        await client.flows.get(ids[0])
        profile.enable()
        if scene == "gather":
            await asyncio.gather(*(client.flows.get(i) for i in ids))
            n = len(ids)
        else:
            n = 2000
            for _ in range(n):
                await client.flows.get(ids[0])
        profile.disable()
        return profile, n


def main() -> None:
    """Profile the chosen scene and print the per-layer table (markdown)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.where_time_goes")
    parser.add_argument("scene", nargs="?", default="bulk",
                        choices=("bulk", "gather", "sequential"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    best: dict[str, float] = {}
    with ServerProcess() as server:
        for _ in range(args.repeat):
            profile, n = asyncio.run(_scene(server, args.scene))
            for layer, us in layers(profile, n):
                best[layer] = min(us, best.get(layer, us))
    rows = sorted(best.items(), key=lambda row: row[1], reverse=True)
    total = sum(us for _, us in rows)
    print(f"scene {args.scene}: {n} requests, {total:.0f} us per request, best of "
          f"{args.repeat} per layer (under cProfile, which inflates it: read the shares)")
    print("| layer | us/request | share |\n|---|---|---|")
    for layer, us in rows:
        print(f"| {layer} | {us:.1f} | {us / total:.0%} |")


if __name__ == "__main__":
    main()
