"""Bulk delete against rate limiters that answer like real APIs: near their rate, few 429s?

The server (its own process) puts a token bucket of ``BURST`` in front of the
flow routes. Each cell is one limiter variant: a rate (20 and 100 requests/s at
0 ms, 500 requests/s at 20 ms of latency), how it writes ``Retry-After``
(``exact``: fractional seconds; ``ceil``: whole seconds rounded up, as most real
APIs) and which headers it sends (``none``; ``ietf``: ``RateLimit-*`` with the
limit's window in ``RateLimit-Policy``; ``x``: ``X-RateLimit-*`` with the
bucket's capacity and no window). In each cell, side by side on freshly seeded
flows: ours (``delete_many(concurrency=32)``, the adaptive engine) and the same
client at a fixed concurrency of 32 (``adaptive=False``: every task waits out
its own 429s). Reported: the time over the ideal (``flows / rate``) and the
share of requests the server answered 429 (counted by the server).

``python -m benchmarks.rate_limited_delete [--rate R ...] [--retry-after exact|ceil ...]
[--headers none|ietf|x ...] [--flows N] [--no-fixed]`` runs a subset.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import Any

from benchmarks._common import Goal, Result, ServerProcess, fmt_s

BURST = 10.0
CONCURRENCY = 32
GOAL_TIME = 1.15  # at most this many times the ideal
GOAL_429_SHARE = 0.05
RATES = ((20.0, 0.0), (100.0, 0.0), (500.0, 0.02))
"""(requests/s, injected latency in seconds) of the cells."""
RETRY_AFTER = ("exact", "ceil")
HEADERS = ("none", "ietf", "x")
FLOWS = 2000
QUICK = ((100.0, 0.0, "exact", "none"), (100.0, 0.0, "ceil", "ietf"))
QUICK_FLOWS = 150


async def _delete(server: ServerProcess, ids: list[str], adaptive: bool) -> tuple[float, int]:
    from vi_async import Client

    # The fixed run exhausts its retry budget by design: keep its warnings off the output.
    logging.getLogger("vi_async").addHandler(logging.NullHandler())
    logging.getLogger("vi_async").propagate = False
    async with Client(**server.credentials()) as client:
        started = time.perf_counter()
        report = await client.flows.delete_many(ids, concurrency=CONCURRENCY, adaptive=adaptive)
        return time.perf_counter() - started, len(report.deleted)


def _one(server: ServerProcess, cell: dict[str, Any], n: int, adaptive: bool) -> dict[str, Any]:
    ids = server.seed_flows(n, f"{'ours' if adaptive else 'fixed'}-")
    server.set_faults(
        rate_limit=cell["rate"],
        rate_limit_burst=BURST,
        rate_limit_retry_after=cell["retry_after"],
        rate_limit_headers=cell["headers"],
        latency=cell["latency"],
        paths="/flows/",
    )
    server.reset_stats()  # after set_faults: the bucket starts full, the counts at zero
    try:
        elapsed, deleted = asyncio.run(_delete(server, ids, adaptive))
    finally:
        server.set_faults()
    requests = server.stats().get("DELETE /workspaces/{org}/flows/{flowId}", 0)
    limited = server.rate_limited()
    ideal = n / cell["rate"]
    return {
        "elapsed_s": elapsed,
        "over_ideal": elapsed / ideal,
        "deleted": deleted,
        "requests": requests,
        "rate_limited": limited,
        "share_429": limited / requests if requests else 0.0,
    }


def _cells(
    rates: list[tuple[float, float]], styles: list[str], headers: list[str]
) -> list[dict[str, Any]]:
    return [
        {"rate": rate, "latency": latency, "retry_after": style, "headers": header}
        for rate, latency in rates
        for style in styles
        for header in headers
    ]


def measure(cells: list[dict[str, Any]], n: int, *, fixed: bool = True) -> Result:
    """Run ``cells`` (ours, then the fixed concurrency, in each) and return the result."""
    rows: list[dict[str, Any]] = []
    goals: list[Goal] = []
    with ServerProcess() as server:
        for cell in cells:
            ours = _one(server, cell, n, True)
            beside = _one(server, cell, n, False) if fixed else None
            ideal = n / cell["rate"]
            row = {**cell, "flows": n, "ideal_s": ideal, "ours": ours, "fixed_32": beside}
            rows.append(row)
            name = _name(cell)
            goals.append(Goal.at_most(f"{name}: time / ideal", ours["over_ideal"], GOAL_TIME))
            goals.append(
                Goal.at_most(
                    f"{name}: 429 share", 100 * ours["share_429"], 100 * GOAL_429_SHARE, "%"
                )
            )
            print(f"  {_line(row)}", flush=True)
    worst = max(rows, key=lambda row: row["ours"]["over_ideal"])
    summary = (
        f"{len(rows)} limiter variants, {n} flows each, burst {BURST:g}: ours at worst "
        f"{worst['ours']['over_ideal']:.2f}x ideal ({_name(worst)}), at most "
        f"{max(row['ours']['share_429'] for row in rows):.1%} answered 429"
    )
    return Result("rate_limited_delete", summary, {"cells": rows}, goals)


def _name(cell: dict[str, Any]) -> str:
    latency = f" {cell['latency'] * 1000:.0f}ms" if cell["latency"] else ""
    return f"{cell['rate']:.0f}/s{latency} {cell['retry_after']} {cell['headers']}"


def _line(row: dict[str, Any]) -> str:
    ours, fixed = row["ours"], row["fixed_32"]
    text = (
        f"{_name(row)}: ideal {fmt_s(row['ideal_s'])}; ours {fmt_s(ours['elapsed_s'])} "
        f"{ours['over_ideal']:.3f}x, {ours['share_429']:.1%} 429 of {ours['requests']}"
    )
    if fixed is not None:
        text += (
            f"; fixed 32 {fmt_s(fixed['elapsed_s'])} {fixed['over_ideal']:.2f}x, "
            f"{fixed['share_429']:.1%} 429, {fixed['deleted']}/{row['flows']} deleted"
        )
    return text


def run(quick: bool = False) -> Result:
    """Run the measure (every cell; ``quick``: two cells of a few flows) and return it."""
    if quick:
        cells = [
            {"rate": rate, "latency": latency, "retry_after": style, "headers": header}
            for rate, latency, style, header in QUICK
        ]
        return measure(cells, QUICK_FLOWS)
    return measure(_cells(list(RATES), list(RETRY_AFTER), list(HEADERS)), FLOWS)


def main() -> None:
    """Run a subset of the cells from the command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rate_limited_delete")
    parser.add_argument("--rate", type=float, action="append", help="20, 100 or 500 (repeat)")
    parser.add_argument("--retry-after", choices=RETRY_AFTER, action="append")
    parser.add_argument("--headers", choices=HEADERS, action="append")
    parser.add_argument("--flows", type=int, default=FLOWS)
    parser.add_argument("--no-fixed", action="store_true", help="skip the fixed concurrency")
    args = parser.parse_args()
    rates = [(rate, lag) for rate, lag in RATES if not args.rate or rate in args.rate]
    cells = _cells(rates, args.retry_after or list(RETRY_AFTER), args.headers or list(HEADERS))
    result = measure(cells, args.flows, fixed=not args.no_fixed)
    print(result.line())
    for goal in result.goals:
        print(f"  {goal.text}: {goal.regression()}")


if __name__ == "__main__":
    main()
