"""``client.runs``: executions of flows, their lifecycle and logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing
from typing import Any

import anyio

from .._convert import spec_to_wire
from .._ids import check_id, new_id, segment
from .._logs import read_logs
from .._transport import Transport
from .._waiter import RunWatcher
from ..errors import ViTimeoutError
from ..models import DeletedResource, Flow, FlowSpec, LogLine, PaginationParams, Run, RunPhase
from ..pagination import AsyncPager
from ._base import Resource, decode, request_body

FLOW_ID_HEADER = "Vi-Flow-Id"


def _phase_filter(
    status: RunPhase | str | Iterable[RunPhase | str] | None,
) -> Callable[[Run], bool] | None:
    if status is None:
        return None
    wanted = (
        {RunPhase(status)} if isinstance(status, (RunPhase, str)) else {RunPhase(s) for s in status}
    )
    return lambda run: run.phase in wanted


class RunsResource(Resource):
    """Create, inspect, wait for, kill and delete runs."""

    collection = "runs"
    id_name = "run_id"

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self._watcher = RunWatcher(
            self.get, max_concurrent_polls=transport.config.max_connections
        )

    def list(
        self,
        pagination: PaginationParams | dict[str, Any] | None = None,
        *,
        status: RunPhase | str | Sequence[RunPhase | str] | None = None,
        limit: int | None = None,
    ) -> AsyncPager[Run]:
        """Runs of the organization, oldest first.

        ``status`` keeps only runs in that phase (or any of a list of phases),
        filtered client-side; ``limit`` caps the number of runs and stops
        fetching pages once it is reached.
        """
        return self._pager(Run, pagination, where=_phase_filter(status), limit=limit)

    async def get(self, run_id: str) -> Run:
        """Get one run by id. Raises ViNotFoundError if it does not exist."""
        return decode(await self._transport.request("GET", self._path(run_id)), Run)

    async def create(
        self,
        flow: str | FlowSpec | dict[str, Any],
        training_project: str | None = None,
        metadata: dict[str, str] | None = None,
        *,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Run:
        """Start a run of a flow, given by id, FlowSpec or dict.

        Given a flow id, the flow's spec is fetched and embedded, and the id is
        sent in the ``Vi-Flow-Id`` header so the server can link the run to its
        flow. With ``wait=True`` this returns the run once it has ended (or
        raises ViTimeoutError after ``timeout`` seconds; its ``last_run`` names
        the run that was created).
        """
        headers = None
        if isinstance(flow, str):
            flow_path = f"flows/{segment(check_id(flow, 'flow'))}"
            flow_obj = decode(await self._transport.request("GET", flow_path), Flow)
            spec = spec_to_wire(flow_obj.spec)
            headers = {FLOW_ID_HEADER: flow}
        else:
            spec = spec_to_wire(flow)
        run_spec: dict[str, Any] = {"flow": spec}
        if training_project is not None:
            run_spec["trainingProject"] = training_project
        body = request_body(run_spec, metadata)
        path = self._path(new_id())
        run = decode(await self._transport.create(path, body, headers), Run)
        if not wait:
            return run
        try:
            return await self.wait_for(run.run_id, timeout=timeout)
        except ViTimeoutError as exc:
            if exc.last_run is None:  # timed out before the first poll: the created run
                exc.last_run = run
            raise

    async def start(
        self,
        flow: str | FlowSpec | dict[str, Any],
        training_project: str | None = None,
        metadata: dict[str, str] | None = None,
        *,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Run:
        """Alias of ``create()``: start a run of a flow."""
        return await self.create(flow, training_project, metadata, wait=wait, timeout=timeout)

    async def update(
        self,
        run_id: str,
        spec: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Run:
        """Change a run with PATCH semantics: only the given fields change."""
        path = self._path(run_id)
        body = request_body(None if spec is None else spec_to_wire(spec), metadata)
        return decode(await self._transport.request("PATCH", path, body=body), Run)

    async def kill(self, run_id: str) -> Run:
        """Stop a run. Idempotent: a run that has already ended is returned unchanged."""
        run = await self.get(run_id)
        if run.is_terminal:
            return run
        body = {"spec": {"killedAt": int(time.time() * 1000)}}
        return decode(await self._transport.request("PATCH", self._path(run_id), body=body), Run)

    async def delete(self, run_id: str) -> DeletedResource:
        """Delete a run. Raises ViNotFoundError if it does not exist."""
        return await self._deleted(run_id)

    async def wait_for(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_update: Callable[[Run], Any] | None = None,
    ) -> Run:
        """Wait until the run has ended and return it.

        Polls quickly at first and backs off (or every ``poll_interval``
        seconds); concurrent waits on the same run share one poll stream.
        ``on_update(run)`` (sync or async) is called on each phase change.
        ``timeout`` is a deadline for the whole wait, hanging requests
        included: ViTimeoutError carries the last Run seen as ``last_run``.
        A missing run raises ViNotFoundError.
        """
        check_id(run_id, "run_id")
        return await self._watcher.wait(
            run_id, timeout=timeout, poll_interval=poll_interval, on_update=on_update
        )

    async def as_completed(
        self, run_ids: Iterable[str], *, timeout: float | None = None
    ) -> AsyncIterator[Run]:
        """Yield each run as it ends, in finishing order.

        ``timeout`` bounds the whole iteration (ViTimeoutError). Leaving the
        loop early cancels the remaining waits; wrap it in
        ``contextlib.aclosing`` to have that happen at once.
        """
        ids = [check_id(run_id, "run_id") for run_id in dict.fromkeys(run_ids)]
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = {asyncio.ensure_future(self.wait_for(run_id)) for run_id in ids}
        try:
            while pending:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, pending = await asyncio.wait(
                    pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    raise ViTimeoutError(f"{len(pending)} run(s) did not finish within {timeout}s")
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                with anyio.CancelScope(shield=True):
                    await asyncio.wait(pending)

    async def logs(
        self, run_id: str, *, tail: int | None = 100, follow: bool = False
    ) -> AsyncIterator[LogLine]:
        """Yield the run's log lines: the last ``tail`` lines (None: all), and with
        ``follow=True`` every new line until the run has ended and its log is
        drained, each exactly once."""
        path = self._path(run_id) + "/logs"

        async def ended() -> bool:
            return (await self.get(run_id)).is_terminal

        async with aclosing(
            read_logs(self._transport, path, tail=tail, follow=follow, is_terminal=ended)
        ) as lines:
            async for line in lines:
                yield line
