"""Observability cost: sequential ``flows.get`` with nothing on, with event hooks,
and with OpenTelemetry spans, against the local server (own process, no latency).

With nothing configured an attempt does one flag check for hooks and one for
tracing; the "off" contender is the number the issue-17 goal (within 1.15x of raw
aiohttp per GET) is judged on. The hooks contender has one no-op sync hook per
event (each attempt then builds a masked RequestInfo and ResponseInfo); the otel
contender records spans into an SDK TracerProvider without exporters (two spans
per call). Blocks alternate; each contender keeps its best block.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks._common import Goal, Result, ServerProcess, fmt_s, have

GOAL_HOOKS = 1.25


def _noop(info: Any) -> None:
    pass


async def _block(creds: dict[str, str], flow_id: str, calls: int, mode: str) -> float:
    import vi_async

    options: dict[str, Any] = {}
    if mode == "hooks":
        options["event_hooks"] = {"request": [_noop], "response": [_noop]}
    if mode == "otel":
        from opentelemetry.sdk.trace import TracerProvider

        vi_async.instrument(tracer_provider=TracerProvider())
    try:
        async with vi_async.Client(**creds, **options) as client:
            await client.flows.get(flow_id)  # warm-up: session and connection
            started = time.perf_counter()
            for _ in range(calls):
                await client.flows.get(flow_id)
            return (time.perf_counter() - started) / calls
    finally:
        vi_async.uninstrument()


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    calls, rounds = (50, 2) if quick else (300, 8)
    modes = ["off", "hooks"] + (["otel"] if have("opentelemetry.sdk") else [])
    per: dict[str, list[float]] = {mode: [] for mode in modes}
    with ServerProcess() as server:
        creds = server.credentials()
        (flow_id,) = server.seed_flows(1, "obs-")
        for _ in range(rounds):
            for mode in modes:
                per[mode].append(asyncio.run(_block(creds, flow_id, calls, mode)))
    best = {mode: min(values) for mode, values in per.items()}
    metrics: dict[str, Any] = {
        "calls_per_round": calls,
        **{f"{mode}_per_call_s": best[mode] for mode in modes},
        **{f"{mode}_over_off": best[mode] / best["off"] for mode in modes if mode != "off"},
        "rounds_per_call_s": per,
    }
    summary = f"flows.get: off {fmt_s(best['off'])}/call, " + ", ".join(
        f"{mode} {fmt_s(best[mode])}/call ({best[mode] / best['off']:.2f}x)"
        for mode in modes
        if mode != "off"
    )
    ratio = metrics["hooks_over_off"]
    goal = Goal(f"no-op hooks within {GOAL_HOOKS}x of off", ratio <= GOAL_HOOKS, f"{ratio:.2f}")
    return Result("observability", summary, metrics, [goal])


if __name__ == "__main__":
    print(run().line())
