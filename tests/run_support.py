"""Helpers shared by the run lifecycle tests: run timing metadata, the SDK's live tasks."""

from __future__ import annotations

import asyncio

GET_RUN = "GET /workspaces/{org}/runs/{runId}"
LIST_RUNS = "GET /workspaces/{org}/runs"


def run_meta(
    outcome: str = "Succeeded", pending: float = 0.05, running: float = 0.3
) -> dict[str, str]:
    """Metadata that sets the local server's outcome and timing for one run."""
    return {
        "vi-local/outcome": outcome,
        "vi-local/pending-seconds": str(pending),
        "vi-local/running-seconds": str(running),
    }


def sdk_tasks() -> list[asyncio.Task[object]]:
    """The SDK's polling tasks still alive (they are all named ``vi-async ...``)."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("vi-async")]
