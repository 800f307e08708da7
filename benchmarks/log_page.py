"""Log page cost on the local server: one page of a run's log, as the run grows.

The logs endpoint computes a page from the run's plan instead of listing every
line the run has produced. This times ``logs_document`` (the endpoint's work,
in-process: no HTTP, no database) for a 100-line page of finished runs with
10^3 to 10^12 lines: ``tail=100``, a page deep in the log by ``seq`` cursor
(extended dialect) and by time (strict), and the block filter. The goal: a page
of the largest log costs at most 3x a page of the smallest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks._common import Goal, Result, fmt_s
from vi_async.local.engine import RunPlan
from vi_async.local.logs import LogQuery, logs_document
from vi_async.local.records import Meta, RunRecord

GOAL_RATIO = 3.0
SPEC = {"flow": {"name": "bench", "blocks": [{"block": "a"}, {"block": "b"}, {"block": "c"}]}}


def finished_run(lines: int) -> tuple[RunRecord, int]:
    """A finished run with about ``lines`` log lines (one a millisecond), and a time after it."""
    plan = RunPlan(0, 0, lines, "Succeeded", 1)
    return RunRecord("bench", None, SPEC, Meta(1, "org", 0, 0, 1, "e", {}, "{}"), plan), lines + 1


def _best(call: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    rounds = 3 if quick else 30
    sizes = [10**3, 10**6, 10**9, 10**12]
    queries = {
        "tail": (LogQuery(tail=100), False),
        "deep seq": (LogQuery(since=0, limit=100), False),
        "deep time": (LogQuery(since=0, limit=100), True),
        "block": (LogQuery(since=0, limit=100, block="b"), False),
    }
    times: dict[str, dict[int, float]] = {name: {} for name in queries}
    for size in sizes:
        record, now = finished_run(size)
        for name, (query, strict) in queries.items():
            if name.startswith("deep") or name == "block":
                query = LogQuery(since=size // 2, limit=100, block=query.block)

            times[name][size] = _best(partial(logs_document, record, query, now, strict=strict),
                                      rounds)
    worst = max(times[n][sizes[-1]] / times[n][sizes[0]] for n in queries)
    summary = "100-line page, 10^3 -> 10^12 lines: " + ", ".join(
        f"{n} {fmt_s(t[sizes[0]])} -> {fmt_s(t[sizes[-1]])}" for n, t in times.items()
    )
    metrics = {"best_s": {n: {str(k): v for k, v in t.items()} for n, t in times.items()},
               "worst_ratio": worst}
    goal = Goal(f"page of 10^12 lines <= {GOAL_RATIO:g}x page of 10^3", worst <= GOAL_RATIO,
                f"{worst:.2f}x")
    return Result("log_page", summary + f"; worst ratio {worst:.2f}x", metrics, [goal])


if __name__ == "__main__":
    print(run().line())
