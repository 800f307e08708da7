"""Bulk delete at zero injected latency: the client's own cost per item.

Same as ``bulk_delete`` (1,000 flows, concurrency 32, best of 3 beside raw
aiohttp) but with no latency, so the engine's per-item overhead (tasks,
semaphores, scheduling) is what separates ours from the floor.
"""

from __future__ import annotations

from benchmarks._common import Result
from benchmarks.bulk_delete import run as run_bulk_delete

GOAL_VS_FLOOR = 1.65  # what a fixed worker pool measured in issue 16 (the old engine: 2.10)


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    return run_bulk_delete(quick, latency=0.0, official_too=False, floor_goal=GOAL_VS_FLOOR)


if __name__ == "__main__":
    print(run().line())
