"""Wait for many runs at once from an async service.

Runs against the embedded local server, so it needs no account:

    python examples/wait_for_runs.py
"""

from __future__ import annotations

import asyncio

from vi_async import Client, FlowSpec, Run, RunPhase
from vi_async.local import LocalServer, RunSchedule


async def train_all(client: Client, projects: list[str]) -> list[Run]:
    """Start one run per project and wait for all of them concurrently."""
    flow = await client.flows.create(spec=FlowSpec(name="nightly-retrain"))
    runs = [await client.runs.create(flow=flow.flow_id, training_project=p) for p in projects]

    def report(run: Run) -> None:
        print(f"  {run.run_id[:8]} {run.spec.training_project}: {run.phase.value}")

    # Any number of waits run concurrently; waits on one run share one poll stream.
    return await asyncio.gather(
        *(client.runs.wait_for(r.run_id, timeout=60, on_update=report) for r in runs)
    )


async def main() -> None:
    schedule = RunSchedule(pending_seconds=0.2, running_seconds=1.0)
    async with LocalServer(schedule=schedule) as server:
        async with Client(
            secret_key=server.secret_key,
            organization_id=server.organization_id,
            endpoint=server.endpoint,
        ) as client:
            finished = await train_all(client, [f"project-{i}" for i in range(5)])
            ok = sum(run.phase is RunPhase.SUCCEEDED for run in finished)
            print(f"{ok}/{len(finished)} runs succeeded")

            # Or handle each run as soon as it ends, in finishing order:
            spec = FlowSpec(name="sweep")
            ids = [(await client.runs.create(flow=spec)).run_id for _ in range(3)]
            async for run in client.runs.as_completed(ids, timeout=60):
                print(f"  finished: {run.run_id[:8]} {run.phase.value}")


if __name__ == "__main__":
    asyncio.run(main())
