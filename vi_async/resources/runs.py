"""``client.runs``: executions of flows, their lifecycle and logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any

import anyio

from .._constants import DEFAULT_WAIT_TIMEOUT, MAX_PAGE_SIZE
from .._convert import spec_to_wire, structure
from .._http import json as _json
from .._http.transport import Response
from .._observe.otel import traced
from .._runs.logs import read_logs
from .._runs.phases import FAILED_PHASES, Phases, phase_filter, phase_set
from .._runs.poller import ListPoller
from .._runs.wait import OnUpdate, RunWaiter
from .._runs.watch import watch_runs
from .._validate import check_id, check_number, new_id, segment
from ..errors import ViDecodeError, ViRunFailedError, ViTimeoutError
from ..models import (
    DeletedResource,
    Flow,
    FlowSpec,
    LogLine,
    PaginationParams,
    Run,
    RunEvent,
    RunSpec,
)
from ..pagination import AsyncPager
from ._base import Resource, check_answer_id, decode, page_items, request_body

FLOW_ID_HEADER = "Vi-Flow-Id"
LIST_PAGE_SIZE = str(MAX_PAGE_SIZE)


def _parse_page(response: Response) -> tuple[list[Any], str | None]:
    """A list page fetched undecoded: its raw items and next-page token."""
    try:
        data = _json.loads(response.data)
    except ValueError:  # not chained: the decoder's error holds the whole body
        raise ViDecodeError(
            "The runs list is not JSON", status=response.status, request_id=response.request_id
        ) from None
    return page_items(response.replace(data))


def _run_attributes(run: Run) -> dict[str, Any]:
    return {"vi.run.phase": run.phase.value}


class RunsResource(Resource):
    """Create, inspect, wait for, kill and delete runs."""

    collection = "runs"
    id_name = "run_id"

    def __init__(self, transport: object) -> None:
        """Bind to a client's transport (the client makes ``client.runs``).

        Args:
            transport: The client's HTTP transport (private: not part of the API).
        """
        super().__init__(transport)
        self._poller = ListPoller(
            self._get_raw,
            self._fetch_page,
            _parse_page,
            lambda raw: structure(raw, Run),
            max_concurrent_polls=self._transport.config.max_connections,
            outage_limit=self._transport.config.retry_deadline,
        )
        self._waiter = RunWaiter(self._poller)

    async def _get_raw(self, run_id: str) -> Any:
        response = await self._transport.request("GET", self._path(run_id))
        data = response.data
        answered = data.get("runId") if isinstance(data, dict) else None
        check_answer_id(response, self.id_name, run_id, answered)
        return data

    async def _fetch_page(self, token: str | None) -> Response:
        query = {"s": LIST_PAGE_SIZE} if token is None else {"s": LIST_PAGE_SIZE, "p": token}
        return await self._transport.request("GET", self.collection, params=query, raw_body=True)

    def list(
        self,
        pagination: PaginationParams | dict[str, Any] | None = None,
        *,
        status: Phases | None = None,
        limit: int | None = None,
    ) -> AsyncPager[Run]:
        """List the organization's runs, oldest first.

        Args:
            pagination: The page size and the token of the first page to fetch.
            status: Keep only runs in this phase, or in any of these phases
                (RunPhase or name, any case); filtered client-side.
            limit: At most this many runs; no page is fetched once it is reached.

        Returns:
            A pager: ``await pager`` gives the first page, ``async for``
            every page, ``all_items()`` every run.

        Raises:
            TypeError: ``status`` is not a phase, a phase name or an iterable of them.
            ValueError: ``status`` names no phase (the message lists the valid ones).
        """
        return self._pager(Run, pagination, where=phase_filter(status), limit=limit)

    @traced("vi.runs.get", id_param="run_id")
    async def get(self, run_id: str) -> Run:
        """Get one run by id. Raises ViNotFoundError if it does not exist."""
        return self._decode_one(
            await self._transport.request("GET", self._path(run_id)), Run, run_id
        )

    @traced("vi.runs.create", summary=_run_attributes)
    async def create(
        self,
        flow: str | Flow | FlowSpec | dict[str, Any],
        training_project: str | None = None,
        metadata: dict[str, str] | None = None,
        *,
        wait: bool = False,
        timeout: float | None = None,
        raise_on_failure: bool = False,
    ) -> Run:
        """Start a run of a flow, given by id, Flow, FlowSpec or dict.

        The run embeds the flow's spec (the wire has no reference by id). Given
        a flow id, the flow is fetched (one GET per call: the wire has no cheap
        way to know a spec fetched earlier is still current), and given a Flow
        (what ``flows.get``/``create`` return) its spec is used as it is, with
        no request; either way the id goes in the ``Vi-Flow-Id`` header so the
        server can link the run to its flow. Anything else is a TypeError,
        raised before any request. With ``wait=True`` this returns the run once it has ended (or
        raises ViTimeoutError after ``timeout`` seconds, by default wait_for's
        hour; its ``last_run`` names the run that was created); with
        ``raise_on_failure=True`` too, a run that ended Failed, Error or
        Cancelled raises ViRunFailedError.
        """
        check_number(timeout, "timeout")
        spec, headers = await self._flow_spec(flow)
        run_spec: dict[str, Any] = {"flow": spec}
        if training_project is not None:
            run_spec["trainingProject"] = training_project
        body = request_body(run_spec, metadata)
        run_id = new_id()
        run = self._decode_one(
            await self._transport.create(self._path(run_id), body, headers), Run, run_id
        )
        if not wait:
            return run
        try:
            return await self.wait_for(
                run.run_id,
                timeout=DEFAULT_WAIT_TIMEOUT if timeout is None else timeout,
                raise_on_failure=raise_on_failure,
            )
        except ViTimeoutError as exc:
            if exc.last_run is None:  # timed out before the first poll: the created run
                exc.last_run = run
            raise

    async def _flow_spec(
        self, flow: str | Flow | FlowSpec | dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """The flow spec a run's body embeds, and the header linking the run to its flow.

        Args:
            flow: A flow id (its spec is fetched), a Flow (its spec is used as it
                is), or a FlowSpec or dict.

        Returns:
            The spec in wire form, and the ``Vi-Flow-Id`` header when the flow is known.

        Raises:
            TypeError: ``flow`` is none of those (before any request).
            InvalidIdError: The flow id is not a valid id (before any request).
        """
        if isinstance(flow, Flow):
            return spec_to_wire(flow.spec), {FLOW_ID_HEADER: check_id(flow.flow_id, "flow_id")}
        if isinstance(flow, str):
            flow_path = f"flows/{segment(check_id(flow, 'flow'))}"
            response = await self._transport.request("GET", flow_path)
            found = decode(response, Flow)
            check_answer_id(response, "flow_id", flow, found.flow_id)
            return spec_to_wire(found.spec), {FLOW_ID_HEADER: flow}
        if isinstance(flow, (FlowSpec, dict)):
            return spec_to_wire(flow), None
        raise TypeError(
            f"flow must be a flow id, a Flow, a FlowSpec or a dict, not {type(flow).__name__}"
        )

    async def start(
        self,
        flow: str | Flow | FlowSpec | dict[str, Any],
        training_project: str | None = None,
        metadata: dict[str, str] | None = None,
        *,
        wait: bool = False,
        timeout: float | None = None,
        raise_on_failure: bool = False,
    ) -> Run:
        """Alias of ``create()``: start a run of a flow."""
        return await self.create(
            flow,
            training_project,
            metadata,
            wait=wait,
            timeout=timeout,
            raise_on_failure=raise_on_failure,
        )

    @traced("vi.runs.update", id_param="run_id")
    async def update(
        self,
        run_id: str,
        spec: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Run:
        """Change a run with PATCH semantics: only the given fields change."""
        path = self._path(run_id)
        body = request_body(None if spec is None else spec_to_wire(spec, RunSpec), metadata)
        return self._decode_one(
            await self._transport.request("PATCH", path, body=body), Run, run_id
        )

    @traced("vi.runs.kill", id_param="run_id", summary=_run_attributes)
    async def kill(self, run_id: str) -> Run:
        """Stop a run. Idempotent: a run that has already ended is returned unchanged."""
        run = await self.get(run_id)
        if run.is_terminal:
            return run
        body = {"spec": {"killedAt": int(time.time() * 1000)}}
        response = await self._transport.request("PATCH", self._path(run_id), body=body)
        return self._decode_one(response, Run, run_id)

    @traced("vi.runs.delete", id_param="run_id")
    async def delete(self, run_id: str) -> DeletedResource:
        """Delete a run. Raises ViNotFoundError if it does not exist."""
        return await self._deleted(run_id)

    @traced("vi.runs.wait_for", id_param="run_id", summary=_run_attributes)
    async def wait_for(
        self,
        run_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float | None = None,
        on_update: OnUpdate | None = None,
        until: Phases | None = None,
        raise_on_failure: bool = False,
    ) -> Run:
        """Wait until the run has ended (or reached ``until``) and return it.

        Polls quickly at first and backs off; all of a client's waits share one
        poller, which reads the runs list instead of each run when that takes
        fewer requests.

        Args:
            run_id: The run to wait on.
            timeout: A deadline for the whole wait, hanging requests included
                (seconds), or None for none.
            poll_interval: Poll every this many seconds instead of backing off.
            on_update: Called with the run (sync or async) on each phase change.
            until: A phase or a set of phases (default: the terminal ones);
                ``until=RunPhase.RUNNING`` returns once the run runs.
            raise_on_failure: Raise if the run ended Failed, Error or Cancelled.

        Returns:
            The run, as first seen in one of the phases waited for.

        Raises:
            ViTimeoutError: The deadline passed; ``last_run`` is the last Run seen.
            ViUnreachablePhaseError: The run ended (or moved past ``until``)
                without reaching it; raised at once (a ViRunFailedError).
            ViRunFailedError: With ``raise_on_failure``, the run failed
                (``.run``, ``.reason``, ``.condition_message``).
            ViNotFoundError: The run does not exist.
            TypeError: ``until`` is not a phase, a phase name or an iterable of them.
            ValueError: ``until`` names no phase (the message lists the valid ones).
        """
        check_id(run_id, "run_id")
        check_number(poll_interval, "poll_interval", positive=True)
        check_number(timeout, "timeout")
        return await self._waiter.wait(
            run_id,
            timeout=timeout,
            poll_interval=poll_interval,
            on_update=on_update,
            until=phase_set(until, "until"),
            raise_on_failure=raise_on_failure,
        )

    async def as_completed(
        self,
        run_ids: Iterable[str],
        *,
        timeout: float | None = None,
        raise_on_failure: bool = False,
    ) -> AsyncIterator[Run]:
        """Yield each run as it ends, in finishing order.

        ``timeout`` bounds the whole iteration (ViTimeoutError; ``None`` means
        wait_for's default deadline, an hour). With
        ``raise_on_failure=True`` the first run that ended Failed, Error or
        Cancelled raises ViRunFailedError instead of being yielded. Leaving
        the loop early cancels the remaining waits; wrap it in
        ``contextlib.aclosing`` to have that happen at once.
        """
        check_number(timeout, "timeout")
        ids = [check_id(run_id, "run_id") for run_id in dict.fromkeys(run_ids)]
        timeout = DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        # One deadline for them all (not one each, kubectl#1219): the inner waits have none.
        pending = {asyncio.ensure_future(self.wait_for(run_id, timeout=None)) for run_id in ids}
        try:
            while pending:
                left = max(0.0, deadline - time.monotonic())
                done, pending = await asyncio.wait(
                    pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    raise ViTimeoutError(f"{len(pending)} run(s) did not finish within {timeout}s")
                for task in done:
                    run = task.result()
                    if raise_on_failure and run.phase in FAILED_PHASES:
                        raise ViRunFailedError(run)
                    yield run
        finally:
            for task in pending:
                task.cancel()
            if pending:
                with anyio.CancelScope(shield=True):
                    await asyncio.wait(pending)

    async def watch(
        self,
        run_ids: Iterable[str] | None = None,
        phases: Phases | None = None,
        poll_interval: float | None = None,
        *,
        snapshot: bool = True,
    ) -> AsyncGenerator[RunEvent, None]:
        """Yield a RunEvent for each change of the organization's runs, until closed.

        Each change is reported once, in order per run. Leaving the
        ``async for`` (or closing the iterator) stops the polling.

        Args:
            run_ids: Watch only these runs (a watch of every run walks the runs
                list each round).
            phases: Watch only runs in these phases; a run leaving them is "removed".
            poll_interval: Poll every this many seconds instead of backing off.
            snapshot: Start with an "added" for each run in view; False reports
                only changes from then on.

        Yields:
            RunEvents: "added", "changed" or "removed", with the run.

        Raises:
            TypeError: ``phases`` is not a phase, a phase name or an iterable of
                them (raised by the first iteration, before any request).
            ValueError: ``phases`` names no phase (the message lists the valid ones).
        """
        check_number(poll_interval, "poll_interval", positive=True)
        ids = None if run_ids is None else [check_id(r, "run_id") for r in run_ids]
        wanted = phase_set(phases, "phases")
        async with aclosing(
            watch_runs(self._poller, ids, wanted, poll_interval=poll_interval, snapshot=snapshot)
        ) as events:
            async for event in events:
                yield event

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
