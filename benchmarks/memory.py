"""Memory: ``all_items()`` over 100,000 flows in constant memory.

The server (own process, so its memory is never counted) bulk-seeds the flows
through ``/_local/seed``. The client runs in a fresh child process that measures
its own resident set: the baseline after import, client set-up and one warm-up
request (a 1-item page), then the peak (``VmHWM``, reset after the baseline where the kernel
allows) while iterating every flow with pages of 1,000 (the largest page, so
the worst case for memory).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from typing import Any

from benchmarks._common import Goal, Result, ServerProcess, fmt_s, run_child

GOAL_MB = 50.0
PAGE_SIZE = 1000


def _status_kb(field: str) -> int | None:
    """A ``VmRSS`` / ``VmHWM`` value from /proc/self/status, in KiB (None off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _maxrss_kb() -> int:
    """The process's peak RSS from getrusage, in KiB (macOS reports bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _rss_mb() -> float:
    """Current RSS in MiB (the peak where /proc is missing)."""
    kb = _status_kb("VmRSS")
    return (kb if kb is not None else _maxrss_kb()) / 1024


def _peak_mb() -> float:
    """Peak RSS in MiB since start or the last reset."""
    kb = _status_kb("VmHWM")
    return (kb if kb is not None else _maxrss_kb()) / 1024


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


async def _iterate(page_size: int) -> dict[str, Any]:
    from vi_async import Client, PaginationParams

    async with Client() as client:  # credentials from DATATURE_VI_* (set by the parent)
        # warm-up (session, connection, converter hooks) on a 1-item page, so that the
        # growth below includes the working set of a full page
        await client.flows.list(pagination=PaginationParams(page_size=1))
        gc.collect()
        baseline = _rss_mb()
        peak_reset = _reset_peak()
        count = 0
        started = time.perf_counter()
        pager = client.flows.list(pagination=PaginationParams(page_size=page_size))
        async for _flow in pager.all_items():
            count += 1
        elapsed = time.perf_counter() - started
        peak = _peak_mb()
        return {
            "flows_seen": count,
            "baseline_mb": baseline,
            "peak_mb": peak,
            "growth_mb": peak - baseline,
            "final_mb": _rss_mb(),
            "peak_reset": peak_reset,
            "elapsed_s": elapsed,
        }


def child_main() -> None:
    """The measuring child: ``python -m benchmarks.memory --child --page-size N``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_iterate(args.page_size))), flush=True)


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    n = 5_000 if quick else 100_000
    with ServerProcess() as server:
        seeded_at = time.perf_counter()
        server.seed_flows(n, "mem-")
        seed_s = time.perf_counter() - seeded_at
        env = {
            **os.environ,
            "DATATURE_VI_API_ENDPOINT": server.endpoint,
            "DATATURE_VI_ORGANIZATION_ID": server.organization_id,
            "DATATURE_VI_SECRET_KEY": server.secret_key,
        }
        child: dict[str, Any] = run_child(
            ["-m", "benchmarks.memory", "--child", "--page-size", str(PAGE_SIZE)], env=env
        )
    if child["flows_seen"] != n:
        raise RuntimeError(f"all_items() yielded {child['flows_seen']} flows, expected {n}")
    metrics = {"flows": n, "page_size": PAGE_SIZE, "seed_s": seed_s, **child}
    growth = child["growth_mb"]
    summary = (
        f"all_items() over {n:,} flows (pages of {PAGE_SIZE}) in {fmt_s(child['elapsed_s'])}: "
        f"RSS baseline {child['baseline_mb']:.1f} MB, peak {child['peak_mb']:.1f} MB, "
        f"growth {growth:.1f} MB"
    )
    if not child["peak_reset"]:
        summary += " (peak since process start)"
    goal = Goal(f"peak RSS growth < {GOAL_MB:.0f} MB", growth < GOAL_MB, f"{growth:.1f} MB")
    return Result("memory", summary, metrics, [goal])


if __name__ == "__main__":
    child_main()
